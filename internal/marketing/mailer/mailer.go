// Package mailer owns OmniSphere's outgoing email: the Message the marketing
// engine hands over, the Sender interface, an SMTP Sender with a small pool
// of persistent connections (SMTP_URL, see ParseURL), and the Log Sender of
// the embedded default that only logs and remembers the last mails.
//
// Errors are classified so that callers can react: IsPermanent (a 5xx reply:
// mark the email bounced or failed, do not retry) versus IsTemporary (a 4xx
// reply or a network failure: retrying later may succeed), and Uncertain
// (the connection broke after the message data was written: the server may
// have accepted it, so an at-most-once caller must not retry).
package mailer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Message is one email to one recipient, fully rendered.
type Message struct {
	// From is the sender address (envelope and header), FromName its
	// display name (may be empty).
	From     string
	FromName string
	// To is the one recipient address.
	To string
	// ReplyTo, when set, is the Reply-To address.
	ReplyTo string
	Subject string
	// HTML and Text are the two bodies; at least one must be set. With both,
	// the mail is multipart/alternative.
	HTML string
	Text string
	// Headers are extra header fields, e.g. List-Unsubscribe
	// ("<https://shop.example/t/u/TOKEN>, <mailto:unsubscribe@shop.example?subject=TOKEN>")
	// and List-Unsubscribe-Post ("List-Unsubscribe=One-Click", RFC 8058).
	Headers map[string]string
	// MessageID is the Message-ID without angle brackets; NewMessageID
	// makes one. Empty: the Sender makes one and, on success, sets it here.
	MessageID string
}

// Sender hands a Message to the mail transport. Send returns nil once the
// transport has accepted the message; an error is classified by IsPermanent,
// IsTemporary and IsUncertain. Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// Error is a failed send, classified.
type Error struct {
	// Code is the SMTP reply code (e.g. 550, 451); 0 when the failure was
	// not a server reply (network, timeout, invalid message).
	Code int
	// Permanent: retrying the same message will fail again (a 5xx reply or
	// an invalid message). With Recipient set it is a hard bounce.
	Permanent bool
	// Recipient: the server refused the recipient address (RCPT TO).
	Recipient bool
	// Uncertain: the failure happened after the whole message had been
	// written; the server may have accepted it.
	Uncertain bool
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Uncertain {
		kind += ", uncertain"
	}
	return fmt.Sprintf("mailer: %s failure: %v", kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a send failure that will not go away
// by retrying (a 5xx reply, an invalid address or message).
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// IsTemporary reports whether err is a send failure that a later retry may
// overcome: a 4xx reply, a network failure or a timeout. Errors that are not
// *Error (a cancelled context) count as temporary too.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return !e.Permanent
	}
	return true
}

// IsBounce reports whether err is a hard bounce: a permanent refusal of the
// recipient address. The caller should suppress the address.
func IsBounce(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent && e.Recipient
}

// IsUncertain reports whether the message may have been delivered despite
// err (the connection broke after the data was written).
func IsUncertain(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Uncertain
}

// NewMessageID returns a fresh Message-ID (without angle brackets) in the
// domain of the address from.
func NewMessageID(from string) string {
	domain := "omnisphere.local"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + domain
}

// validate checks what every Sender needs of a Message.
func validate(m *Message) error {
	if m == nil {
		return &Error{Permanent: true, Err: errors.New("nil message")}
	}
	switch {
	case m.From == "":
		return &Error{Permanent: true, Err: errors.New("message has no From address")}
	case m.To == "":
		return &Error{Permanent: true, Err: errors.New("message has no recipient")}
	case m.HTML == "" && m.Text == "":
		return &Error{Permanent: true, Err: errors.New("message has no body")}
	}
	for k, v := range m.Headers {
		if strings.ContainsAny(k, "\r\n: ") || strings.ContainsAny(v, "\r\n") {
			return &Error{Permanent: true, Err: fmt.Errorf("invalid header %q", k)}
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.From, "\r\n") {
		return &Error{Permanent: true, Err: errors.New("line break in an address or the subject")}
	}
	return nil
}

// Package tracking owns the links of a sent email that come back to the
// server: the open pixel (/t/o/<token>.gif), the click redirect
// (/t/c/<token>) and the unsubscribe page and RFC 8058 one-click endpoint
// (/t/u/<token>).
//
// Every token is signed with HMAC-SHA256 under a key id (Keys, rotated by
// adding a new current key and keeping the old ones for verification), and
// names the email send it belongs to (email_sends.tracking_token). A click
// token also signs the destination URL, so the redirect goes only where the
// email pointed: a tampered token or URL is a 400, never an open redirect.
//
// Rewrite turns a rendered HTML body into its tracked form; NewHandler
// serves the three routes and reports what happened to a Recorder, which
// NewEntRecorder implements over the database (email_opens, email_clicks,
// the send's and campaign's counters, consent, outbox events).
// docs/email-templates.md describes the endpoints and the machine-open
// heuristics.
package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Kind is what a token is for. A token of one kind never verifies as
// another.
type Kind byte

// The kinds of token.
const (
	KindOpen        Kind = 'o'
	KindClick       Kind = 'c'
	KindUnsubscribe Kind = 'u'
)

// Errors of Verify. All of them mean the link was not made by us (or made
// with a key that has since been dropped): the handler answers 400.
var (
	ErrMalformed    = errors.New("tracking: malformed token")
	ErrUnknownKey   = errors.New("tracking: token signed with an unknown key")
	ErrBadSignature = errors.New("tracking: bad token signature")
	ErrWrongKind    = errors.New("tracking: token of another kind")
	ErrBadURL       = errors.New("tracking: click target must be an absolute http or https URL of at most 2048 bytes")
)

// Limits of the signed values.
const (
	// MaxURLLength is the longest click target (email_clicks.url).
	MaxURLLength = 2048
	// MaxSendTokenLength is the longest send token (email_sends.tracking_token).
	MaxSendTokenLength = 64
	// MinKeyLength is the shortest accepted HMAC key, in bytes.
	MinKeyLength = 32
	// maxTokenLength bounds what Verify decodes.
	maxTokenLength = 4096
)

const tokenVersion = 1

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Keys holds the signing keys: the current one signs, all of them verify.
// Rotate by making a new key current and keeping the old ones until the
// emails that carry them no longer matter (months: people open old mail).
type Keys struct {
	current string
	byID    map[string][]byte
}

// NewKeys returns Keys that sign with keys[current]. Key ids are 1-32
// characters of [A-Za-z0-9_-]; keys are at least MinKeyLength bytes.
func NewKeys(current string, keys map[string][]byte) (*Keys, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("tracking: current key %q is not among the keys", current)
	}
	k := &Keys{current: current, byID: map[string][]byte{}}
	for id, key := range keys {
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("tracking: key id %q must be 1-32 characters of A-Z, a-z, 0-9, _ and -", id)
		}
		if len(key) < MinKeyLength {
			return nil, fmt.Errorf("tracking: key %q is %d bytes; at least %d are needed", id, len(key), MinKeyLength)
		}
		k.byID[id] = append([]byte(nil), key...)
	}
	return k, nil
}

// ParseKeys reads keys from configuration: "id:key[,id:key…]" where each
// key is base64 (standard or URL alphabet, padded or not) of at least
// MinKeyLength bytes. The first key is the current one. Example:
// "k2:<base64>,k1:<base64>" after rotating k1 out of signing.
func ParseKeys(spec string) (*Keys, error) {
	keys := map[string][]byte{}
	current := ""
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, enc, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("tracking: key %q: want id:base64key", part)
		}
		key, err := decodeKey(strings.TrimSpace(enc))
		if err != nil {
			return nil, fmt.Errorf("tracking: key %q: %w", id, err)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("tracking: key id %q given twice", id)
		}
		keys[id] = key
		if current == "" {
			current = id
		}
	}
	if current == "" {
		return nil, errors.New("tracking: no keys")
	}
	return NewKeys(current, keys)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("key is not base64")
}

// CurrentID returns the id of the signing key.
func (k *Keys) CurrentID() string { return k.current }

// IDs returns the ids of every verifying key, sorted.
func (k *Keys) IDs() []string {
	out := make([]string, 0, len(k.byID))
	for id := range k.byID {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Claims is what a verified token says.
type Claims struct {
	Kind Kind
	// SendToken is the email send's tracking_token.
	SendToken string
	// URL and LinkIndex (the link's position in the body, from 0) are set
	// for clicks.
	URL       string
	LinkIndex int
	// KeyID is the key that signed the token.
	KeyID string
}

// ValidTarget reports whether u may be a click destination: an absolute
// http or https URL with a host, at most MaxURLLength bytes, without
// control characters or white space.
func ValidTarget(u string) bool {
	if u == "" || len(u) > MaxURLLength || strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.Opaque != "" {
		return false
	}
	s := strings.ToLower(p.Scheme)
	return s == "http" || s == "https"
}

// sign returns the token for c under the current key.
func (k *Keys) sign(c Claims) string {
	payload := []byte{tokenVersion, byte(c.Kind)}
	payload = binary.AppendUvarint(payload, uint64(len(c.SendToken)))
	payload = append(payload, c.SendToken...)
	if c.Kind == KindClick {
		payload = binary.AppendUvarint(payload, uint64(c.LinkIndex))
		payload = append(payload, c.URL...)
	}
	body := base64.RawURLEncoding.EncodeToString(payload)
	return k.current + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac(k.byID[k.current], k.current, body))
}

// mac is HMAC-SHA256 over a domain separator, the key id and the encoded
// payload (the id is signed so that a token cannot be moved to another key).
func mac(key []byte, id, body string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("omnisphere/email-tracking/v1\x00"))
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(body))
	return h.Sum(nil)
}

func checkSendToken(sendToken string) error {
	if sendToken == "" || len(sendToken) > MaxSendTokenLength {
		return fmt.Errorf("tracking: send token must be 1-%d bytes", MaxSendTokenLength)
	}
	return nil
}

// OpenToken returns the token of the open pixel of a send.
func (k *Keys) OpenToken(sendToken string) (string, error) {
	if err := checkSendToken(sendToken); err != nil {
		return "", err
	}
	return k.sign(Claims{Kind: KindOpen, SendToken: sendToken}), nil
}

// UnsubscribeToken returns the token of the unsubscribe link of a send.
func (k *Keys) UnsubscribeToken(sendToken string) (string, error) {
	if err := checkSendToken(sendToken); err != nil {
		return "", err
	}
	return k.sign(Claims{Kind: KindUnsubscribe, SendToken: sendToken}), nil
}

// ClickToken returns the token of a tracked link to target, the
// linkIndex-th link of the send's body. target must pass ValidTarget.
func (k *Keys) ClickToken(sendToken, target string, linkIndex int) (string, error) {
	if err := checkSendToken(sendToken); err != nil {
		return "", err
	}
	if !ValidTarget(target) {
		return "", ErrBadURL
	}
	if linkIndex < 0 {
		return "", errors.New("tracking: negative link index")
	}
	return k.sign(Claims{Kind: KindClick, SendToken: sendToken, URL: target, LinkIndex: linkIndex}), nil
}

// Verify checks token's signature and kind and returns its claims. It
// fails with ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrWrongKind or
// ErrBadURL; it never panics, whatever the input.
func (k *Keys) Verify(token string, want Kind) (Claims, error) {
	if len(token) > maxTokenLength {
		return Claims{}, ErrMalformed
	}
	id, rest, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrMalformed
	}
	body, sig, ok := strings.Cut(rest, ".")
	if !ok || body == "" || sig == "" {
		return Claims{}, ErrMalformed
	}
	key, ok := k.byID[id]
	if !ok {
		return Claims{}, ErrUnknownKey
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(got, mac(key, id, body)) {
		return Claims{}, ErrBadSignature
	}
	// Signed by us from here on; the checks below guard against our own
	// bugs and old formats.
	payload, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(payload) < 3 || payload[0] != tokenVersion {
		return Claims{}, ErrMalformed
	}
	c := Claims{Kind: Kind(payload[1]), KeyID: id}
	if c.Kind != want {
		return Claims{}, ErrWrongKind
	}
	p := payload[2:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n == 0 || n > MaxSendTokenLength || uint64(len(p)-w) < n {
		return Claims{}, ErrMalformed
	}
	c.SendToken = string(p[w : w+int(n)])
	p = p[w+int(n):]
	switch c.Kind {
	case KindClick:
		idx, w := binary.Uvarint(p)
		if w <= 0 || idx > 1<<20 {
			return Claims{}, ErrMalformed
		}
		c.LinkIndex, c.URL = int(idx), string(p[w:])
		if !ValidTarget(c.URL) {
			return Claims{}, ErrBadURL
		}
	case KindOpen, KindUnsubscribe:
		if len(p) != 0 {
			return Claims{}, ErrMalformed
		}
	default:
		return Claims{}, ErrMalformed
	}
	return c, nil
}

// Paths of the endpoints, relative to the tracking base URL.
const (
	OpenPath        = "/t/o/"
	ClickPath       = "/t/c/"
	UnsubscribePath = "/t/u/"
)

// OpenURL is the open pixel's URL under baseURL (the server's public URL).
func (k *Keys) OpenURL(baseURL, sendToken string) (string, error) {
	t, err := k.OpenToken(sendToken)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(baseURL, "/") + OpenPath + t + ".gif", nil
}

// ClickURL is the tracked URL of a link to target under baseURL.
func (k *Keys) ClickURL(baseURL, sendToken, target string, linkIndex int) (string, error) {
	t, err := k.ClickToken(sendToken, target, linkIndex)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(baseURL, "/") + ClickPath + t, nil
}

// UnsubscribeURL is the send's unsubscribe URL under baseURL: the
// template's UnsubscribeURL and the List-Unsubscribe header's https URI
// (with List-Unsubscribe-Post: List-Unsubscribe=One-Click, RFC 8058).
func (k *Keys) UnsubscribeURL(baseURL, sendToken string) (string, error) {
	t, err := k.UnsubscribeToken(sendToken)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(baseURL, "/") + UnsubscribePath + t, nil
}

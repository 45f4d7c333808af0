package mailer

import (
	"context"
	"log/slog"
	"sync"
)

// Log is the Sender of the embedded default (no SMTP_URL): it sends nothing,
// logs each mail's recipient and subject, and keeps the last Keep messages
// in memory for tests and the playground.
type Log struct {
	log  *slog.Logger
	keep int

	mu    sync.Mutex
	ring  []Message
	next  int
	total int
}

// NewLog returns a Log Sender that keeps the last keep messages (default
// 100 when keep <= 0), logging to log (nil: slog.Default()).
func NewLog(log *slog.Logger, keep int) *Log {
	if keep <= 0 {
		keep = 100
	}
	if log == nil {
		log = slog.Default()
	}
	return &Log{log: log, keep: keep}
}

// Send implements Sender.
func (l *Log) Send(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(m); err != nil {
		return err
	}
	if m.MessageID == "" {
		m.MessageID = NewMessageID(m.From)
	}
	l.log.InfoContext(ctx, "mailer: email not sent (no SMTP_URL)", "to", m.To, "subject", m.Subject, "message_id", m.MessageID)
	c := *m
	if m.Headers != nil {
		c.Headers = make(map[string]string, len(m.Headers))
		for k, v := range m.Headers {
			c.Headers[k] = v
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < l.keep {
		l.ring = append(l.ring, c)
	} else {
		l.ring[l.next] = c
	}
	l.next = (l.next + 1) % l.keep
	l.total++
	return nil
}

// Messages returns the kept messages, oldest first.
func (l *Log) Messages() []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Message, 0, len(l.ring))
	if len(l.ring) < l.keep {
		return append(out, l.ring...)
	}
	out = append(out, l.ring[l.next:]...)
	return append(out, l.ring[:l.next]...)
}

// Total returns how many messages were sent through l.
func (l *Log) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

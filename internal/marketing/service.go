// Package marketing is the store's marketing engine over its event stream:
// customer profiles (profiles.go), tracked events and identity stitching
// (track.go), and the glue between the durable event path and the engine's
// parts — segments (segment), email templates (mailtmpl), campaigns
// (campaign), tracking links (tracking), automation workflows (workflow),
// capture popups (popup) and analytics (analytics).
package marketing

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
	"github.com/omnisphere/omnisphere/internal/usererr"
)

// Service is the marketing engine of every store of one database.
type Service struct {
	// Segments evaluates segment rules (set by New).
	Segments *segment.Service
	// Mail is the public URL and keys of the emails' links.
	Mail Mail

	client *ent.Client
	log    *slog.Logger
	clock  atomic.Pointer[func() time.Time]
	renderCaches
}

// New returns the engine over client.
func New(client *ent.Client, mail Mail, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{client: client, log: log, Mail: mail}
	s.Segments = segment.New(client, segment.WithClock(s.now))
	return s
}

// SetClock replaces the service's clock (tests); nil restores time.Now.
func (s *Service) SetClock(now func() time.Time) {
	if now == nil {
		s.clock.Store(nil)
		return
	}
	s.clock.Store(&now)
}

func (s *Service) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)().UTC()
	}
	return time.Now().UTC()
}

// inTx runs fn in a transaction of ctx's viewer.
func (s *Service) inTx(ctx context.Context, fn func(c *ent.Client) error) error {
	return db.InTx(ctx, s.client, fn)
}

func userErr(code usererr.Code, field []string, format string, args ...any) error {
	return usererr.New("marketing", code, field, format, args...)
}

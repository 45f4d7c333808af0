// Package popup runs the storefront's email-capture popups: their CRUD with
// validated targeting (path patterns, triggers, frequency, schedule, offer),
// the choice of the popups a visitor should see on a page, impression and
// submission counters, and the submission itself — a customer profile
// created or updated with email consent, single or double opt-in with a
// signed confirmation token. See docs/popups.md.
//
// The package knows nothing of GraphQL or HTTP. Every function takes the
// store (merchantID) explicitly and acts within that one store as the
// store's own service (viewer.ActAsStore): the ent tenant filter and
// PostgreSQL row-level security stay on.
package popup

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Config configures the service. TokenKey is required.
type Config struct {
	// TokenKey signs double opt-in confirmation tokens (HMAC-SHA256); at
	// least 32 bytes, the same on every server process.
	TokenKey []byte
	// OldTokenKeys still verify tokens signed before a key rotation.
	OldTokenKeys [][]byte
	// ConfirmationTTL is how long a confirmation token stays valid
	// (default 72 hours).
	ConfirmationTTL time.Duration
}

// MinTokenKeyLength is the shortest TokenKey New accepts.
const MinTokenKeyLength = 32

// Service runs the popups of every store.
type Service struct {
	client  *ent.Client
	dialect string
	cfg     Config
	clock   atomic.Pointer[func() time.Time]
}

// New returns the popup service over client (of dialect dialect.Postgres or
// dialect.SQLite). It fails when cfg.TokenKey or an old key is shorter than
// MinTokenKeyLength.
func New(client *ent.Client, dbDialect string, cfg Config) (*Service, error) {
	if len(cfg.TokenKey) < MinTokenKeyLength {
		return nil, errors.New("popup: Config.TokenKey must be at least 32 bytes")
	}
	for _, k := range cfg.OldTokenKeys {
		if len(k) < MinTokenKeyLength {
			return nil, errors.New("popup: every Config.OldTokenKeys key must be at least 32 bytes")
		}
	}
	if cfg.ConfirmationTTL <= 0 {
		cfg.ConfirmationTTL = 72 * time.Hour
	}
	return &Service{client: client, dialect: dbDialect, cfg: cfg}, nil
}

// SetClock replaces the service's clock (tests); nil restores time.Now.
func (s *Service) SetClock(now func() time.Time) {
	if now == nil {
		s.clock.Store(nil)
		return
	}
	s.clock.Store(&now)
}

// now is the service's clock, in UTC.
func (s *Service) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)().UTC()
	}
	return time.Now().UTC()
}

// storeContext acts for merchantID as the store's own service. A context
// that acts for another store is refused (viewer.ErrCrossTenant): the
// caller passes the viewer's own store.
func storeContext(ctx context.Context, merchantID uuid.UUID, reason string) (context.Context, error) {
	if merchantID == uuid.Nil {
		return nil, viewer.ErrNoTenant
	}
	if m, ok := viewer.MerchantFromContext(ctx); ok && m != merchantID {
		return nil, viewer.ErrCrossTenant
	}
	return viewer.ActAsStore(ctx, merchantID, reason), nil
}

// maxAttempts is how often a transaction that lost a race (two first
// submissions of one email, a serialization failure) is run again; the
// retry sees the winner's row.
const maxAttempts = 5

// inTx runs fn in a transaction of the store context sctx, retried on lost
// races. User errors are never retried.
func (s *Service) inTx(sctx context.Context, fn func(tx *ent.Client) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = db.InTx(sctx, s.client, fn)
		if err == nil || sctx.Err() != nil {
			return err
		}
		if _, user := IsUserError(err); user || errors.Is(err, ErrNotFound) || !db.LostRace(err) {
			return err
		}
	}
	return err
}

// postgres reports whether the service runs on PostgreSQL (row locks).
func (s *Service) postgres() bool { return s.dialect == dialect.Postgres }

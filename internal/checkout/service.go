package checkout

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Config tunes checkout. Zero values take the defaults.
type Config struct {
	// StockHold is how long a Stripe order's reserved stock waits for its
	// payment before the order is cancelled and the stock released
	// (CHECKOUT_STOCK_HOLD, default 30 minutes).
	StockHold time.Duration
	// ManualStockHold is the same for MANUAL orders (bank transfer, cash on
	// delivery); 0, the default, holds until staff mark the order paid or
	// cancel it (CHECKOUT_MANUAL_STOCK_HOLD).
	ManualStockHold time.Duration
	// AbandonAfter is how long a cart with an email may sit idle before it
	// counts as abandoned and a cart.abandoned event is written
	// (CART_ABANDON_AFTER, default 1 hour).
	AbandonAfter time.Duration
	// SweepInterval is how often Run looks for expired holds and abandoned
	// carts (default 30 seconds).
	SweepInterval time.Duration
}

func (c *Config) defaults() {
	if c.StockHold <= 0 {
		c.StockHold = 30 * time.Minute
	}
	if c.ManualStockHold < 0 {
		c.ManualStockHold = 0
	}
	if c.AbandonAfter <= 0 {
		c.AbandonAfter = time.Hour
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 30 * time.Second
	}
}

// Gateway is what checkout needs of the card payment provider: the Stripe
// Connect client of internal/payment (a nil *payment.Stripe is a disabled
// gateway).
type Gateway interface {
	Enabled() bool
	CreatePaymentIntent(ctx context.Context, p payment.PaymentIntentParams) (payment.PaymentIntent, error)
	PaymentIntent(ctx context.Context, id string) (payment.PaymentIntent, error)
	CreateRefund(ctx context.Context, p payment.RefundParams) (payment.Refund, error)
	CreateConnectedAccount(ctx context.Context, merchantID uuid.UUID, email, country string) (string, error)
	AccountLink(ctx context.Context, accountID string) (string, error)
}

// OrderGate says whether a store takes new orders now (internal/billing: a
// cancelled plan stops them at the end of its period). Its error is
// returned to the buyer as is.
type OrderGate interface {
	CheckOrders(ctx context.Context, merchant uuid.UUID) error
}

// Service runs carts, checkout, orders and their payments.
type Service struct {
	// Gate, when set (before serving), is asked before Complete makes an
	// order.
	Gate OrderGate
	// Profiles, when set (before serving), keeps the buyer's customer
	// profile in step with the order, in the transaction that marks it paid
	// or books a refund.
	Profiles ProfileSync

	client  *ent.Client
	dialect string
	catalog *catalog.Service
	gateway Gateway
	cfg     Config
	log     *slog.Logger
	clock   atomic.Pointer[func() time.Time]
	intents singleflight.Group
}

// ProfileSync is the marketing engine's side of an order's money: SyncOrder
// runs in the transaction that changed order o (paid, refunded) and updates
// the buyer's profile (marketing.Service).
type ProfileSync interface {
	SyncOrder(ctx context.Context, c *ent.Client, o *ent.Order) error
}

// syncProfile calls Profiles, when set, for order o in c's transaction.
func (s *Service) syncProfile(ctx context.Context, c *ent.Client, o *ent.Order) error {
	if s.Profiles == nil || o == nil {
		return nil
	}
	return s.Profiles.SyncOrder(ctx, c, o)
}

// New returns the checkout service over client (of the given dialect:
// dialect.Postgres or dialect.SQLite), changing stock through cat and
// taking card payments through gw (nil: MANUAL only).
func New(client *ent.Client, dbDialect string, cat *catalog.Service, gw Gateway, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	if gw == nil {
		gw = (*payment.Stripe)(nil)
	}
	return &Service{client: client, dialect: dbDialect, catalog: cat, gateway: gw, cfg: cfg, log: log}
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

// Config returns the service's configuration, defaults applied.
func (s *Service) Config() Config { return s.cfg }

// maxAttempts is how often a transaction that lost a race (a PostgreSQL
// serialization failure or deadlock, a unique constraint) is retried; its
// checks then see the winner.
const maxAttempts = 4

// inStore runs fn in a transaction acting for ctx's store (viewer
// StoreService), retried on lost races. It answers viewer.ErrNoTenant when
// ctx acts for no store.
func (s *Service) inStore(ctx context.Context, reason string, fn func(ctx context.Context, c *ent.Client) error) error {
	mid, ok := viewer.MerchantFromContext(ctx)
	if !ok {
		return viewer.ErrNoTenant
	}
	sctx := viewer.ActAsStore(ctx, mid, reason)
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = db.InTx(sctx, s.client, func(c *ent.Client) error { return fn(sctx, c) })
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// retryable reports whether err is a lost race worth running again.
func retryable(err error) bool {
	if _, ok := IsUserError(err); ok {
		return false
	}
	return db.LostRace(err)
}

// merchantOf returns the store ctx acts for.
func merchantOf(ctx context.Context) uuid.UUID {
	id, _ := viewer.MerchantFromContext(ctx)
	return id
}

// Package billing owns the merchants' own plans: the plan set from
// configuration, the Stripe Billing subscription a merchant pays the
// platform with, the subscription status that Stripe's webhooks move
// (customer.subscription.*, invoice.*), and what a plan allows: limits on
// what a store may create, and whether its staff may write and its
// storefront take orders.
//
// Enforcement is central: Hook is an ent hook on every mutation, so no
// resolver or domain service can forget it. Billing is off (every store
// unlimited, nothing refused) unless Stripe and every paid plan's price are
// configured, so the embedded default needs no Stripe account.
package billing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/apikey"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/user"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Config tunes billing. Zero values take the defaults.
type Config struct {
	// Plans is the plan set (BILLING_PLANS, STRIPE_PRICE_*); nil:
	// DefaultPlans, which have no Stripe prices (billing off).
	Plans []Plan
	// TrialDays is the trial of a new store (BILLING_TRIAL_DAYS, default 14).
	TrialDays int
	// PastDueGrace is how long a store whose payment failed (or whose trial
	// ended unpaid) keeps full use before admin writes are refused
	// (BILLING_PAST_DUE_GRACE, default 7 days).
	PastDueGrace time.Duration
	// CacheTTL is how long a merchant's billing state is reused by
	// enforcement before it is read again (default 15 s). Changes made by
	// this process apply at once; those of other processes within CacheTTL.
	CacheTTL time.Duration
}

// Gateway is what billing needs of Stripe: the client of internal/payment
// (a nil *payment.Stripe is a disabled gateway).
type Gateway interface {
	Enabled() bool
	EnsureCustomer(ctx context.Context, merchantID uuid.UUID, customerID, email, name string) (string, error)
	SetSubscription(ctx context.Context, p payment.SubscriptionParams) (payment.Subscription, error)
	CancelSubscription(ctx context.Context, subscriptionID, idempotencyKey string) (payment.Subscription, error)
}

// Service is the billing domain.
type Service struct {
	client  *ent.Client
	gw      Gateway
	cfg     Config
	plans   []Plan
	byCode  map[merchantaccount.Plan]Plan
	byPrice map[string]Plan
	enabled bool
	log     *slog.Logger
	clock   atomic.Pointer[func() time.Time]
	cache   sync.Map // uuid.UUID → cached

	// LiveSubscriptions, when set, returns the number of live GraphQL
	// subscriptions a store has open (for usage); the server wires it.
	LiveSubscriptions func(merchant uuid.UUID) int
}

type cached struct {
	st State
	at time.Time
}

// New returns the billing service. Billing is enabled when gw is and every
// paid plan has a Stripe price.
func New(client *ent.Client, gw Gateway, cfg Config, log *slog.Logger) *Service {
	if cfg.Plans == nil {
		cfg.Plans = DefaultPlans()
	}
	if cfg.TrialDays <= 0 {
		cfg.TrialDays = 14
	}
	if cfg.PastDueGrace <= 0 {
		cfg.PastDueGrace = 7 * 24 * time.Hour
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 15 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	if gw == nil {
		gw = (*payment.Stripe)(nil)
	}
	s := &Service{client: client, gw: gw, cfg: cfg, plans: cfg.Plans, log: log,
		byCode: map[merchantaccount.Plan]Plan{}, byPrice: map[string]Plan{}}
	paid := 0
	s.enabled = gw.Enabled()
	for _, p := range cfg.Plans {
		s.byCode[p.Code] = p
		if p.StripePriceID != "" {
			s.byPrice[p.StripePriceID] = p
		}
		if p.Paid() {
			paid++
			if p.StripePriceID == "" {
				s.enabled = false
			}
		}
	}
	if paid == 0 {
		s.enabled = false
	}
	return s
}

// Enabled reports whether billing is on: Stripe configured and every paid
// plan priced. When it is off every store is unlimited.
func (s *Service) Enabled() bool { return s != nil && s.enabled }

// Plans returns the plan set, TRIAL first.
func (s *Service) Plans() []Plan { return s.plans }

// Plan returns the plan of a code (an unlimited one if the code is not
// configured).
func (s *Service) Plan(code merchantaccount.Plan) Plan {
	if p, ok := s.byCode[code]; ok {
		return p
	}
	return Plan{Code: code, Name: string(code)}
}

// TrialLength is how long a new store's trial lasts.
func (s *Service) TrialLength() time.Duration { return time.Duration(s.cfg.TrialDays) * 24 * time.Hour }

// Grace is the past-due grace period.
func (s *Service) Grace() time.Duration { return s.cfg.PastDueGrace }

// SetClock replaces the service's clock (tests); nil restores time.Now. The
// cached states are dropped.
func (s *Service) SetClock(now func() time.Time) {
	if now == nil {
		s.clock.Store(nil)
	} else {
		s.clock.Store(&now)
	}
	s.cache.Clear()
}

func (s *Service) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)().UTC()
	}
	return time.Now().UTC()
}

// forget drops a merchant's cached state after a change.
func (s *Service) forget(mid uuid.UUID) { s.cache.Delete(mid) }

// State returns a merchant's billing state, cached for Config.CacheTTL.
func (s *Service) State(ctx context.Context, mid uuid.UUID) (State, error) {
	return s.state(ctx, nil, mid)
}

// state is State read through c when it is not nil: the ent hook passes the
// mutation's own (transactional) client, so that a transaction holding a
// pooled connection never waits for a second one.
func (s *Service) state(ctx context.Context, c *ent.Client, mid uuid.UUID) (State, error) {
	now := s.now()
	if c, ok := s.cache.Load(mid); ok && now.Sub(c.(cached).at) < s.cfg.CacheTTL {
		return c.(cached).st, nil
	}
	sys := viewer.SystemLookupContext(ctx, "billing state")
	if c == nil {
		c = s.client
	} else {
		sys = viewer.ActAsStore(ctx, mid, "billing state")
	}
	m, err := c.MerchantAccount.Get(sys, mid)
	if ent.IsNotFound(err) {
		// A store being registered (its transaction has not committed):
		// a new trial.
		return State{Plan: merchantaccount.PlanTRIAL, Status: Trialing}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("billing: state: %w", err)
	}
	st := State{Plan: m.Plan, Status: m.SubscriptionStatus, TrialEndsAt: m.TrialEndsAt, CurrentPeriodEnd: m.CurrentPeriodEnd}
	if st.Status == PastDue || st.Status == Incomplete {
		a, err := c.AuditLog.Query().Where(auditlog.MerchantID(mid), auditlog.Action(actionPastDue)).
			Order(ent.Desc(auditlog.FieldCreatedAt)).First(sys)
		switch {
		case err == nil:
			st.Since = a.CreatedAt
		case !ent.IsNotFound(err):
			return State{}, fmt.Errorf("billing: state: %w", err)
		}
	}
	s.cache.Store(mid, cached{st: st, at: now})
	return st, nil
}

// CheckWrites answers nil when the store's staff may write, else the
// BILLING_PAST_DUE or BILLING_CANCELED error. Always nil with billing off.
func (s *Service) CheckWrites(ctx context.Context, mid uuid.UUID) error {
	return s.checkWrites(ctx, nil, mid)
}

func (s *Service) checkWrites(ctx context.Context, c *ent.Client, mid uuid.UUID) error {
	if !s.Enabled() {
		return nil
	}
	st, err := s.state(ctx, c, mid)
	if err != nil {
		return err
	}
	if e := st.WritesAllowed(s.now(), s.cfg.PastDueGrace); e != nil {
		return e
	}
	return nil
}

// CheckOrders answers nil when the store takes new orders: checkout calls it
// before completing a cart. A store whose subscription was cancelled stops
// at the end of its paid period. Always nil with billing off.
func (s *Service) CheckOrders(ctx context.Context, mid uuid.UUID) error {
	if !s.Enabled() {
		return nil
	}
	st, err := s.State(ctx, mid)
	if err != nil {
		return err
	}
	if e := st.OrdersAllowed(s.now()); e != nil {
		return e
	}
	return nil
}

// Limits returns the limits of a store's plan; unlimited with billing off.
func (s *Service) Limits(ctx context.Context, mid uuid.UUID) (Limits, error) {
	if !s.Enabled() {
		return Limits{}, nil
	}
	st, err := s.State(ctx, mid)
	if err != nil {
		return Limits{}, err
	}
	return s.Plan(st.Plan).Limits, nil
}

// Usage is what a store uses of its plan's limits.
type Usage struct {
	Products, APIKeys, Staff, CampaignEmails, Subscriptions int
}

// Usage counts what the store mid uses (the campaign emails of the current
// UTC month).
func (s *Service) Usage(ctx context.Context, mid uuid.UUID) (Usage, error) {
	sctx := viewer.ActAsStore(ctx, mid, "billing usage")
	var u Usage
	var err error
	if u.Products, err = countProducts(sctx, s.client, mid); err != nil {
		return u, err
	}
	if u.APIKeys, err = countKeys(sctx, s.client, mid); err != nil {
		return u, err
	}
	if u.Staff, err = countStaff(sctx, s.client, mid); err != nil {
		return u, err
	}
	if u.CampaignEmails, err = s.countEmails(sctx, s.client, mid); err != nil {
		return u, err
	}
	if s.LiveSubscriptions != nil {
		u.Subscriptions = s.LiveSubscriptions(mid)
	}
	return u, nil
}

func countProducts(ctx context.Context, c *ent.Client, mid uuid.UUID) (int, error) {
	return c.Product.Query().Where(product.MerchantID(mid), product.StatusNEQ(product.StatusARCHIVED)).Count(ctx)
}

func countKeys(ctx context.Context, c *ent.Client, mid uuid.UUID) (int, error) {
	return c.APIKey.Query().Where(apikey.MerchantID(mid), apikey.KindEQ(apikey.KindSECRET), apikey.RevokedAtIsNil()).Count(ctx)
}

func countStaff(ctx context.Context, c *ent.Client, mid uuid.UUID) (int, error) {
	return c.User.Query().Where(user.MerchantID(mid), user.StatusNEQ(user.StatusDELETED)).Count(ctx)
}

func (s *Service) countEmails(ctx context.Context, c *ent.Client, mid uuid.UUID) (int, error) {
	now := s.now()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return c.EmailSend.Query().Where(emailsend.MerchantID(mid), emailsend.KindEQ(emailsend.KindCAMPAIGN),
		emailsend.QueuedAtGTE(month)).Count(ctx)
}

// limitErr is the PLAN_LIMIT_REACHED error of a limit.
func limitErr(what string, limit int, plan merchantaccount.Plan) *Error {
	return userErr(CodePlanLimitReached, nil, "the %s plan allows %d %s: upgrade the plan to add more", plan, limit, what)
}

// AllowEmails answers nil when the store may send n more campaign emails
// this month, else PLAN_LIMIT_REACHED. The marketing engine (issue 8) calls
// it before queueing a campaign's sends.
func (s *Service) AllowEmails(ctx context.Context, mid uuid.UUID, n int) error {
	if !s.Enabled() || n <= 0 {
		return nil
	}
	st, err := s.State(ctx, mid)
	if err != nil {
		return err
	}
	limit := s.Plan(st.Plan).Limits.CampaignEmails
	if limit == 0 {
		return nil
	}
	used, err := s.countEmails(viewer.ActAsStore(ctx, mid, "billing email usage"), s.client, mid)
	if err != nil {
		return err
	}
	if used+n > limit {
		return limitErr(fmt.Sprintf("campaign emails a month (%d used, %d more asked)", used, n), limit, st.Plan)
	}
	return nil
}

// AllowSubscription answers nil when the store, which has open live
// GraphQL subscriptions now, may open one more; else PLAN_LIMIT_REACHED.
// The server's subscription transport is to call it (graph/subscriptions.go
// keeps the open count per store).
func (s *Service) AllowSubscription(ctx context.Context, mid uuid.UUID, open int) error {
	if !s.Enabled() {
		return nil
	}
	st, err := s.State(ctx, mid)
	if err != nil {
		return err
	}
	if limit := s.Plan(st.Plan).Limits.Subscriptions; limit > 0 && open >= limit {
		return limitErr("live subscriptions", limit, st.Plan)
	}
	return nil
}

// inStore runs fn in a transaction acting for store mid.
func (s *Service) inStore(ctx context.Context, mid uuid.UUID, reason string, fn func(ctx context.Context, c *ent.Client) error) error {
	sctx := viewer.ActAsStore(ctx, mid, reason)
	err := db.InTx(sctx, s.client, func(c *ent.Client) error { return fn(sctx, c) })
	s.forget(mid)
	return err
}

// Audit actions of billing.
const (
	actionPastDue      = "billing.past_due"     // the status became PAST_DUE or INCOMPLETE
	actionSubscription = "billing.subscription" // any other status, plan or period change from Stripe
	actionChange       = "billing.plan_change"  // the merchant asked for a plan
	actionCancel       = "billing.cancel"       // the merchant asked to cancel
	actionAdminSet     = "billing.admin_set"    // a platform admin set the plan
)

// audit writes an audit entry of store mid, acted by actor (the caller's
// viewer; SYSTEM for webhooks).
func audit(ctx context.Context, c *ent.Client, mid uuid.UUID, actor viewer.Viewer, action string, meta map[string]any) error {
	req := viewer.RequestFromContext(ctx)
	create := c.AuditLog.Create().SetMerchantID(mid).SetAction(action).SetResourceType("merchant_account").
		SetResourceID(mid.String()).SetMetadata(meta).SetIP(clip(req.IP, 64)).SetUserAgent(clip(req.UserAgent, 512)).
		SetRequestID(clip(req.ID, 64))
	switch {
	case actor.Kind == viewer.APIKey:
		create.SetActorType(auditlog.ActorTypeAPI_KEY).SetActorID(actor.APIKeyID)
	case actor.UserID != uuid.Nil:
		create.SetActorType(auditlog.ActorTypeUSER).SetActorID(actor.UserID)
	default:
		create.SetActorType(auditlog.ActorTypeSYSTEM)
	}
	if err := create.Exec(ctx); err != nil {
		return fmt.Errorf("billing: audit %s: %w", action, err)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

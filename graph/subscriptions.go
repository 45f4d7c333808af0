package graph

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Close codes of a subscription's WebSocket that the server ends.
const (
	// CloseForbidden: the credentials expired or were revoked (the code
	// graphql-ws clients do not retry).
	CloseForbidden = 4403
	// CloseSlowConsumer: the client fell too far behind (policy violation).
	CloseSlowConsumer = 1008
)

// Subscriptions are the limits and the per-merchant count of the live
// subscriptions of this process.
type Subscriptions struct {
	// PerMerchant is the most subscriptions one store may hold open in this
	// process; 0 means no limit.
	PerMerchant int
	// Recheck is how often, at most, the credentials of a subscription are
	// verified again against the database (revoked keys and sessions, a
	// disabled user) while events flow; token expiry is checked on every
	// event.
	Recheck time.Duration
	// SendTimeout is how long an event may wait for a client to take it
	// before the client is disconnected as too slow.
	SendTimeout time.Duration
	// Backlog is how many rendered events a subscription of a shared group
	// may fall behind before it is disconnected as too slow
	// (DefaultBacklog). The group keeps each rendered event once, until its
	// slowest member sent it, so the memory is per group, not per
	// subscription.
	Backlog int
	// NoSharing turns shared rendering off: every subscription then renders
	// every event itself.
	NoSharing bool
	// Allow, when set, is asked before a store opens one more subscription,
	// with the number it holds open in this process; an error refuses the
	// subscription and is its answer (the merchant's plan limit:
	// billing.Service.AllowSubscription).
	Allow func(ctx context.Context, merchant uuid.UUID, open int) error

	mu       sync.Mutex
	counts   map[uuid.UUID]int
	fan      fanout
	verified verifyCache
}

// Open reports how many subscriptions the process holds, by store.
func (s *Subscriptions) Open() map[uuid.UUID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uuid.UUID]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// acquire counts one more subscription of store m, or answers why it may
// not open: the process's PerMerchant limit or Allow's refusal.
func (s *Subscriptions) acquire(ctx context.Context, m uuid.UUID) error {
	if s.Allow != nil {
		// Asked outside the lock (it may read the store's plan); the count
		// it sees can be a few subscriptions behind when many open at once.
		if err := s.Allow(ctx, m, s.Count(m)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = make(map[uuid.UUID]int)
	}
	if s.PerMerchant > 0 && s.counts[m] >= s.PerMerchant {
		return errSubscriptionLimit
	}
	s.counts[m]++
	return nil
}

// Count is the number of subscriptions store m holds open in this process.
func (s *Subscriptions) Count(m uuid.UUID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[m]
}

func (s *Subscriptions) release(m uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[m]--; s.counts[m] <= 0 {
		delete(s.counts, m)
	}
}

// Credentials let a subscription verify, while it runs, the credentials it
// was opened with. The transport (server) puts them in the context.
type Credentials struct {
	// ExpiresAt is when the access token expires; zero for keys, which do
	// not expire.
	ExpiresAt time.Time
	// Verify authenticates the credentials again and returns the viewer
	// they stand for now.
	Verify func(ctx context.Context) (viewer.Viewer, error)
	// Key identifies the credentials (a digest, not the secret), or is
	// empty. Subscriptions with the same Key share a recheck made less
	// than a second (and a thirtieth of Subscriptions.Recheck) before
	// theirs: a thousand dashboards on one key verify it once.
	Key string
}

type credentialsKey struct{}

// WithCredentials returns ctx carrying c.
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// ConnectionCloser closes the WebSocket connection a subscription runs on,
// with a close code and reason. Server-sent events have none: ending the
// subscription ends their response.
type ConnectionCloser interface {
	CloseConnection(code int, reason string)
}

type closerKey struct{}

// WithConnectionCloser returns ctx carrying the connection's closer.
func WithConnectionCloser(ctx context.Context, c ConnectionCloser) context.Context {
	return context.WithValue(ctx, closerKey{}, c)
}

func closeConnection(ctx context.Context, code int, reason string) {
	if c, ok := ctx.Value(closerKey{}).(ConnectionCloser); ok {
		c.CloseConnection(code, reason)
	}
}

// errSubscriptionLimit is the answer past Subscriptions.PerMerchant.
var errSubscriptionLimit = &gqlerror.Error{
	Message:    "too many open subscriptions for this store",
	Extensions: map[string]any{"code": "RATE_LIMITED"},
}

// live runs one subscription: events of the viewer's store on topics,
// turned into T by convert (false skips an event), each delivered only
// while the viewer's credentials still hold. The channel closes when the
// client unsubscribes or disconnects, when the credentials no longer hold
// (and the socket closes with CloseForbidden), or when the client is too
// slow (CloseSlowConsumer).
// permission is what a key must still hold (empty for customers).
//
// A WebSocket subscription (ctx carries a SharedConn) joins the group of
// identical subscriptions instead, whose events are rendered once
// (liveShared, subscriptions_shared.go).
func live[T any](ctx context.Context, r *Resolver, permission string, topics []string, convert func(events.Event) (T, bool)) (<-chan T, error) {
	if feed, ok := ctx.Value(rendererKey{}).(chan T); ok {
		return feed, nil // the execution that renders for a group
	}
	var sender SharedSender
	if c, ok := ctx.Value(closerKey{}).(SharedConn); ok {
		// Always claimed: the connection holds its next message until the
		// subscription it started claimed its id.
		sender, _ = c.ClaimSubscription(ctx)
	}
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return nil, viewer.ErrNoTenant
	}
	subs := r.Subscriptions
	if subs == nil {
		subs = &Subscriptions{NoSharing: true}
	}
	if sender != nil && !subs.NoSharing {
		if key, ok := sharedKey(ctx, v); ok {
			out, err := liveShared(ctx, r, subs, key, v, permission, topics, convert, sender)
			if !errors.Is(err, errNoSharing) {
				return out, err
			}
		}
	}
	if err := subs.acquire(ctx, v.MerchantID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	in, err := r.Bus.Subscribe(ctx, v.MerchantID, topics...)
	if err != nil {
		cancel()
		subs.release(v.MerchantID)
		return nil, err
	}
	creds, _ := ctx.Value(credentialsKey{}).(Credentials)
	g := newGuard(subs, creds, v, permission)
	sendTimeout := subs.sendTimeout()
	out := make(chan T)
	go func() {
		defer subs.release(v.MerchantID)
		defer cancel()
		defer close(out)
		var expired <-chan time.Time
		if !creds.ExpiresAt.IsZero() {
			t := time.NewTimer(time.Until(creds.ExpiresAt))
			defer t.Stop()
			expired = t.C
		}
		send := time.NewTimer(sendTimeout)
		defer send.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-expired:
				r.Log.InfoContext(ctx, "subscription closed: credentials expired", "merchant_id", v.MerchantID)
				closeConnection(ctx, CloseForbidden, "credentials expired")
				return
			case e, ok := <-in:
				if !ok {
					if ctx.Err() == nil {
						// The bus dropped a subscriber that fell behind.
						r.Log.WarnContext(ctx, "subscription closed: slow client", "merchant_id", v.MerchantID)
						closeConnection(ctx, CloseSlowConsumer, "slow consumer")
					}
					return
				}
				if e.MerchantID != v.MerchantID {
					continue // never another store's: the bus keys by merchant, this is a last guard
				}
				if err := g.check(ctx, time.Now()); err != nil {
					if ctx.Err() != nil {
						return // unsubscribed while the credentials were verified
					}
					r.Log.InfoContext(ctx, "subscription closed: credentials no longer valid", "merchant_id", v.MerchantID, "error", err)
					closeConnection(ctx, CloseForbidden, "credentials no longer valid")
					return
				}
				m, ok := convert(e)
				if !ok {
					continue
				}
				send.Reset(sendTimeout)
				select {
				case out <- m:
				case <-ctx.Done():
					return
				case <-send.C:
					r.Log.WarnContext(ctx, "subscription closed: slow client", "merchant_id", v.MerchantID)
					closeConnection(ctx, CloseSlowConsumer, "slow consumer")
					return
				}
			}
		}
	}()
	return out, nil
}

func (s *Subscriptions) sendTimeout() time.Duration {
	if s.SendTimeout > 0 {
		return s.SendTimeout
	}
	return 10 * time.Second
}

// guard decides whether a subscription's credentials still hold.
type guard struct {
	creds      Credentials
	v          viewer.Viewer
	permission string
	recheck    time.Duration
	checked    time.Time
	shared     *verifyCache // nil: every recheck verifies
	ttl        time.Duration
}

// newGuard returns the guard of a subscription opened now. Its first
// recheck comes after between half of Recheck and Recheck, so that
// subscriptions opened together (a dashboard's reconnect storm) do not all
// verify their credentials at the same event.
func newGuard(subs *Subscriptions, creds Credentials, v viewer.Viewer, permission string) *guard {
	checked, recheck := time.Now(), subs.Recheck
	if recheck > 1 {
		checked = checked.Add(-rand.N(recheck / 2))
	}
	g := &guard{creds: creds, v: v, permission: permission, recheck: recheck, checked: checked}
	if creds.Key != "" && creds.Verify != nil {
		if ttl := min(recheck/30, time.Second); ttl > 0 {
			g.shared, g.ttl = &subs.verified, ttl
		}
	}
	return g
}

var errCredentialsChanged = errors.New("the credentials now stand for another viewer")

// check reports whether the credentials hold at now (a recent reading
// of the clock).
func (g *guard) check(ctx context.Context, now time.Time) error {
	if !g.creds.ExpiresAt.IsZero() && !now.Before(g.creds.ExpiresAt) {
		return errors.New("token expired")
	}
	if g.creds.Verify == nil || now.Sub(g.checked) < g.recheck {
		return nil
	}
	var v viewer.Viewer
	var err error
	if g.shared != nil {
		v, err = g.shared.verify(ctx, g.creds, g.ttl)
	} else {
		v, err = g.creds.Verify(ctx)
	}
	if err != nil {
		return err
	}
	if v.Kind != g.v.Kind || v.MerchantID != g.v.MerchantID || v.UserID != g.v.UserID ||
		v.CustomerID != g.v.CustomerID || v.APIKeyID != g.v.APIKeyID {
		return errCredentialsChanged
	}
	if g.permission != "" && !v.Can(g.permission) {
		return errors.New("the credentials lost the permission " + g.permission)
	}
	g.checked = now
	return nil
}

// verifyCache shares recent rechecks of the same credentials
// (Credentials.Key) between subscriptions, and one recheck in flight.
type verifyCache struct {
	mu sync.Mutex
	m  map[string]*verification
}

type verification struct {
	done chan struct{} // closed once v and err are set
	at   time.Time
	v    viewer.Viewer
	err  error
}

// verify returns the result of a recheck of c made less than ttl ago (or
// in flight), else rechecks.
func (vc *verifyCache) verify(ctx context.Context, c Credentials, ttl time.Duration) (viewer.Viewer, error) {
	now := time.Now()
	vc.mu.Lock()
	e := vc.m[c.Key]
	if e == nil || (!e.at.IsZero() && now.Sub(e.at) >= ttl) {
		if vc.m == nil {
			vc.m = make(map[string]*verification)
		}
		if len(vc.m) >= 1024 {
			for k, old := range vc.m {
				if !old.at.IsZero() && now.Sub(old.at) >= ttl {
					delete(vc.m, k)
				}
			}
		}
		e = &verification{done: make(chan struct{})}
		vc.m[c.Key] = e
		vc.mu.Unlock()
		// Not the subscription's own context: others wait for this
		// result, and one client leaving must not fail it for them.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		v, err := c.Verify(vctx)
		cancel()
		vc.mu.Lock()
		e.v, e.err, e.at = v, err, time.Now()
		close(e.done)
		vc.mu.Unlock()
		return v, err
	}
	vc.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return viewer.Viewer{}, ctx.Err()
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return e.v, e.err
}

// orderEvent turns an order event into its GraphQL shape, with the order's
// customer (nil for a guest order).
func orderEvent(e events.Event) (*model.OrderEvent, *uuid.UUID, bool) {
	var st events.OrderState
	o := &model.OrderEvent{EventID: e.ID, OccurredAt: e.OccurredAt}
	switch e.Topic {
	case events.TopicOrderCreated:
		m, err := events.Decode[events.OrderCreated](e)
		if err != nil {
			return nil, nil, false
		}
		st, o.Type = m.OrderState, model.OrderEventTypeCreated
	case events.TopicOrderPaid:
		m, err := events.Decode[events.OrderPaid](e)
		if err != nil {
			return nil, nil, false
		}
		st, o.Type = m.OrderState, model.OrderEventTypePaid
		o.Amount = money(m.Amount, m.Currency)
	case events.TopicOrderFulfilled:
		m, err := events.Decode[events.OrderFulfilled](e)
		if err != nil {
			return nil, nil, false
		}
		st, o.Type = m.OrderState, model.OrderEventTypeFulfilled
		o.TrackingNumber, o.TrackingURL = optional(m.TrackingNumber), optional(m.TrackingURL)
	case events.TopicOrderCancelled:
		m, err := events.Decode[events.OrderCancelled](e)
		if err != nil {
			return nil, nil, false
		}
		st, o.Type = m.OrderState, model.OrderEventTypeCancelled
		o.Reason = optional(m.Reason)
	case events.TopicOrderRefunded:
		m, err := events.Decode[events.OrderRefunded](e)
		if err != nil {
			return nil, nil, false
		}
		st, o.Type = m.OrderState, model.OrderEventTypeRefunded
		o.Amount = money(m.Amount, m.Currency)
	default:
		return nil, nil, false
	}
	o.OrderID, o.OrderNumber, o.Status = st.OrderID, st.OrderNumber, st.Status
	o.FinancialStatus, o.FulfillmentStatus = st.FinancialStatus, st.FulfillmentStatus
	o.Total = money(st.TotalAmount, st.Currency)
	return o, st.CustomerID, true
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

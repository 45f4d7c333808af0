package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/omnisphere/omnisphere/graph/generated"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Shared rendering of subscriptions (docs/subscriptions.md, "Fan-out").
//
// WebSocket subscriptions with the same document, variables and operation
// name, opened by viewers of the same class (store, kind, permission set,
// and the customer for a customer's subscription), get the same answer to
// every event. They form a group: the group holds one bus subscription and
// renders each event once, with gqlgen, on a detached execution of the
// operation (the renderer); its members only write the rendered bytes to
// their sockets. Each member keeps its own checks before every write (the
// store, the token's expiry, the periodic credential recheck), its send
// timeout, its close codes and its place in the per-store cap.

// SharedConn is a WebSocket connection that can take events rendered for a
// group. The server implements it on the connection closer it puts in the
// context (WithConnectionCloser).
type SharedConn interface {
	ConnectionCloser
	// ClaimSubscription returns the sender of the subscription whose
	// resolver is running, ok false when the connection cannot take
	// rendered events for it (the subscription then runs unshared). ctx is
	// the subscription's. It is called once per subscription resolver.
	ClaimSubscription(ctx context.Context) (s SharedSender, ok bool)
}

// SharedSender writes one subscription's next messages.
type SharedSender interface {
	// Send writes the subscription's next message for r. A client that has
	// not taken it after timeout is cut off (the socket is closed) and
	// Send returns ErrSendTimeout; any other error means the connection is
	// gone.
	Send(r *Rendering, timeout time.Duration) error
}

// ErrSendTimeout is SharedSender.Send's answer for a client too slow to
// take an event.
var ErrSendTimeout = errors.New("graph: the client did not take the event in time")

// Rendering is one event rendered for a group: the response's data and
// errors as JSON, shared by every member (read only).
type Rendering struct {
	// MerchantID is the store of the event.
	MerchantID uuid.UUID
	// At is when it was rendered: per-subscription parts that change with
	// time (extensions.cost's throttle status) are as of then.
	At time.Time
	// Data is the response's data member.
	Data json.RawMessage
	// Errors is the response's errors member, nil when there are none.
	Errors json.RawMessage
}

// DefaultBacklog is how many rendered events a member of a group may fall
// behind by default (Subscriptions.Backlog).
const DefaultBacklog = 4096

// groupKey is what makes two subscriptions' answers identical.
type groupKey struct {
	merchant    uuid.UUID
	kind        viewer.Kind
	customer    uuid.UUID // customers only: myOrderUpdates filters by it
	permissions string    // sorted, NUL-separated
	query       string
	variables   string // canonical JSON (sorted keys)
	operation   string
}

// sharedKey is the group key of the subscription of ctx; ok is false when
// it has no operation to share.
func sharedKey(ctx context.Context, v viewer.Viewer) (groupKey, bool) {
	if !graphql.HasOperationContext(ctx) {
		return groupKey{}, false
	}
	rc := graphql.GetOperationContext(ctx)
	if rc.Operation == nil || rc.Operation.Operation != ast.Subscription || rc.Doc == nil || rc.RawQuery == "" {
		return groupKey{}, false
	}
	vars, err := json.Marshal(rc.Variables)
	if err != nil {
		return groupKey{}, false
	}
	k := groupKey{merchant: v.MerchantID, kind: v.Kind, query: rc.RawQuery, variables: string(vars), operation: rc.OperationName}
	if v.Kind == viewer.Customer {
		k.customer = v.CustomerID
	}
	if len(v.Permissions) > 0 {
		p := slices.Clone(v.Permissions)
		slices.Sort(p)
		k.permissions = strings.Join(slices.Compact(p), "\x00")
	}
	return k, true
}

// rendererKey marks the renderer's execution: live returns the group's
// feed (a chan T) instead of subscribing.
type rendererKey struct{}

// group is the subscriptions of one groupKey in this process.
type group struct {
	key    groupKey
	cancel context.CancelFunc // ends the bus subscription and the renderer

	head atomic.Uint64 // seq of the newest rendered event

	mu      sync.Mutex
	tail    *renderNode // newest rendered event (a sentinel at first)
	members []*member
	closed  bool // left by its last member: no one joins any more
}

// renderNode is one rendered event in the group's list. Members walk the
// list; a node nobody points at any more is garbage, so the group keeps
// what its slowest member has not sent yet, and no more.
type renderNode struct {
	seq  uint64
	r    *Rendering
	next atomic.Pointer[renderNode]
}

// member is one subscription of a group.
type member struct {
	g       *group
	idx     int           // in g.members, under g.mu
	wake    chan struct{} // cap 1: something to look at (poke)
	last    *renderNode   // the last node taken (the member's goroutine only)
	ended   atomic.Int32  // the group ended: 0 no, else the close code (-1: none, just complete)
	stopped atomic.Bool   // the subscription's context is done
}

// poke wakes m's goroutine (or leaves it woken).
func (m *member) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// take returns the next rendered event for m, nil when m is up to date;
// overflow reports that m fell more than backlog events behind.
func (m *member) take(backlog uint64) (r *Rendering, overflow bool) {
	n := m.last.next.Load()
	if n == nil {
		return nil, false
	}
	if m.g.head.Load()-m.last.seq > backlog {
		return nil, true
	}
	m.last = n
	return n.r, false
}

// fanout is the registry of the groups of a Subscriptions.
type fanout struct {
	once   sync.Once
	schema graphql.ExecutableSchema // nil: sharing unavailable
	mu     sync.Mutex
	groups map[groupKey]*group
}

// SharedGroups reports the shared groups this process holds and their
// members in all.
func (s *Subscriptions) SharedGroups() (groups, members int) {
	s.fan.mu.Lock()
	defer s.fan.mu.Unlock()
	for _, g := range s.fan.groups {
		g.mu.Lock()
		members += len(g.members)
		g.mu.Unlock()
	}
	return len(s.fan.groups), members
}

func (s *Subscriptions) backlog() uint64 {
	if s.Backlog > 0 {
		return uint64(s.Backlog)
	}
	return DefaultBacklog
}

// rendererSchema is the executable schema the renderers run on: r's
// resolvers and directives. It is nil (no sharing) when the generated
// schema has a directive this file does not wire.
func (s *Subscriptions) rendererSchema(r *Resolver) graphql.ExecutableSchema {
	s.fan.once.Do(func() {
		d := generated.DirectiveRoot{Auth: r.AuthDirective}
		dv := reflect.ValueOf(d)
		for i := range dv.NumField() {
			if f := dv.Field(i); f.Kind() == reflect.Func && f.IsNil() {
				r.Log.Warn("subscriptions: shared rendering off, the renderer does not wire directive " + dv.Type().Field(i).Name)
				return
			}
		}
		s.fan.schema = generated.NewExecutableSchema(generated.Config{Resolvers: r, Directives: d})
	})
	return s.fan.schema
}

// join adds a member to the group of key, creating the group (and its
// renderer) when there is none. ctx is the subscription's.
func join[T any](ctx context.Context, r *Resolver, subs *Subscriptions, key groupKey, v viewer.Viewer, topics []string,
	convert func(events.Event) (T, bool)) (*member, error) {
	f := &subs.fan
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[key]
	if g == nil {
		var err error
		if g, err = startGroup(ctx, r, subs, key, v, topics, convert); err != nil {
			return nil, err
		}
		if f.groups == nil {
			f.groups = make(map[groupKey]*group)
		}
		f.groups[key] = g
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &member{g: g, idx: len(g.members), wake: make(chan struct{}, 1), last: g.tail}
	g.members = append(g.members, m)
	return m, nil
}

// leave removes m from its group; the last member's leaving ends the
// group.
func (s *Subscriptions) leave(m *member) {
	g := m.g
	f := &s.fan
	f.mu.Lock()
	g.mu.Lock()
	if m.idx >= 0 {
		last := len(g.members) - 1
		g.members[m.idx] = g.members[last]
		g.members[m.idx].idx = m.idx
		g.members[last] = nil
		g.members = g.members[:last]
		m.idx = -1
	}
	empty := len(g.members) == 0 && !g.closed
	if empty {
		g.closed = true
		if f.groups[g.key] == g {
			delete(f.groups, g.key)
		}
	}
	g.mu.Unlock()
	f.mu.Unlock()
	if empty {
		g.cancel()
	}
}

// startGroup subscribes the group to the bus and starts its renderer: a
// gqlgen execution of the subscription's operation, detached from any one
// client, whose resolver (live, seeing rendererKey) yields the converted
// events. ctx is the first member's: the renderer runs as that viewer
// would (the viewer, the operation, gqlgen's field middleware) and
// presents errors with the server's error presenter.
func startGroup[T any](ctx context.Context, r *Resolver, subs *Subscriptions, key groupKey, v viewer.Viewer, topics []string,
	convert func(events.Event) (T, bool)) (*group, error) {
	schema := subs.rendererSchema(r)
	if schema == nil {
		return nil, errNoSharing
	}
	rc := graphql.GetOperationContext(ctx)
	op := &graphql.OperationContext{
		RawQuery: rc.RawQuery, Variables: rc.Variables, OperationName: rc.OperationName, Doc: rc.Doc,
		Extensions: rc.Extensions, Operation: rc.Operation, DisableIntrospection: rc.DisableIntrospection,
		RecoverFunc: rc.RecoverFunc, ResolverMiddleware: rc.ResolverMiddleware, RootResolverMiddleware: rc.RootResolverMiddleware,
	}
	presenter, recoverFunc := presenterOf(ctx)

	gctx, cancel := context.WithCancel(context.Background())
	in, err := r.Bus.Subscribe(gctx, v.MerchantID, topics...)
	if err != nil {
		cancel()
		return nil, err
	}
	feed := make(chan T, 1)
	rctx := context.WithValue(gctx, rendererKey{}, feed)
	rctx = graphql.WithOperationContext(viewer.NewContext(rctx, v), op)
	execCtx := graphql.WithResponseContext(rctx, presenter, recoverFunc)
	responses := schema.Exec(execCtx)
	if errs := graphql.GetErrors(execCtx); len(errs) > 0 {
		cancel()
		r.Log.WarnContext(ctx, "subscriptions: the renderer refused the operation; it runs unshared", "error", errs)
		return nil, errNoSharing
	}
	g := &group{key: key, cancel: cancel, tail: &renderNode{}}
	go runGroup(g, &subs.fan, rctx, r.Log, in, feed, convert, responses, presenter, recoverFunc)
	return g, nil
}

// errNoSharing: the subscription runs unshared.
var errNoSharing = errors.New("graph: shared rendering unavailable")

// presenterOf returns the error presenter and recover function of the
// response context of ctx (the server's), usable from the renderer.
func presenterOf(ctx context.Context) (graphql.ErrorPresenterFunc, graphql.RecoverFunc) {
	base := context.WithoutCancel(ctx)
	fresh := func() (c context.Context, ok bool) {
		defer func() {
			if recover() != nil { // no response context
				ok = false
			}
		}()
		return graphql.WithFreshResponseContext(base), true
	}
	if _, ok := fresh(); !ok {
		return graphql.DefaultErrorPresenter, graphql.DefaultRecover
	}
	presenter := func(_ context.Context, err error) *gqlerror.Error {
		c, _ := fresh()
		graphql.AddError(c, err)
		if errs := graphql.GetErrors(c); len(errs) > 0 {
			return errs[0]
		}
		return nil
	}
	recoverFunc := func(_ context.Context, p any) error {
		c, _ := fresh()
		return graphql.Recover(c, p)
	}
	return presenter, recoverFunc
}

// runGroup renders each event of the group's store once and hands it to
// the members, until the last member leaves (rctx is done) or the bus
// drops the group.
func runGroup[T any](g *group, f *fanout, rctx context.Context, log *slog.Logger, in <-chan events.Event, feed chan<- T,
	convert func(events.Event) (T, bool), responses graphql.ResponseHandler,
	presenter graphql.ErrorPresenterFunc, recoverFunc graphql.RecoverFunc) {
	end := endComplete
	defer func() { g.end(f, end) }()
	for {
		select {
		case <-rctx.Done():
			return
		case e, ok := <-in:
			if !ok {
				if rctx.Err() == nil {
					// The bus dropped the group: it fell its buffer behind.
					log.Warn("subscriptions: shared group dropped by the bus", "merchant_id", g.key.merchant)
					end = CloseSlowConsumer
				}
				return
			}
			if e.MerchantID != g.key.merchant {
				continue // never another store's: the bus keys by merchant, this is a last guard
			}
			t, ok := convert(e)
			if !ok {
				continue
			}
			feed <- t // buffered: the renderer takes it right below
			rd, err := render(rctx, responses, presenter, recoverFunc)
			if err != nil {
				log.Error("subscriptions: shared rendering failed", "merchant_id", g.key.merchant, "error", err)
				return
			}
			if rd == nil {
				return
			}
			rd.MerchantID, rd.At = e.MerchantID, time.Now()
			g.publish(rd)
		}
	}
}

// render runs the renderer for the event just fed to it.
func render(rctx context.Context, responses graphql.ResponseHandler, presenter graphql.ErrorPresenterFunc,
	recoverFunc graphql.RecoverFunc) (rd *Rendering, err error) {
	ctx := graphql.WithResponseContext(rctx, presenter, recoverFunc)
	defer func() {
		if p := recover(); p != nil {
			rd, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	resp := responses(ctx)
	if resp == nil {
		return nil, nil
	}
	rd = &Rendering{Data: slices.Clone(resp.Data)} // gqlgen reuses its buffer
	if errs := append(resp.Errors, graphql.GetErrors(ctx)...); len(errs) > 0 {
		if rd.Errors, err = json.Marshal(errs); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// publish appends rd to the group's list and wakes the members.
func (g *group) publish(rd *Rendering) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := &renderNode{seq: g.tail.seq + 1, r: rd}
	g.tail.next.Store(n)
	g.tail = n
	g.head.Store(n.seq)
	for _, m := range g.members {
		m.poke()
	}
}

// endComplete ends the members' subscriptions normally (complete).
const endComplete = -1

// end takes the group out of the registry and ends its members with code
// (endComplete, or a close code).
func (g *group) end(f *fanout, code int) {
	f.mu.Lock()
	g.mu.Lock()
	g.closed = true
	if f.groups[g.key] == g {
		delete(f.groups, g.key)
	}
	for _, m := range g.members {
		m.ended.Store(int32(code))
		m.poke()
	}
	g.mu.Unlock()
	f.mu.Unlock()
	g.cancel()
}

// liveShared is live for a subscription that joins its group: its
// goroutine checks and writes the group's renderings; the channel it
// returns yields nothing and closes when the subscription ends.
func liveShared[T any](ctx context.Context, r *Resolver, subs *Subscriptions, key groupKey, v viewer.Viewer, permission string,
	topics []string, convert func(events.Event) (T, bool), sender SharedSender) (<-chan T, error) {
	if err := subs.acquire(ctx, v.MerchantID); err != nil {
		return nil, err
	}
	m, err := join(ctx, r, subs, key, v, topics, convert)
	if err != nil {
		subs.release(v.MerchantID)
		return nil, err
	}
	creds, _ := ctx.Value(credentialsKey{}).(Credentials)
	g := newGuard(subs, creds, v, permission)
	sendTimeout, backlog := subs.sendTimeout(), subs.backlog()
	out := make(chan T)
	go func() {
		defer subs.release(v.MerchantID)
		defer close(out) // after leaving: no write follows gqlgen's complete
		defer subs.leave(m)
		// One channel wakes the member for everything (a rendered event,
		// the group's end, ctx done, the token's expiry): a receive is
		// cheaper than a select, and this is the per-event path, as are
		// the flag (ctx.Err walks gqlgen's long chain of contexts) and the
		// one clock reading per event.
		defer context.AfterFunc(ctx, func() {
			m.stopped.Store(true)
			m.poke()
		})()
		if !creds.ExpiresAt.IsZero() {
			defer time.AfterFunc(time.Until(creds.ExpiresAt), m.poke).Stop()
		}
		for {
			<-m.wake
			if m.stopped.Load() {
				return
			}
			now := time.Now()
			if !creds.ExpiresAt.IsZero() && !now.Before(creds.ExpiresAt) {
				r.Log.InfoContext(ctx, "subscription closed: credentials expired", "merchant_id", v.MerchantID)
				closeConnection(ctx, CloseForbidden, "credentials expired")
				return
			}
			for first := true; ; first = false {
				rd, overflow := m.take(backlog)
				if overflow {
					r.Log.WarnContext(ctx, "subscription closed: slow client", "merchant_id", v.MerchantID)
					closeConnection(ctx, CloseSlowConsumer, "slow consumer")
					return
				}
				if rd == nil || m.stopped.Load() {
					break
				}
				if rd.MerchantID != v.MerchantID {
					continue
				}
				if !first {
					now = time.Now()
				}
				if err := g.check(ctx, now); err != nil {
					if ctx.Err() != nil {
						return // unsubscribed while the credentials were verified
					}
					r.Log.InfoContext(ctx, "subscription closed: credentials no longer valid", "merchant_id", v.MerchantID, "error", err)
					closeConnection(ctx, CloseForbidden, "credentials no longer valid")
					return
				}
				if err := sender.Send(rd, sendTimeout); err != nil {
					if errors.Is(err, ErrSendTimeout) {
						r.Log.WarnContext(ctx, "subscription closed: slow client", "merchant_id", v.MerchantID)
						closeConnection(ctx, CloseSlowConsumer, "slow consumer")
					}
					return
				}
			}
			switch code := int(m.ended.Load()); code {
			case 0:
			case endComplete:
				return
			default:
				if !m.stopped.Load() {
					r.Log.WarnContext(ctx, "subscription closed: slow client", "merchant_id", v.MerchantID)
					closeConnection(ctx, code, "slow consumer")
				}
				return
			}
		}
	}()
	return out, nil
}

package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"go.uber.org/goleak"

	"github.com/omnisphere/omnisphere/graph/generated"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// fakeConn is a SharedConn whose subscriptions record what they are sent.
type fakeConn struct {
	recordedClose
	mu    sync.Mutex
	sent  []*Rendering
	block chan struct{} // non-nil: Send waits for it (a stuck client)
	fail  error         // Send's answer
}

func (c *fakeConn) ClaimSubscription(context.Context) (SharedSender, bool) { return c, true }

func (c *fakeConn) Send(r *Rendering, timeout time.Duration) error {
	if c.block != nil {
		select {
		case <-c.block:
		case <-time.After(timeout):
			return ErrSendTimeout
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.sent = append(c.sent, r)
	return nil
}

func (c *fakeConn) got() []*Rendering {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Rendering(nil), c.sent...)
}

// sharedEnv is a resolver on an in-process bus, and subscribe starts a
// subscription the way gqlgen's WebSocket transport does (an operation
// context, a response context, the connection in the context).
type sharedEnv struct {
	t   *testing.T
	r   *Resolver
	bus *events.Local
}

func newSharedEnv(t *testing.T, subs *Subscriptions) *sharedEnv {
	bus := events.NewLocal()
	t.Cleanup(func() { _ = bus.Close() })
	return &sharedEnv{t: t, bus: bus, r: &Resolver{Bus: bus, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Subscriptions: subs}}
}

const sharedAlerts = `subscription { inventoryAlerts { eventId sku quantityAvailable } }`

// subscribe opens query (inventoryAlerts or myOrderUpdates) as v over
// conn, with creds, like gqlgen's WebSocket transport does (an operation
// context, a response context, the connection in the context); cancelling
// ctx unsubscribes. done closes when the subscription's channel does.
func (e *sharedEnv) subscribe(ctx context.Context, v viewer.Viewer, creds Credentials, conn SharedConn, query string) (done <-chan struct{}) {
	e.t.Helper()
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: e.r, Directives: generated.DirectiveRoot{Auth: e.r.AuthDirective}})
	doc, errs := gqlparser.LoadQuery(schema.Schema(), query)
	require.Empty(e.t, errs)
	oc := &graphql.OperationContext{
		RawQuery: query, Variables: map[string]any{}, Doc: doc, Operation: doc.Operations[0],
		ResolverMiddleware:     func(ctx context.Context, next graphql.Resolver) (any, error) { return next(ctx) },
		RootResolverMiddleware: func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler { return next(ctx) },
	}
	ctx = graphql.WithResponseContext(graphql.WithOperationContext(ctx, oc), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	ctx = WithConnectionCloser(WithCredentials(viewer.NewContext(ctx, v), creds), conn)
	sub := e.r.Subscription()
	switch field := doc.Operations[0].SelectionSet[0].(*ast.Field).Name; field {
	case "inventoryAlerts":
		ch, err := sub.InventoryAlerts(ctx)
		require.NoError(e.t, err)
		return drain(e.t, ch)
	case "myOrderUpdates":
		ch, err := sub.MyOrderUpdates(ctx)
		require.NoError(e.t, err)
		return drain(e.t, ch)
	default:
		e.t.Fatalf("no subscribe for %s", field)
		return nil
	}
}

// drain reads ch, which a shared subscription never sends on, until it
// closes.
func drain[T any](t *testing.T, ch <-chan T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			t.Error("a shared subscription yielded a value to gqlgen")
		}
	}()
	return done
}

func (e *sharedEnv) alert(m uuid.UUID, sku string) {
	e.t.Helper()
	emitTo(e.t, e.bus, m, events.InventoryLow{VariantID: uuid.New(), ProductID: uuid.New(), SKU: sku, QuantityAvailable: 1, Threshold: 3})
}

func emitTo(t *testing.T, bus events.Bus, m uuid.UUID, msg events.Message) {
	t.Helper()
	payload, err := json.Marshal(msg)
	require.NoError(t, err)
	require.NoError(t, bus.Publish(context.Background(), events.Event{ID: uuid.New(), MerchantID: m, Topic: msg.Topic(),
		Payload: payload, OccurredAt: time.Now()}))
}

func staff(m uuid.UUID, perms ...string) viewer.Viewer {
	return viewer.Viewer{Kind: viewer.APIKey, MerchantID: m, APIKeyID: uuid.New(), Permissions: perms}
}

// waitSent waits until conn was sent n renderings.
func waitSent(t *testing.T, conn *fakeConn, n int) []*Rendering {
	t.Helper()
	require.Eventually(t, func() bool { return len(conn.got()) >= n }, 5*time.Second, 2*time.Millisecond, "sent %d of %d", len(conn.got()), n)
	return conn.got()
}

// TestSharedGroupKey: what makes two subscriptions share their renderings.
func TestSharedGroupKey(t *testing.T) {
	m := uuid.New()
	op := func(query, name string, vars map[string]any) context.Context {
		doc, errs := gqlparser.LoadQuery(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}).Schema(), query)
		require.Empty(t, errs)
		return graphql.WithOperationContext(context.Background(), &graphql.OperationContext{RawQuery: query, OperationName: name,
			Variables: vars, Doc: doc, Operation: doc.Operations.ForName(name)})
	}
	const campaign = `subscription P($id: ID!) { campaignProgress(campaignId: $id) { sent } }`
	id1, id2 := uuid.New(), uuid.New()
	base := op(sharedAlerts, "", nil)
	customer := func(c uuid.UUID) viewer.Viewer {
		return viewer.Viewer{Kind: viewer.Customer, MerchantID: m, CustomerID: c}
	}
	c1 := uuid.New()
	for _, tc := range []struct {
		name       string
		ctxA, ctxB context.Context
		a, b       viewer.Viewer
		share      bool
	}{
		{"same document and permissions, other keys", base, base, staff(m, "products:read"), staff(m, "products:read"), true},
		{"permissions in another order", base, base, staff(m, "a:read", "products:read"), staff(m, "products:read", "a:read"), true},
		{"other permission sets", base, base, staff(m, "products:read"), staff(m, "products:read", "orders:read"), false},
		{"other stores", base, base, staff(m, "products:read"), staff(uuid.New(), "products:read"), false},
		{"staff and key", base, base, viewer.Viewer{Kind: viewer.Staff, MerchantID: m, UserID: uuid.New()}, staff(m), false},
		{"two staff users", base, base, viewer.Viewer{Kind: viewer.Staff, MerchantID: m, UserID: uuid.New()},
			viewer.Viewer{Kind: viewer.Staff, MerchantID: m, UserID: uuid.New()}, true},
		{"other customers", base, base, customer(c1), customer(uuid.New()), false},
		{"one customer twice", base, base, customer(c1), customer(c1), true},
		{"other selections", base, op(`subscription { inventoryAlerts { sku } }`, "", nil), staff(m), staff(m), false},
		{"other variables", op(campaign, "P", map[string]any{"id": id1}), op(campaign, "P", map[string]any{"id": id2}), staff(m), staff(m), false},
		{"same variables", op(campaign, "P", map[string]any{"id": id1}), op(campaign, "P", map[string]any{"id": id1}), staff(m), staff(m), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka, ok := sharedKey(tc.ctxA, tc.a)
			require.True(t, ok)
			kb, ok := sharedKey(tc.ctxB, tc.b)
			require.True(t, ok)
			require.Equal(t, tc.share, ka == kb)
		})
	}
	_, ok := sharedKey(context.Background(), staff(m))
	require.False(t, ok, "no operation, no key")
}

// TestSharedRendersOnce: identical subscriptions get the same rendering
// (one per event); another permission set renders its own.
func TestSharedRendersOnce(t *testing.T) {
	e := newSharedEnv(t, &Subscriptions{})
	m := uuid.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	same := []*fakeConn{{}, {}, {}}
	for _, c := range same {
		e.subscribe(ctx, staff(m, "products:read"), Credentials{}, c, sharedAlerts)
	}
	other := &fakeConn{}
	e.subscribe(ctx, staff(m, "products:read", "orders:read"), Credentials{}, other, sharedAlerts)
	groups, members := e.r.Subscriptions.SharedGroups()
	require.Equal(t, [2]int{2, 4}, [2]int{groups, members})
	require.Equal(t, 4, e.r.Subscriptions.Open()[m])

	e.alert(m, "A-1")
	e.alert(uuid.New(), "NOT-MINE")
	e.alert(m, "A-2")
	first := waitSent(t, same[0], 2)
	for _, c := range same[1:] {
		got := waitSent(t, c, 2)
		require.Same(t, first[0], got[0], "one rendering for the group")
		require.Same(t, first[1], got[1])
	}
	theirs := waitSent(t, other, 2)
	require.NotSame(t, first[0], theirs[0], "another group renders for itself")
	require.JSONEq(t, `{"inventoryAlerts":{"eventId":"`+jsonField(t, first[0].Data, "eventId")+`","sku":"A-1","quantityAvailable":1}}`, string(first[0].Data))
	require.Contains(t, string(first[1].Data), `"sku":"A-2"`)
	require.Nil(t, first[0].Errors)
	require.Equal(t, m, first[0].MerchantID)
	time.Sleep(50 * time.Millisecond)
	require.Len(t, same[0].got(), 2, "nothing of another store")
}

func jsonField(t *testing.T, data []byte, field string) string {
	t.Helper()
	var v struct{ InventoryAlerts map[string]any }
	require.NoError(t, json.Unmarshal(data, &v))
	s, _ := v.InventoryAlerts[field].(string)
	return s
}

// TestSharedCustomers: two customers never share; each gets their own
// orders only.
func TestSharedCustomers(t *testing.T) {
	e := newSharedEnv(t, &Subscriptions{})
	m, x, y := uuid.New(), uuid.New(), uuid.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const mine = `subscription { myOrderUpdates { orderNumber } }`
	cx, cy := &fakeConn{}, &fakeConn{}
	e.subscribe(ctx, viewer.Viewer{Kind: viewer.Customer, MerchantID: m, CustomerID: x}, Credentials{}, cx, mine)
	e.subscribe(ctx, viewer.Viewer{Kind: viewer.Customer, MerchantID: m, CustomerID: y}, Credentials{}, cy, mine)
	groups, _ := e.r.Subscriptions.SharedGroups()
	require.Equal(t, 2, groups)
	order := func(c uuid.UUID, n int) events.Message {
		return events.OrderPaid{OrderState: events.OrderState{OrderID: uuid.New(), OrderNumber: n, CustomerID: &c, Currency: "USD"}}
	}
	emitTo(t, e.bus, m, order(y, 1))
	emitTo(t, e.bus, m, order(x, 2))
	emitTo(t, e.bus, m, order(y, 3))
	require.JSONEq(t, `{"myOrderUpdates":{"orderNumber":2}}`, string(waitSent(t, cx, 1)[0].Data))
	ys := waitSent(t, cy, 2)
	require.JSONEq(t, `{"myOrderUpdates":{"orderNumber":1}}`, string(ys[0].Data))
	require.JSONEq(t, `{"myOrderUpdates":{"orderNumber":3}}`, string(ys[1].Data))
	time.Sleep(50 * time.Millisecond)
	require.Len(t, cx.got(), 1)
}

// TestSharedRevokedMember: a member whose credentials no longer hold is
// closed with CloseForbidden before the event; the others keep receiving.
func TestSharedRevokedMember(t *testing.T) {
	e := newSharedEnv(t, &Subscriptions{}) // Recheck 0: verified before every event
	m := uuid.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := staff(m, "products:read")
	var revoked sync.Map
	creds := func(name string) Credentials {
		return Credentials{Key: name, Verify: func(context.Context) (viewer.Viewer, error) {
			if _, ok := revoked.Load(name); ok {
				return viewer.Viewer{}, errors.New("revoked")
			}
			return v, nil
		}}
	}
	keep, lose := &fakeConn{}, &fakeConn{}
	e.subscribe(ctx, v, creds("keep"), keep, sharedAlerts)
	loseDone := e.subscribe(ctx, v, creds("lose"), lose, sharedAlerts)
	_, members := e.r.Subscriptions.SharedGroups()
	require.Equal(t, 2, members)
	e.alert(m, "BEFORE")
	waitSent(t, keep, 1)
	waitSent(t, lose, 1)

	revoked.Store("lose", true)
	e.alert(m, "AFTER")
	<-loseDone
	require.Equal(t, CloseForbidden, lose.get())
	require.Len(t, lose.got(), 1, "nothing after the revocation")
	e.alert(m, "LATER")
	got := waitSent(t, keep, 3)
	require.Contains(t, string(got[2].Data), "LATER")
	require.Zero(t, keep.get(), "the others stay open")
	require.Eventually(t, func() bool {
		_, n := e.r.Subscriptions.SharedGroups()
		return n == 1 && e.r.Subscriptions.Open()[m] == 1
	}, 5*time.Second, 2*time.Millisecond)
}

// TestSharedSlowMembers: a member that does not take an event within
// SendTimeout, or falls more than Backlog behind, is closed with
// CloseSlowConsumer; the others go on.
func TestSharedSlowMembers(t *testing.T) {
	e := newSharedEnv(t, &Subscriptions{SendTimeout: 100 * time.Millisecond, Backlog: 3})
	m := uuid.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := staff(m, "products:read")
	fast, timesOut := &fakeConn{}, &fakeConn{block: make(chan struct{})}
	e.subscribe(ctx, v, Credentials{}, fast, sharedAlerts)
	timeoutDone := e.subscribe(ctx, v, Credentials{}, timesOut, sharedAlerts)
	e.alert(m, "1")
	<-timeoutDone
	require.Equal(t, CloseSlowConsumer, timesOut.get())

	// Stuck long enough for 5 more events: past the backlog of 3.
	stuck := &fakeConn{block: make(chan struct{})}
	e.r.Subscriptions.SendTimeout = 0 // 10 s: only the backlog cuts it off
	stuckDone := e.subscribe(ctx, v, Credentials{}, stuck, sharedAlerts)
	for i := range 5 {
		e.alert(m, fmt.Sprint("more-", i))
		waitSent(t, fast, 2+i) // fast stays within the backlog
	}
	close(stuck.block) // the first send returns; the backlog is overrun
	<-stuckDone
	require.Equal(t, CloseSlowConsumer, stuck.get())
	require.Zero(t, fast.get())
	_, members := e.r.Subscriptions.SharedGroups()
	require.Equal(t, 1, members)
}

// TestSharedLeave: unsubscribing leaves no goroutine behind; the group
// ends with its last member, and a new subscription starts a new one.
func TestSharedLeave(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newSharedEnv(t, &Subscriptions{})
	m := uuid.New()
	var cancels []context.CancelFunc
	var dones []<-chan struct{}
	conns := make([]*fakeConn, 5)
	for i := range conns {
		ctx, cancel := context.WithCancel(context.Background())
		conns[i] = &fakeConn{}
		dones = append(dones, e.subscribe(ctx, staff(m, "products:read"), Credentials{ExpiresAt: time.Now().Add(time.Hour)}, conns[i], sharedAlerts))
		cancels = append(cancels, cancel)
	}
	e.alert(m, "ALL")
	for _, c := range conns {
		waitSent(t, c, 1)
	}
	cancels[0]()
	<-dones[0]
	groups, members := e.r.Subscriptions.SharedGroups()
	require.Equal(t, [2]int{1, 4}, [2]int{groups, members})
	e.alert(m, "REST")
	for _, c := range conns[1:] {
		waitSent(t, c, 2)
	}
	require.Len(t, conns[0].got(), 1)
	for i := 1; i < len(cancels); i++ {
		cancels[i]()
		<-dones[i]
	}
	groups, members = e.r.Subscriptions.SharedGroups()
	require.Equal(t, [2]int{0, 0}, [2]int{groups, members})
	require.Eventually(t, func() bool { return len(e.r.Subscriptions.Open()) == 0 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	again := &fakeConn{}
	done := e.subscribe(ctx, staff(m, "products:read"), Credentials{}, again, sharedAlerts)
	e.alert(m, "AGAIN")
	require.Contains(t, string(waitSent(t, again, 1)[0].Data), "AGAIN")
	cancel()
	<-done
	require.NoError(t, e.bus.Close())
}

// TestSharedBusDrop: when the bus drops a group (it fell its buffer
// behind), its members are closed with CloseSlowConsumer.
func TestSharedBusDrop(t *testing.T) {
	e := newSharedEnv(t, &Subscriptions{})
	m := uuid.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &fakeConn{}
	done := e.subscribe(ctx, staff(m, "products:read"), Credentials{}, c, sharedAlerts)
	require.NoError(t, e.bus.Close()) // closes every subscription's channel, as a drop does
	<-done
	require.Equal(t, CloseSlowConsumer, c.get())
	groups, _ := e.r.Subscriptions.SharedGroups()
	require.Zero(t, groups)
}

// TestSharedOff: NoSharing, or a connection that cannot take renderings,
// runs the subscription unshared.
func TestSharedOff(t *testing.T) {
	m := uuid.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name string
		subs *Subscriptions
		conn SharedConn
		v    viewer.Viewer
	}{
		{"NoSharing", &Subscriptions{NoSharing: true}, &fakeConn{}, staff(m, "products:read")},
		{"no claim", &Subscriptions{}, &noClaim{}, staff(m, "products:read")},
		// The resolver was called without @auth: the renderer refuses.
		{"the renderer refuses", &Subscriptions{}, &fakeConn{}, staff(m)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSharedEnv(t, tc.subs)
			e.subscribe(ctx, tc.v, Credentials{}, tc.conn, sharedAlerts)
			groups, _ := e.r.Subscriptions.SharedGroups()
			require.Zero(t, groups)
			require.Equal(t, 1, e.r.Subscriptions.Open()[m])
		})
	}
}

type noClaim struct{ recordedClose }

func (*noClaim) ClaimSubscription(context.Context) (SharedSender, bool) { return nil, false }

// TestVerifyCache: concurrent rechecks of one Key verify once; one made
// longer than the TTL ago is made again; a waiter that leaves does not fail
// the others.
func TestVerifyCache(t *testing.T) {
	var vc verifyCache
	v := staff(uuid.New(), "products:read")
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	c := Credentials{Key: "k", Verify: func(ctx context.Context) (viewer.Viewer, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		<-release
		return v, ctx.Err()
	}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := vc.verify(context.Background(), c, time.Hour)
			require.NoError(t, err)
			require.Equal(t, v.APIKeyID, got.APIKeyID)
		}()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 }, 5*time.Second, time.Millisecond)
	leaver, leave := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() { _, err := vc.verify(leaver, c, time.Hour); left <- err }()
	leave()
	require.ErrorIs(t, <-left, context.Canceled)
	close(release)
	wg.Wait()
	require.Equal(t, 1, calls)
	_, err := vc.verify(context.Background(), c, time.Nanosecond)
	require.NoError(t, err)
	require.Equal(t, 2, calls, "older than the TTL: verified again")
}

package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// liveBus is a Bus the tests close.
type liveBus interface {
	Bus
	Close() error
	Dropped() uint64
}

// buses returns the live buses to test: in process always, Redis when
// TEST_REDIS_URL is set.
func buses(t *testing.T, o BusOptions) map[string]func(t *testing.T) liveBus {
	out := map[string]func(t *testing.T) liveBus{
		"local": func(t *testing.T) liveBus {
			b := NewLocalWith(o)
			t.Cleanup(func() { b.Close() })
			return b
		},
	}
	out["redis"] = func(t *testing.T) liveBus {
		rdb, prefix := testRedis(t)
		b := NewRedisBus(rdb, RedisBusConfig{Prefix: prefix, BusOptions: o, Log: quiet})
		t.Cleanup(func() { b.Close() })
		return b
	}
	return out
}

// receive reads n events from ch, or fails after timeout.
func receive(t *testing.T, ch <-chan Event, n int, timeout time.Duration) []Event {
	t.Helper()
	var got []Event
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case e, ok := <-ch:
			require.True(t, ok, "the subscription closed after %d of %d events", len(got), n)
			got = append(got, e)
		case <-deadline:
			t.Fatalf("received %d of %d events", len(got), n)
		}
	}
	return got
}

// TestBusDropsSlowSubscribersAndCaps: on both buses, a subscriber that falls
// a buffer behind is closed (memory stays bounded), a merchant's
// subscriptions are capped, and Close ends them all.
func TestBusDropsSlowSubscribersAndCaps(t *testing.T) {
	for name, newBus := range buses(t, BusOptions{Buffer: 8, MaxPerMerchant: 2}) {
		t.Run(name, func(t *testing.T) {
			bus := newBus(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m := uuid.New()
			slow, err := bus.Subscribe(ctx, m)
			require.NoError(t, err)
			fast, err := bus.Subscribe(ctx, m, TopicOrderPaid)
			require.NoError(t, err)
			_, err = bus.Subscribe(ctx, m)
			require.ErrorIs(t, err, ErrTooManySubscribers)
			other, err := bus.Subscribe(ctx, uuid.New()) // another store has its own cap
			require.NoError(t, err)

			waitForSubscription(t, bus, m, fast)
			for i := 0; i < 20; i++ {
				require.NoError(t, bus.Publish(ctx, Event{ID: uuid.New(), MerchantID: m, Topic: TopicOrderPaid}))
				receive(t, fast, 1, 5*time.Second) // keeps up
			}
			n := 0
			for range slow { // closed, not grown: the first 8 are kept
				n++
			}
			require.LessOrEqual(t, n, 8)
			require.Equal(t, uint64(1), bus.Dropped())

			// The dropped subscriber's place is free again.
			again, err := bus.Subscribe(ctx, m)
			require.NoError(t, err)
			require.NoError(t, bus.Close())
			for _, ch := range []<-chan Event{fast, other, again} {
				for range ch { // closed by Close
				}
			}
			_, err = bus.Subscribe(ctx, m)
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}

// waitForSubscription publishes probes of merchant m until sub receives one:
// on Redis, SUBSCRIBE takes effect a moment after Subscribe returns. Probes
// use the topic order.paid.
func waitForSubscription(t *testing.T, bus Bus, m uuid.UUID, sub <-chan Event) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.NoError(t, bus.Publish(context.Background(), Event{ID: uuid.New(), MerchantID: m, Topic: TopicOrderPaid}))
		select {
		case <-sub:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription never received a probe")
		}
	}
}

// TestLiveIsolation: 1,000 events of merchant A through the relay and the
// live bus: A's subscriber gets them all in per-aggregate order, B's
// subscriber none (B's own event, published after them, arrives alone).
func TestLiveIsolation(t *testing.T) {
	for _, b := range dbtest.Backends() {
		for name, newBus := range buses(t, BusOptions{Buffer: 2000}) {
			t.Run(string(b)+"/"+name, func(t *testing.T) {
				d := openDB(t, b)
				bus := newBus(t)
				r, _ := startRelay(t, RelayConfig{Client: d.Client, Bus: bus, Durable: newRecorder(nil)})
				d.Client.OutboxEvent.Use(CommitHook(r))
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				subA, err := bus.Subscribe(ctx, d.a)
				require.NoError(t, err)
				subB, err := bus.Subscribe(ctx, d.b)
				require.NoError(t, err)
				// Both subscriptions are live once a first event of each
				// store arrived.
				waitForLive(t, d, subA, d.a)
				waitForLive(t, d, subB, d.b)

				aggs := make([]uuid.UUID, 20)
				for i := range aggs {
					aggs[i] = uuid.New()
				}
				var written []Event
				for i := 0; i < 40; i++ { // 40 transactions of 25 events
					var msgs []Message
					for j := 0; j < 25; j++ {
						msgs = append(msgs, progress(aggs[(i+j*7)%len(aggs)], i*25+j))
					}
					written = append(written, write(t, d.Client, d.a, msgs...)...)
				}
				got := receive(t, subA, len(written), 45*time.Second)
				for _, e := range got {
					require.Equal(t, d.a, e.MerchantID)
				}
				requireAggregateOrder(t, written, got)

				last := write(t, d.Client, d.b, progress(uuid.New(), 1))
				gotB := receive(t, subB, 1, 10*time.Second)
				require.Equal(t, last[0].ID, gotB[0].ID, "B received one of A's events")
				select {
				case e := <-subB:
					t.Fatalf("B received another event: %+v", e)
				default:
				}
			})
		}
	}
}

// waitForLive writes events of merchant m until sub receives one (the
// subscription is live), and drains what arrives meanwhile.
func waitForLive(t *testing.T, d *testDB, sub <-chan Event, m uuid.UUID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		write(t, d.Client, m, progress(uuid.New(), -1))
		select {
		case e := <-sub:
			require.Equal(t, m, e.MerchantID)
			// Drain the other probes once they are published.
			waitUntil(t, 10*time.Second, func() bool {
				n, err := d.Client.OutboxEvent.Query().Where(outboxevent.StatusEQ(outboxevent.StatusPENDING)).Count(sys)
				return err == nil && n == 0
			}, "probes published")
		drain:
			for {
				select {
				case <-sub:
				case <-time.After(100 * time.Millisecond):
					break drain
				}
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the live subscription never received an event")
		}
	}
}

// TestRedisRestart: a private Redis is killed and restarted (no persistence:
// it comes back empty) while events flow. The live subscription resumes
// within 5 s, and every committed event reaches the durable consumer, none
// lost; redeliveries have no effect.
func TestRedisRestart(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			srv := startRedisServer(t)
			rdb := srv.client(t)
			const prefix = "restart:"
			bus := NewRedisBus(rdb, RedisBusConfig{Prefix: prefix, BusOptions: BusOptions{Buffer: 100_000}, Log: quiet})
			defer bus.Close()
			streams := NewStreams(rdb, StreamsConfig{Prefix: prefix, ClaimTimeout: time.Second, Block: 100 * time.Millisecond,
				CheckInterval: 20 * time.Millisecond, Log: quiet})
			defer streams.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			var mu sync.Mutex
			effect := map[uuid.UUID]bool{} // what the consumer did: idempotent by event id
			calls := 0
			require.NoError(t, streams.Consume(ctx, "triggers", func(_ context.Context, e Event) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				effect[e.ID] = true
				return nil
			}))
			handled := func(ids []uuid.UUID) (n int) {
				mu.Lock()
				defer mu.Unlock()
				for _, id := range ids {
					if effect[id] {
						n++
					}
				}
				return n
			}

			d := openDB(t, b)
			r, _ := startRelay(t, RelayConfig{Client: d.Client, Bus: bus, Durable: streams, OutageBackoffMax: 200 * time.Millisecond})
			d.Client.OutboxEvent.Use(CommitHook(r))

			type arrival struct {
				e  Event
				at time.Time
			}
			var liveMu sync.Mutex
			var live []arrival
			sub, err := bus.Subscribe(ctx, d.a)
			require.NoError(t, err)
			go func() {
				for e := range sub {
					liveMu.Lock()
					live = append(live, arrival{e, time.Now()})
					liveMu.Unlock()
				}
			}()
			liveSince := func(t0 time.Time) bool {
				liveMu.Lock()
				defer liveMu.Unlock()
				return len(live) > 0 && live[len(live)-1].at.After(t0)
			}

			// The producer: a committed event every 5 ms over 10 aggregates.
			aggs := make([]uuid.UUID, 10)
			for i := range aggs {
				aggs[i] = uuid.New()
			}
			var wmu sync.Mutex
			var written []Event
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					es := write(t, d.Client, d.a, progress(aggs[i%len(aggs)], i))
					wmu.Lock()
					written = append(written, es...)
					wmu.Unlock()
				}
			}()
			writtenIDs := func() []uuid.UUID {
				wmu.Lock()
				defer wmu.Unlock()
				ids := make([]uuid.UUID, len(written))
				for i, e := range written {
					ids[i] = e.ID
				}
				return ids
			}

			waitUntil(t, 10*time.Second, func() bool { return handled(writtenIDs()) >= 30 && liveSince(time.Time{}) }, "events flowing")
			srv.kill()
			downFor := time.Now().Add(700 * time.Millisecond)
			waitUntil(t, 5*time.Second, func() bool { return time.Now().After(downFor) }, "") // events keep being committed meanwhile
			writtenWhileDown := len(writtenIDs())
			srv.start()
			restarted := time.Now()
			waitUntil(t, 5*time.Second, func() bool { return liveSince(restarted) }, "the live subscription did not resume within 5 s of the restart")
			t.Logf("live events resumed %s after the restart", time.Since(restarted).Round(time.Millisecond))
			waitUntil(t, 10*time.Second, func() bool { return len(writtenIDs()) > writtenWhileDown+50 }, "events flowing after the restart")
			close(stop)
			wg.Wait()

			ids := writtenIDs()
			waitUntil(t, 30*time.Second, func() bool { return handled(ids) == len(ids) },
				"the durable consumer handled %d of %d committed events", handled(ids), len(ids))
			waitUntil(t, 10*time.Second, func() bool {
				n, err := d.Client.OutboxEvent.Query().Where(outboxevent.StatusNEQ(outboxevent.StatusPUBLISHED)).Count(sys)
				return err == nil && n == 0
			}, "every row PUBLISHED")
			mu.Lock()
			t.Logf("%d events, %d consumer calls (%d redeliveries without effect), %d replayed after the restart",
				len(ids), calls, calls-len(effect), r.Stats().Replayed)
			require.Equal(t, len(ids), len(effect), "the consumer's effects are exactly the committed events")
			mu.Unlock()
			require.Positive(t, r.Stats().Replayed, "the relay replayed what the empty Redis lost")

			liveMu.Lock()
			defer liveMu.Unlock()
			var liveEvents []Event
			for _, a := range live {
				if a.e.AggregateID != "" {
					liveEvents = append(liveEvents, a.e)
				}
			}
			wmu.Lock()
			requireAggregateOrder(t, written, liveEvents)
			wmu.Unlock()
		})
	}
}

// TestStreamsReclaimsWhatADeadConsumerRead: consumers of one group die
// after reading an entry (before handling it) and after handling one
// (before acknowledging it); the entries are reclaimed by another consumer
// and each event's effect happens once.
func TestStreamsReclaimsWhatADeadConsumerRead(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	effects := map[uuid.UUID]int{}
	by := map[uuid.UUID]string{}
	handler := func(name string) Handler {
		return func(_ context.Context, e Event) error {
			mu.Lock()
			defer mu.Unlock()
			effects[e.ID]++
			by[e.ID] = name
			return nil
		}
	}
	cfg := StreamsConfig{Prefix: prefix, ClaimTimeout: 500 * time.Millisecond, Block: 50 * time.Millisecond, Log: quiet}
	var batch []Event
	m := uuid.New()
	for i := 0; i < 20; i++ {
		batch = append(batch, Event{ID: uuid.New(), MerchantID: m, Topic: TopicCampaignProgress,
			AggregateType: AggregateEmailCampaign, AggregateID: fmt.Sprint(i % 3), OccurredAt: time.Now()})
	}
	appendAll := func(s *Streams, es []Event) {
		for _, err := range s.Append(ctx, es) {
			require.NoError(t, err)
		}
	}

	// A consumer that dies after reading event 3, before handling it.
	first := NewStreams(rdb, cfg)
	defer first.Close()
	died := make(chan struct{})
	first.fault = func(stage, _ string, e Event) bool {
		if stage == "read" && e.ID == batch[3].ID {
			close(died)
			return true
		}
		return false
	}
	require.NoError(t, first.Consume(ctx, "emails", handler("first")))
	appendAll(first, batch[:10])
	<-died

	// A consumer that dies after handling event 12, before acknowledging.
	second := NewStreams(rdb, cfg)
	defer second.Close()
	died = make(chan struct{})
	second.fault = func(stage, _ string, e Event) bool {
		if stage == "handled" && e.ID == batch[12].ID {
			close(died)
			return true
		}
		return false
	}
	require.NoError(t, second.Consume(ctx, "emails", handler("second")))
	appendAll(second, batch[10:])
	<-died

	// A healthy consumer takes over what both left pending.
	third := NewStreams(rdb, cfg)
	defer third.Close()
	require.NoError(t, third.Consume(ctx, "emails", handler("third")))
	waitUntil(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(effects) == len(batch)
	}, "every event handled")
	waitUntil(t, 10*time.Second, func() bool {
		p, err := rdb.XPending(ctx, first.stream(), "emails").Result()
		return err == nil && p.Count == 0
	}, "entries still pending")
	mu.Lock()
	defer mu.Unlock()
	for i, e := range batch {
		require.Equal(t, 1, effects[e.ID], "event %d handled %d times", i, effects[e.ID])
	}
	require.NotEqual(t, "first", by[batch[3].ID], "the event the dead consumer read was handled by another")
	require.Equal(t, "second", by[batch[12].ID], "the event handled before the crash was not handled again")
}

// TestIdempotent: with both stores, a handler succeeds once per group and
// event, a failed call may run again, and a call under way holds others off
// until its lease expires.
func TestIdempotent(t *testing.T) {
	stores := map[string]func(t *testing.T) Seen{
		"memory": func(*testing.T) Seen { return NewMemorySeen() },
	}
	stores["redis"] = func(t *testing.T) Seen {
		rdb, prefix := testRedis(t)
		return NewRedisSeen(rdb, prefix)
	}
	for name, newSeen := range stores {
		t.Run(name, func(t *testing.T) {
			seen := newSeen(t)
			ctx := context.Background()
			calls := 0
			fail := true
			h := Idempotent(seen, "g", 200*time.Millisecond, time.Minute, func(context.Context, Event) error {
				calls++
				if fail {
					return errFlaky
				}
				return nil
			})
			e := Event{ID: uuid.New()}
			require.ErrorIs(t, h(ctx, e), errFlaky)
			fail = false
			require.NoError(t, h(ctx, e), "a failed call runs again")
			require.NoError(t, h(ctx, e))
			require.Equal(t, 2, calls, "handled once")
			other := Idempotent(seen, "other-group", time.Second, time.Minute, func(context.Context, Event) error { calls++; return nil })
			require.NoError(t, other(ctx, e), "groups are independent")
			require.Equal(t, 3, calls)

			// A handler that died mid-way holds the event for its lease.
			e2 := Event{ID: uuid.New()}
			done, err := seen.Begin(ctx, "g:"+e2.ID.String(), 200*time.Millisecond)
			require.NoError(t, err)
			require.False(t, done)
			require.ErrorIs(t, h(ctx, e2), ErrInProgress)
			waitUntil(t, 5*time.Second, func() bool { return h(ctx, e2) == nil }, "the lease never expired")
			require.Equal(t, 4, calls)
		})
	}
}

// TestTypes: every message round-trips through an Event, names an
// aggregate, and Decode refuses the wrong type.
func TestTypes(t *testing.T) {
	id := uuid.New()
	cust := uuid.New()
	msgs := []Message{
		OrderCreated{OrderState: OrderState{OrderID: id, OrderNumber: 1001, CustomerID: &cust, Status: "PENDING", TotalAmount: 4200, Currency: "EUR"}, ItemCount: 2},
		OrderPaid{OrderState: OrderState{OrderID: id}, PaymentID: uuid.New(), Amount: 4200},
		OrderFulfilled{OrderState: OrderState{OrderID: id}, TrackingNumber: "1Z"},
		OrderCancelled{OrderState: OrderState{OrderID: id}, Reason: "CUSTOMER"},
		OrderRefunded{OrderState: OrderState{OrderID: id}, RefundID: uuid.New(), Amount: 100},
		CartUpdated{CartState{CartID: id, ItemCount: 3}},
		CartAbandoned{CartState: CartState{CartID: id}, AbandonedAt: time.Now().UTC().Truncate(time.Millisecond)},
		CustomerCreated{CustomerID: id, Email: "a@example.com"},
		CustomerUpdated{CustomerID: id, Changed: []string{"email"}},
		CustomerEventTracked{EventID: uuid.New(), AnonymousID: "anon-1", Type: "product_viewed"},
		InventoryLow{VariantID: id, SKU: "A-1", QuantityAvailable: 2, Threshold: 3},
		EmailOpened{SendID: id},
		EmailClicked{SendID: id, URL: "https://example.com"},
		CampaignProgress{CampaignID: id, Sent: 5},
		SegmentEntered{SegmentID: uuid.New(), CustomerID: id, EnteredAt: time.Now().UTC().Truncate(time.Millisecond)},
	}
	topics := map[string]bool{}
	for _, m := range msgs {
		t.Run(m.Topic(), func(t *testing.T) {
			require.False(t, topics[m.Topic()], "topic used twice")
			topics[m.Topic()] = true
			a := m.Aggregate()
			require.NotEmpty(t, a.Type)
			require.NotEmpty(t, a.ID)
			e := Event{Topic: m.Topic(), Payload: mustJSON(t, m)}
			switch want := m.(type) {
			case OrderCreated:
				got, err := Decode[OrderCreated](e)
				require.NoError(t, err)
				require.Equal(t, want, got)
				_, err = Decode[OrderPaid](e)
				require.Error(t, err, "decoded as the wrong type")
			case CartAbandoned:
				got, err := Decode[CartAbandoned](e)
				require.NoError(t, err)
				require.Equal(t, want, got)
			case CustomerEventTracked:
				require.Equal(t, Aggregate{AggregateVisitor, "anon-1"}, a)
			}
		})
	}
	require.ElementsMatch(t, Topics(), keys(topics), "Topics() lists every message type")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestStartStopLeavesNoGoroutines: buses, durable paths, consumers and
// relays end every goroutine they started when closed (TestMain checks the
// whole package as well).
func TestStartStopLeavesNoGoroutines(t *testing.T) {
	rdb, prefix := testRedis(t) // skips without Redis: the in-process half runs in every other test
	d := openDB(t, dbtest.SQLite)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, withRedis := range []bool{false, true} {
		var bus liveBus = NewLocal()
		var durable Durable = NewMemory(MemoryConfig{Log: quiet})
		if withRedis {
			bus = NewRedisBus(rdb, RedisBusConfig{Prefix: prefix, Log: quiet})
			durable = NewStreams(rdb, StreamsConfig{Prefix: prefix, Block: 50 * time.Millisecond, Log: quiet})
		}
		require.NoError(t, durable.Consume(ctx, "g", func(context.Context, Event) error { return nil }))
		sctx, unsubscribe := context.WithCancel(ctx)
		_, err := bus.Subscribe(sctx, d.a)
		require.NoError(t, err)
		_, err = bus.Subscribe(ctx, d.b) // left open: Close ends it
		require.NoError(t, err)
		r := NewRelay(RelayConfig{Client: d.Client, Bus: bus, Durable: durable, Sweep: 10 * time.Millisecond, Log: quiet})
		r.Start()
		d.Client.OutboxEvent.Use(CommitHook(r))
		write(t, d.Client, d.a, progress(uuid.New(), 1))
		unsubscribe()
		require.NoError(t, r.Close(context.Background()))
		require.NoError(t, durable.Close())
		require.NoError(t, bus.Close())
	}
}

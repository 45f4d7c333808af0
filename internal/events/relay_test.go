package events

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

var sys = viewer.SystemContext(context.Background(), "events tests: inspect the outbox")

// outboxRows returns every outbox row in id order.
func outboxRows(t *testing.T, c *ent.Client) []*ent.OutboxEvent {
	t.Helper()
	rows, err := c.OutboxEvent.Query().Order(ent.Asc(outboxevent.FieldID)).All(sys)
	require.NoError(t, err)
	return rows
}

func countStatus(t *testing.T, c *ent.Client, s outboxevent.Status) int {
	t.Helper()
	n, err := c.OutboxEvent.Query().Where(outboxevent.StatusEQ(s)).Count(sys)
	require.NoError(t, err)
	return n
}

// TestRelayPublishesAfterCommitInAggregateOrder: committed rows reach the
// durable and the live path once each, in per-aggregate order, soon after
// the commit (kicked), and end PUBLISHED; a rolled-back row never leaves.
func TestRelayPublishesAfterCommitInAggregateOrder(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := openDB(t, b)
			rec := newRecorder(nil)
			bus := NewLocalWith(BusOptions{Buffer: 1000})
			// A sweep far away: only the commit kick can publish in time.
			r, _ := startRelay(t, RelayConfig{Client: d.Client, Bus: bus, Durable: rec, Sweep: time.Hour})
			d.Client.OutboxEvent.Use(CommitHook(r))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			live, err := bus.Subscribe(ctx, d.a)
			require.NoError(t, err)

			campaigns := make([]uuid.UUID, 7)
			for i := range campaigns {
				campaigns[i] = uuid.New()
			}
			var written []Event
			for i := 0; i < 30; i++ { // 30 transactions of 5 events over 7 aggregates
				var msgs []Message
				for j := 0; j < 5; j++ {
					n := i*5 + j
					msgs = append(msgs, progress(campaigns[(n*3)%len(campaigns)], n))
				}
				written = append(written, write(t, d.Client, d.a, msgs...)...)
			}
			// A rolled-back event is never published.
			rolledBack := errors.New("roll back")
			err = db.InTx(tenant(d.a), d.Client, func(tx *ent.Client) error {
				_, err := Write(tenant(d.a), tx, uuid.Nil, progress(campaigns[0], -1))
				require.NoError(t, err)
				return rolledBack
			})
			require.ErrorIs(t, err, rolledBack)

			waitUntil(t, 10*time.Second, func() bool { return rec.len() >= len(written) },
				"%d of %d events reached the durable path", rec.len(), len(written))
			var got []Event
			seen := map[uuid.UUID]int{}
			for _, a := range rec.events() {
				got = append(got, a.Event)
				seen[a.ID]++
			}
			for _, e := range written {
				require.Equal(t, 1, seen[e.ID], "event %s appended %d times", e.ID, seen[e.ID])
			}
			require.Equal(t, len(written), len(got))
			requireAggregateOrder(t, written, got)

			var liveGot []Event
			for len(liveGot) < len(written) {
				select {
				case e := <-live:
					liveGot = append(liveGot, e)
				case <-ctx.Done():
					t.Fatalf("live subscriber got %d of %d events", len(liveGot), len(written))
				}
			}
			requireAggregateOrder(t, written, liveGot)
			decoded, err := Decode[CampaignProgress](liveGot[0])
			require.NoError(t, err)
			require.Equal(t, written[0].AggregateID, decoded.CampaignID.String())

			waitUntil(t, 5*time.Second, func() bool { return countStatus(t, d.Client, outboxevent.StatusPUBLISHED) == len(written) },
				"rows marked PUBLISHED")
			for _, row := range outboxRows(t, d.Client) {
				require.NotNil(t, row.PublishedAt)
				require.Zero(t, row.Attempts)
			}
			require.Equal(t, uint64(len(written)), r.Stats().Published)
		})
	}
}

// TestRelayRetriesHoldBackTheAggregate: a row that fails is retried with
// back-off and holds back the later rows of its aggregate (other aggregates
// go on); after MaxAttempts it turns FAILED and stops holding them back.
// Failures to reach the store count no attempt.
func TestRelayRetriesHoldBackTheAggregate(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := openDB(t, b)
			flaky, other, poison := uuid.New(), uuid.New(), uuid.New()
			var failsLeft atomic.Int32
			failsLeft.Store(2)
			var unavailable atomic.Bool
			var refused atomic.Int32
			rec := newRecorder(nil)
			rec.fail = func(e Event) error {
				switch {
				case unavailable.Load():
					refused.Add(1)
					return fmt.Errorf("%w: store down", ErrUnavailable)
				case e.AggregateID == poison.String():
					if p, _ := Decode[CampaignProgress](e); p.Sent == 0 {
						return errors.New("poison")
					}
				case e.AggregateID == flaky.String():
					if p, _ := Decode[CampaignProgress](e); p.Sent == 0 && failsLeft.Add(-1) >= 0 {
						return errFlaky
					}
				}
				return nil
			}
			r, _ := startRelay(t, RelayConfig{
				Client: d.Client, Bus: NewLocal(), Durable: rec, Sweep: 20 * time.Millisecond,
				BackoffBase: 100 * time.Millisecond, MaxAttempts: 3, OutageBackoffMax: 50 * time.Millisecond,
			})
			d.Client.OutboxEvent.Use(CommitHook(r))

			f := write(t, d.Client, d.a, progress(flaky, 0), progress(flaky, 1), progress(flaky, 2))
			o := write(t, d.Client, d.a, progress(other, 0))
			waitUntil(t, 5*time.Second, func() bool { return rec.len() >= 1 }, "the other aggregate is not held back")
			require.Equal(t, o[0].ID, rec.events()[0].ID, "only the other aggregate's event may go first")

			waitUntil(t, 10*time.Second, func() bool { return rec.len() == 4 }, "the flaky aggregate after its retries")
			requireAggregateOrder(t, f, eventsOf(rec.events()[1:]))
			waitUntil(t, 5*time.Second, func() bool { return countStatus(t, d.Client, outboxevent.StatusPUBLISHED) == 4 }, "rows marked")
			row, err := d.Client.OutboxEvent.Get(sys, f[0].ID)
			require.NoError(t, err)
			require.Equal(t, 2, row.Attempts)
			require.Contains(t, row.LastError, errFlaky.Error())

			// A poison row turns FAILED after 3 attempts; its aggregate goes on.
			p := write(t, d.Client, d.a, progress(poison, 0), progress(poison, 1))
			waitUntil(t, 10*time.Second, func() bool {
				row, err := d.Client.OutboxEvent.Get(sys, p[0].ID)
				return err == nil && row.Status == outboxevent.StatusFAILED
			}, "the poison row is not FAILED")
			row, err = d.Client.OutboxEvent.Get(sys, p[0].ID)
			require.NoError(t, err)
			require.Equal(t, 3, row.Attempts)
			require.Nil(t, row.PublishedAt)
			waitUntil(t, 5*time.Second, func() bool { return rec.len() == 5 }, "the row behind the FAILED one")
			require.Equal(t, p[1].ID, rec.events()[4].ID)
			require.Equal(t, uint64(1), r.Stats().Failed)

			// The store is down: no attempt is counted, and all goes out after.
			unavailable.Store(true)
			u := write(t, d.Client, d.a, progress(uuid.New(), 0))
			waitUntil(t, 5*time.Second, func() bool { return refused.Load() >= 3 }, "the relay tries again while the store is down")
			row, err = d.Client.OutboxEvent.Get(sys, u[0].ID)
			require.NoError(t, err)
			require.Equal(t, outboxevent.StatusPENDING, row.Status)
			require.Zero(t, row.Attempts, "an outage is not the event's fault")
			require.Contains(t, row.LastError, "store down")
			unavailable.Store(false)
			waitUntil(t, 5*time.Second, func() bool { return rec.len() == 6 }, "published once the store is back")
		})
	}
}

func eventsOf(as []appended) []Event {
	out := make([]Event, len(as))
	for i, a := range as {
		out[i] = a.Event
	}
	return out
}

// twoProcesses opens one database twice, as two server processes would:
// each pool is its own, the data is shared.
func twoProcesses(t *testing.T, b dbtest.Backend) (*testDB, *ent.Client) {
	t.Helper()
	ctx := context.Background()
	cfg := db.Config{SQLitePath: filepath.Join(t.TempDir(), "shared.db")}
	if b == dbtest.Postgres {
		cfg = db.Config{URL: dbtest.PostgresURL(t)}
	}
	var dbs []*db.DB
	for range 2 {
		d, err := db.Open(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		dbs = append(dbs, d)
	}
	require.NoError(t, dbs[0].Migrate(ctx))
	td := &testDB{DB: dbs[0]}
	for _, id := range []*uuid.UUID{&td.a, &td.b} {
		slug := "m-" + randomHex(3)
		m, err := td.Client.MerchantAccount.Create().SetName(slug).SetSlug(slug).Save(sys)
		require.NoError(t, err)
		*id = m.ID
	}
	return td, dbs[1].Client
}

// TestTwoRelaysPublishEachRowOnce: two relays (two processes, each with its
// own pool and its own writers) share one database; every row is published
// exactly once, and each aggregate's rows in order across both.
func TestTwoRelaysPublishEachRowOnce(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d, second := twoProcesses(t, b)
			clients := []*ent.Client{d.Client, second}
			var seq atomic.Int64
			recs := []*recorder{newRecorder(&seq), newRecorder(&seq)}
			for i, c := range clients {
				r, _ := startRelay(t, RelayConfig{Client: c, Bus: NewLocal(), Durable: recs[i], Batch: 20, Sweep: 20 * time.Millisecond})
				c.OutboxEvent.Use(CommitHook(r))
			}

			aggs := make([]uuid.UUID, 50)
			for i := range aggs {
				aggs[i] = uuid.New()
			}
			const writers, perWriter = 4, 25 // 100 transactions of 10 events
			var mu sync.Mutex
			var written []Event
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := clients[w%2]
					for i := 0; i < perWriter; i++ {
						// Each writer owns its aggregates, as writers that
						// lock an aggregate's row would.
						var msgs []Message
						for j := 0; j < 10; j++ {
							agg := aggs[w+writers*((i+j)%(len(aggs)/writers))]
							msgs = append(msgs, progress(agg, i*10+j))
						}
						es := write(t, c, d.a, msgs...)
						mu.Lock()
						written = append(written, es...)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			total := writers * perWriter * 10
			require.Equal(t, total, len(written))
			count := func() int { return recs[0].len() + recs[1].len() }
			waitUntil(t, 20*time.Second, func() bool { return count() >= total }, "%d of %d published", count(), total)
			waitUntil(t, 5*time.Second, func() bool { return countStatus(t, d.Client, outboxevent.StatusPUBLISHED) == total }, "all rows PUBLISHED")

			all := append(recs[0].events(), recs[1].events()...)
			require.Equal(t, total, len(all), "a row was published twice")
			times := map[uuid.UUID]int{}
			for _, a := range all {
				times[a.ID]++
			}
			for _, e := range written {
				require.Equal(t, 1, times[e.ID], "event %s published %d times", e.ID, times[e.ID])
			}
			// The order across both relays is the shared sequence.
			bySeq := make([]Event, seq.Load()+1)
			for _, a := range all {
				bySeq[a.seq] = a.Event
			}
			var ordered []Event
			for _, e := range bySeq {
				if e.ID != uuid.Nil {
					ordered = append(ordered, e)
				}
			}
			sortWritten(written)
			requireAggregateOrder(t, written, ordered)
			t.Logf("relay 1 published %d, relay 2 published %d", recs[0].len(), recs[1].len())
		})
	}
}

// sortWritten puts concurrently written events in id order: the order the
// relay owes each aggregate.
func sortWritten(es []Event) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].ID.String() < es[j-1].ID.String(); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// TestRelayCrashBetweenCommitAndPublish: rows committed by a process that
// died before publishing them (its kick lost, or its relay dead after
// claiming or after publishing) are published by the relay started next.
func TestRelayCrashBetweenCommitAndPublish(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := openDB(t, b)
			// Consumers deduplicate: the durable path is shared by the "old"
			// and the "new" process, as Redis would be.
			effects := map[uuid.UUID]int{}
			var mu sync.Mutex
			durable := NewMemory(MemoryConfig{Log: quiet})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			require.NoError(t, durable.Consume(ctx, "triggers", func(_ context.Context, e Event) error {
				mu.Lock()
				defer mu.Unlock()
				effects[e.ID]++
				return nil
			}))
			handled := func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(effects)
			}
			for _, stage := range []string{"before claiming", stageClaimed, stagePublished} {
				t.Run(stage, func(t *testing.T) {
					mu.Lock()
					clear(effects)
					mu.Unlock()
					var written []Event
					agg := uuid.New()
					for i := 0; i < 10; i++ {
						written = append(written, write(t, d.Client, d.a, progress(agg, i), progress(uuid.New(), i))...)
					}
					if stage != "before claiming" {
						// The old process: its relay dies at stage.
						old := NewRelay(RelayConfig{Client: d.Client, Bus: NewLocal(), Durable: durable, Lease: 500 * time.Millisecond, Log: quiet})
						died := make(chan struct{})
						old.fault = func(s string) bool {
							if s == stage {
								close(died)
								return true
							}
							return false
						}
						old.Start()
						<-died
						require.NoError(t, old.Close(context.Background()))
						require.Zero(t, old.Stats().Published)
					}
					require.Equal(t, len(written), countStatus(t, d.Client, outboxevent.StatusPENDING), "nothing was marked")
					// The new process: no kick, only its sweeper.
					_, stop := startRelay(t, RelayConfig{Client: d.Client, Bus: NewLocal(), Durable: durable, Sweep: 50 * time.Millisecond})
					waitUntil(t, 10*time.Second, func() bool { return countStatus(t, d.Client, outboxevent.StatusPENDING) == 0 }, "rows still pending")
					stop()
					require.Equal(t, len(written), handled())
					mu.Lock()
					for _, e := range written {
						require.Equal(t, 1, effects[e.ID], "event %s handled %d times", e.ID, effects[e.ID])
					}
					mu.Unlock()
				})
			}
		})
	}
}

// TestMemoryDurableRetriesAConsumerThatDied: in process, a consumer that
// fails (or panics) before accepting an event gets it again after a back-off,
// handles it once, and the other groups are not called twice.
func TestMemoryDurableRetriesAConsumerThatDied(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := openDB(t, b)
			durable := NewMemory(MemoryConfig{Log: quiet})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			calls := map[string]map[uuid.UUID]int{"emails": {}, "triggers": {}}
			dieOnce := map[uuid.UUID]bool{}
			consumer := func(group string) Handler {
				return func(_ context.Context, e Event) error {
					mu.Lock()
					defer mu.Unlock()
					p, _ := Decode[CampaignProgress](e)
					if group == "emails" && p.Sent%3 == 0 && !dieOnce[e.ID] {
						dieOnce[e.ID] = true
						if p.Sent%2 == 0 {
							panic("consumer crashed")
						}
						return errors.New("consumer died before accepting")
					}
					calls[group][e.ID]++
					return nil
				}
			}
			require.NoError(t, durable.Consume(ctx, "emails", consumer("emails")))
			require.NoError(t, durable.Consume(ctx, "triggers", consumer("triggers")))
			require.ErrorIs(t, durable.Consume(ctx, "emails", consumer("emails")), ErrGroupTaken)
			r, _ := startRelay(t, RelayConfig{Client: d.Client, Bus: NewLocal(), Durable: durable, BackoffBase: 50 * time.Millisecond})
			d.Client.OutboxEvent.Use(CommitHook(r))
			var written []Event
			for i := 0; i < 12; i++ {
				written = append(written, write(t, d.Client, d.a, progress(uuid.New(), i))...)
			}
			waitUntil(t, 10*time.Second, func() bool { return countStatus(t, d.Client, outboxevent.StatusPUBLISHED) == len(written) }, "all published")
			mu.Lock()
			defer mu.Unlock()
			for _, e := range written {
				require.Equal(t, 1, calls["emails"][e.ID])
				require.Equal(t, 1, calls["triggers"][e.ID], "a group that succeeded is not called again on a retry")
			}
			require.Equal(t, uint64(4), r.Stats().Retried)
		})
	}
}

// TestCommitHookKicksOnlyCommittedRows: the hook kicks after a commit and
// after a write outside a transaction, never for a rolled-back one.
func TestCommitHookKicksOnlyCommittedRows(t *testing.T) {
	d := openDB(t, dbtest.SQLite)
	var kicks atomic.Int32
	d.Client.OutboxEvent.Use(CommitHook(kickCounter{&kicks}))
	ctx := tenant(d.a)
	err := db.InTx(ctx, d.Client, func(tx *ent.Client) error {
		_, err := Write(ctx, tx, uuid.Nil, progress(uuid.New(), 1))
		require.NoError(t, err)
		require.Zero(t, kicks.Load(), "no kick before the commit")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, int32(1), kicks.Load())
	_ = db.InTx(ctx, d.Client, func(tx *ent.Client) error {
		_, err := Write(ctx, tx, uuid.Nil, progress(uuid.New(), 2))
		require.NoError(t, err)
		return errors.New("roll back")
	})
	require.Equal(t, int32(1), kicks.Load(), "a rollback kicks nothing")
	_, err = Write(ctx, d.Client, uuid.Nil, progress(uuid.New(), 3))
	require.NoError(t, err)
	require.Equal(t, int32(2), kicks.Load())
	// The system context must name the store.
	_, err = Write(sys, d.Client, uuid.Nil, progress(uuid.New(), 5))
	require.ErrorContains(t, err, "must name the merchant")
	// Another merchant's id is refused on the tenant path.
	_, err = Write(ctx, d.Client, d.b, progress(uuid.New(), 4))
	require.ErrorIs(t, err, viewer.ErrCrossTenant)
}

type kickCounter struct{ n *atomic.Int32 }

func (k kickCounter) Kick() { k.n.Add(1) }

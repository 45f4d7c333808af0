package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// RelayConfig configures a Relay. Zero values take the defaults.
type RelayConfig struct {
	// Client is the root ent client (required). The relay reads and updates
	// the outbox of every store through the system context.
	Client *ent.Client
	// Bus is the live path (required); Durable the durable one (required).
	Bus     Bus
	Durable Durable
	// Sweep is how often the relay looks for rows nobody kicked it for: rows
	// of a process that died between commit and publish, retries (1s).
	Sweep time.Duration
	// Batch is how many aggregates one claim takes, and how many rows follow
	// them at most (200).
	Batch int
	// Lease is how long a claim keeps other relays off the claimed
	// aggregates while this one publishes (30s). A relay that dies holding a
	// claim delays those aggregates by at most this long.
	Lease time.Duration
	// MaxAttempts is how many failed publishes turn a row FAILED (10).
	// Failures to reach Redis do not count: the relay pauses instead.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the retry delay of a failed row:
	// BackoffBase·2^(attempts−1), at most BackoffMax (500ms, 5m).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// OutageBackoffMax is the longest pause after the durable store could
	// not be reached (5s).
	OutageBackoffMax time.Duration
	Log              *slog.Logger
}

func (c *RelayConfig) defaults() {
	if c.Sweep <= 0 {
		c.Sweep = time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 200
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 500 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Minute
	}
	if c.OutageBackoffMax <= 0 {
		c.OutageBackoffMax = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// RelayStats counts what a relay did.
type RelayStats struct {
	Published uint64 // rows marked PUBLISHED
	Retried   uint64 // failed publishes scheduled for a retry
	Failed    uint64 // rows marked FAILED
	Replayed  uint64 // events appended again after the durable store lost data
}

// Relay publishes committed outbox rows to the live and the durable path,
// then marks them PUBLISHED. It runs at once when kicked (CommitHook kicks
// it after a commit) and every Sweep for rows left behind. Rows of one
// aggregate are published in id order: a claim takes the oldest pending row
// of each aggregate (FOR UPDATE SKIP LOCKED on PostgreSQL, so several
// processes share the work) and the rows queued behind it, and a row that
// fails holds back the later rows of its aggregate until it succeeds or
// turns FAILED. Publishing is at least once: a process that dies after
// publishing and before marking leaves rows that are published again, which
// consumers deduplicate by event id.
type Relay struct {
	cfg    RelayConfig
	sys    context.Context
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}

	startOnce, stopOnce sync.Once
	started             atomic.Bool

	// fault is a test hook: returning true at a stage makes the relay stop
	// there as if its process had died (no release, no marking).
	fault func(stage string) bool

	// Owned by the relay's goroutine.
	replaySince  *time.Time
	replayCursor uuid.UUID
	pauseUntil   time.Time
	outages      int
	lastLog      map[string]time.Time

	published, retried, failed, replayed atomic.Uint64
}

// Stages a fault hook may stop the relay at.
const (
	stageClaimed   = "claimed"   // rows claimed, nothing published
	stagePublished = "published" // rows published, not marked
)

// errDied is how a fault hook ends the relay.
var errDied = errors.New("events: relay died (fault hook)")

// NewRelay returns a relay; Start runs it.
func NewRelay(cfg RelayConfig) *Relay {
	cfg.defaults()
	sys := viewer.SystemContext(context.Background(), "events relay: publish the outbox of every store")
	ctx, cancel := context.WithCancel(sys)
	return &Relay{
		cfg: cfg, sys: sys, ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		lastLog: map[string]time.Time{},
	}
}

// Start runs the relay in a goroutine of its own until Close.
func (r *Relay) Start() {
	r.startOnce.Do(func() {
		r.started.Store(true)
		go r.run()
	})
}

// Kick asks the relay to look for committed rows now. It never blocks, and
// kicks while a pass is due coalesce.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Close stops the relay: it first publishes what is pending (until ctx is
// done), then returns once its goroutine has ended. Rows it could not
// publish stay pending for another process or the next start.
func (r *Relay) Close(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	if !r.started.Load() {
		r.cancel()
		return nil
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancel()
		<-r.done
	}
	r.cancel()
	return nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		Published: r.published.Load(), Retried: r.retried.Load(),
		Failed: r.failed.Load(), Replayed: r.replayed.Load(),
	}
}

func (r *Relay) run() {
	defer close(r.done)
	tick := time.NewTicker(r.cfg.Sweep)
	defer tick.Stop()
	for {
		if r.pass() {
			return
		}
		select {
		case <-r.stop:
			r.pass() // drain: publish what is pending before stopping
			return
		case <-r.kick:
		case <-tick.C:
		}
	}
}

// pass publishes until nothing is left or an error pauses the relay. It
// reports whether the relay died (fault hook).
func (r *Relay) pass() (died bool) {
	for r.ctx.Err() == nil {
		if time.Now().Before(r.pauseUntil) {
			return false
		}
		more, err := r.cycle(r.ctx)
		switch {
		case errors.Is(err, errDied):
			return true
		case err != nil:
			r.pause(err)
			return false
		}
		r.outages = 0
		if !more {
			return false
		}
	}
	return false
}

// pause backs the relay off after the durable store or the database failed:
// 100ms doubling up to OutageBackoffMax. Kicks wait for the next sweep.
func (r *Relay) pause(err error) {
	r.outages++
	d := 100 * time.Millisecond << min(r.outages-1, 16)
	d = min(d, r.cfg.OutageBackoffMax)
	r.pauseUntil = time.Now().Add(d)
	if r.ctx.Err() == nil {
		r.logLimited("pause", slog.LevelWarn, "events relay: pausing", "error", err, "pause", d.String())
	}
}

// cycle runs one claim → publish → mark round. more reports a full claim.
func (r *Relay) cycle(ctx context.Context) (more bool, err error) {
	if ld, ok := r.cfg.Durable.(lossDetector); ok {
		since, lost, err := ld.Lost(ctx)
		if err != nil {
			return false, err
		}
		if lost {
			if r.replaySince == nil || since.Before(*r.replaySince) {
				r.replaySince, r.replayCursor = &since, uuid.Nil
			}
			r.cfg.Log.Warn("events relay: the durable store is new or lost data; appending again the events published since",
				"since", since.Format(time.RFC3339Nano))
		}
	}
	if r.replaySince != nil {
		if err := r.replay(ctx); err != nil {
			return false, err
		}
	}
	rows, more, err := r.claim(ctx)
	if err != nil || len(rows) == 0 {
		return false, err
	}
	if r.fault != nil && r.fault(stageClaimed) {
		return false, errDied
	}
	outcomes := r.publish(ctx, rows)
	if r.fault != nil && r.fault(stagePublished) {
		return false, errDied
	}
	if err := r.settle(ctx, rows, outcomes); err != nil {
		return false, err
	}
	for _, o := range outcomes {
		if o.err != nil && errors.Is(o.err, ErrUnavailable) {
			return false, o.err
		}
	}
	return more, nil
}

// skipLocked locks the selected rows on PostgreSQL, skipping rows another
// relay holds; SQLite serialises the claim transactions instead.
func skipLocked(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate(sql.WithLockAction(sql.SkipLocked))
	}
}

// windowPages bounds how many windows of pending rows one claim looks at
// when the first ones hold only aggregates that are not due.
const windowPages = 5

// claim takes the oldest pending row of up to Batch aggregates whose oldest
// pending row is due, leases them (available_at = now + Lease) in a short
// transaction, and returns them with the due rows queued directly behind
// them, in id order.
//
// The heads are found in a window of the oldest pending rows (ids and
// aggregates only): a row is its aggregate's head when no earlier pending
// row in the window shares its aggregate, and the window holds every pending
// row older than its last. Locking a head (SKIP LOCKED) re-checks that it is
// still pending and due, so two relays never take one aggregate at once.
func (r *Relay) claim(ctx context.Context) (rows []*ent.OutboxEvent, more bool, err error) {
	now := time.Now().UTC()
	c := r.cfg.Client
	due := []predicate.OutboxEvent{outboxevent.StatusEQ(outboxevent.StatusPENDING), outboxevent.AvailableAtLTE(now)}
	// A cheap look first: most sweeps find nothing, and then take no lock.
	found, err := c.OutboxEvent.Query().Where(due...).Exist(ctx)
	if err != nil || !found {
		return nil, false, wrapDB("look for pending rows", err)
	}
	err = db.InTx(ctx, c, func(tx *ent.Client) error {
		heads, queued, full, err := r.window(ctx, tx, now)
		if err != nil || len(heads) == 0 {
			return err
		}
		locked, err := tx.OutboxEvent.Query().Where(append(due, outboxevent.IDIn(heads...), skipLocked)...).IDs(ctx)
		if err != nil || len(locked) == 0 {
			return err
		}
		if err := tx.OutboxEvent.Update().Where(outboxevent.IDIn(locked...)).
			SetAvailableAt(now.Add(r.cfg.Lease)).Exec(ctx); err != nil {
			return err
		}
		ids := append([]uuid.UUID(nil), locked...)
		for _, h := range locked {
			ids = append(ids, queued[h]...)
		}
		rows, err = tx.OutboxEvent.Query().Where(outboxevent.IDIn(ids...)).Order(ent.Asc(outboxevent.FieldID)).All(ctx)
		more = full
		return err
	})
	if err != nil {
		return nil, false, wrapDB("claim", err)
	}
	return rows, more, nil
}

// window reads the oldest pending rows and returns the due heads of up to
// Batch aggregates with, per head, the due rows directly behind it (at most
// Batch in all). full reports that more may be waiting.
func (r *Relay) window(ctx context.Context, tx *ent.Client, now time.Time) (heads []uuid.UUID, queued map[uuid.UUID][]uuid.UUID, full bool, err error) {
	type agg struct{ typ, id string }
	queued = map[uuid.UUID][]uuid.UUID{}
	seen := map[agg]bool{}      // aggregates met in the window
	open := map[agg]uuid.UUID{} // head of an aggregate still taking followers
	size := 10 * r.cfg.Batch
	var after uuid.UUID
	followers := 0
	for page := 0; page < windowPages; page++ {
		q := tx.OutboxEvent.Query().Where(outboxevent.StatusEQ(outboxevent.StatusPENDING))
		if after != uuid.Nil {
			q.Where(outboxevent.IDGT(after))
		}
		refs, err := q.Order(ent.Asc(outboxevent.FieldID)).Limit(size).
			Select(outboxevent.FieldAggregateType, outboxevent.FieldAggregateID, outboxevent.FieldAvailableAt).All(ctx)
		if err != nil {
			return nil, nil, false, err
		}
		for _, ref := range refs {
			a := agg{ref.AggregateType, ref.AggregateID}
			if ref.AggregateID == "" {
				a = agg{"", ref.ID.String()} // no aggregate: a row of its own
			}
			isDue := !ref.AvailableAt.After(now)
			if !seen[a] {
				seen[a] = true
				if isDue && len(heads) < r.cfg.Batch {
					heads = append(heads, ref.ID)
					open[a] = ref.ID
				} else if isDue {
					full = true
				}
				continue
			}
			h, ok := open[a]
			if !ok {
				continue
			}
			if !isDue || followers >= r.cfg.Batch {
				delete(open, a) // the rest of the aggregate waits
				full = full || isDue
				continue
			}
			queued[h] = append(queued[h], ref.ID)
			followers++
		}
		if len(refs) < size {
			return heads, queued, full, nil
		}
		after = refs[len(refs)-1].ID
		if len(heads) > 0 {
			return heads, queued, true, nil
		}
	}
	return heads, queued, true, nil
}

// outcome is what publishing one row came to.
type outcome struct {
	tried bool
	err   error // nil when published
}

// publish hands the rows to the durable path, then to the live one, in
// waves: wave k holds the k-th row of every aggregate, so an aggregate's rows
// go out in order and a failed row stops the rest of its aggregate.
func (r *Relay) publish(ctx context.Context, rows []*ent.OutboxEvent) []outcome {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Lease/2)
	defer cancel()
	out := make([]outcome, len(rows))
	type agg struct{ typ, id string }
	queues := map[agg][]int{}
	var order []agg
	for i, row := range rows {
		a := agg{row.AggregateType, row.AggregateID}
		if row.AggregateID == "" {
			a = agg{"", row.ID.String()}
		}
		if _, ok := queues[a]; !ok {
			order = append(order, a)
		}
		queues[a] = append(queues[a], i)
	}
	stopped := map[agg]bool{}
	for k := 0; ; k++ {
		var idx []int
		var batch []Event
		for _, a := range order {
			if stopped[a] || k >= len(queues[a]) {
				continue
			}
			i := queues[a][k]
			e, err := eventOf(rows[i])
			if err != nil {
				out[i] = outcome{tried: true, err: err}
				stopped[a] = true
				continue
			}
			idx = append(idx, i)
			batch = append(batch, e)
		}
		if len(idx) == 0 {
			break
		}
		errs := r.cfg.Durable.Append(ctx, batch)
		var live []Event
		for j, i := range idx {
			err := errs[j]
			out[i] = outcome{tried: true, err: err}
			if err != nil {
				a := agg{rows[i].AggregateType, rows[i].AggregateID}
				if rows[i].AggregateID == "" {
					a = agg{"", rows[i].ID.String()}
				}
				stopped[a] = true
				continue
			}
			live = append(live, batch[j])
		}
		if err := publishLive(ctx, r.cfg.Bus, live); err != nil {
			// Live delivery is best effort: the events are durable, and a
			// live subscriber that missed some refetches on reconnect.
			r.logLimited("live", slog.LevelWarn, "events relay: live publish failed", "error", err, "events", len(live))
		}
	}
	return out
}

// batchPublisher is a Bus that publishes many events in one round trip.
type batchPublisher interface {
	PublishBatch(ctx context.Context, events []Event) error
}

func publishLive(ctx context.Context, b Bus, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	if bp, ok := b.(batchPublisher); ok {
		return bp.PublishBatch(ctx, events)
	}
	var errs []error
	for _, e := range events {
		if err := b.Publish(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settle marks the published rows PUBLISHED, schedules a retry of the failed
// ones (or marks them FAILED), and releases the lease of rows the durable
// store could not take, in one transaction.
func (r *Relay) settle(ctx context.Context, rows []*ent.OutboxEvent, outs []outcome) error {
	now := time.Now().UTC()
	var done []uuid.UUID
	var nPublished, nRetried, nFailed uint64
	err := db.InTx(context.WithoutCancel(ctx), r.cfg.Client, func(tx *ent.Client) error {
		for i, o := range outs {
			row := rows[i]
			pending := []predicate.OutboxEvent{outboxevent.ID(row.ID), outboxevent.StatusEQ(outboxevent.StatusPENDING)}
			switch {
			case !o.tried:
				continue // held back: still pending, due, and behind a row that is not
			case o.err == nil:
				done = append(done, row.ID)
			case errors.Is(o.err, ErrUnavailable):
				// Not the row's fault: no attempt counted, lease released.
				if err := tx.OutboxEvent.Update().Where(pending...).SetAvailableAt(now).
					SetLastError(clipError(o.err)).Exec(ctx); err != nil {
					return err
				}
			default:
				attempts := row.Attempts + 1
				u := tx.OutboxEvent.Update().Where(pending...).SetAttempts(attempts).SetLastError(clipError(o.err))
				if attempts >= r.cfg.MaxAttempts {
					u.SetStatus(outboxevent.StatusFAILED)
					nFailed++
					r.cfg.Log.Error("events relay: giving up on an event", "event_id", row.ID, "topic", row.Topic,
						"merchant_id", row.MerchantID, "attempts", attempts, "error", o.err)
				} else {
					u.SetAvailableAt(now.Add(r.backoff(attempts)))
					nRetried++
				}
				if err := u.Exec(ctx); err != nil {
					return err
				}
			}
		}
		if len(done) == 0 {
			return nil
		}
		n, err := tx.OutboxEvent.Update().
			Where(outboxevent.IDIn(done...), outboxevent.StatusEQ(outboxevent.StatusPENDING)).
			SetStatus(outboxevent.StatusPUBLISHED).SetPublishedAt(now).Save(ctx)
		nPublished = uint64(n)
		return err
	})
	if err != nil {
		return wrapDB("mark published", err)
	}
	r.published.Add(nPublished)
	r.retried.Add(nRetried)
	r.failed.Add(nFailed)
	return nil
}

// backoff is the delay before attempt attempts+1 of a row, with ±20%
// jitter so that rows failed together do not retry together.
func (r *Relay) backoff(attempts int) time.Duration {
	d := r.cfg.BackoffBase << min(attempts-1, 30)
	if d <= 0 || d > r.cfg.BackoffMax {
		d = r.cfg.BackoffMax
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// replay appends again, in id order and to the durable path only, the
// events published since the durable store lost data.
func (r *Relay) replay(ctx context.Context) error {
	for {
		q := r.cfg.Client.OutboxEvent.Query().
			Where(outboxevent.StatusEQ(outboxevent.StatusPUBLISHED), outboxevent.PublishedAtGTE(*r.replaySince))
		if r.replayCursor != uuid.Nil {
			q.Where(outboxevent.IDGT(r.replayCursor))
		}
		rows, err := q.Order(ent.Asc(outboxevent.FieldID)).Limit(r.cfg.Batch).All(ctx)
		if err != nil {
			return wrapDB("replay", err)
		}
		if len(rows) == 0 {
			r.cfg.Log.Info("events relay: replay done", "replayed", r.replayed.Load())
			r.replaySince, r.replayCursor = nil, uuid.Nil
			return nil
		}
		batch := make([]Event, 0, len(rows))
		for _, row := range rows {
			e, err := eventOf(row)
			if err != nil {
				return err
			}
			batch = append(batch, e)
		}
		for i, err := range r.cfg.Durable.Append(ctx, batch) {
			if err != nil {
				return fmt.Errorf("events relay: replay: %w", err)
			}
			r.replayCursor = batch[i].ID
			r.replayed.Add(1)
		}
	}
}

// wrapDB names a database failure of the relay (nil stays nil).
func wrapDB(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("events relay: %s: %w", op, err)
}

func clipError(err error) string {
	s := err.Error()
	if len(s) > 2000 {
		s = s[:2000]
	}
	return s
}

// logLimited logs at most once per 10 seconds per key, so that an outage
// does not flood the log.
func (r *Relay) logLimited(key string, level slog.Level, msg string, args ...any) {
	now := time.Now()
	if now.Sub(r.lastLog[key]) < 10*time.Second {
		return
	}
	r.lastLog[key] = now
	r.cfg.Log.Log(r.sys, level, msg, args...)
}

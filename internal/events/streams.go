package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// StreamsConfig configures Streams. Zero values take the defaults.
type StreamsConfig struct {
	// Prefix of the keys (DefaultPrefix): the stream is Prefix+"stream",
	// dead letters Prefix+"dead", dedupe marks Prefix+"seen:…".
	Prefix string
	// MaxLen caps the stream (approximately) at this many entries
	// (1,000,000). A group that lags further behind loses the oldest.
	MaxLen int64
	// ClaimTimeout is how long an entry may stay delivered and unacknowledged
	// before another consumer of its group takes it over (30s): the time to
	// recover from a consumer that died, and the retry delay of a failed
	// handler.
	ClaimTimeout time.Duration
	// HandlerTimeout bounds one handler call (ClaimTimeout/2, so that an
	// entry is not reclaimed while its handler still runs).
	HandlerTimeout time.Duration
	// Block is how long one XREADGROUP waits for new entries (1s); it also
	// bounds how long Close waits for a consumer.
	Block time.Duration
	// MaxDeliveries is how often an entry is delivered before it goes to the
	// dead-letter stream (10).
	MaxDeliveries int64
	// DedupeTTL is how long a handled event is remembered per group (24h).
	DedupeTTL time.Duration
	// ReplayWindow is how far back the relay replays when Redis lost its data
	// and no low-water mark had been observed (15m).
	ReplayWindow time.Duration
	// CheckInterval is how often Lost asks Redis whether it lost data (250ms);
	// the low-water mark is observed every four checks.
	CheckInterval time.Duration
	Log           *slog.Logger
}

func (c *StreamsConfig) defaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.MaxLen <= 0 {
		c.MaxLen = 1_000_000
	}
	if c.ClaimTimeout <= 0 {
		c.ClaimTimeout = 30 * time.Second
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = c.ClaimTimeout / 2
	}
	if c.Block <= 0 {
		c.Block = time.Second
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 10
	}
	if c.DedupeTTL <= 0 {
		c.DedupeTTL = 24 * time.Hour
	}
	if c.ReplayWindow <= 0 {
		c.ReplayWindow = 15 * time.Minute
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 250 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// replayMargin widens a replay for clock skew between the relay's host
// (published_at) and Redis (stream entry ids).
const replayMargin = 5 * time.Second

// Streams is the durable path on Redis Streams: the relay XADDs each event to
// one stream (and marks the outbox row published only after that), each
// consumer group reads it with XREADGROUP and acknowledges an entry with XACK
// once its handler succeeded, and entries left unacknowledged longer than
// ClaimTimeout (a consumer died) are taken over with XAUTOCLAIM. Handlers run
// through Idempotent with marks in Redis, so a redelivery is skipped.
//
// Redis may lose the stream (a restart without persistence, a flush): every
// process keeps an epoch key and a low-water mark (the oldest entry a group
// still needs), and Lost tells the relay to append again what was published
// since that mark. Run Redis with AOF in production all the same: a replay
// redelivers events whose dedupe marks were lost too.
type Streams struct {
	rdb  *redis.Client
	cfg  StreamsConfig
	seen *RedisSeen
	name string // this process's consumer name prefix

	lifetime context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup

	mu           sync.Mutex
	epoch        string
	lowWater     time.Time
	haveLowWater bool
	lastCheck    time.Time
	checks       int

	// fault is a test hook: returning true at a stage ("read": an entry was
	// read, not handled; "handled": handled, not acknowledged) makes the
	// consumer stop there as if its process had died.
	fault func(stage, group string, e Event) bool
}

// NewStreams returns the Redis Streams durable path over rdb.
func NewStreams(rdb *redis.Client, cfg StreamsConfig) *Streams {
	cfg.defaults()
	host, _ := os.Hostname()
	ctx, cancel := context.WithCancel(context.Background())
	return &Streams{
		rdb: rdb, cfg: cfg, seen: NewRedisSeen(rdb, cfg.Prefix+"seen:"),
		name:     fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8]),
		lifetime: ctx, stop: cancel,
	}
}

func (s *Streams) stream() string   { return s.cfg.Prefix + "stream" }
func (s *Streams) epochKey() string { return s.cfg.Prefix + "epoch" }
func (s *Streams) deadKey() string  { return s.cfg.Prefix + "dead" }

// Append implements Durable: one pipelined XADD per event, in order.
func (s *Streams) Append(ctx context.Context, batch []Event) []error {
	errs := make([]error, len(batch))
	cmds := make([]*redis.StringCmd, len(batch))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range batch {
			b, err := json.Marshal(e)
			if err != nil {
				errs[i] = fmt.Errorf("events: encode %s: %w", e.ID, err)
				continue
			}
			cmds[i] = p.XAdd(ctx, &redis.XAddArgs{
				Stream: s.stream(), MaxLen: s.cfg.MaxLen, Approx: true,
				Values: []any{"event", string(b)},
			})
		}
		return nil
	})
	for i, c := range cmds {
		switch {
		case errs[i] != nil:
		case c == nil:
			errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, err)
		case c.Err() != nil:
			errs[i] = fmt.Errorf("%w: xadd: %v", ErrUnavailable, c.Err())
		}
	}
	return errs
}

// Lost implements lossDetector. The epoch key holds a random value set by
// the first process that found it missing: a missing key means the data set
// is new or was lost, a changed one that another process found it lost.
func (s *Streams) Lost(ctx context.Context) (since time.Time, lost bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastCheck) < s.cfg.CheckInterval {
		return time.Time{}, false, nil
	}
	cur, err := s.rdb.Get(ctx, s.epochKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return time.Time{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.lastCheck = now
	switch {
	case cur == "":
		fresh := uuid.NewString()
		ok, err := s.rdb.SetNX(ctx, s.epochKey(), fresh, 0).Result()
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if !ok {
			if fresh, err = s.rdb.Get(ctx, s.epochKey()).Result(); err != nil {
				return time.Time{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
		}
		s.epoch = fresh
		lost = true
	case s.epoch == "":
		s.epoch = cur // first look at an intact data set
	case cur != s.epoch:
		s.epoch = cur // another process found the data lost
		lost = true
	}
	if lost {
		since = now.Add(-s.cfg.ReplayWindow)
		if s.haveLowWater {
			since = s.lowWater
		}
		s.haveLowWater = false
		return since.Add(-replayMargin), true, nil
	}
	if s.checks++; s.checks%4 == 1 {
		if lw, err := s.lowWaterMark(ctx); err == nil {
			s.lowWater, s.haveLowWater = lw, true
		}
	}
	return time.Time{}, false, nil
}

// lowWaterMark returns the time of the oldest entry some group has not
// acknowledged (or not read yet): entries before it are done everywhere.
func (s *Streams) lowWaterMark(ctx context.Context) (time.Time, error) {
	groups, err := s.rdb.XInfoGroups(ctx, s.stream()).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return time.Now(), nil
		}
		return time.Time{}, err
	}
	low := ""
	for _, g := range groups {
		id := g.LastDeliveredID // everything after it is unread
		if g.Pending > 0 {
			p, err := s.rdb.XPending(ctx, s.stream(), g.Name).Result()
			if err != nil {
				return time.Time{}, err
			}
			id = p.Lower
		}
		if low == "" || streamIDLess(id, low) {
			low = id
		}
	}
	if low == "" {
		return time.Now(), nil // no group: nobody to lose anything for
	}
	first, err := s.rdb.XRangeN(ctx, s.stream(), "-", "+", 1).Result()
	if err != nil {
		return time.Time{}, err
	}
	if len(first) == 0 {
		return time.Now(), nil
	}
	if streamIDLess(low, first[0].ID) {
		low = first[0].ID // older entries were trimmed: they cannot be needed
	}
	return streamIDTime(low), nil
}

// streamIDLess compares two stream entry ids ("ms-seq").
func streamIDLess(a, b string) bool {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	return am < bm || am == bm && as < bs
}

func splitStreamID(id string) (ms, seq uint64) {
	m, sq, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(sq, 10, 64)
	return ms, seq
}

func streamIDTime(id string) time.Time {
	ms, _ := splitStreamID(id)
	return time.UnixMilli(int64(ms))
}

// Consume implements Durable: it starts one consumer of group in this
// process. A new group starts at the oldest entry the stream still holds.
func (s *Streams) Consume(ctx context.Context, group string, h Handler) error {
	if group == "" || h == nil {
		return errors.New("events: consume needs a group name and a handler")
	}
	if s.lifetime.Err() != nil {
		return ErrClosed
	}
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.lifetime, cancel)
	c := &consumer{
		s: s, group: group, name: s.name + "-" + uuid.NewString()[:8],
		h: Idempotent(s.seen, group, s.cfg.ClaimTimeout, s.cfg.DedupeTTL, recovering(h)),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer cancel()
		c.run(cctx)
	}()
	return nil
}

// Close implements Durable: it stops the consumers (each within Block) and
// waits for them. It leaves the Redis client open.
func (s *Streams) Close() error {
	s.stop()
	s.wg.Wait()
	return nil
}

// consumer is one consumer of a group.
type consumer struct {
	s         *Streams
	group     string
	name      string
	h         Handler
	ready     bool
	lastClaim time.Time
	failures  int
	lastLog   time.Time
}

func (c *consumer) run(ctx context.Context) {
	s := c.s
	for ctx.Err() == nil {
		if !c.ready {
			err := s.rdb.XGroupCreateMkStream(ctx, s.stream(), c.group, "0").Err()
			if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
				c.wait(ctx, "create consumer group", err)
				continue
			}
			c.ready = true
		}
		if time.Since(c.lastClaim) >= s.cfg.ClaimTimeout/2 {
			died, err := c.reclaim(ctx)
			if died {
				return
			}
			if err != nil {
				c.wait(ctx, "reclaim", err)
				continue
			}
			c.lastClaim = time.Now()
		}
		res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.name, Streams: []string{s.stream(), ">"},
			Count: 100, Block: s.cfg.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			c.wait(ctx, "read", err)
			continue
		}
		c.failures = 0
		for _, st := range res {
			for _, m := range st.Messages {
				if c.handle(ctx, m) {
					return
				}
			}
		}
	}
}

// wait backs off after a Redis error (100ms doubling up to 2s). After a
// restart that lost the group, it is created again.
func (c *consumer) wait(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	if strings.Contains(err.Error(), "NOGROUP") {
		c.ready = false
	}
	c.failures++
	if time.Since(c.lastLog) > 10*time.Second {
		c.lastLog = time.Now()
		c.s.cfg.Log.Warn("events: stream consumer", "group", c.group, "op", op, "error", err)
	}
	d := min(100*time.Millisecond<<min(c.failures-1, 5), 2*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handle runs the handler for one entry and acknowledges it on success. It
// reports whether the consumer died (fault hook).
func (c *consumer) handle(ctx context.Context, m redis.XMessage) (died bool) {
	s := c.s
	raw, _ := m.Values["event"].(string)
	var e Event
	if err := json.Unmarshal([]byte(raw), &e); err != nil || e.ID == uuid.Nil {
		c.deadLetter(ctx, m.ID, raw, fmt.Errorf("undecodable entry: %v", err))
		return false
	}
	if s.fault != nil && s.fault("read", c.group, e) {
		return true
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandlerTimeout)
	err := c.h(hctx, e)
	cancel()
	if err != nil {
		// Left pending: reclaimed and retried after ClaimTimeout.
		if !errors.Is(err, ErrInProgress) && ctx.Err() == nil {
			s.cfg.Log.Warn("events: consumer failed; retried later", "group", c.group, "event_id", e.ID, "topic", e.Topic, "error", err)
		}
		return false
	}
	if s.fault != nil && s.fault("handled", c.group, e) {
		return true
	}
	if err := s.rdb.XAck(context.WithoutCancel(ctx), s.stream(), c.group, m.ID).Err(); err != nil {
		// Still pending: reclaimed later, and skipped as handled then.
		s.cfg.Log.Warn("events: acknowledge", "group", c.group, "event_id", e.ID, "error", err)
	}
	return false
}

// reclaim takes over the group's entries left unacknowledged longer than
// ClaimTimeout (its own failed ones included) and handles them; an entry
// delivered more than MaxDeliveries times goes to the dead-letter stream.
func (c *consumer) reclaim(ctx context.Context) (died bool, err error) {
	s := c.s
	start := "0-0"
	for {
		msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: s.stream(), Group: c.group, Consumer: c.name,
			MinIdle: s.cfg.ClaimTimeout, Start: start, Count: 100,
		}).Result()
		if err != nil {
			return false, err
		}
		if len(msgs) > 0 {
			deliveries := map[string]int64{}
			pend, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
				Stream: s.stream(), Group: c.group, Start: msgs[0].ID, End: msgs[len(msgs)-1].ID,
				Count: int64(len(msgs)), Consumer: c.name,
			}).Result()
			if err != nil {
				return false, err
			}
			for _, p := range pend {
				deliveries[p.ID] = p.RetryCount
			}
			for _, m := range msgs {
				if deliveries[m.ID] > s.cfg.MaxDeliveries {
					raw, _ := m.Values["event"].(string)
					c.deadLetter(ctx, m.ID, raw, fmt.Errorf("delivered %d times", deliveries[m.ID]))
					continue
				}
				if c.handle(ctx, m) {
					return true, nil
				}
			}
		}
		if next == "0-0" || next == "" {
			return false, nil
		}
		start = next
	}
}

// deadLetter moves an entry the group gives up on to the dead-letter stream
// and acknowledges it.
func (c *consumer) deadLetter(ctx context.Context, id, raw string, why error) {
	s := c.s
	s.cfg.Log.Error("events: giving up on a stream entry", "group", c.group, "entry", id, "error", why)
	ctx = context.WithoutCancel(ctx)
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.deadKey(), MaxLen: 10_000, Approx: true,
		Values: []any{"group", c.group, "entry", id, "event", raw, "error", why.Error()},
	}).Err(); err != nil {
		return // acknowledged next time round
	}
	_ = s.rdb.XAck(ctx, s.stream(), c.group, id).Err()
}

// RedisSeen is the Seen of the Redis path: a key per group and event, "run"
// while a handler holds it (expiring after the lease) and "done" after.
type RedisSeen struct {
	rdb    *redis.Client
	prefix string
}

// NewRedisSeen returns a Seen keeping its marks under prefix.
func NewRedisSeen(rdb *redis.Client, prefix string) *RedisSeen {
	return &RedisSeen{rdb: rdb, prefix: prefix}
}

// Begin implements Seen.
func (s *RedisSeen) Begin(ctx context.Context, key string, lease time.Duration) (bool, error) {
	for range 3 {
		ok, err := s.rdb.SetNX(ctx, s.prefix+key, "run", lease).Result()
		if err != nil {
			return false, fmt.Errorf("events: dedupe: %w", err)
		}
		if ok {
			return false, nil
		}
		v, err := s.rdb.Get(ctx, s.prefix+key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue // expired in between: try again
		case err != nil:
			return false, fmt.Errorf("events: dedupe: %w", err)
		case v == "done":
			return true, nil
		default:
			return false, ErrInProgress
		}
	}
	return false, ErrInProgress
}

// Done implements Seen.
func (s *RedisSeen) Done(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.prefix+key, "done", ttl).Err(); err != nil {
		return fmt.Errorf("events: dedupe: %w", err)
	}
	return nil
}

// Abort implements Seen.
func (s *RedisSeen) Abort(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("events: dedupe: %w", err)
	}
	return nil
}

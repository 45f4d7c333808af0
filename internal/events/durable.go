package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Handler handles one event for a consumer group. It returns nil once the
// event's effect is done; an error has the event delivered again later.
type Handler func(ctx context.Context, e Event) error

// Durable is the path of consumers that must not miss an event (marketing
// triggers, email sends, abandoned-cart detection): every event the relay
// appends reaches every consumer group at least once, also across restarts
// of Redis or of the processes, and the group's handler succeeds for it once
// (Consume deduplicates by event id). Streams is the Redis implementation,
// Memory the in-process one.
type Durable interface {
	// Append stores batch, in order, for every consumer group. It returns one
	// error per event: nil once the event is stored (Redis) or accepted by
	// every consumer (in process). An error wrapping ErrUnavailable means the
	// store could not be reached: the relay retries without counting an
	// attempt against the event.
	Append(ctx context.Context, batch []Event) []error
	// Consume registers h as a consumer of group until ctx is done or the
	// path closes, and returns at once. A group sees the events appended
	// after it first existed; each is handled by one consumer of the group.
	Consume(ctx context.Context, group string, h Handler) error
	// Close stops the consumers and waits for them.
	Close() error
}

// lossDetector is a Durable whose store can lose what it was given (Redis
// without persistence, a flushed Redis). The relay asks it before each
// publish and, after a loss, appends again every event published since the
// returned time: consumers deduplicate by id.
type lossDetector interface {
	Lost(ctx context.Context) (since time.Time, lost bool, err error)
}

// Errors of the durable path.
var (
	// ErrUnavailable: the store of the durable path cannot be reached.
	ErrUnavailable = errors.New("events: durable store unavailable")
	// ErrInProgress: another consumer is handling the event right now.
	ErrInProgress = errors.New("events: event is being handled")
	// ErrGroupTaken: an in-process group has a consumer already.
	ErrGroupTaken = errors.New("events: consumer group already has a consumer in this process")
)

// Seen remembers, per consumer group and event, that handling began or
// finished: the store behind Idempotent.
type Seen interface {
	// Begin marks key as being handled for lease. It returns done=true when
	// the key was handled before, and ErrInProgress while another handler
	// holds it.
	Begin(ctx context.Context, key string, lease time.Duration) (done bool, err error)
	// Done marks key as handled for ttl.
	Done(ctx context.Context, key string, ttl time.Duration) error
	// Abort forgets a key whose handling failed, so it may run again.
	Abort(ctx context.Context, key string) error
}

// Idempotent wraps h so that it succeeds at most once per group and event
// id, as long as seen remembers it (ttl): a redelivered event that h handled
// already is skipped. While one call is under way (for at most lease, the
// most a handler may take), another delivery of the same event fails with
// ErrInProgress and is retried later. The effect of a handler that dies
// mid-way may still happen twice; handlers whose effect must never repeat
// also make it idempotent in their own store.
func Idempotent(seen Seen, group string, lease, ttl time.Duration, h Handler) Handler {
	return func(ctx context.Context, e Event) error {
		key := group + ":" + e.ID.String()
		done, err := seen.Begin(ctx, key, lease)
		if err != nil || done {
			return err
		}
		if err := h(ctx, e); err != nil {
			if abortErr := seen.Abort(context.WithoutCancel(ctx), key); abortErr != nil {
				return errors.Join(err, abortErr)
			}
			return err
		}
		return seen.Done(context.WithoutCancel(ctx), key, ttl)
	}
}

// MemorySeen is the in-process Seen.
type MemorySeen struct {
	mu      sync.Mutex
	entries map[string]seenEntry
	ops     int
	now     func() time.Time
}

type seenEntry struct {
	done  bool
	until time.Time
}

// NewMemorySeen returns an empty in-process Seen.
func NewMemorySeen() *MemorySeen {
	return &MemorySeen{entries: make(map[string]seenEntry), now: time.Now}
}

// Begin implements Seen.
func (s *MemorySeen) Begin(_ context.Context, key string, lease time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	if e, ok := s.entries[key]; ok && now.Before(e.until) {
		if e.done {
			return true, nil
		}
		return false, ErrInProgress
	}
	s.entries[key] = seenEntry{until: now.Add(lease)}
	return false, nil
}

// Done implements Seen.
func (s *MemorySeen) Done(_ context.Context, key string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[key] = seenEntry{done: true, until: s.now().Add(ttl)}
	return nil
}

// Abort implements Seen.
func (s *MemorySeen) Abort(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && !e.done {
		delete(s.entries, key)
	}
	return nil
}

// purge drops expired entries every 1,000 operations, so memory follows
// the keys alive within their TTL.
func (s *MemorySeen) purge(now time.Time) {
	if s.ops++; s.ops < 1000 {
		return
	}
	s.ops = 0
	for k, e := range s.entries {
		if !now.Before(e.until) {
			delete(s.entries, k)
		}
	}
}

// MemoryConfig configures the in-process durable path. Zero values take the
// defaults.
type MemoryConfig struct {
	// HandlerTimeout bounds one handler call (30s).
	HandlerTimeout time.Duration
	// DedupeTTL is how long a handled event is remembered (24h).
	DedupeTTL time.Duration
	Log       *slog.Logger
}

// Memory is the in-process Durable of the embedded default: Append hands
// each event to every registered consumer group's handler and reports it
// accepted only once all of them succeeded, so the relay marks the outbox row
// published only then and retries it (with back-off) otherwise. Groups that
// succeeded already are skipped on a retry (Idempotent). The outbox is the
// store: an event is never lost while its row is pending, also across a
// crash. Handlers run on the relay's goroutine, one event at a time.
type Memory struct {
	cfg    MemoryConfig
	seen   *MemorySeen
	mu     sync.Mutex
	groups map[string]*memoryGroup
	closed bool
}

type memoryGroup struct{ h Handler }

// NewMemory returns an in-process durable path with no consumers.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = 30 * time.Second
	}
	if cfg.DedupeTTL <= 0 {
		cfg.DedupeTTL = 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Memory{cfg: cfg, seen: NewMemorySeen(), groups: make(map[string]*memoryGroup)}
}

// Consume implements Durable. One consumer per group and process.
func (m *Memory) Consume(ctx context.Context, group string, h Handler) error {
	if group == "" || h == nil {
		return errors.New("events: consume needs a group name and a handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.groups[group]; ok {
		return fmt.Errorf("%w: %s", ErrGroupTaken, group)
	}
	g := &memoryGroup{h: Idempotent(m.seen, group, m.cfg.HandlerTimeout, m.cfg.DedupeTTL, recovering(h))}
	m.groups[group] = g
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.groups[group] == g {
			delete(m.groups, group)
		}
	})
	return nil
}

// Append implements Durable. Within batch, an event whose handling failed
// holds back the later events of its aggregate.
func (m *Memory) Append(ctx context.Context, batch []Event) []error {
	errs := make([]error, len(batch))
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		for i := range errs {
			errs[i] = ErrClosed
		}
		return errs
	}
	names := make([]string, 0, len(m.groups))
	handlers := make(map[string]Handler, len(m.groups))
	for name, g := range m.groups {
		names = append(names, name)
		handlers[name] = g.h
	}
	m.mu.Unlock()
	sort.Strings(names)
	failed := map[Aggregate]bool{}
	for i, e := range batch {
		a := Aggregate{Type: e.AggregateType, ID: e.AggregateID}
		if a.ID != "" && failed[a] {
			errs[i] = errors.New("events: held back behind an earlier event of its aggregate")
			continue
		}
		var groupErrs []error
		for _, name := range names {
			hctx, cancel := context.WithTimeout(ctx, m.cfg.HandlerTimeout)
			err := handlers[name](hctx, e)
			cancel()
			if err != nil {
				groupErrs = append(groupErrs, fmt.Errorf("consumer %s: %w", name, err))
			}
		}
		if errs[i] = errors.Join(groupErrs...); errs[i] != nil {
			failed[a] = true
		}
	}
	return errs
}

// Close implements Durable: later appends and registrations fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.groups = map[string]*memoryGroup{}
	return nil
}

// recovering turns a handler's panic into its error, so one bad event does
// not take the relay (or a stream consumer) down.
func recovering(h Handler) Handler {
	return func(ctx context.Context, e Event) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("events: handler panicked: %v", p)
			}
		}()
		return h(ctx, e)
	}
}

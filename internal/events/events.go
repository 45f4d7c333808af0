// Package events carries domain events (order paid, stock low, customer
// event tracked, …) from the code that causes them to the code that reacts:
// GraphQL subscriptions and marketing triggers. docs/events.md describes the
// design.
//
// A change writes its event to the outbox_events table in its own
// transaction (Write), so the event commits or rolls back with it. A Relay
// then publishes the committed rows twice: to a Bus, the live path of GraphQL
// subscriptions (Redis pub/sub on a channel per merchant, or Local in
// process), and to a Durable path for consumers that must not miss an event
// (Redis Streams with consumer groups, or Memory in process). Consumers are
// idempotent by event id.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Event is one domain event of one merchant, as delivered to subscribers and
// consumers. ID is the outbox row's id: consumers deduplicate by it.
type Event struct {
	ID            uuid.UUID       `json:"id"`
	MerchantID    uuid.UUID       `json:"merchantId"`
	Topic         string          `json:"topic"`
	AggregateType string          `json:"aggregateType,omitempty"`
	AggregateID   string          `json:"aggregateId,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	OccurredAt    time.Time       `json:"occurredAt"`
}

// Bus publishes events to the live subscribers of their merchant: the path
// of GraphQL subscriptions. It keeps nothing for absent or disconnected
// subscribers; consumers that must see every event use a Durable.
type Bus interface {
	// Publish delivers e to current subscribers; it never blocks on a slow one.
	Publish(ctx context.Context, e Event) error
	// Subscribe returns a channel of the merchant's events whose topic is one
	// of topics (all topics when none are given), in per-aggregate order.
	// The channel is closed when ctx is done, when the subscriber falls more
	// than its buffer behind (so memory stays bounded: the subscription ends
	// and the client may subscribe again), or when the bus closes. A closed
	// channel with ctx not done means the subscriber was dropped.
	Subscribe(ctx context.Context, merchantID uuid.UUID, topics ...string) (<-chan Event, error)
}

// SubscriberBuffer is the default number of events a subscriber may fall
// behind before it is dropped.
const SubscriberBuffer = 256

// Errors of the buses.
var (
	// ErrClosed: the bus or durable path was closed.
	ErrClosed = errors.New("events: closed")
	// ErrTooManySubscribers: the merchant holds BusOptions.MaxPerMerchant
	// subscriptions in this process already.
	ErrTooManySubscribers = errors.New("events: too many subscriptions for this store")
)

// BusOptions shape the subscribers of a bus. Zero values take the defaults.
type BusOptions struct {
	// Buffer is how many events a subscriber may fall behind before it is
	// dropped (SubscriberBuffer).
	Buffer int
	// MaxPerMerchant caps one merchant's subscriptions in this process
	// (0: no cap).
	MaxPerMerchant int
}

// Local is the in-process Bus of the embedded default and of tests.
type Local struct {
	fan *fanout
}

// NewLocal returns an empty in-process bus with the default options.
func NewLocal() *Local { return NewLocalWith(BusOptions{}) }

// NewLocalWith returns an empty in-process bus.
func NewLocalWith(o BusOptions) *Local { return &Local{fan: newFanout(o, nil)} }

// Publish implements Bus.
func (b *Local) Publish(_ context.Context, e Event) error {
	return b.fan.deliver(e)
}

// Subscribe implements Bus.
func (b *Local) Subscribe(ctx context.Context, merchantID uuid.UUID, topics ...string) (<-chan Event, error) {
	ch, _, err := b.fan.add(ctx, merchantID, topics)
	return ch, err
}

// Dropped returns how many subscribers were dropped for falling behind.
func (b *Local) Dropped() uint64 { return b.fan.dropped.Load() }

// Close closes every subscription; later calls fail with ErrClosed.
func (b *Local) Close() error {
	b.fan.close()
	return nil
}

// fanout is the subscriber registry both buses share: per merchant, the
// subscribers with their topic filters and bounded channels.
type fanout struct {
	opts    BusOptions
	mu      sync.RWMutex
	subs    map[uuid.UUID]map[*subscriber]struct{}
	closed  bool
	dropped atomic.Uint64
	// onEmpty runs (outside the lock) when a merchant's last subscriber
	// left: the Redis bus unsubscribes its channel.
	onEmpty func(merchantID uuid.UUID)
}

type subscriber struct {
	merchant uuid.UUID
	ch       chan Event
	topics   map[string]bool
	stop     func() bool // deregisters the ctx.Done hook
}

func newFanout(o BusOptions, onEmpty func(uuid.UUID)) *fanout {
	if o.Buffer <= 0 {
		o.Buffer = SubscriberBuffer
	}
	return &fanout{opts: o, subs: make(map[uuid.UUID]map[*subscriber]struct{}), onEmpty: onEmpty}
}

// add registers a subscriber; first reports whether it is the merchant's
// first one.
func (f *fanout) add(ctx context.Context, merchantID uuid.UUID, topics []string) (ch <-chan Event, first bool, err error) {
	s := &subscriber{merchant: merchantID, ch: make(chan Event, f.opts.Buffer)}
	if len(topics) > 0 {
		s.topics = make(map[string]bool, len(topics))
		for _, t := range topics {
			s.topics[t] = true
		}
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, false, ErrClosed
	}
	set := f.subs[merchantID]
	if f.opts.MaxPerMerchant > 0 && len(set) >= f.opts.MaxPerMerchant {
		f.mu.Unlock()
		return nil, false, ErrTooManySubscribers
	}
	if set == nil {
		set = make(map[*subscriber]struct{})
		f.subs[merchantID] = set
	}
	set[s] = struct{}{}
	first = len(set) == 1
	// AfterFunc starts no goroutine until ctx is done: thousands of idle
	// subscriptions cost their channels only.
	s.stop = context.AfterFunc(ctx, func() { f.remove(s, false) })
	f.mu.Unlock()
	return s.ch, first, nil
}

// remove unregisters s and closes its channel, once.
func (f *fanout) remove(s *subscriber, overflow bool) {
	f.mu.Lock()
	set, ok := f.subs[s.merchant]
	if _, registered := set[s]; !ok || !registered {
		f.mu.Unlock()
		return
	}
	delete(set, s)
	empty := len(set) == 0
	if empty {
		delete(f.subs, s.merchant)
	}
	close(s.ch) // under the write lock: no deliver is sending to it
	f.mu.Unlock()
	s.stop()
	if overflow {
		f.dropped.Add(1)
	}
	if empty && f.onEmpty != nil {
		f.onEmpty(s.merchant)
	}
}

// deliver hands e to the matching subscribers of its merchant without
// blocking; a subscriber whose buffer is full is dropped.
func (f *fanout) deliver(e Event) error {
	var slow []*subscriber
	f.mu.RLock()
	if f.closed {
		f.mu.RUnlock()
		return ErrClosed
	}
	for s := range f.subs[e.MerchantID] {
		if s.topics != nil && !s.topics[e.Topic] {
			continue
		}
		select {
		case s.ch <- e:
		default:
			slow = append(slow, s)
		}
	}
	f.mu.RUnlock()
	for _, s := range slow {
		f.remove(s, true)
	}
	return nil
}

// count returns how many subscribers the merchant has.
func (f *fanout) count(merchantID uuid.UUID) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.subs[merchantID])
}

// close closes every subscriber's channel.
func (f *fanout) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	var all []*subscriber
	for _, set := range f.subs {
		for s := range set {
			all = append(all, s)
			close(s.ch)
		}
	}
	f.subs = nil
	f.mu.Unlock()
	for _, s := range all {
		s.stop()
	}
}

// Package events carries domain events (order paid, stock low, customer
// event tracked, …) from the code that causes them to the code that reacts:
// GraphQL subscriptions and marketing triggers.
//
// Bus is the seam. Local is the in-process bus of the embedded default and
// of tests; a Redis-backed bus for several processes implements the same
// interface.
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Event is one domain event of one merchant.
type Event struct {
	ID         uuid.UUID       `json:"id"`
	MerchantID uuid.UUID       `json:"merchantId"`
	Topic      string          `json:"topic"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	OccurredAt time.Time       `json:"occurredAt"`
}

// Bus publishes events to the subscribers of their merchant.
type Bus interface {
	// Publish delivers e to current subscribers; it never blocks on a slow one.
	Publish(ctx context.Context, e Event) error
	// Subscribe returns a channel of the merchant's events whose topic is one
	// of topics (all topics when none are given). The channel is closed when
	// ctx is done.
	Subscribe(ctx context.Context, merchantID uuid.UUID, topics ...string) (<-chan Event, error)
}

// SubscriberBuffer is how many events a subscriber may fall behind before
// further events to it are dropped (and counted in Local.Dropped).
const SubscriberBuffer = 256

// Local is an in-process Bus.
type Local struct {
	mu      sync.RWMutex
	subs    map[uuid.UUID]map[*subscriber]struct{}
	dropped atomic.Uint64
}

type subscriber struct {
	ch     chan Event
	topics map[string]bool
}

// NewLocal returns an empty in-process bus.
func NewLocal() *Local {
	return &Local{subs: make(map[uuid.UUID]map[*subscriber]struct{})}
}

// Publish implements Bus.
func (b *Local) Publish(ctx context.Context, e Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs[e.MerchantID] {
		if len(s.topics) > 0 && !s.topics[e.Topic] {
			continue
		}
		select {
		case s.ch <- e:
		default:
			b.dropped.Add(1)
			slog.WarnContext(ctx, "event dropped for a slow subscriber", "topic", e.Topic, "merchant_id", e.MerchantID)
		}
	}
	return nil
}

// Subscribe implements Bus.
func (b *Local) Subscribe(ctx context.Context, merchantID uuid.UUID, topics ...string) (<-chan Event, error) {
	s := &subscriber{ch: make(chan Event, SubscriberBuffer)}
	if len(topics) > 0 {
		s.topics = make(map[string]bool, len(topics))
		for _, t := range topics {
			s.topics[t] = true
		}
	}
	b.mu.Lock()
	if b.subs[merchantID] == nil {
		b.subs[merchantID] = make(map[*subscriber]struct{})
	}
	b.subs[merchantID][s] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs[merchantID], s)
		if len(b.subs[merchantID]) == 0 {
			delete(b.subs, merchantID)
		}
		b.mu.Unlock()
		close(s.ch)
	}()
	return s.ch, nil
}

// Dropped returns how many deliveries were dropped for slow subscribers.
func (b *Local) Dropped() uint64 {
	return b.dropped.Load()
}

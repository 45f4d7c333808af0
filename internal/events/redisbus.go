package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the prefix of every Redis key and channel of the events
// package: the live channel of a merchant is DefaultPrefix + its id.
const DefaultPrefix = "omnisphere:events:"

// RedisBusConfig configures a RedisBus. Zero values take the defaults.
type RedisBusConfig struct {
	// Prefix of the channels (DefaultPrefix). Tests use their own.
	Prefix string
	BusOptions
	Log *slog.Logger
}

// RedisBus is the live Bus across processes: Publish sends an event to its
// merchant's Redis channel (prefix + merchant id), and each process holds one
// pub/sub connection, subscribed to the channels of the merchants it has
// subscribers for, and fans the messages out to them. go-redis reconnects
// and subscribes again after a Redis restart; messages published while the
// connection is down are lost (the live path keeps nothing).
type RedisBus struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
	fan    *fanout
	ps     *redis.PubSub

	// subMu orders SUBSCRIBE and UNSUBSCRIBE of one merchant's channel with
	// its subscribers coming and going.
	subMu sync.Mutex
	done  chan struct{}
	once  sync.Once
}

// NewRedisBus returns a live bus over rdb and starts its reader.
func NewRedisBus(rdb *redis.Client, cfg RedisBusConfig) *RedisBus {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	b := &RedisBus{rdb: rdb, prefix: cfg.Prefix, log: cfg.Log, done: make(chan struct{})}
	b.fan = newFanout(cfg.BusOptions, b.release)
	b.ps = rdb.Subscribe(context.Background()) // no channel yet: connects on the first Subscribe
	// The health check pings an idle connection every second, so a Redis
	// that went away silently is noticed and the channels resubscribed.
	msgs := b.ps.Channel(redis.WithChannelSize(1024), redis.WithChannelHealthCheckInterval(time.Second))
	go b.read(msgs)
	return b
}

// Channel returns the Redis channel of a merchant's live events.
func (b *RedisBus) Channel(merchantID uuid.UUID) string { return b.prefix + merchantID.String() }

// Publish implements Bus.
func (b *RedisBus) Publish(ctx context.Context, e Event) error {
	msg, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("events: publish %s: %w", e.Topic, err)
	}
	if err := b.rdb.Publish(ctx, b.Channel(e.MerchantID), msg).Err(); err != nil {
		return fmt.Errorf("events: publish %s: %w", e.Topic, err)
	}
	return nil
}

// PublishBatch publishes events in order in one round trip (the relay's
// path).
func (b *RedisBus) PublishBatch(ctx context.Context, events []Event) error {
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range events {
			msg, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("events: publish %s: %w", e.Topic, err)
			}
			p.Publish(ctx, b.Channel(e.MerchantID), msg)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("events: publish %d events: %w", len(events), err)
	}
	return nil
}

// Subscribe implements Bus. The first subscriber of a merchant in this
// process subscribes the merchant's channel; while Redis is down that
// happens once it is back.
func (b *RedisBus) Subscribe(ctx context.Context, merchantID uuid.UUID, topics ...string) (<-chan Event, error) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	ch, first, err := b.fan.add(ctx, merchantID, topics)
	if err != nil || !first {
		return ch, err
	}
	// go-redis remembers the channel even when this fails, and subscribes
	// it when it reconnects.
	if err := b.ps.Subscribe(ctx, b.Channel(merchantID)); err != nil {
		b.log.Warn("events: subscribe to a store's channel (retried on reconnect)", "merchant_id", merchantID, "error", err)
	}
	return ch, nil
}

// release unsubscribes a merchant's channel once its last subscriber left.
func (b *RedisBus) release(merchantID uuid.UUID) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if b.fan.count(merchantID) > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.ps.Unsubscribe(ctx, b.Channel(merchantID)); err != nil && !isClosed(err) {
		b.log.Warn("events: unsubscribe from a store's channel", "merchant_id", merchantID, "error", err)
	}
}

// read fans each message out to the subscribers of its merchant.
func (b *RedisBus) read(msgs <-chan *redis.Message) {
	defer close(b.done)
	for m := range msgs {
		id, err := uuid.Parse(strings.TrimPrefix(m.Channel, b.prefix))
		if err != nil || !strings.HasPrefix(m.Channel, b.prefix) {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
			b.log.Warn("events: undecodable live event", "channel", m.Channel, "error", err)
			continue
		}
		if e.MerchantID != id { // never hand one store's event to another
			b.log.Error("events: live event on another store's channel", "channel", m.Channel, "merchant_id", e.MerchantID)
			continue
		}
		_ = b.fan.deliver(e)
	}
}

// Dropped returns how many subscribers were dropped for falling behind.
func (b *RedisBus) Dropped() uint64 { return b.fan.dropped.Load() }

// Close closes the pub/sub connection and every subscription, and waits for
// the reader to end. It leaves the Redis client open.
func (b *RedisBus) Close() error {
	b.once.Do(func() {
		_ = b.ps.Close()
		<-b.done
		b.fan.close()
	})
	return nil
}

func isClosed(err error) bool {
	return err != nil && strings.Contains(err.Error(), "closed")
}

package respcache

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Remote spreads invalidations between the server processes that share a
// Redis: each local Invalidate is published on a channel, and each message
// from another process invalidates here. Publishing happens off the
// committing goroutine (a Redis outage must not stall writes); a message
// that cannot be sent is lost, and the other processes serve what they hold
// for at most the TTL. Every (re)subscription — the first, and each after
// Redis came back — retires all entries here, since messages sent while
// the subscription was down are gone.
type Remote struct {
	c       *Cache
	rdb     *redis.Client
	channel string
	origin  string
	log     *slog.Logger

	out    chan uuid.UUID
	ps     *redis.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}
}

// remoteBuffer is how many invalidations may wait to be published.
const remoteBuffer = 1024

// StartRemote connects c to the other processes through rdb's pub/sub
// channel. Close stops it.
func StartRemote(c *Cache, rdb *redis.Client, channel string, log *slog.Logger) *Remote {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Remote{
		c: c, rdb: rdb, channel: channel, origin: uuid.NewString(), log: log,
		out: make(chan uuid.UUID, remoteBuffer), cancel: cancel, ready: make(chan struct{}),
	}
	fn := func(m uuid.UUID) {
		select {
		case r.out <- m:
		default:
			r.log.Warn("storefront cache: invalidation not spread, the queue is full", "merchant_id", m)
		}
	}
	c.onInvalidate.Store(&fn)
	r.ps = rdb.Subscribe(ctx, channel)
	r.wg.Add(2)
	go r.publish(ctx)
	go r.receive(ctx, r.ps)
	return r
}

// Ready is closed once the first subscription is confirmed.
func (r *Remote) Ready() <-chan struct{} { return r.ready }

func (r *Remote) publish(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.out:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := r.rdb.Publish(pctx, r.channel, r.origin+" "+m.String()).Err()
			cancel()
			if err != nil && ctx.Err() == nil {
				r.log.Warn("storefront cache: invalidation not spread", "merchant_id", m, "error", err)
			}
		}
	}
}

func (r *Remote) receive(ctx context.Context, ps *redis.PubSub) {
	defer r.wg.Done()
	first := true
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// go-redis reconnects and resubscribes on the next Receive.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			r.c.invalidate(uuid.Nil)
			if first {
				first = false
				close(r.ready)
			}
		case *redis.Message:
			origin, id, ok := strings.Cut(m.Payload, " ")
			if !ok || origin == r.origin {
				continue
			}
			if merchant, err := uuid.Parse(id); err == nil {
				r.c.invalidate(merchant)
			}
		}
	}
}

// Close stops spreading and receiving invalidations.
func (r *Remote) Close() {
	r.c.onInvalidate.Store(nil)
	r.cancel()
	// Receive does not watch its context while it waits on the socket:
	// closing the subscription is what wakes it.
	_ = r.ps.Close()
	r.wg.Wait()
}

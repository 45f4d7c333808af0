// Package ratelimit is a leaky-bucket limiter: each key has a bucket of
// Capacity units that drains at Rate units per second; a request of cost n
// passes when n more units fit. It backs the GraphQL cost limit (per API key,
// viewer or IP) and login throttling. Redis holds the buckets when
// configured, so limits hold across server processes; otherwise they live in
// process.
package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit is the shape of a bucket.
type Limit struct {
	// Capacity is the most units the bucket holds (the burst).
	Capacity float64
	// Rate is how many units drain per second.
	Rate float64
}

// Decision is the outcome of one Take.
type Decision struct {
	// Allowed reports whether the cost fitted; when it did, it was added.
	Allowed bool
	// Level is the bucket's fill after the decision.
	Level float64
	// Available is Capacity minus Level: what may still be spent now.
	Available float64
	// RetryAfter is how long until the refused cost would fit (0 if allowed).
	RetryAfter time.Duration
}

// Limiter takes cost from the bucket of key.
type Limiter interface {
	Take(ctx context.Context, key string, cost float64, l Limit) (Decision, error)
	// Peek reports the bucket's state without spending.
	Peek(ctx context.Context, key string, l Limit) (Decision, error)
}

// decide is the bucket arithmetic shared by both implementations (the Lua
// script mirrors it).
func decide(level float64, last, now time.Time, cost float64, l Limit) (Decision, float64) {
	if !last.IsZero() {
		level = math.Max(0, level-now.Sub(last).Seconds()*l.Rate)
	}
	d := Decision{Level: level}
	if level+cost <= l.Capacity {
		d.Allowed = true
		level += cost
		d.Level = level
	} else if l.Rate > 0 {
		d.RetryAfter = time.Duration((level + cost - l.Capacity) / l.Rate * float64(time.Second))
	} else {
		d.RetryAfter = time.Duration(math.MaxInt64)
	}
	d.Available = math.Max(0, l.Capacity-d.Level)
	return d, level
}

// Memory is an in-process Limiter.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]bucket
	now     func() time.Time
	sweep   time.Time
}

type bucket struct {
	level float64
	last  time.Time
	rate  float64
}

// NewMemory returns an empty in-process limiter.
func NewMemory() *Memory { return &Memory{buckets: map[string]bucket{}, now: time.Now} }

// Take implements Limiter.
func (m *Memory) Take(_ context.Context, key string, cost float64, l Limit) (Decision, error) {
	return m.apply(key, cost, l, true), nil
}

// Peek implements Limiter.
func (m *Memory) Peek(_ context.Context, key string, l Limit) (Decision, error) {
	return m.apply(key, 0, l, false), nil
}

func (m *Memory) apply(key string, cost float64, l Limit, write bool) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	b := m.buckets[key]
	d, level := decide(b.level, b.last, now, cost, l)
	if write {
		m.buckets[key] = bucket{level: level, last: now, rate: l.Rate}
	}
	// Drop drained buckets now and then so the map does not grow forever.
	if now.Sub(m.sweep) > time.Minute {
		m.sweep = now
		for k, b := range m.buckets {
			if b.rate > 0 && b.level-now.Sub(b.last).Seconds()*b.rate <= 0 {
				delete(m.buckets, k)
			}
		}
	}
	return d
}

//go:embed bucket.lua
var bucketLua string

var bucketScript = redis.NewScript(bucketLua)

// Redis is a Limiter whose buckets live in Redis, shared by all processes.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a limiter storing buckets under prefix in client.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, cost float64, l Limit) (Decision, error) {
	return r.run(ctx, key, cost, l, 1)
}

// Peek implements Limiter.
func (r *Redis) Peek(ctx context.Context, key string, l Limit) (Decision, error) {
	return r.run(ctx, key, 0, l, 0)
}

func (r *Redis) run(ctx context.Context, key string, cost float64, l Limit, write int) (Decision, error) {
	// Redis's clock decides (TIME inside the script), so processes with
	// skewed clocks share one bucket correctly.
	res, err := bucketScript.Run(ctx, r.client, []string{r.prefix + key}, cost, l.Capacity, l.Rate, write).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("ratelimit: redis: unexpected reply %v", res)
	}
	allowed, _ := res[0].(int64)
	level, err1 := parseFloat(res[1])
	retryMs, err2 := parseFloat(res[2])
	if err1 != nil || err2 != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: unexpected reply %v", res)
	}
	return Decision{
		Allowed:    allowed == 1,
		Level:      level,
		Available:  math.Max(0, l.Capacity-level),
		RetryAfter: time.Duration(retryMs * float64(time.Millisecond)),
	}, nil
}

func parseFloat(v any) (float64, error) {
	switch x := v.(type) {
	case string:
		var f float64
		_, err := fmt.Sscan(x, &f)
		return f, err
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

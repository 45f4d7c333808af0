package ratelimit

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := Limit{Capacity: 10, Rate: 2}
	for _, tc := range []struct {
		name    string
		level   float64
		last    time.Time
		now     time.Time
		cost    float64
		allowed bool
		after   float64
		retry   time.Duration
	}{
		{"empty bucket takes the cost", 0, time.Time{}, t0, 4, true, 4, 0},
		{"exactly full is allowed", 6, t0, t0, 4, true, 10, 0},
		{"one over is refused", 7, t0, t0, 4, false, 7, 500 * time.Millisecond},
		{"drains with time", 10, t0, t0.Add(2 * time.Second), 4, true, 10, 0},
		{"never below zero", 3, t0, t0.Add(time.Hour), 1, true, 1, 0},
		{"cost above capacity never fits", 0, t0, t0, 11, false, 0, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, level := decide(tc.level, tc.last, tc.now, tc.cost, l)
			require.Equal(t, tc.allowed, d.Allowed)
			require.InDelta(t, tc.after, level, 1e-9)
			require.Equal(t, tc.retry, d.RetryAfter)
			require.InDelta(t, l.Capacity-d.Level, d.Available, 1e-9)
		})
	}
}

func exercise(t *testing.T, lim Limiter) {
	ctx := context.Background()
	key := uuid.NewString()
	l := Limit{Capacity: 5, Rate: 0.001} // effectively no drain during the test
	for i := 0; i < 5; i++ {
		d, err := lim.Take(ctx, key, 1, l)
		require.NoError(t, err)
		require.True(t, d.Allowed, "take %d", i)
	}
	d, err := lim.Take(ctx, key, 1, l)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Greater(t, d.RetryAfter, time.Duration(0))
	p, err := lim.Peek(ctx, key, l)
	require.NoError(t, err)
	require.InDelta(t, 0, p.Available, 0.01)
	// Another key has its own bucket.
	d, err = lim.Take(ctx, key+"-other", 5, l)
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

func TestMemory(t *testing.T) { exercise(t, NewMemory()) }

func TestRedis(t *testing.T) {
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		t.Skip("TEST_REDIS_URL is not set: skipping the Redis run")
	}
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	defer c.Close()
	require.NoError(t, c.Ping(context.Background()).Err(), "TEST_REDIS_URL is set but Redis does not answer")
	exercise(t, NewRedis(c, "test:rl:"))
}

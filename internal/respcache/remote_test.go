package respcache

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// TestRemote: two processes' caches on one Redis channel; a write in one
// retires the other's entries of that merchant only.
func TestRemote(t *testing.T) {
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		t.Skip("TEST_REDIS_URL is not set: skipping the Redis run")
	}
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	require.NoError(t, rdb.Ping(context.Background()).Err(), "TEST_REDIS_URL is set but Redis does not answer")

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	channel := "test:respcache:" + uuid.NewString()
	a, b := New(1<<20, time.Minute), New(1<<20, time.Minute)
	ra := StartRemote(a, rdb, channel, log)
	defer ra.Close()
	rb := StartRemote(b, rdb, channel, log)
	defer rb.Close()
	for _, r := range []*Remote{ra, rb} {
		select {
		case <-r.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("no subscription")
		}
	}

	m, other := uuid.New(), uuid.New()
	b.Put(key(m, "q"), b.Version(m), []byte(`{}`), 1)
	b.Put(key(other, "q"), b.Version(other), []byte(`{}`), 1)
	a.Invalidate(m)
	require.Eventually(t, func() bool {
		_, ok := b.Get(key(m, "q"), b.Version(m))
		return !ok
	}, 5*time.Second, 5*time.Millisecond, "a's write reaches b")
	_, ok := b.Get(key(other, "q"), b.Version(other))
	require.True(t, ok, "another merchant's entries stay")

	// b's own messages come back to it without a second effect beyond the
	// first (it ignores its own origin).
	v := b.Version(other)
	b.Invalidate(other)
	require.Equal(t, v.merchant+1, b.Version(other).merchant)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, v.merchant+1, b.Version(other).merchant)
}

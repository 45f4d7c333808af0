package respcache

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func key(m uuid.UUID, s string) Key { return Key{Merchant: m, Digest: sha256.Sum256([]byte(s))} }

func TestCacheVersions(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	c := New(1<<20, time.Minute)

	va := c.Version(a)
	c.Put(key(a, "q"), va, []byte(`{"a":1}`), 7)
	e, ok := c.Get(key(a, "q"), c.Version(a))
	require.True(t, ok)
	require.Equal(t, `{"a":1}`, string(e.Data))
	require.Equal(t, int64(7), e.Cost)

	// Another merchant's key and version are separate.
	_, ok = c.Get(key(b, "q"), c.Version(b))
	require.False(t, ok)
	c.Invalidate(b)
	_, ok = c.Get(key(a, "q"), c.Version(a))
	require.True(t, ok, "b's write leaves a's entries")

	// A write of a retires a's entries.
	c.Invalidate(a)
	_, ok = c.Get(key(a, "q"), c.Version(a))
	require.False(t, ok)

	// A system write (uuid.Nil) retires everyone's.
	vb := c.Version(b)
	c.Put(key(b, "q"), vb, []byte(`{}`), 1)
	c.Invalidate(uuid.Nil)
	_, ok = c.Get(key(b, "q"), c.Version(b))
	require.False(t, ok)
}

func TestCachePutAfterConcurrentWrite(t *testing.T) {
	// A reader took the version, a write committed while it computed: its
	// answer may predate the write and must not be kept.
	m := uuid.New()
	c := New(1<<20, time.Minute)
	v := c.Version(m)
	c.Invalidate(m)
	c.Put(key(m, "q"), v, []byte(`{}`), 1)
	require.Equal(t, uint64(0), c.Stats().Stores)
	_, ok := c.Get(key(m, "q"), v)
	require.False(t, ok)
}

func TestCacheTTL(t *testing.T) {
	m := uuid.New()
	now := time.Unix(1000, 0)
	c := New(1<<20, 10*time.Second)
	c.now = func() time.Time { return now }
	c.Put(key(m, "q"), c.Version(m), []byte(`{}`), 1)
	now = now.Add(9 * time.Second)
	_, ok := c.Get(key(m, "q"), c.Version(m))
	require.True(t, ok)
	now = now.Add(2 * time.Second)
	_, ok = c.Get(key(m, "q"), c.Version(m))
	require.False(t, ok)
	require.Equal(t, 0, c.Stats().Entries, "an expired entry is dropped when met")
}

func TestCacheBytesBound(t *testing.T) {
	m := uuid.New()
	const budget = 64 << 10
	c := New(budget, time.Minute)
	data := make([]byte, 1000)
	for i := range 500 {
		c.Put(key(m, fmt.Sprint(i)), c.Version(m), data, 1)
		require.LessOrEqual(t, c.Stats().Bytes, budget)
	}
	// The most recent survive, the oldest went first.
	_, ok := c.Get(key(m, "499"), c.Version(m))
	require.True(t, ok)
	_, ok = c.Get(key(m, "0"), c.Version(m))
	require.False(t, ok)
	// Too large for the budget: not kept at all.
	c.Put(key(m, "big"), c.Version(m), make([]byte, budget/8), 1)
	_, ok = c.Get(key(m, "big"), c.Version(m))
	require.False(t, ok)
}

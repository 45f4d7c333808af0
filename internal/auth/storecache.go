package auth

import (
	"sync"
	"time"
)

// StoreCacheTTL is how long a storefront key, a store slug and a store's
// storefront settings (published, show stock) are remembered once
// resolved. Storefront visitors send a key or slug on every request;
// resolving it costs a database round trip. Publishable keys are public
// identifiers, so a revoked one (or a store closed meanwhile) may keep
// identifying its store for up to this long on each server process, and a
// change of the storefront settings reaches the other server processes
// within this long (the process that made it forgets them at once:
// ForgetStorefront). Secret keys and tokens are never cached: their
// revocation is effective on the next request.
const StoreCacheTTL = 5 * time.Second

// storeCacheMax bounds a cache; when full it is emptied (simple and
// enough: the working set of stores per process is small).
const storeCacheMax = 10_000

// storeCache remembers values for StoreCacheTTL.
type storeCache[V any] struct {
	mu      sync.Mutex
	entries map[string]storeEntry[V]
}

type storeEntry[V any] struct {
	value   V
	expires time.Time
}

func (c *storeCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *storeCache[V]) put(key string, value V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= storeCacheMax {
		c.entries = make(map[string]storeEntry[V])
	}
	c.entries[key] = storeEntry[V]{value: value, expires: now.Add(StoreCacheTTL)}
}

func (c *storeCache[V]) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

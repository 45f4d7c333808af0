package auth

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// StoreCacheTTL is how long a storefront key or store slug is remembered
// once resolved. Storefront visitors send one on every request; resolving it
// costs a database round trip. Publishable keys are public identifiers, so a
// revoked one (or a store closed meanwhile) may keep identifying its store
// for up to this long on each server process. Secret keys and tokens are
// never cached: their revocation is effective on the next request.
const StoreCacheTTL = 5 * time.Second

// storeCacheMax bounds the cache; when full it is emptied (simple and
// enough: the working set of stores per process is small).
const storeCacheMax = 10_000

type storeCache struct {
	mu      sync.Mutex
	entries map[string]storeEntry
}

type storeEntry struct {
	merchant uuid.UUID
	expires  time.Time
}

func (c *storeCache) get(key string, now time.Time) (uuid.UUID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return uuid.Nil, false
	}
	return e.merchant, true
}

func (c *storeCache) put(key string, merchant uuid.UUID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= storeCacheMax {
		c.entries = make(map[string]storeEntry)
	}
	c.entries[key] = storeEntry{merchant: merchant, expires: now.Add(StoreCacheTTL)}
}

// Package respcache keeps rendered GraphQL responses of public storefront
// reads, so that a popular query is answered without touching the database.
//
// Every entry belongs to one merchant and is stamped with that merchant's
// version when its computation began. A committed write of the merchant's
// data bumps the version (Invalidate), which retires all its entries at
// once; a write in the system context, which may touch any merchant, bumps
// the epoch of every merchant (InvalidateAll). Readers take the version
// before they read the database and writers bump it after they commit, so
// an entry can be older than the data only when it was computed before a
// commit that has already bumped past it: it is never served again.
//
// Entries also expire after a TTL, which bounds what no write announces:
// time passing (a product whose publishedAt arrives) and, with several
// server processes, an invalidation message lost while Redis was away (see
// Remote). Memory is bounded by a byte budget, least recently used first.
package respcache

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Key identifies one response: the merchant and a digest of the operation
// (document, operation name, variables) that produced it.
type Key struct {
	Merchant uuid.UUID
	Digest   [sha256.Size]byte
}

// Version is what an entry was computed under.
type Version struct{ epoch, merchant uint64 }

// Entry is a cached response.
type Entry struct {
	// Data is the response's data member, as rendered.
	Data []byte
	// Cost is what computing it cost (the rate limiter charges a hit this).
	Cost int64

	key     Key
	version Version
	expires time.Time
}

// Cache is a byte-bounded LRU of responses with per-merchant versions. The
// zero value is not usable; call New.
type Cache struct {
	ttl      time.Duration
	maxBytes int
	maxEntry int
	now      func() time.Time

	epoch    atomic.Uint64
	versions sync.Map // uuid.UUID → *atomic.Uint64

	mu    sync.Mutex
	ll    *list.List // front = most recent; values are *Entry
	items map[Key]*list.Element
	bytes int

	hits, misses, stores atomic.Uint64
	// onInvalidate is told of local invalidations (Remote spreads them).
	onInvalidate atomic.Pointer[func(merchant uuid.UUID)]
}

// New returns a cache holding up to maxBytes of responses, none larger than
// maxBytes/16, each for at most ttl.
func New(maxBytes int, ttl time.Duration) *Cache {
	return &Cache{
		ttl: ttl, maxBytes: maxBytes, maxEntry: maxBytes / 16, now: time.Now,
		ll: list.New(), items: make(map[Key]*list.Element),
	}
}

func (c *Cache) counter(m uuid.UUID) *atomic.Uint64 {
	if v, ok := c.versions.Load(m); ok {
		return v.(*atomic.Uint64)
	}
	v, _ := c.versions.LoadOrStore(m, new(atomic.Uint64))
	return v.(*atomic.Uint64)
}

// Version returns the merchant's current version. Take it before reading
// the data an entry is computed from.
func (c *Cache) Version(m uuid.UUID) Version {
	return Version{epoch: c.epoch.Load(), merchant: c.counter(m).Load()}
}

// Get returns the entry of k when it was computed under version v (the
// current one) and has not expired.
func (c *Cache) Get(k Key, v Version) (*Entry, bool) {
	c.mu.Lock()
	el, ok := c.items[k]
	if ok {
		e := el.Value.(*Entry)
		if e.version == v && c.now().Before(e.expires) {
			c.ll.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			return e, true
		}
		c.remove(el)
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil, false
}

// Put stores data computed under version v. It keeps nothing when the
// version moved on meanwhile (a write committed during the computation) or
// the response is too large to be worth its room.
func (c *Cache) Put(k Key, v Version, data []byte, cost int64) {
	size := len(data) + entryOverhead
	if size > c.maxEntry || c.Version(k.Merchant) != v {
		return
	}
	e := &Entry{Data: data, Cost: cost, key: k, version: v, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
	c.items[k] = c.ll.PushFront(e)
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.remove(c.ll.Back())
	}
	c.stores.Add(1)
}

// entryOverhead is the bookkeeping of one entry, roughly, in bytes.
const entryOverhead = 200

func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*Entry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.bytes -= len(e.Data) + entryOverhead
}

// Invalidate retires every entry of merchant m; uuid.Nil retires all
// merchants' entries (a write that may have touched any of them).
func (c *Cache) Invalidate(m uuid.UUID) {
	c.invalidate(m)
	if fn := c.onInvalidate.Load(); fn != nil {
		(*fn)(m)
	}
}

// invalidate is Invalidate without telling other processes.
func (c *Cache) invalidate(m uuid.UUID) {
	if m == uuid.Nil {
		c.epoch.Add(1)
		return
	}
	c.counter(m).Add(1)
}

// Stats are the cache's counters since it was made.
type Stats struct {
	Hits, Misses, Stores uint64
	Entries, Bytes       int
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	n, b := c.ll.Len(), c.bytes
	c.mu.Unlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stores: c.stores.Load(), Entries: n, Bytes: b}
}

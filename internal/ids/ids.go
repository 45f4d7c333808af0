// Package ids makes the UUID primary keys of every OmniSphere table.
//
// Ids are UUIDv7 (time ordered, so B-tree inserts stay local) whose 12-bit
// rand_a field carries the code of the table the row lives in. That makes a
// bare UUID self-describing: node(id:) finds the table with no lookup and an
// id of one type is never mistaken for another. The codes below are part of
// the storage format: append new tables, never reorder or reuse a code.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// tables lists every table; a table's code is its index + 1.
var tables = [...]string{
	// Auth
	"users", "merchant_accounts", "api_keys", "audit_logs", "refresh_tokens",
	// Catalogue
	"products", "product_variants", "product_categories", "product_images",
	"inventory", "warehouses", "storefront_configs",
	// Checkout
	"shopping_carts", "cart_items", "orders", "order_items", "order_addresses",
	"discounts", "order_payments", "refunds", "shipping_methods", "discount_redemptions",
	// Marketing
	"customers", "customer_events", "customer_segments", "segment_members",
	"email_campaigns", "email_templates", "automation_workflows", "workflow_steps",
	"workflow_enrollments", "email_sends", "email_opens", "email_clicks", "capture_popups",
	// Platform
	"webhook_events", "outbox_events",
}

var codes = func() map[string]uint16 {
	m := make(map[string]uint16, len(tables))
	for i, t := range tables {
		m[t] = uint16(i + 1)
	}
	return m
}()

// Tables returns the names of all tables that have an id code, in code order.
func Tables() []string { return append([]string(nil), tables[:]...) }

// Code returns the code of a table, panicking on an unknown table: schema
// definitions call it once at start-up, so a typo fails loudly and early.
func Code(table string) uint16 {
	c, ok := codes[table]
	if !ok {
		panic(fmt.Sprintf("ids: unknown table %q", table))
	}
	return c
}

// New returns a fresh id for the table with the given code.
func New(code uint16) uuid.UUID {
	return newAt(code, time.Now())
}

func newAt(code uint16, t time.Time) uuid.UUID {
	var u uuid.UUID
	if _, err := rand.Read(u[:]); err != nil {
		panic(fmt.Sprintf("ids: reading randomness: %v", err))
	}
	ms := uint64(t.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(u[0:6], ts[2:8])
	u[6] = 0x70 | byte(code>>8)&0x0F // version 7, high nibble of the code
	u[7] = byte(code)
	u[8] = u[8]&0x3F | 0x80 // RFC 9562 variant
	return u
}

// TableOf returns the table an id belongs to, or false when the id was not
// made by New (wrong version or an unknown code).
func TableOf(id uuid.UUID) (string, bool) {
	if id[6]>>4 != 7 || id[8]&0xC0 != 0x80 {
		return "", false
	}
	code := uint16(id[6]&0x0F)<<8 | uint16(id[7])
	if code == 0 || int(code) > len(tables) {
		return "", false
	}
	return tables[code-1], true
}

// Sequence makes ids of one table that sort in the order they were made
// within the process, also when several fall into one millisecond (where New
// orders them at random): after the first id of a millisecond, the 62 random
// bits of rand_b count up (RFC 9562 §6.2, method 2). The outbox needs it:
// events of one aggregate are relayed in id order. Ids of different
// processes made in the same millisecond still sort at random. A Sequence is
// safe for concurrent use.
type Sequence struct {
	code uint16
	mu   sync.Mutex
	ms   uint64
	tail uint64 // the 62 bits after the variant of the last id
}

// NewSequence returns a Sequence of the table with the given code.
func NewSequence(code uint16) *Sequence { return &Sequence{code: code} }

// tailBits are the bits of rand_b (the 64-bit tail minus the variant).
const tailBits = 1<<62 - 1

// New returns the next id, greater than every id the Sequence made before.
func (s *Sequence) New() uuid.UUID {
	return s.at(time.Now())
}

func (s *Sequence) at(t time.Time) uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := uint64(t.UnixMilli())
	if ms > s.ms {
		s.ms, s.tail = ms, randomTail()
	} else if s.tail++; s.tail > tailBits {
		// Counted past the end of rand_b (2^61 ids in a millisecond at
		// the least): borrow the next millisecond.
		s.ms, s.tail = s.ms+1, randomTail()
	}
	u := newAt(s.code, time.UnixMilli(int64(s.ms)))
	binary.BigEndian.PutUint64(u[8:16], s.tail|0x8000000000000000) // RFC 9562 variant
	return u
}

// randomTail returns a random start for rand_b with its top bit clear, so
// that at least 2^61 ids fit after it in one millisecond.
func randomTail() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("ids: reading randomness: %v", err))
	}
	return binary.BigEndian.Uint64(b[:]) & (tailBits >> 1)
}

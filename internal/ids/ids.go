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

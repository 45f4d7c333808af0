// Package analytics computes the admin dashboard's growth figures of one
// store (growthOverview): revenue net of refunds, orders, average order
// value, new and returning customers, conversion of tracked storefront
// sessions, top products and a zero-filled daily series, straight from
// orders, order_items, refunds and customer_events with raw SQL.
//
// The definitions (which orders count, on which day, what a session is)
// are written down in docs/analytics.md; the tests pin each of them on
// SQLite and PostgreSQL.
//
// Every statement runs for one store: on PostgreSQL inside a transaction
// fenced for that store (db.InTenantTx: tenant role and app.merchant_id,
// so row-level security applies), and on both backends every statement
// also filters merchant_id itself, since raw SQL bypasses ent's tenant
// filters.
package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Limits of GrowthOverview's input.
const (
	// MaxRange is the longest range GrowthOverview accepts: a leap year.
	MaxRange = 366 * 24 * time.Hour
	// DefaultTop is how many top products are listed when Options.Top is 0.
	DefaultTop = 5
	// MaxTop is the most top products Options.Top may ask for.
	MaxTop = 10
)

// ConversionEvent is the customer_events type that marks a tracked session
// as converted: the storefront (or the server on its behalf) records it,
// with the session's session_id, when checkout completes.
const ConversionEvent = "order_placed"

// Options refine GrowthOverview. The zero value takes the defaults.
type Options struct {
	// TimeZone is the IANA zone whose calendar days the daily series
	// follows (e.g. "Europe/Paris"); empty takes the store's timezone
	// (merchant_accounts.timezone), itself UTC when unset or unknown.
	TimeZone string
	// Top is how many products each top list holds, 1 to MaxTop; 0 takes
	// DefaultTop.
	Top int
}

// Overview is the growth of one store over [From, To). Money is in minor
// units of Currency, the store's currency (orders and refunds in any other
// currency are left out).
type Overview struct {
	From, To time.Time // the range asked for, in UTC; To excluded
	TimeZone string    // the zone of the daily series
	Currency string    // ISO 4217 code of every amount

	// Revenue is GrossSales - Refunds: what the store kept of the range.
	// It can be negative when refunds of earlier orders outweigh sales.
	Revenue int64
	// GrossSales is the sum of total_amount of the orders paid in range.
	GrossSales int64
	// Refunds is the sum of the refunds that succeeded in range, whenever
	// their order was paid.
	Refunds int64
	// Orders is the number of orders paid in range (later refunds or a
	// cancellation after payment do not take them out: their refunds do).
	Orders int
	// AverageOrderValue is GrossSales / Orders rounded half up; 0 without
	// orders.
	AverageOrderValue int64

	// NewCustomers paid for their first order ever in range.
	NewCustomers int
	// ReturningCustomers paid for an order in range and had paid for one
	// before From.
	ReturningCustomers int

	// Sessions is the number of distinct storefront session ids seen in
	// customer_events in range; ConvertedSessions those of them with a
	// ConversionEvent in range; ConversionRate their ratio (0 when no
	// session was tracked).
	Sessions          int
	ConvertedSessions int
	ConversionRate    float64

	// TopByRevenue and TopByUnits are the best sellers among the orders
	// paid in range (at most Options.Top each).
	TopByRevenue []ProductSales
	TopByUnits   []ProductSales

	// Daily has one point per calendar day of TimeZone that the range
	// touches, in order, days without sales included (zeros).
	Daily []DailyPoint
}

// ProductSales is what one product sold in range, from the order lines'
// snapshots.
type ProductSales struct {
	// ProductID is nil for lines whose product has since been deleted;
	// such lines are grouped by their snapshot title.
	ProductID *uuid.UUID
	// Title is the product's current title, or the title it was sold under
	// when it no longer exists.
	Title string
	// Units is the sum of the lines' quantities.
	Units int64
	// Revenue is the sum of the lines' totals (unit price × quantity - line
	// discount; before order-level discounts, shipping and tax).
	Revenue int64
}

// DailyPoint is one calendar day of the series. The first and last days
// are partial when From or To is not a midnight of the zone.
type DailyPoint struct {
	// Date is the day in the series' zone, as YYYY-MM-DD.
	Date string
	// Start and End bound the day's share of the range, in UTC.
	Start, End time.Time
	// Revenue, GrossSales, Refunds and Orders are the Overview's figures
	// restricted to the day.
	Revenue    int64
	GrossSales int64
	Refunds    int64
	Orders     int
	// NewCustomers paid for their first order ever on that day.
	NewCustomers int
}

// GrowthOverview computes the growth figures of store merchantID over
// [from, to). ctx must act for that store (its viewer's merchant) or be a
// system context; the figures are read for the store only. Input problems
// come back as *Error (REQUIRED, INVALID, TOO_LONG); a store the context
// cannot see as ErrNotFound.
func GrowthOverview(ctx context.Context, d *db.DB, merchantID uuid.UUID, from, to time.Time, opts Options) (*Overview, error) {
	if err := validate(from, to, &opts); err != nil {
		return nil, err
	}
	if mid, ok := viewer.MerchantFromContext(ctx); ok {
		if mid != merchantID {
			return nil, viewer.ErrCrossTenant
		}
	} else if _, sys := viewer.IsSystem(ctx); !sys {
		return nil, viewer.ErrNoTenant
	}
	if merchantID == uuid.Nil {
		return nil, ErrNotFound
	}
	ctx = viewer.ActAsStore(ctx, merchantID, "growth analytics")
	r := &run{m: merchantID, from: from.UTC(), to: to.UTC(), opts: opts, postgres: d.Dialect == dialect.Postgres}
	var out *Overview
	err := inReadTx(ctx, d, func(tx *sql.Tx) error {
		var err error
		out, err = r.overview(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// validate checks the range and the options, and fills in defaults.
func validate(from, to time.Time, opts *Options) error {
	p := &problems{}
	if from.IsZero() {
		p.add(CodeRequired, "from", "from is required")
	}
	if to.IsZero() {
		p.add(CodeRequired, "to", "to is required")
	}
	if !from.IsZero() && !to.IsZero() {
		switch {
		case !to.After(from):
			p.add(CodeInvalid, "to", "to must be after from")
		case to.Sub(from) > MaxRange:
			p.add(CodeTooLong, "to", "the range is longer than 366 days")
		}
	}
	if opts.TimeZone != "" {
		if _, err := loadZone(opts.TimeZone); err != nil {
			p.add(CodeInvalid, "timeZone", "unknown time zone %q", opts.TimeZone)
		}
	}
	switch {
	case opts.Top == 0:
		opts.Top = DefaultTop
	case opts.Top < 1 || opts.Top > MaxTop:
		p.add(CodeInvalid, "top", "top must be between 1 and %d", MaxTop)
	}
	return p.err()
}

// loadZone loads an IANA zone; "Local" and names with path tricks are refused.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" || len(name) > 64 {
		return nil, fmt.Errorf("analytics: unknown time zone %q", name)
	}
	return time.LoadLocation(name)
}

// inReadTx runs fn in one read transaction for ctx's store, so that every
// figure comes from the same data: fenced for the tenant on PostgreSQL, a
// deferred (read-only) transaction on SQLite, which takes no write lock.
func inReadTx(ctx context.Context, d *db.DB, fn func(tx *sql.Tx) error) error {
	if d.Dialect == dialect.Postgres {
		return db.InTenantTx(ctx, d.SQL, func(tx *sql.Tx) error {
			// These are reporting queries of tens of milliseconds: JIT
			// compilation (on by default) costs more than it saves.
			if _, err := tx.ExecContext(ctx, `SET LOCAL jit = off`); err != nil {
				return fmt.Errorf("analytics: %w", err)
			}
			return fn(tx)
		})
	}
	tx, err := d.SQL.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("analytics: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// day is one bucket of the series.
type day struct {
	date       string
	start, end time.Time
}

// days splits [from, to) at the midnights of loc.
func days(from, to time.Time, loc *time.Location) []day {
	var out []day
	for cur := from; cur.Before(to); {
		l := cur.In(loc)
		next := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc).UTC()
		if !next.After(cur) { // a zone whose midnight is skipped: cannot happen past time.Date's normalising, but never loop
			next = cur.Add(24 * time.Hour)
		}
		if next.After(to) {
			next = to
		}
		out = append(out, day{date: l.Format(time.DateOnly), start: cur, end: next})
		cur = next
	}
	return out
}

// bucketOf returns the index of the day holding t, or -1 outside them.
func bucketOf(ds []day, t time.Time) int {
	i := sort.Search(len(ds), func(i int) bool { return ds[i].end.After(t) })
	if i == len(ds) || t.Before(ds[i].start) {
		return -1
	}
	return i
}

// halfUp divides a non-negative sum by n, rounding halves up.
func halfUp(sum int64, n int) int64 {
	if n <= 0 {
		return 0
	}
	return (2*sum + int64(n)) / (2 * int64(n))
}

package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Sizes of the benchmark store (and of a second store that shares the
// tables, so that every query has to find its tenant's rows).
const (
	benchOrders    = 100_000
	benchCustomers = 30_000
	benchProducts  = 200
	benchEvents    = 500_000
	otherOrders    = 20_000
)

// generate fills store m with n orders (95 % paid, 3 % pending, 2 %
// cancelled unpaid; 70 % by customers, 30 % by guests) spread over the
// year before end, 1 to 3 lines each, a half refund on 3 % of the paid
// ones, and events events in sessions of about 3, one in 17 an
// order_placed. It runs on the system role (RLS applies to the owner).
func generate(ctx context.Context, b *testing.B, d *db.DB, m uuid.UUID, end time.Time, n, customers, products, events int) {
	b.Helper()
	start := end.Add(-365 * 24 * time.Hour)
	stmts := []struct {
		what string
		sql  string
		args []any
	}{
		{"seed", `SELECT setseed(0.42)`, nil},
		{"products", `INSERT INTO products (id, created_at, updated_at, title, slug, tags, options, merchant_id)
			SELECT gen_random_uuid(), $2, $2, 'Product ' || g, 'product-' || g, '[]', '[]', $1
			FROM generate_series(1, $3) g`, []any{m, start, products}},
		{"customers", `INSERT INTO customers (id, created_at, updated_at, email, tags, merchant_id)
			SELECT gen_random_uuid(), $2, $2, 'c' || g || '@example.com', '[]', $1
			FROM generate_series(1, $3) g`, []any{m, start, customers}},
		{"orders", `INSERT INTO orders (id, created_at, updated_at, order_number, discount_codes, placed_at, paid_at,
				merchant_id, customer_id, email, status, financial_status, currency, subtotal_amount, total_amount)
			WITH c AS MATERIALIZED (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM customers WHERE merchant_id = $1),
			g AS (SELECT g, $2::timestamptz + random() * interval '365 days' AS t, random() AS r, random() AS r2,
				1 + floor(random() * $4)::int AS crn, 1000 + floor(random() * 19000)::bigint AS total
				FROM generate_series(1, $3) g)
			SELECT gen_random_uuid(), g.t, g.t, g.g, '[]', g.t,
				CASE WHEN g.r < 0.95 THEN g.t + interval '5 minutes' END, $1,
				CASE WHEN g.r2 < 0.7 THEN c.id END,
				CASE WHEN g.r2 < 0.7 THEN 'c' || g.crn || '@example.com' ELSE 'guest' || (g.crn % 10000) || '@example.com' END,
				CASE WHEN g.r < 0.95 THEN 'PAID' WHEN g.r < 0.98 THEN 'PENDING' ELSE 'CANCELLED' END,
				CASE WHEN g.r < 0.95 THEN 'PAID' WHEN g.r < 0.98 THEN 'PENDING' ELSE 'VOIDED' END,
				'USD', g.total, g.total
			FROM g LEFT JOIN c ON c.rn = g.crn`, []any{m, start, n, customers}},
		{"order items", `INSERT INTO order_items (id, created_at, updated_at, product_title, quantity, unit_price,
				line_total_amount, order_id, product_id, merchant_id, allocations)
			WITH p AS MATERIALIZED (SELECT id, title, row_number() OVER (ORDER BY id) AS rn FROM products WHERE merchant_id = $1)
			SELECT gen_random_uuid(), o.placed_at, o.placed_at, p.title, l.qty, 500 + l.pick % 5000,
				l.qty * (500 + l.pick % 5000), o.id, p.id, $1, '[]'
			FROM orders o
			CROSS JOIN LATERAL (SELECT k, 1 + abs(hashtext(o.id::text || k)) % 3 AS qty,
				abs(hashtext(k || o.id::text)) AS pick
				FROM generate_series(1, 1 + abs(hashtext(o.id::text)) % 3) k) l
			JOIN p ON p.rn = 1 + l.pick % $2
			WHERE o.merchant_id = $1`, []any{m, products}},
		{"payments", `INSERT INTO order_payments (id, created_at, updated_at, amount, order_id, merchant_id, status)
			SELECT gen_random_uuid(), paid_at, paid_at, total_amount, id, merchant_id, 'SUCCEEDED'
			FROM orders WHERE merchant_id = $1 AND paid_at IS NOT NULL AND abs(hashtext(id::text)) % 33 = 0`, []any{m}},
		{"refunds", `INSERT INTO refunds (id, created_at, updated_at, amount, order_id, payment_id, merchant_id, status, processed_at)
			SELECT gen_random_uuid(), created_at + interval '2 days', created_at + interval '2 days', amount / 2,
				order_id, id, merchant_id, 'SUCCEEDED', created_at + interval '2 days'
			FROM order_payments WHERE merchant_id = $1`, []any{m}},
		{"events", `INSERT INTO customer_events (id, created_at, updated_at, type, occurred_at, received_at, merchant_id, session_id)
			SELECT gen_random_uuid(), t, t, CASE WHEN g % 17 = 0 THEN 'order_placed' ELSE 'page_viewed' END, t, t, $1,
				's' || (g / 3)
			FROM (SELECT g, $2::timestamptz + (g / 3) * (interval '365 days' / ($3 / 3)) + (g % 3) * interval '1 minute' AS t
				FROM generate_series(1, $3) g) e`, []any{m, start, events}},
	}
	sys := viewer.SystemContext(ctx, "benchmark data")
	err := db.InTenantTx(sys, d.SQL, func(tx *sql.Tx) error {
		for _, s := range stmts {
			t0 := time.Now()
			res, err := tx.ExecContext(ctx, s.sql, s.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
			rows, _ := res.RowsAffected()
			b.Logf("%-12s %8d rows in %v", s.what, rows, time.Since(t0).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGrowthOverview measures GrowthOverview on PostgreSQL over a
// store of 100,000 orders (about 200,000 lines, 3,000 refunds, 500,000
// events in 167,000 sessions) next to a store of 20,000 orders, for ranges
// of 30, 90 and 366 days, with the schema's indexes (migration 00006 added
// the two it was measured with). Run:
//
//	TEST_DATABASE_URL=… go test -run '^$' -bench GrowthOverview -benchtime 20x ./internal/marketing/analytics/
func BenchmarkGrowthOverview(b *testing.B) {
	d := dbtest.Open(b, dbtest.Postgres)
	ctx := context.Background()
	sys := viewer.SystemContext(ctx, "benchmark seed")
	ma, err := d.Client.MerchantAccount.Create().SetName("Big").SetSlug("big").SetTimezone("Europe/Paris").Save(sys)
	if err != nil {
		b.Fatal(err)
	}
	mo, err := d.Client.MerchantAccount.Create().SetName("Other").SetSlug("other").Save(sys)
	if err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	generate(ctx, b, d, ma.ID, end, benchOrders, benchCustomers, benchProducts, benchEvents)
	generate(ctx, b, d, mo.ID, end, otherOrders, 5_000, 50, 50_000)
	if _, err := d.SQL.ExecContext(ctx, `VACUUM ANALYZE products, customers, orders, order_items, order_payments, refunds, customer_events`); err != nil {
		b.Fatal(err)
	}
	b.Logf("data generated in %v", time.Since(t0).Round(time.Millisecond))

	staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: ma.ID, UserID: uuid.New()})
	run := func(label string) {
		for _, days := range []int{30, 90, 366} {
			b.Run(fmt.Sprintf("%s/%ddays", label, days), func(b *testing.B) {
				from := end.Add(-time.Duration(days) * 24 * time.Hour)
				var o *Overview
				for b.Loop() {
					o, err = GrowthOverview(staff, d, ma.ID, from, end, Options{Top: 10})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(o.Orders), "orders")
				b.ReportMetric(float64(o.Sessions), "sessions")
			})
		}
	}
	run("schema-indexes")
}

package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The statements are written once for both backends ($n placeholders:
// pgx binds them, and modernc's SQLite reads $n as the n-th argument).
// Only the day bucketing differs: PostgreSQL buckets with width_bucket over
// the day starts computed in Go (so both backends share Go's zone rules),
// SQLite returns the instants and Go buckets them.

// counted is the filter of the orders that count: paid in [$2, $3), in the
// store's currency $4. An order counts from the moment its payment
// succeeded (paid_at), whatever happened to it afterwards: money given back
// shows as refunds. Unpaid orders (pending, cancelled before payment,
// failed) have no paid_at.
const counted = `o.merchant_id = $1 AND o.paid_at >= $2 AND o.paid_at < $3 AND o.currency = $4`

// buyersSQL lists the buyers of the range, each with the time of their
// first counted order in range and whether they had paid for an order (in
// any currency) before $2. A buyer is the order's customer profile, else
// the lower-cased email of a guest; an order with neither counts in sales,
// not in customers. It reads the store's paid orders up to $3 once,
// grouped by buyer: no probe per buyer.
const buyersSQL = `SELECT b.first_in_range, CASE WHEN b.first_ever < $2 THEN 1 ELSE 0 END AS back
FROM (
	SELECT min(o.paid_at) AS first_ever,
		min(CASE WHEN o.paid_at >= $2 AND o.currency = $4 THEN o.paid_at END) AS first_in_range
	FROM orders o
	WHERE o.merchant_id = $1 AND o.paid_at < $3 AND (o.customer_id IS NOT NULL OR o.email <> '')
	GROUP BY o.customer_id, CASE WHEN o.customer_id IS NULL THEN lower(o.email) END
) b
WHERE b.first_in_range IS NOT NULL`

// refunded is the filter of the refunds that count: succeeded in [$2, $3)
// (processed_at), in the store's currency $4.
const refunded = `r.merchant_id = $1 AND r.status = 'SUCCEEDED' AND r.processed_at >= $2 AND r.processed_at < $3 AND r.currency = $4`

// sessionsSQL counts the tracked sessions of the range and those with a
// conversion event ($4), grouping by session first (a hash aggregate on
// PostgreSQL rather than two sorted DISTINCT counts).
const sessionsSQL = `SELECT count(*), COALESCE(sum(s.converted), 0)
FROM (
	SELECT e.session_id, max(CASE WHEN e.type = $4 THEN 1 ELSE 0 END) AS converted
	FROM customer_events e
	WHERE e.merchant_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
		AND e.session_id IS NOT NULL AND e.session_id <> ''
	GROUP BY e.session_id
) s`

// topSQL aggregates the lines of the counted orders per product (per
// snapshot title for deleted products) and returns the best $5 by revenue
// ('R') and by units ('U'), with the product's current title.
var topSQL = `WITH agg AS (
	SELECT i.product_id AS product_id, CASE WHEN i.product_id IS NULL THEN i.product_title END AS gone,
		max(i.product_title) AS title,
		CAST(sum(i.quantity) AS BIGINT) AS units, CAST(sum(i.line_total_amount) AS BIGINT) AS revenue
	FROM orders o JOIN order_items i ON i.order_id = o.id
	WHERE ` + counted + ` AND i.merchant_id = $1
	GROUP BY i.product_id, CASE WHEN i.product_id IS NULL THEN i.product_title END
)
SELECT t.list, t.product_id, COALESCE(p.title, t.title), t.units, t.revenue
FROM (
	SELECT 'R' AS list, 1 AS pos, r.* FROM (SELECT * FROM agg ORDER BY revenue DESC, units DESC, title, COALESCE(CAST(product_id AS TEXT), '') LIMIT $5) r
	UNION ALL
	SELECT 'U' AS list, 2 AS pos, u.* FROM (SELECT * FROM agg ORDER BY units DESC, revenue DESC, title, COALESCE(CAST(product_id AS TEXT), '') LIMIT $5) u
) t
LEFT JOIN products p ON p.id = t.product_id AND p.merchant_id = $1
ORDER BY t.pos, CASE WHEN t.pos = 1 THEN t.revenue ELSE t.units END DESC,
	CASE WHEN t.pos = 1 THEN t.units ELSE t.revenue END DESC, t.title, COALESCE(CAST(t.product_id AS TEXT), '')`

// run is one GrowthOverview computation.
type run struct {
	m        uuid.UUID
	from, to time.Time
	opts     Options
	postgres bool
	days     []day
	starts   string    // the day starts as a PostgreSQL timestamptz[] literal
	out      *Overview // what is being filled
}

func (r *run) overview(ctx context.Context, tx *sql.Tx) (*Overview, error) {
	var currency, storeZone string
	err := tx.QueryRowContext(ctx, `SELECT default_currency, timezone FROM merchant_accounts WHERE id = $1`, r.m).
		Scan(&currency, &storeZone)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("analytics: store: %w", err)
	}
	zone := r.opts.TimeZone
	if zone == "" {
		zone = storeZone
	}
	loc, err := loadZone(zone)
	if err != nil || zone == "" {
		zone, loc = "UTC", time.UTC
	}
	r.days = days(r.from, r.to, loc)
	starts := make([]string, len(r.days))
	for i, d := range r.days {
		starts[i] = `"` + d.start.Format(time.RFC3339Nano) + `"`
	}
	r.starts = "{" + strings.Join(starts, ",") + "}"

	out := &Overview{From: r.from, To: r.to, TimeZone: zone, Currency: currency, Daily: make([]DailyPoint, len(r.days))}
	for i, d := range r.days {
		out.Daily[i] = DailyPoint{Date: d.date, Start: d.start, End: d.end}
	}
	r.out = out
	args := []any{r.m, r.from, r.to, currency}
	if err := r.sales(ctx, tx, args, out); err != nil {
		return nil, err
	}
	if err := r.refunds(ctx, tx, args, out); err != nil {
		return nil, err
	}
	if err := r.buyers(ctx, tx, args, out); err != nil {
		return nil, err
	}
	if err := r.sessions(ctx, tx, out); err != nil {
		return nil, err
	}
	if err := r.top(ctx, tx, append(args, r.opts.Top), out); err != nil {
		return nil, err
	}
	for i := range out.Daily {
		p := &out.Daily[i]
		p.Revenue = p.GrossSales - p.Refunds
		out.GrossSales += p.GrossSales
		out.Refunds += p.Refunds
		out.Orders += p.Orders
		out.NewCustomers += p.NewCustomers
	}
	out.Revenue = out.GrossSales - out.Refunds
	out.AverageOrderValue = halfUp(out.GrossSales, out.Orders)
	if out.Sessions > 0 {
		out.ConversionRate = float64(out.ConvertedSessions) / float64(out.Sessions)
	}
	return out, nil
}

// sales fills the orders and gross sales of each day.
func (r *run) sales(ctx context.Context, tx *sql.Tx, args []any, out *Overview) error {
	if r.postgres {
		return r.perDay(ctx, tx, `SELECT width_bucket(o.paid_at, $5::timestamptz[]), count(*), CAST(sum(o.total_amount) AS BIGINT)
			FROM orders o WHERE `+counted+` GROUP BY 1`, args, func(p *DailyPoint, n, sum int64) {
			p.Orders, p.GrossSales = int(n), sum
		})
	}
	return r.instants(ctx, tx, `SELECT o.paid_at, o.total_amount FROM orders o WHERE `+counted, args, func(p *DailyPoint, v int64) {
		p.Orders++
		p.GrossSales += v
	})
}

// refunds fills the refunds of each day.
func (r *run) refunds(ctx context.Context, tx *sql.Tx, args []any, out *Overview) error {
	if r.postgres {
		return r.perDay(ctx, tx, `SELECT width_bucket(r.processed_at, $5::timestamptz[]), count(*), CAST(sum(r.amount) AS BIGINT)
			FROM refunds r WHERE `+refunded+` GROUP BY 1`, args, func(p *DailyPoint, _, sum int64) {
			p.Refunds = sum
		})
	}
	return r.instants(ctx, tx, `SELECT r.processed_at, r.amount FROM refunds r WHERE `+refunded, args, func(p *DailyPoint, v int64) {
		p.Refunds += v
	})
}

// buyers fills the new customers of each day and the returning customers.
func (r *run) buyers(ctx context.Context, tx *sql.Tx, args []any, out *Overview) error {
	if r.postgres {
		q := `SELECT width_bucket(c.first_in_range, $5::timestamptz[]), count(*) FILTER (WHERE c.back = 0),
				count(*) FILTER (WHERE c.back = 1)
			FROM (` + buyersSQL + `) c GROUP BY 1`
		rows, err := tx.QueryContext(ctx, q, append(args, r.starts)...)
		if err != nil {
			return fmt.Errorf("analytics: customers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b, fresh, back int64
			if err := rows.Scan(&b, &fresh, &back); err != nil {
				return fmt.Errorf("analytics: customers: %w", err)
			}
			if b >= 1 && int(b) <= len(out.Daily) {
				out.Daily[b-1].NewCustomers = int(fresh)
			}
			out.ReturningCustomers += int(back)
		}
		return wrap("customers", rows.Err())
	}
	rows, err := tx.QueryContext(ctx, buyersSQL, args...)
	if err != nil {
		return fmt.Errorf("analytics: customers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var at instant
		var back int64
		if err := rows.Scan(&at, &back); err != nil {
			return fmt.Errorf("analytics: customers: %w", err)
		}
		if back == 1 {
			out.ReturningCustomers++
		} else if i := bucketOf(r.days, at.t); i >= 0 {
			out.Daily[i].NewCustomers++
		}
	}
	return wrap("customers", rows.Err())
}

// sessions fills the tracked and converted sessions.
func (r *run) sessions(ctx context.Context, tx *sql.Tx, out *Overview) error {
	var all, converted int64
	if err := tx.QueryRowContext(ctx, sessionsSQL, r.m, r.from, r.to, ConversionEvent).Scan(&all, &converted); err != nil {
		return fmt.Errorf("analytics: sessions: %w", err)
	}
	out.Sessions, out.ConvertedSessions = int(all), int(converted)
	return nil
}

// top fills the two top-product lists.
func (r *run) top(ctx context.Context, tx *sql.Tx, args []any, out *Overview) error {
	rows, err := tx.QueryContext(ctx, topSQL, args...)
	if err != nil {
		return fmt.Errorf("analytics: top products: %w", err)
	}
	defer rows.Close()
	out.TopByRevenue, out.TopByUnits = []ProductSales{}, []ProductSales{}
	for rows.Next() {
		var list string
		var id uuid.NullUUID
		var ps ProductSales
		if err := rows.Scan(&list, &id, &ps.Title, &ps.Units, &ps.Revenue); err != nil {
			return fmt.Errorf("analytics: top products: %w", err)
		}
		if id.Valid {
			ps.ProductID = &id.UUID
		}
		if list == "R" {
			out.TopByRevenue = append(out.TopByRevenue, ps)
		} else {
			out.TopByUnits = append(out.TopByUnits, ps)
		}
	}
	return wrap("top products", rows.Err())
}

// perDay runs a PostgreSQL statement returning (bucket, count, sum) rows
// and hands each to set with its day.
func (r *run) perDay(ctx context.Context, tx *sql.Tx, q string, args []any, set func(p *DailyPoint, n, sum int64)) error {
	rows, err := tx.QueryContext(ctx, q, append(args, r.starts)...)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b, n, sum int64
		if err := rows.Scan(&b, &n, &sum); err != nil {
			return fmt.Errorf("analytics: %w", err)
		}
		if b >= 1 && int(b) <= len(r.days) {
			set(r.point(b-1), n, sum)
		}
	}
	return wrap("per day", rows.Err())
}

// instants runs a SQLite statement returning (time, value) rows and hands
// each to add with its day.
func (r *run) instants(ctx context.Context, tx *sql.Tx, q string, args []any, add func(p *DailyPoint, v int64)) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var at instant
		var v int64
		if err := rows.Scan(&at, &v); err != nil {
			return fmt.Errorf("analytics: %w", err)
		}
		if i := bucketOf(r.days, at.t); i >= 0 {
			add(r.point(int64(i)), v)
		}
	}
	return wrap("per day", rows.Err())
}

// point is the series point of day i.
func (r *run) point(i int64) *DailyPoint { return &r.out.Daily[i] }

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("analytics: %s: %w", what, err)
	}
	return nil
}

// instant scans a time the way SQLite returns it: a time.Time for a column
// declared datetime, the text ent's driver wrote for an expression over one
// (min(paid_at)).
type instant struct{ t time.Time }

// sqliteTimeLayouts are the layouts modernc's SQLite driver writes times in
// (time.Time.String, without a monotonic reading) and reads back.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
}

// Scan implements sql.Scanner.
func (i *instant) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		i.t = v
		return nil
	case string:
		return i.parse(v)
	case []byte:
		return i.parse(string(v))
	}
	return fmt.Errorf("analytics: cannot read %T as a time", src)
}

func (i *instant) parse(s string) error {
	if k := strings.Index(s, " m="); k >= 0 {
		s = s[:k]
	}
	for _, l := range sqliteTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			i.t = t
			return nil
		}
	}
	return fmt.Errorf("analytics: cannot read %q as a time", s)
}

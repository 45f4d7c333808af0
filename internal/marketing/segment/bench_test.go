package segment

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
)

// seedLarge fills the store with customers customers and events events on
// PostgreSQL with generate_series (a few seconds): a quarter of the events
// are product_viewed, spread over the last 90 days, with a price property.
func seedLarge(b *testing.B, e *env, customers, events int) {
	b.Helper()
	ctx := context.Background()
	_, err := e.SQL.ExecContext(ctx, `
		INSERT INTO customers (id, created_at, updated_at, email, tags, properties, merchant_id, email_consent, country)
		SELECT gen_random_uuid(), now() - (i % 400) * interval '1 day', now(), 'c' || i || '@example.com',
			CASE WHEN i % 5 = 0 THEN '["vip"]'::jsonb ELSE '[]'::jsonb END,
			jsonb_build_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END, 'age', i % 80),
			$1, CASE WHEN i % 2 = 0 THEN 'SUBSCRIBED' ELSE 'UNSUBSCRIBED' END,
			(ARRAY['FR','US','DE','GB'])[1 + i % 4]
		FROM generate_series(1, $2::int) AS i`, e.merchant, customers)
	require.NoError(b, err)
	_, err = e.SQL.ExecContext(ctx, `
		WITH c AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM customers WHERE merchant_id = $1)
		INSERT INTO customer_events (id, created_at, updated_at, type, properties, source, currency, occurred_at, received_at, customer_id, merchant_id)
		SELECT gen_random_uuid(), g.t, g.t,
			(ARRAY['product_viewed','added_to_cart','page_viewed','checkout_started'])[1 + g.i % 4],
			jsonb_build_object('price', g.i % 200), 'STOREFRONT', 'USD', g.t, g.t, c.id, $1
		FROM (SELECT i, now() - random() * interval '90 days' AS t, 1 + (i::bigint * 7919) % $2::int AS n
		      FROM generate_series(1, $3::int) AS i) AS g
		JOIN c ON c.n = g.n`, e.merchant, customers, events)
	require.NoError(b, err)
	_, err = e.SQL.ExecContext(ctx, `ANALYZE customers, customer_events, segment_members`)
	require.NoError(b, err)
}

// BenchmarkFullEvaluation measures full evaluation of a segment with an
// event-count condition over 100,000 customers and 1,000,000 events on
// PostgreSQL (skipped without TEST_DATABASE_URL): Matching is the
// evaluation query alone, Refresh the whole transaction at steady state
// (members already current), and the first refresh (every member joins,
// one outbox event each) is reported once as first_refresh_ms.
func BenchmarkFullEvaluation(b *testing.B) {
	e := newEnv(b, dbtest.Postgres)
	start := time.Now()
	seedLarge(b, e, 100_000, 1_000_000)
	b.Logf("seeded 100,000 customers and 1,000,000 events in %s", time.Since(start).Round(time.Millisecond))

	rules := map[string]string{
		"event_count": leaf(`{"kind":"event","event":"product_viewed","count":{"operator":"at_least","value":3},"within_days":30}`),
		"event_filter_and_profile": `{"match":"all","conditions":[
			{"kind":"event","event":"product_viewed","within_days":60,"count":{"operator":"at_least","value":2},
			 "filters":[{"property":"price","operator":"greater_than","value":50}]},
			{"match":"any","conditions":[{"kind":"tag","operator":"has","value":"vip"},
				{"kind":"attribute","key":"plan","operator":"equals","value":"pro"}]},
			{"kind":"consent","operator":"equals","value":"SUBSCRIBED"}]}`,
		"event_at_most": leaf(`{"kind":"event","event":"checkout_started","count":{"operator":"at_most","value":1},"within_days":30}`),
	}
	for name, raw := range rules {
		r := mustParse(b, raw)
		b.Run(name+"/Matching", func(b *testing.B) {
			var n int
			for b.Loop() {
				ids, err := e.svc.Matching(e.ctx, e.merchant, r)
				require.NoError(b, err)
				n = len(ids)
			}
			b.ReportMetric(float64(n), "members")
		})
		b.Run(name+"/Refresh", func(b *testing.B) {
			seg := e.segment(b, raw)
			t0 := time.Now()
			res, err := e.svc.Refresh(e.ctx, e.merchant, seg.ID)
			require.NoError(b, err)
			first := time.Since(t0)
			for b.Loop() {
				_, err := e.svc.Refresh(e.ctx, e.merchant, seg.ID)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(first.Milliseconds()), "first_refresh_ms")
			b.ReportMetric(float64(res.Joined), "joined")
		})
	}
}

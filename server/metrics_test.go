package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/server"
)

// scrape is one /metrics answer, parsed: each series (name and sorted
// labels) to its value.
type scrape struct {
	body   string
	series map[string]float64
}

func getMetrics(t *testing.T, h http.Handler, header ...string) scrape {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	return parseMetrics(t, rec.Body.String())
}

func parseMetrics(t *testing.T, body string) scrape {
	t.Helper()
	s := scrape{body: body, series: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		s.series[line[:i]] = v
	}
	return s
}

// key is the series of name with labels (name, value, …), labels sorted as
// the text format writes them.
func key(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func (s scrape) value(name string, labels ...string) float64 { return s.series[key(name, labels...)] }

func (s scrape) has(name string, labels ...string) bool {
	_, ok := s.series[key(name, labels...)]
	return ok
}

// family reports whether any series of the family name is present.
func (s scrape) family(name string) bool {
	for k := range s.series {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

// labelValues lists the values label takes in the series of name.
func (s scrape) labelValues(name, label string) map[string]bool {
	out := map[string]bool{}
	for k := range s.series {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, p := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(k, name+"{"), "}"), ",") {
			if v, ok := strings.CutPrefix(p, label+"="); ok {
				out[strings.Trim(v, `"`)] = true
			}
		}
	}
	return out
}

const namedRegister = `mutation Register($in: MerchantRegisterInput!) {
  merchantRegister(input: $in) { accessToken merchant { id } user { id } userErrors { code } }
}`

// TestMetrics: /metrics after a few GraphQL requests through the real
// handler — a mutation that succeeds and one with a user error, a query
// with and without credentials, a bad token, a document that does not
// parse, webhook deliveries — exposes every family with the right labels
// and counts, caps the operation names, and names no store or person.
func TestMetrics(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			const whsec = "whsec_metrics_test"
			e := newIDEnv(t, b, func(c *server.Config) { c.StripeWebhookSecret = whsec })
			h := e.s.Handler

			in := map[string]any{"email": "owner@metrics.example", "password": "correct horse battery",
				"fullName": "Ada Owner", "storeName": "Metrics Store", "storeSlug": "metrics-store"}
			r := e.do(t, namedRegister, map[string]any{"in": in})
			require.Empty(t, r.Errors, r.Body)
			var reg struct {
				MerchantRegister struct {
					AccessToken string
					Merchant    struct{ ID string }
					User        struct{ ID string }
				}
			}
			r.decode(t, &reg)
			tok := reg.MerchantRegister.AccessToken
			require.NotEmpty(t, tok)

			in["storeSlug"], in["email"] = "metrics-store", "second@metrics.example" // taken: a user error
			r = e.do(t, namedRegister, map[string]any{"in": in})
			require.Empty(t, r.Errors, r.Body)
			require.Contains(t, string(r.Data), `"code"`)

			for range 3 {
				r = e.do(t, `query Me { me { user { email } } }`, nil, bearer(tok)...)
				require.Empty(t, r.Errors, r.Body)
			}
			r = e.do(t, `query Orders { orders(first: 5) { totalCount } }`, nil)
			require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Body)
			r = e.do(t, `query Me { me { user { email } } }`, nil, bearer(tok[:len(tok)-3]+"abc")...)
			require.Equal(t, http.StatusUnauthorized, r.Status)
			r = e.do(t, `query Broken { me {`, nil)
			require.NotEmpty(t, r.Errors)

			// Webhooks: one with a bad signature, one verified.
			req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", strings.NewReader(`{"type":"charge.succeeded"}`))
			req.Header.Set("Stripe-Signature", "t=1,v1=00")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusBadRequest, rec.Code)
			ev := stripeEvent("customer.created", map[string]any{"id": "cus_metrics", "object": "customer"})
			status := deliver(t, h, ev, time.Now(), whsec)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, http.StatusOK, deliver(t, h, ev, time.Now(), whsec)) // the same event again

			m := getMetrics(t, h)
			require.Equal(t, 1.0, m.value("graphql_requests_total", "operation", "Register", "type", "mutation", "outcome", "ok"), m.body)
			require.Equal(t, 1.0, m.value("graphql_requests_total", "operation", "Register", "type", "mutation", "outcome", "user_error"))
			require.Equal(t, 3.0, m.value("graphql_requests_total", "operation", "Me", "type", "query", "outcome", "ok"))
			require.Equal(t, 1.0, m.value("graphql_requests_total", "operation", "Orders", "type", "query", "outcome", "UNAUTHENTICATED"))
			require.Equal(t, 1.0, m.value("graphql_requests_total", "operation", "invalid", "type", "unknown", "outcome", "BAD_USER_INPUT"), m.body)
			require.Equal(t, 3.0, m.value("graphql_request_duration_seconds_count", "operation", "Me", "type", "query"))
			require.Equal(t, 2.0, m.value("graphql_request_duration_seconds_count", "operation", "Register", "type", "mutation"))
			require.Equal(t, 4.0, m.value("graphql_query_cost_count", "type", "query", "measure", "requested"))
			require.Equal(t, 2.0, m.value("graphql_query_cost_count", "type", "mutation", "measure", "requested"))
			require.Positive(t, m.value("graphql_query_cost_sum", "type", "query", "measure", "actual"))
			require.Equal(t, 1.0, m.value("http_requests_total", "route", "/graphql", "code", "401"))
			require.GreaterOrEqual(t, m.value("http_requests_total", "route", "/graphql", "code", "200"), 7.0)

			backend := map[dbtest.Backend]string{dbtest.SQLite: "sqlite", dbtest.Postgres: "postgres"}[b]
			require.Positive(t, m.value("sql_statements_total", "pool", "main", "backend", backend, "kind", "query", "outcome", "ok"))
			require.Positive(t, m.value("sql_statements_total", "pool", "main", "backend", backend, "kind", "exec", "outcome", "ok"))
			require.Positive(t, m.value("sql_statements_total", "pool", "events", "backend", backend, "kind", "query", "outcome", "ok"))
			require.Positive(t, m.value("sql_statement_duration_seconds_count", "pool", "main", "backend", backend, "kind", "query"))
			require.True(t, m.has("go_sql_max_open_connections", "db_name", "main"), m.body)
			require.True(t, m.has("go_sql_max_open_connections", "db_name", "events"))
			require.True(t, m.family("go_goroutines"))
			require.True(t, m.family("process_resident_memory_bytes"))

			require.True(t, m.has("subscriptions_open"))
			require.Equal(t, 0.0, m.value("subscriptions_open"))
			require.True(t, m.has("outbox_pending_events"))
			require.True(t, m.has("outbox_oldest_pending_age_seconds"))
			require.True(t, m.has("outbox_failed_events"))
			require.True(t, m.has("events_relay_total", "result", "published"))
			require.True(t, m.has("campaign_emails_total", "outcome", "sent"))
			require.True(t, m.has("campaign_emails_total", "outcome", "bounced"))
			require.Equal(t, 0.0, m.value("metrics_scrape_failed", "source", "database"))

			require.Equal(t, 1.0, m.value("webhook_deliveries_total", "provider", "stripe", "endpoint", "platform", "event_type", "unknown", "outcome", "bad_signature"), m.body)
			require.Equal(t, 1.0, m.value("webhook_deliveries_total", "provider", "stripe", "endpoint", "platform", "event_type", "customer.created", "outcome", "duplicate"))
			first := m.labelValues("webhook_deliveries_total", "outcome")
			require.True(t, first["processed"] || first["ignored"], "outcomes: %v", first)

			// No store, person or credential is named anywhere.
			for _, secret := range []string{reg.MerchantRegister.Merchant.ID, reg.MerchantRegister.User.ID, "owner@metrics.example",
				"second@metrics.example", "metrics-store", "Ada Owner", tok, whsec, "cus_metrics"} {
				require.NotContains(t, m.body, secret)
			}
			if id, err := uuid.Parse(reg.MerchantRegister.Merchant.ID); err == nil {
				require.NotContains(t, m.body, id.String())
			}

			// The cap: past 200 distinct names, operations count as "other".
			for i := range 205 {
				r := e.do(t, fmt.Sprintf("query Op%d { __typename }", i), nil)
				require.Empty(t, r.Errors)
			}
			m = getMetrics(t, h)
			names := m.labelValues("graphql_requests_total", "operation")
			require.True(t, names["other"], "names: %d", len(names))
			require.LessOrEqual(t, len(names), 201)
			require.False(t, names["Op204"])
			other := m.value("graphql_requests_total", "operation", "other", "type", "query", "outcome", "ok")
			require.GreaterOrEqual(t, other, 5.0)
			require.Equal(t, 1.0, m.value("graphql_requests_total", "operation", "Op0", "type", "query", "outcome", "ok"))
			// Names seen before the cap keep their own series.
			e.do(t, `query Me { me { user { email } } }`, nil, bearer(tok)...)
			m = getMetrics(t, h)
			require.Equal(t, 4.0, m.value("graphql_requests_total", "operation", "Me", "type", "query", "outcome", "ok"))
		})
	}
}

// TestMetricsExposure: METRICS_TOKEN guards /metrics, METRICS_ENABLED=false
// removes it, METRICS_ADDR moves it to a listener of its own.
func TestMetricsExposure(t *testing.T) {
	b := dbtest.Backends()[0]
	t.Run("token", func(t *testing.T) {
		s := newServer(t, b, nil, func(c *server.Config) { c.MetricsToken = "scrape-secret" })
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		m := getMetrics(t, s.Handler, "Authorization", "Bearer scrape-secret")
		require.True(t, m.family("graphql_requests_total") || m.family("go_goroutines"))
	})
	t.Run("disabled", func(t *testing.T) {
		s := newServer(t, b, nil, func(c *server.Config) { c.MetricsDisabled = true })
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusNotFound, rec.Code)
	})
	t.Run("own address", func(t *testing.T) {
		s := newServer(t, b, nil, func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" })
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusNotFound, rec.Code, "not on the main port")
	})
	t.Run("config", func(t *testing.T) {
		env := map[string]string{"JWT_SECRET": string(testSecret), "DATA_DIR": t.TempDir()}
		cfg, err := server.LoadConfig(func(k string) string { return env[k] })
		require.NoError(t, err)
		require.False(t, cfg.MetricsDisabled)
		require.False(t, cfg.Tracing)
		env["METRICS_ENABLED"], env["METRICS_ADDR"], env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "false", "127.0.0.1:9464", "http://127.0.0.1:4318"
		cfg, err = server.LoadConfig(func(k string) string { return env[k] })
		require.NoError(t, err)
		require.True(t, cfg.MetricsDisabled)
		require.Equal(t, "127.0.0.1:9464", cfg.MetricsAddr)
		require.True(t, cfg.Tracing)
		env["OTEL_TRACES_EXPORTER"] = "none"
		cfg, err = server.LoadConfig(func(k string) string { return env[k] })
		require.NoError(t, err)
		require.False(t, cfg.Tracing)
		env["OTEL_TRACES_EXPORTER"] = "zipkin"
		_, err = server.LoadConfig(func(k string) string { return env[k] })
		require.ErrorContains(t, err, "OTEL_TRACES_EXPORTER")
	})
}

// TestMetricsServeOnOwnAddress: with METRICS_ADDR, Serve answers /metrics
// there until it stops.
func TestMetricsServeOnOwnAddress(t *testing.T) {
	// A free loopback port, released for the server to take.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s2 := newServer(t, dbtest.Backends()[0], nil, func(c *server.Config) { c.MetricsAddr = addr })
	main, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s2.Serve(ctx, main) }()
	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, err = http.Get("http://" + addr + "/metrics")
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body.String(), "go_goroutines")
	cancel()
	require.NoError(t, <-done)
	_, err = http.Get("http://" + addr + "/metrics")
	require.Error(t, err, "the metrics listener stops with Serve")
}

// TestMetricsConsumerLag: with Redis, each durable consumer group's
// pending entries and lag are read from XINFO GROUPS.
func TestMetricsConsumerLag(t *testing.T) {
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		t.Skip("TEST_REDIS_URL is not set")
	}
	b := dbtest.Backends()[0]
	s := newServer(t, b, nil, func(c *server.Config) { c.RedisURL = u })
	group := "metrics-test-" + uuid.NewString()[:8]
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() {
		rdb.XGroupDestroy(context.Background(), events.DefaultPrefix+"stream", group)
		rdb.Close()
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, s.Durable.Consume(ctx, group, func(context.Context, events.Event) error { return nil }))
	require.Eventually(t, func() bool {
		return getMetrics(t, s.Handler).has("events_consumer_lag", "group", group)
	}, 10*time.Second, 50*time.Millisecond)
	m := getMetrics(t, s.Handler)
	require.True(t, m.has("events_consumer_pending", "group", group))
	require.Equal(t, 0.0, m.value("metrics_scrape_failed", "source", "redis"))
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/seed"
	"github.com/omnisphere/omnisphere/server"
)

// The storefront benchmarks run the two queries of the load test
// (docs/storefront.md, "Benchmarks") through the real HTTP handler — auth by
// storefront key, limits, cost, GraphQL, the tenant fence — against the
// benchmark catalogue of benchProducts products (../shared/bench/DATASET.md),
// on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set:
//
//	go test ./server/ -run '^$' -bench Storefront -benchmem
//	TEST_DATABASE_URL=postgres://… go test ./server/ -run '^$' -bench 'Storefront|BySlug' -benchmem
//
// Each reports sql/op: the SQL statements one request runs.

const benchProducts = 1000

// benchListQuery is Q1: the first 20 products by title with their variants.
const benchListQuery = `{ products(first: 20, sortKey: TITLE) { edges { node { id title variants { id sku price quantityAvailable } } } } }`

// benchSlugQuery is Q2: one product by slug.
const benchSlugQuery = `query($slug: String!) { product(slug: $slug) { id title variants { id sku price quantityAvailable } } }`

// benchEnv is a server holding the benchmark catalogue.
type benchEnv struct {
	s     *server.Server
	key   string
	slugs []string
}

func newBenchEnv(b *testing.B, backend dbtest.Backend) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	cfg := server.Config{
		Port: 8080, DataDir: dir, SQLitePath: filepath.Join(dir, "bench.db"), AutoMigrate: true,
		JWTSecret: testSecret, LogLevel: slog.LevelError, ShutdownTimeout: time.Second,
		BcryptCost: 10,
		// No throttling: the benchmark measures the read path.
		RateLimitBucket: 1 << 30, RateLimitRestore: 1 << 30,
		StorefrontCacheMB: 32, StorefrontCacheTTL: time.Hour,
	}
	if backend == dbtest.Postgres {
		cfg.DatabaseURL = dbtest.PostgresURL(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := server.New(ctx, cfg, server.NewLogger(io.Discard, slog.LevelError))
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	res, err := seed.Bench(ctx, s.DB.Client, s.Auth, seed.BenchOptions{Products: benchProducts})
	require.NoError(b, err)
	require.NoError(b, s.DB.Analyze(ctx)) // as `seed bench` does
	e := &benchEnv{s: s, key: res.StorefrontKey}
	for _, p := range seed.BenchCatalogue(benchProducts).Products {
		e.slugs = append(e.slugs, p.Slug)
	}
	return e
}

// request builds a storefront request of the store.
func (e *benchEnv) request(body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Storefront-Key", e.key)
	return req
}

// check runs body once and fails on anything but a clean answer.
func (e *benchEnv) check(b *testing.B, body []byte, want func(data json.RawMessage)) {
	b.Helper()
	rec := httptest.NewRecorder()
	e.s.Handler.ServeHTTP(rec, e.request(body))
	var r struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	require.NoError(b, json.Unmarshal(rec.Body.Bytes(), &r), rec.Body.String())
	require.Equal(b, http.StatusOK, rec.Code, rec.Body.String())
	require.Empty(b, r.Errors, rec.Body.String())
	want(r.Data)
}

// run measures body(i) over b.N requests, one at a time, and reports the
// SQL statements per request.
func (e *benchEnv) run(b *testing.B, body func(i int) []byte) {
	b.ReportAllocs()
	before, cpu := e.s.DB.Statements(), processCPU()
	for i := 0; b.Loop(); i++ {
		rec := httptest.NewRecorder()
		e.s.Handler.ServeHTTP(rec, e.request(body(i)))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
	b.ReportMetric(float64(e.s.DB.Statements()-before)/float64(b.N), "sql/op")
	// CPU time of the whole process (server, SQLite engine, client side of
	// the request) per request: unlike ns/op, it does not grow when other
	// processes share the machine.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// runBoth runs body uncached (every request executes) and cached (the
// storefront response cache on, as in production; Q2 warms up through the
// first round of slugs).
func (e *benchEnv) runBoth(b *testing.B, name string, body func(i int) []byte) {
	cache := e.s.RespCache
	b.Run(name+"/uncached", func(b *testing.B) {
		e.s.RespCache = nil
		defer func() { e.s.RespCache = cache }()
		e.run(b, body)
	})
	b.Run(name+"/cached", func(b *testing.B) { e.run(b, body) })
}

// processCPU is the user and system CPU time the process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func mustJSON(b *testing.B, v any) []byte {
	b.Helper()
	out, err := json.Marshal(v)
	require.NoError(b, err)
	return out
}

// BenchmarkStorefrontProducts is Q1: the first 20 products by title, with
// variants {id sku price quantityAvailable}.
func BenchmarkStorefrontProducts(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		e := newBenchEnv(b, backend)
		body := mustJSON(b, map[string]any{"query": benchListQuery})
		e.check(b, body, func(data json.RawMessage) {
			var d struct {
				Products struct {
					Edges []struct {
						Node struct {
							Title    string
							Variants []struct{ QuantityAvailable int }
						}
					}
				}
			}
			require.NoError(b, json.Unmarshal(data, &d))
			require.Len(b, d.Products.Edges, 20)
			require.Equal(b, "Amber Anchor 0001", d.Products.Edges[0].Node.Title)
			require.Equal(b, "Amber Apron 0651", d.Products.Edges[1].Node.Title)
			require.Len(b, d.Products.Edges[0].Node.Variants, 3)
			require.Equal(b, seed.BenchStock, d.Products.Edges[0].Node.Variants[0].QuantityAvailable)
		})
		e.runBoth(b, string(backend), func(int) []byte { return body })
	}
}

// BenchmarkProductBySlug is Q2: one product by slug, rotating over every
// slug of the catalogue.
func BenchmarkProductBySlug(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		e := newBenchEnv(b, backend)
		bodies := make([][]byte, len(e.slugs))
		for i, slug := range e.slugs {
			bodies[i] = mustJSON(b, map[string]any{"query": benchSlugQuery, "variables": map[string]any{"slug": slug}})
		}
		e.check(b, bodies[41], func(data json.RawMessage) {
			var d struct {
				Product *struct {
					Title    string
					Variants []struct{ SKU string }
				}
			}
			require.NoError(b, json.Unmarshal(data, &d))
			require.NotNil(b, d.Product)
			require.Equal(b, seed.BenchCatalogue(42).Products[41].Name, d.Product.Title)
			require.Len(b, d.Product.Variants, 3)
		})
		e.runBoth(b, string(backend), func(i int) []byte { return bodies[i%len(bodies)] })
	}
}

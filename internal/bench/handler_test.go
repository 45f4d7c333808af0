package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/seed"
	"github.com/omnisphere/omnisphere/server"
)

// The Go benchmarks of the storefront read path, through the real handler
// (auth, edge limits, GraphQL, loaders, database) without the network:
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 2000x
//
// With TEST_DATABASE_URL set they run on PostgreSQL too. Besides ns/op they
// report sql/op, the server's own count of SQL statements per request.

// benchServer is a server on backend b holding the bench catalogue of n
// products, and the catalogue's storefront key.
func benchServer(tb testing.TB, b dbtest.Backend, n int) (*server.Server, string) {
	tb.Helper()
	dir := tb.TempDir()
	cfg := server.Config{
		Port: 8080, DataDir: dir, SQLitePath: filepath.Join(dir, "bench.db"), AutoMigrate: true,
		JWTSecret: []byte("0123456789abcdef0123456789abcdef-bench"), LogLevel: slog.LevelError,
		ShutdownTimeout: time.Second, BcryptCost: 10,
		// No rate limit: the benchmark is one caller sending as fast as it can.
		RateLimitBucket: 1 << 30, RateLimitRestore: 1 << 30,
	}
	if b == dbtest.Postgres {
		cfg.DatabaseURL = dbtest.PostgresURL(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := server.New(ctx, cfg, server.NewLogger(io.Discard, slog.LevelError))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	res, err := seed.Bench(ctx, s.DB.Client, s.Auth, seed.BenchOptions{Products: n})
	require.NoError(tb, err)
	return s, res.StorefrontKey
}

// handlerPost sends a GraphQL request body to the handler as a storefront
// visitor and returns the response body.
func handlerPost(h http.Handler, key string, body []byte) (int, []byte) {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Storefront-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// handlerClient is an http.Client whose transport is the handler itself,
// so that the load generator's check runs against it.
func handlerClient(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result(), nil
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBenchQueriesAnswer runs the load generator's check (both queries,
// answers verified against the catalogue) through the real handler, so that
// the generator's queries cannot drift from the schema unnoticed.
func TestBenchQueriesAnswer(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			s, key := benchServer(t, b, 40)
			c := config{url: "http://omnisphere.test/graphql", key: key}
			list := mustJSON(map[string]any{"query": queryList})
			bySlug := mustJSON(map[string]any{"query": queryBySlug, "variables": map[string]any{"slug": "amber-anchor-0001"}})
			require.NoError(t, check(context.Background(), handlerClient(s.Handler), c, list, bySlug))
		})
	}
}

func BenchmarkStorefront(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			s, key := benchServer(b, backend, 1000)
			list := mustJSON(map[string]any{"query": queryList})
			var bySlug [][]byte
			for _, p := range seed.BenchCatalogue(1000).Products {
				bySlug = append(bySlug, mustJSON(map[string]any{"query": queryBySlug, "variables": map[string]any{"slug": p.Slug}}))
			}
			for _, q := range []struct {
				name string
				body func(i int) []byte
			}{
				{"Q1-products-by-title", func(int) []byte { return list }},
				{"Q2-product-by-slug", func(i int) []byte { return bySlug[i%len(bySlug)] }},
			} {
				b.Run(q.name, func(b *testing.B) {
					code, body := handlerPost(s.Handler, key, q.body(0))
					if code != http.StatusOK || bytes.Contains(body, []byte(`"errors"`)) {
						b.Fatalf("HTTP %d: %s", code, truncate(body))
					}
					b.ReportAllocs()
					before := s.DB.Statements()
					n := 0
					for ; b.Loop(); n++ {
						if code, body := handlerPost(s.Handler, key, q.body(n)); code != http.StatusOK {
							b.Fatalf("HTTP %d: %s", code, truncate(body))
						}
					}
					b.ReportMetric(float64(s.DB.Statements()-before)/float64(n), "sql/op")
				})
			}
		})
	}
}

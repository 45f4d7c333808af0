package main

import (
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

// The Go benchmarks of the storefront read path are in
// server/storefront_bench_test.go; this file checks the load generator.

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

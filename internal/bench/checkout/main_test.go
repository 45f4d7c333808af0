package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/seed"
	"github.com/omnisphere/omnisphere/server"
)

// The load generator's flow through the real handler (storefront key,
// limits, GraphQL, checkout, the tenant fence), on SQLite, and on
// PostgreSQL too when TEST_DATABASE_URL is set: the test keeps the
// generator's documents in step with the schema, and the benchmark reports
// the SQL statements of each request of the flow (sql/<request>, the
// server's own count, db.DB.Statements()).
//
//	TEST_DATABASE_URL=postgres://… go test ./internal/bench/checkout -run '^$' -bench Flow
//	TEST_DATABASE_URL=postgres://… go test ./internal/bench/checkout -run '^$' -bench Flow/postgres -cpuprofile cpu.out

// flowProducts is the catalogue of the benchmark, as in checkout.sh.
const flowProducts = 1000

// flowServer is a server on backend b holding the bench catalogue of n
// products, and the catalogue's storefront key.
func flowServer(tb testing.TB, b dbtest.Backend, n int) (*server.Server, string) {
	tb.Helper()
	dir := tb.TempDir()
	cfg := server.Config{
		Port: 8080, DataDir: dir, SQLitePath: filepath.Join(dir, "bench.db"), AutoMigrate: true,
		JWTSecret: []byte("0123456789abcdef0123456789abcdef-bench"), LogLevel: slog.LevelError,
		ShutdownTimeout: time.Second, BcryptCost: 10,
		// No rate limit: the benchmark is one caller sending as fast as it can.
		RateLimitBucket: 1 << 30, RateLimitRestore: 1 << 30,
		// The storefront response cache on, as in production (checkout's
		// writes retire what it holds).
		StorefrontCacheMB: 32, StorefrontCacheTTL: time.Minute,
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
	require.NoError(tb, s.DB.Analyze(ctx))
	return s, res.StorefrontKey
}

// counting is an http.Client whose transport is the handler itself; it
// adds up the SQL statements the server runs for each request kind.
type counting struct {
	s          *server.Server
	mu         sync.Mutex
	statements [kinds]uint64
	requests   [kinds]uint64
}

func (c *counting) client() *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		var req struct{ Query string }
		_ = json.Unmarshal(body, &req)
		k := kinds
		for i, doc := range [kinds]string{docCartCreate, docBuyerIdentity, docShippingMethod, docComplete} {
			if req.Query == doc {
				k = kind(i)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		before := c.s.DB.Statements()
		c.s.Handler.ServeHTTP(rec, r)
		if k < kinds {
			c.mu.Lock()
			c.statements[k] += c.s.DB.Statements() - before
			c.requests[k]++
			c.mu.Unlock()
		}
		return rec.Result(), nil
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestFlowAnswers runs the generator's check (one flow, every answer
// verified) and a few more flows through the handler.
func TestFlowAnswers(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			s, key := flowServer(t, b, 40)
			cc := &counting{s: s}
			c := config{url: "http://omnisphere.test/graphql", key: key, products: 40, maxLines: 3, seed: 7}
			ctx := context.Background()
			variants, err := loadVariants(ctx, cc.client(), c)
			require.NoError(t, err)
			require.Len(t, variants, 120)
			require.NoError(t, check(ctx, cc.client(), c, variants))
			sh := &shopper{client: cc.client(), c: c, variants: variants, rng: rand.New(rand.NewPCG(1, 2)), verify: true}
			tl := newTally(16)
			for range 5 {
				sh.flow(ctx, tl)
			}
			require.Empty(t, tl.errs)
			require.EqualValues(t, 5, tl.orders)
			for k := range kinds {
				t.Logf("%s: %.1f SQL statements per request", k, float64(cc.statements[k])/float64(cc.requests[k]))
			}
		})
	}
}

// BenchmarkFlow runs the flow one request at a time and reports, per flow,
// the SQL statements of each request kind and in all, and the process's
// CPU time (server and client side; ns/op grows when other processes
// share the machine, cpu-ns/flow does not).
func BenchmarkFlow(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			s, key := flowServer(b, backend, flowProducts)
			cc := &counting{s: s}
			c := config{url: "http://omnisphere.test/graphql", key: key, products: flowProducts, maxLines: 3, seed: 7}
			ctx := context.Background()
			variants, err := loadVariants(ctx, cc.client(), c)
			require.NoError(b, err)
			sh := &shopper{client: cc.client(), c: c, variants: variants, rng: rand.New(rand.NewPCG(1, 2))}
			tl := newTally(1 << 12)
			sh.flow(ctx, tl) // warm
			cc.statements, cc.requests = [kinds]uint64{}, [kinds]uint64{}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				sh.flow(ctx, tl)
			}
			require.Empty(b, tl.errs)
			var total uint64
			for k := range kinds {
				b.ReportMetric(float64(cc.statements[k])/float64(b.N), "sql/"+k.String())
				total += cc.statements[k]
			}
			b.ReportMetric(float64(total)/float64(b.N), "sql/flow")
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/flow")
		})
	}
}

// processCPU is the user and system CPU time the process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Command bench is OmniSphere's load generator for the storefront read path
// (docs/benchmarks.md). It drives a running server with a fixed number of
// keep-alive connections, each sending its next request as soon as the last
// one is answered, for a fixed time per query, and reports requests per
// second, latency percentiles, errors, SQL work per request (from
// PostgreSQL's statistics views), and the server's CPU time per request and
// resident memory (from /proc of the server's pid).
//
//	go run ./internal/bench -url http://127.0.0.1:18080/graphql -key opk_… \
//	    -pid 1234 -pg postgres://…/omni_bench -c 32 -d 20s
//
// internal/bench/run.sh sets all of this up on a scratch database.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/omnisphere/omnisphere/internal/bench/proc"
	"github.com/omnisphere/omnisphere/internal/seed"
)

// The two storefront queries of the benchmark (issue 4, "Benchmark").
const (
	queryList = `query Q1 { products(first: 20, sortKey: TITLE) { edges { node { id title slug ` +
		`variants { id sku price quantityAvailable } } } } }`
	queryBySlug = `query Q2($slug: String!) { product(slug: $slug) { id title slug ` +
		`variants { id sku price quantityAvailable } } }`
)

type config struct {
	url, key, pg      string
	pid               int
	conns             int
	duration, warmup  time.Duration
	statsSettle       time.Duration
	products          int
	queries           string
	jsonOut           string
	compareSQL        string
	cpuTicksPerSecond float64
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:18080/graphql", "GraphQL endpoint of the server")
	flag.StringVar(&c.key, "key", "", "storefront key (X-Storefront-Key) of the bench store")
	flag.StringVar(&c.pg, "pg", "", "PostgreSQL URL of the server's database, for SQL statistics (optional)")
	flag.IntVar(&c.pid, "pid", 0, "the server's process id, for CPU time and RSS (optional)")
	flag.IntVar(&c.conns, "c", 32, "concurrent connections")
	flag.DurationVar(&c.duration, "d", 20*time.Second, "measured time per query")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured load before each query's run")
	flag.DurationVar(&c.statsSettle, "stats-settle", 11*time.Second,
		"wait after a run before reading PostgreSQL statistics (idle backends flush them within 10 s)")
	flag.IntVar(&c.products, "products", 1000, "products of the bench catalogue (Q2 rotates over their slugs)")
	flag.StringVar(&c.queries, "queries", "Q1,Q2", "queries to run, comma-separated")
	flag.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&c.compareSQL, "compare-sql", "",
		"a file holding one SQL query that must return the same JSON document as Q1's answer (checked once, with -pg)")
	flag.Float64Var(&c.cpuTicksPerSecond, "clk-tck", 100, "clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK)")
	flag.Parse()
	if c.key == "" {
		fmt.Fprintln(os.Stderr, "bench: -key (the bench store's storefront key) is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Result is the outcome of one query's run.
type Result struct {
	Query       string  `json:"query"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	RPS         float64 `json:"requests_per_second"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	// From PostgreSQL (with -pg): per request.
	XactsPerReq   float64 `json:"pg_transactions_per_request,omitempty"`
	ScansPerReq   float64 `json:"pg_table_scans_per_request,omitempty"`
	TuplesPerReq  float64 `json:"pg_tuples_per_request,omitempty"`
	CPUmsPerReq   float64 `json:"server_cpu_ms_per_request,omitempty"`
	ServerCPUUtil float64 `json:"server_cpu_cores,omitempty"`
	RSSMiBMax     float64 `json:"server_rss_mib_max,omitempty"`
	RSSMiBEnd     float64 `json:"server_rss_mib_end,omitempty"`
}

func run(ctx context.Context, c config) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.conns,
		MaxIdleConnsPerHost: c.conns,
		MaxConnsPerHost:     c.conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}, Timeout: 30 * time.Second}

	var pg *sql.DB
	if c.pg != "" {
		var err error
		if pg, err = sql.Open("pgx", c.pg); err != nil {
			return fmt.Errorf("-pg: %w", err)
		}
		defer pg.Close()
		pg.SetMaxOpenConns(1)
		if err := pg.PingContext(ctx); err != nil {
			return fmt.Errorf("-pg: %w", err)
		}
	}

	list := mustJSON(map[string]any{"query": queryList})
	var slugBodies [][]byte
	for _, p := range seed.BenchCatalogue(c.products).Products {
		slugBodies = append(slugBodies, mustJSON(map[string]any{"query": queryBySlug, "variables": map[string]any{"slug": p.Slug}}))
	}
	if err := check(ctx, client, c, list, slugBodies[0]); err != nil {
		return err
	}
	if c.compareSQL != "" {
		if err := compareRaw(ctx, client, c, pg, list); err != nil {
			return err
		}
	}

	var results []Result
	for _, q := range strings.Split(c.queries, ",") {
		var next func(i int64) []byte
		switch strings.TrimSpace(q) {
		case "Q1":
			next = func(int64) []byte { return list }
		case "Q2":
			next = func(i int64) []byte { return slugBodies[i%int64(len(slugBodies))] }
		default:
			return fmt.Errorf("unknown query %q (Q1, Q2)", q)
		}
		r, err := load(ctx, client, c, pg, strings.TrimSpace(q), next)
		if err != nil {
			return err
		}
		results = append(results, r)
		printResult(os.Stdout, r)
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(c.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// check sends each query once and verifies the answers: the bench measures
// nothing if the server answers errors fast.
func check(ctx context.Context, client *http.Client, c config, list, bySlug []byte) error {
	var q1 struct {
		Data struct {
			Products struct {
				Edges []struct {
					Node struct {
						Title    string
						Variants []struct {
							SKU               string
							QuantityAvailable int
						}
					}
				}
			}
		}
		Errors []json.RawMessage
	}
	body, err := post(ctx, client, c, list)
	if err != nil {
		return fmt.Errorf("Q1: %w", err)
	}
	if err := json.Unmarshal(body, &q1); err != nil || len(q1.Errors) > 0 {
		return fmt.Errorf("Q1 answered %s", truncate(body))
	}
	edges := q1.Data.Products.Edges
	if len(edges) != 20 || edges[0].Node.Title != "Amber Anchor 0001" || len(edges[0].Node.Variants) != 3 ||
		edges[0].Node.Variants[0].QuantityAvailable != seed.BenchStock {
		return fmt.Errorf("Q1: not the bench catalogue's first page (want 20 products from Amber Anchor 0001, 3 variants of stock 100): %s", truncate(body))
	}
	body, err = post(ctx, client, c, bySlug)
	if err != nil {
		return fmt.Errorf("Q2: %w", err)
	}
	if !bytes.Contains(body, []byte(`"SKU-0001-S"`)) || bytes.Contains(body, []byte(`"errors"`)) {
		return fmt.Errorf("Q2 answered %s", truncate(body))
	}
	return nil
}

// compareRaw checks that the raw SQL baseline returns the same JSON
// document as Q1 (extensions aside), so that pgbench measures the same work.
func compareRaw(ctx context.Context, client *http.Client, c config, pg *sql.DB, list []byte) error {
	if pg == nil {
		return errors.New("-compare-sql needs -pg")
	}
	q, err := os.ReadFile(c.compareSQL)
	if err != nil {
		return err
	}
	var raw string
	if err := pg.QueryRowContext(ctx, string(q)).Scan(&raw); err != nil {
		return fmt.Errorf("-compare-sql: %w", err)
	}
	body, err := post(ctx, client, c, list)
	if err != nil {
		return fmt.Errorf("Q1: %w", err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(body, &want); err != nil {
		return fmt.Errorf("Q1: %w", err)
	}
	delete(want, "extensions")
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		return fmt.Errorf("-compare-sql: not JSON: %w", err)
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("-compare-sql: the raw query's JSON differs from Q1's answer:\nQ1:  %s\nSQL: %s", truncate(body), truncate([]byte(raw)))
	}
	fmt.Fprintln(os.Stderr, "bench: the raw SQL query returns the same JSON document as Q1")
	return nil
}

func post(ctx context.Context, client *http.Client, c config, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Storefront-Key", c.key)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(b))
	}
	return b, nil
}

// load runs one query: a warm-up, then the measured run.
func load(ctx context.Context, client *http.Client, c config, pg *sql.DB, name string, next func(int64) []byte) (Result, error) {
	fmt.Fprintf(os.Stderr, "bench: %s: %s warm-up, %s measured, %d connections\n", name, c.warmup, c.duration, c.conns)
	if c.warmup > 0 {
		if _, _, _, err := drive(ctx, client, c, c.warmup, next); err != nil {
			return Result{}, err
		}
		if c.pg != "" {
			sleep(ctx, c.statsSettle) // let the warm-up's statistics reach the views
		}
	}
	var before, after pgStats
	var err error
	if pg != nil {
		if before, err = readPGStats(ctx, pg); err != nil {
			return Result{}, err
		}
	}
	cpu0, _ := proc.CPUTicks(c.pid)
	peakRSS := proc.PeakRSS(ctx, c.pid, 200*time.Millisecond)
	start := time.Now()
	lat, errs, firstErr, err := drive(ctx, client, c, c.duration, next)
	elapsed := time.Since(start)
	cpu1, _ := proc.CPUTicks(c.pid)
	rssMax := peakRSS()
	if err != nil {
		return Result{}, err
	}
	r := Result{Query: name, Connections: c.conns, Seconds: elapsed.Seconds(), Requests: int64(len(lat)) + errs,
		Errors: errs, FirstError: firstErr}
	r.RPS = float64(r.Requests) / elapsed.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.P50ms, r.P90ms, r.P99ms = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99)
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	if c.pid > 0 && r.Requests > 0 {
		ticks := float64(cpu1 - cpu0)
		r.CPUmsPerReq = ticks / c.cpuTicksPerSecond * 1000 / float64(r.Requests)
		r.ServerCPUUtil = ticks / c.cpuTicksPerSecond / elapsed.Seconds()
		r.RSSMiBMax = float64(rssMax) / 1024
		if kb, err := proc.RSS(c.pid); err == nil {
			r.RSSMiBEnd = float64(kb) / 1024
		}
	}
	if pg != nil && r.Requests > 0 {
		sleep(ctx, c.statsSettle)
		if after, err = readPGStats(ctx, pg); err != nil {
			return Result{}, err
		}
		n := float64(r.Requests)
		// The two statistics reads between the snapshots are one
		// transaction each; they are not the server's.
		r.XactsPerReq = float64(after.xacts-before.xacts-1) / n
		r.ScansPerReq = float64(after.scans-before.scans) / n
		r.TuplesPerReq = float64(after.tuples-before.tuples) / n
	}
	return r, nil
}

// drive keeps c.conns requests in flight for d and returns the latencies of
// the successful ones, the number of failures and the first failure.
func drive(ctx context.Context, client *http.Client, c config, d time.Duration, next func(int64) []byte) ([]time.Duration, int64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var seq, errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, c.conns)
	var wg sync.WaitGroup
	for w := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				body := next(seq.Add(1) - 1)
				t0 := time.Now()
				resp, err := post(ctx, client, c, body)
				lat := time.Since(t0)
				if ctx.Err() != nil {
					break // cut off by the end of the run: not counted
				}
				if err == nil && bytes.Contains(resp, []byte(`"errors"`)) {
					err = errors.New(truncate(resp))
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				own = append(own, lat)
			}
			lats[w] = own
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	fe, _ := firstErr.Load().(string)
	return all, errs.Load(), fe, nil
}

// pgStats are cumulative counters of the database's statistics views:
// committed transactions (on the server's PostgreSQL path every ent
// statement outside an explicit transaction is one fenced transaction of
// its own), table scans (sequential plus index, summed over the user
// tables: roughly one per table a statement reads) and tuples returned.
type pgStats struct{ xacts, scans, tuples int64 }

func readPGStats(ctx context.Context, pg *sql.DB) (pgStats, error) {
	var s pgStats
	err := pg.QueryRowContext(ctx, `
		SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		       (SELECT COALESCE(sum(seq_scan + COALESCE(idx_scan, 0)), 0)::bigint FROM pg_stat_user_tables),
		       (SELECT tup_returned FROM pg_stat_database WHERE datname = current_database())`).
		Scan(&s.xacts, &s.scans, &s.tuples)
	if err != nil {
		return s, fmt.Errorf("read pg statistics: %w", err)
	}
	return s, nil
}

func printResult(w io.Writer, r Result) {
	fmt.Fprintf(w, "%s: %d requests in %.1fs, %d errors: %.0f req/s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		r.Query, r.Requests, r.Seconds, r.Errors, r.RPS, r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	if r.FirstError != "" {
		fmt.Fprintf(w, "%s: first error: %s\n", r.Query, r.FirstError)
	}
	if r.CPUmsPerReq > 0 || r.RSSMiBMax > 0 {
		fmt.Fprintf(w, "%s: server CPU %.3f ms/request (%.2f cores busy), RSS max %.1f MiB, at end %.1f MiB\n",
			r.Query, r.CPUmsPerReq, r.ServerCPUUtil, r.RSSMiBMax, r.RSSMiBEnd)
	}
	if r.XactsPerReq > 0 {
		fmt.Fprintf(w, "%s: PostgreSQL per request: %.2f transactions (= ent statements), %.2f table scans, %.1f tuples returned\n",
			r.Query, r.XactsPerReq, r.ScansPerReq, r.TuplesPerReq)
	}
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

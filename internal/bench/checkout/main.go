// Command checkout is OmniSphere's load generator for checkout (issue 6;
// docs/benchmarks.md, "Checkout"). Each of -c guest shoppers runs the flow
// a storefront runs, again and again, each request sent as soon as the last
// is answered:
//
//  1. cartCreate with 1 to 3 distinct random variants of the bench
//     catalogue, one unit each (the "add to cart" button);
//  2. cartBuyerIdentityUpdate with an email and a US shipping address (the
//     checkout page), which answers the cart's availableShippingMethods;
//  3. cartShippingMethodUpdate with the first of them;
//  4. checkoutComplete with the MANUAL provider and a new idempotency key.
//
// It reports orders, flows and requests per second, latency percentiles
// per request kind and overall, errors by code, the server's CPU time per
// order and its resident memory (from /proc of -pid), PostgreSQL's work per
// order and what its backends wait on (with -pg), and afterwards checks
// with SQL that nothing was oversold.
//
//	go run ./internal/bench/checkout -url http://127.0.0.1:18080/graphql -key opk_… \
//	    -merchant <uuid> -pid 1234 -pg postgres://…/omni_bench -c 32 -d 20s
//
// internal/bench/checkout.sh sets all of this up on a scratch database.
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
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/omnisphere/omnisphere/internal/bench/proc"
)

// The GraphQL documents of the flow. The selections are what a storefront
// shows at each step: the cart's lines and totals, the shipping methods to
// choose from, the order confirmation.
const (
	docCartCreate = `mutation CartCreate($in: CartCreateInput!) { cartCreate(input: $in) {
  cart { id totalQuantity lines { id quantity variant { id } cost { total { amount } } } cost { subtotal { amount currencyCode } total { amount } } }
  warnings { code } userErrors { field code message } } }`
	docBuyerIdentity = `mutation CartBuyerIdentity($cart: ID!, $buyer: CartBuyerIdentityInput!) { cartBuyerIdentityUpdate(cartId: $cart, buyerIdentity: $buyer) {
  cart { id availableShippingMethods { id name price { amount } } cost { subtotal { amount } total { amount } } }
  warnings { code } userErrors { field code message } } }`
	docShippingMethod = `mutation CartShippingMethod($cart: ID!, $method: ID!) { cartShippingMethodUpdate(cartId: $cart, shippingMethodId: $method) {
  cart { id shippingMethod { id } cost { subtotal { amount } shippingTotal { amount } total { amount } } }
  warnings { code } userErrors { field code message } } }`
	docComplete = `mutation CheckoutComplete($in: CheckoutCompleteInput!) { checkoutComplete(input: $in) {
  order { id orderNumber status totalAmount items { sku quantity } }
  payment { provider status amount { amount } }
  userErrors { field code message } } }`
	// docVariants pages through the catalogue for the variants' ids, as a
	// storefront's product pages would show them.
	docVariants = `query Variants($after: Cursor) { products(first: 50, after: $after) {
  pageInfo { hasNextPage endCursor } edges { node { variants { id } } } } }`
)

// kind is a request of the flow.
type kind int

const (
	kindCartCreate kind = iota
	kindBuyerIdentity
	kindShippingMethod
	kindComplete
	kinds
)

var kindNames = [kinds]string{"cartCreate", "cartBuyerIdentityUpdate", "cartShippingMethodUpdate", "checkoutComplete"}

func (k kind) String() string { return kindNames[k] }

type config struct {
	url, key, pg, merchant string
	pid                    int
	conns                  int
	duration, warmup       time.Duration
	statsSettle            time.Duration
	sampleEvery            time.Duration
	products               int
	maxLines               int
	seed                   uint64
	jsonOut                string
	cpuTicksPerSecond      float64
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:18080/graphql", "GraphQL endpoint of the server")
	flag.StringVar(&c.key, "key", "", "storefront key (X-Storefront-Key) of the bench store")
	flag.StringVar(&c.pg, "pg", "", "PostgreSQL URL of the server's database (as its owner), for the oversell check and statistics")
	flag.StringVar(&c.merchant, "merchant", "", "the bench store's merchant id (with -pg)")
	flag.IntVar(&c.pid, "pid", 0, "the server's process id, for CPU time and RSS (optional)")
	flag.IntVar(&c.conns, "c", 32, "concurrent shoppers (one keep-alive connection each)")
	flag.DurationVar(&c.duration, "d", 20*time.Second, "measured time")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured load before the measured run")
	flag.DurationVar(&c.statsSettle, "stats-settle", 11*time.Second,
		"wait after a run before reading PostgreSQL statistics (idle backends flush them within 10 s)")
	flag.DurationVar(&c.sampleEvery, "sample", 50*time.Millisecond, "how often to sample pg_stat_activity during the run (with -pg; 0: never)")
	flag.IntVar(&c.products, "products", 1000, "products of the bench catalogue (3 variants each)")
	flag.IntVar(&c.maxLines, "max-lines", 3, "most distinct variants per cart (each cart has 1 to this many)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the shoppers' random choices")
	flag.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.Float64Var(&c.cpuTicksPerSecond, "clk-tck", 100, "clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK)")
	flag.Parse()
	if c.key == "" {
		fmt.Fprintln(os.Stderr, "checkout: -key (the bench store's storefront key) is required")
		os.Exit(2)
	}
	if c.pg != "" && c.merchant == "" {
		fmt.Fprintln(os.Stderr, "checkout: -pg needs -merchant (the bench store's merchant id)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, c, newClient(c.conns))
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkout:", err)
		os.Exit(1)
	}
	printResult(os.Stdout, r)
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(c.jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "checkout:", err)
			os.Exit(1)
		}
	}
	if r.Stock != nil && !r.Stock.OK {
		os.Exit(3)
	}
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}, Timeout: 30 * time.Second}
}

// Result is the outcome of a run.
type Result struct {
	Shoppers  int     `json:"shoppers"`
	Seconds   float64 `json:"seconds"`
	Orders    int64   `json:"orders"`
	Flows     int64   `json:"flows"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	OrdersPS  float64 `json:"orders_per_second"`
	FlowsPS   float64 `json:"flows_per_second"`
	RequestPS float64 `json:"requests_per_second"`
	// Latency per request kind, then "all".
	Latency      []Latency        `json:"latency"`
	ErrorsByCode map[string]int64 `json:"errors_by_code,omitempty"`
	FirstError   string           `json:"first_error,omitempty"`
	UnitsOrdered int64            `json:"units_ordered"`

	// From /proc of -pid, and of the PostgreSQL backends serving the
	// database (with -pg).
	ServerCPUmsPerOrder float64 `json:"server_cpu_ms_per_order,omitempty"`
	ServerCPUmsPerReq   float64 `json:"server_cpu_ms_per_request,omitempty"`
	ServerCores         float64 `json:"server_cpu_cores,omitempty"`
	RSSMiBMax           float64 `json:"server_rss_mib_max,omitempty"`
	RSSMiBEnd           float64 `json:"server_rss_mib_end,omitempty"`
	PGCPUmsPerOrder     float64 `json:"pg_backends_cpu_ms_per_order,omitempty"`
	PGCores             float64 `json:"pg_backends_cpu_cores,omitempty"`
	// PGBackendsGone are the backends of the start that were gone at the
	// end: their CPU time of the run is not in PGCPUmsPerOrder.
	PGBackendsGone    int     `json:"pg_backends_gone,omitempty"`
	LoadGenCores      float64 `json:"load_generator_cpu_cores"`
	MachineBusyCores  float64 `json:"machine_busy_cores"`
	MachineCores      int     `json:"machine_cores"`
	LoadAverageAtEnd  string  `json:"load_average_at_end,omitempty"`
	XactsPerOrder     float64 `json:"pg_commits_per_order,omitempty"`
	RollbacksPerOrder float64 `json:"pg_rollbacks_per_order,omitempty"`
	// ConnectionsOpened are the server's new connections to PostgreSQL
	// during the run (database/sql closes those beyond its idle pool).
	ConnectionsOpened   int64         `json:"pg_connections_opened"`
	RowsWrittenPerOrder []TableWrites `json:"pg_rows_written_per_order,omitempty"`
	Activity            *Activity     `json:"pg_activity,omitempty"`
	Stock               *StockCheck   `json:"stock_check,omitempty"`
}

// Latency are the percentiles of one request kind (successful requests).
type Latency struct {
	Kind  string  `json:"kind"`
	N     int     `json:"n"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func run(ctx context.Context, c config, client *http.Client) (*Result, error) {
	var pg *sql.DB
	if c.pg != "" {
		var err error
		if pg, err = sql.Open("pgx", c.pg); err != nil {
			return nil, fmt.Errorf("-pg: %w", err)
		}
		defer pg.Close()
		pg.SetMaxOpenConns(2) // the activity sampler and the rest
		if err := pg.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("-pg: %w", err)
		}
	}
	var before stockSnapshot
	if pg != nil {
		var err error
		if before, err = snapshotStock(ctx, pg, c.merchant); err != nil {
			return nil, err
		}
	}
	variants, err := loadVariants(ctx, client, c)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "checkout: %d variants of %d products\n", len(variants), c.products)
	if err := check(ctx, client, c, variants); err != nil {
		return nil, err
	}

	fmt.Fprintf(os.Stderr, "checkout: %s warm-up, %s measured, %d shoppers\n", c.warmup, c.duration, c.conns)
	var answeredBefore int64 = 1 // the check's order
	if c.warmup > 0 {
		w := drive(ctx, client, c, variants, time.Now().Add(c.warmup), 1_000_000)
		answeredBefore += w.orders
		if pg != nil {
			sleep(ctx, c.statsSettle) // let the warm-up's statistics reach the views
		}
	}
	var pgBefore, pgAfter pgStats
	if pg != nil {
		if pgBefore, err = readPGStats(ctx, pg); err != nil {
			return nil, err
		}
	}
	var sampler *activitySampler
	if pg != nil && c.sampleEvery > 0 {
		sampler = sampleActivity(ctx, pg, c.sampleEvery)
	}
	backends0 := backendCPU(ctx, pg)
	cpu0, _ := proc.CPUTicks(c.pid)
	self0 := selfCPU()
	machine0, _ := proc.MachineCPU()
	peakRSS := proc.PeakRSS(ctx, c.pid, 200*time.Millisecond)
	start := time.Now()
	end := start.Add(c.duration)
	driven := make(chan *tally, 1)
	go func() { driven <- drive(ctx, client, c, variants, end, 2_000_000) }()
	// The figures of the processes are read at the end of the window,
	// while the requests then in flight finish (uncounted).
	sleep(ctx, time.Until(end))
	elapsed := time.Since(start)
	cpu1, _ := proc.CPUTicks(c.pid)
	self1 := selfCPU()
	machine1, _ := proc.MachineCPU()
	backends1 := backendCPU(ctx, pg)
	rssMax := peakRSS()
	var activity *Activity
	if sampler != nil {
		activity = sampler.stop()
	}
	t := <-driven
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	r := &Result{Shoppers: c.conns, Seconds: elapsed.Seconds(), Orders: t.orders, Flows: t.flows,
		ErrorsByCode: t.errs, FirstError: t.firstErr, UnitsOrdered: t.units}
	var all []time.Duration
	for k := range kinds {
		r.Requests += t.requests[k]
		r.Latency = append(r.Latency, latencyOf(k.String(), t.lat[k]))
		all = append(all, t.lat[k]...)
	}
	r.Latency = append(r.Latency, latencyOf("all", all))
	for _, n := range t.errs {
		r.Errors += n
	}
	r.OrdersPS = float64(r.Orders) / r.Seconds
	r.FlowsPS = float64(r.Flows) / r.Seconds
	r.RequestPS = float64(r.Requests) / r.Seconds
	r.LoadGenCores = (self1 - self0).Seconds() / r.Seconds
	r.MachineBusyCores = float64(machine1.Busy-machine0.Busy) / c.cpuTicksPerSecond / r.Seconds
	r.MachineCores = runtime.NumCPU()
	if c.pid > 0 && r.Orders > 0 {
		ticks := float64(cpu1 - cpu0)
		r.ServerCPUmsPerOrder = ticks / c.cpuTicksPerSecond * 1000 / float64(r.Orders)
		r.ServerCPUmsPerReq = ticks / c.cpuTicksPerSecond * 1000 / float64(r.Requests)
		r.ServerCores = ticks / c.cpuTicksPerSecond / r.Seconds
		r.RSSMiBMax = float64(rssMax) / 1024
		if kb, err := proc.RSS(c.pid); err == nil {
			r.RSSMiBEnd = float64(kb) / 1024
		}
	}
	if pg != nil && r.Orders > 0 {
		ticks := float64(cpuDelta(backends0, backends1))
		for pid := range backends0 {
			if _, ok := backends1[pid]; !ok {
				r.PGBackendsGone++
			}
		}
		r.PGCPUmsPerOrder = ticks / c.cpuTicksPerSecond * 1000 / float64(r.Orders)
		r.PGCores = ticks / c.cpuTicksPerSecond / r.Seconds
	}
	r.Activity = activity
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAverageAtEnd = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	if pg != nil {
		sleep(ctx, c.statsSettle)
		if pgAfter, err = readPGStats(ctx, pg); err != nil {
			return nil, err
		}
		if r.Orders > 0 {
			n := float64(r.Orders)
			// The statistics read itself is one transaction.
			r.XactsPerOrder = float64(pgAfter.commits-pgBefore.commits-1) / n
			r.RollbacksPerOrder = float64(pgAfter.rollbacks-pgBefore.rollbacks) / n
			r.ConnectionsOpened = pgAfter.sessions - pgBefore.sessions
			r.RowsWrittenPerOrder = writesPerOrder(pgBefore, pgAfter, n)
		}
		after, err := snapshotStock(ctx, pg, c.merchant)
		if err != nil {
			return nil, err
		}
		r.Stock = compareStock(before, after, answeredBefore+r.Orders)
		if r.Stock.Orders, r.Stock.OrderNumbersUnique, err = orderNumbers(ctx, pg, c.merchant); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// loadVariants pages through the storefront's products for the ids of
// their variants.
func loadVariants(ctx context.Context, client *http.Client, c config) ([]string, error) {
	var out []string
	var after any
	for {
		body, err := post(ctx, client, c, mustJSON(map[string]any{"query": docVariants, "variables": map[string]any{"after": after}}))
		if err != nil {
			return nil, fmt.Errorf("products: %w", err)
		}
		var r struct {
			Data struct {
				Products struct {
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
					Edges []struct {
						Node struct{ Variants []struct{ ID string } }
					}
				}
			}
			Errors []json.RawMessage
		}
		if err := json.Unmarshal(body, &r); err != nil || len(r.Errors) > 0 {
			return nil, fmt.Errorf("products answered %s", truncate(body))
		}
		for _, e := range r.Data.Products.Edges {
			for _, v := range e.Node.Variants {
				out = append(out, v.ID)
			}
		}
		if !r.Data.Products.PageInfo.HasNextPage {
			break
		}
		after = r.Data.Products.PageInfo.EndCursor
	}
	if want := 3 * c.products; len(out) != want {
		return nil, fmt.Errorf("the storefront lists %d variants, want %d (3 per product of -products %d): is this the bench store?", len(out), want, c.products)
	}
	return out, nil
}

// check runs one flow and verifies every answer: the benchmark measures
// nothing if the server answers errors fast.
func check(ctx context.Context, client *http.Client, c config, variants []string) error {
	s := &shopper{client: client, c: c, variants: variants, rng: rand.New(rand.NewPCG(c.seed, 0)), id: -1, verify: true}
	t := newTally(4)
	s.flow(ctx, t)
	if t.orders != 1 {
		return fmt.Errorf("the checkout flow failed: %s", t.firstErr)
	}
	return nil
}

// tally is what the shoppers of one run measured.
type tally struct {
	lat                  [kinds][]time.Duration
	requests             [kinds]int64
	errs                 map[string]int64
	firstErr             string
	flows, orders, units int64
}

func newTally(capacity int) *tally {
	t := &tally{errs: map[string]int64{}}
	for k := range kinds {
		t.lat[k] = make([]time.Duration, 0, capacity)
	}
	return t
}

func (t *tally) fail(k kind, code, detail string) {
	key := k.String() + ": " + code
	t.errs[key]++
	if t.firstErr == "" {
		t.firstErr = key + ": " + detail
	}
}

func (t *tally) merge(o *tally) {
	for k := range kinds {
		t.lat[k] = append(t.lat[k], o.lat[k]...)
		t.requests[k] += o.requests[k]
	}
	for code, n := range o.errs {
		t.errs[code] += n
	}
	if t.firstErr == "" {
		t.firstErr = o.firstErr
	}
	t.flows += o.flows
	t.orders += o.orders
	t.units += o.units
}

// drive runs c.conns shoppers until end and merges what they measured.
// Requests in flight at the end are let finish (a request cancelled half
// way would cost the server a database connection) but not counted, nor
// are their flows.
func drive(ctx context.Context, client *http.Client, c config, variants []string, end time.Time, stream uint64) *tally {
	tallies := make([]*tally, c.conns)
	var wg sync.WaitGroup
	for w := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &shopper{client: client, c: c, variants: variants, id: w, end: end,
				rng: rand.New(rand.NewPCG(c.seed, stream+uint64(w)))}
			t := newTally(1 << 12)
			for ctx.Err() == nil && time.Now().Before(end) {
				s.flow(ctx, t)
			}
			tallies[w] = t
		}()
	}
	wg.Wait()
	out := newTally(0)
	for _, t := range tallies {
		out.merge(t)
	}
	return out
}

// shopper is one guest running the flow.
type shopper struct {
	client   *http.Client
	c        config
	variants []string
	rng      *rand.Rand
	id       int
	n        int
	// end is the end of the run (zero: none); requests answered after it
	// are not counted.
	end time.Time
	// verify checks the answers' amounts too (the check before the run).
	verify bool
}

// Money, cart and the payloads, as the documents select them.
type money struct{ Amount int64 }

type cartAnswer struct {
	ID                       string
	TotalQuantity            int
	AvailableShippingMethods []struct {
		ID    string
		Price money
	}
	ShippingMethod *struct{ ID string }
	Cost           struct{ Subtotal, ShippingTotal, Total money }
}

type payloadAnswer struct {
	Cart  *cartAnswer
	Order *struct {
		ID          string
		OrderNumber int
		Status      string
		TotalAmount int64
		Items       []struct {
			SKU      string
			Quantity int
		}
	}
	Payment *struct {
		Provider, Status string
		Amount           money
	}
	UserErrors []struct {
		Field   []string
		Code    string
		Message string
	}
}

// flow runs the flow once and records it in t, unless the run ends first.
func (s *shopper) flow(ctx context.Context, t *tally) {
	s.n++
	lines := s.lines()
	p, ok := s.call(ctx, t, kindCartCreate, docCartCreate, map[string]any{"in": map[string]any{"lines": lines}})
	if !ok {
		return
	}
	if p.Cart == nil || p.Cart.TotalQuantity != len(lines) {
		t.fail(kindCartCreate, "WRONG_ANSWER", fmt.Sprintf("cart %+v, want %d units", p.Cart, len(lines)))
		t.flows++
		return
	}
	cart := p.Cart.ID
	subtotal := p.Cart.Cost.Subtotal.Amount
	p, ok = s.call(ctx, t, kindBuyerIdentity, docBuyerIdentity, map[string]any{"cart": cart, "buyer": map[string]any{
		"email": fmt.Sprintf("shopper-%d-%d@bench.omnisphere.test", s.id, s.n),
		"shippingAddress": map[string]any{"firstName": "Bench", "lastName": "Shopper", "line1": "1 Bench Street",
			"city": "Springfield", "province": "IL", "postalCode": "62701", "countryCode": "US"},
	}})
	if !ok {
		return
	}
	if p.Cart == nil || len(p.Cart.AvailableShippingMethods) == 0 {
		t.fail(kindBuyerIdentity, "NO_SHIPPING_METHOD", "the cart offers no shipping method")
		t.flows++
		return
	}
	method := p.Cart.AvailableShippingMethods[0]
	p, ok = s.call(ctx, t, kindShippingMethod, docShippingMethod, map[string]any{"cart": cart, "method": method.ID})
	if !ok {
		return
	}
	if p.Cart == nil || p.Cart.ShippingMethod == nil || p.Cart.ShippingMethod.ID != method.ID ||
		p.Cart.Cost.Total.Amount != subtotal+method.Price.Amount {
		t.fail(kindShippingMethod, "WRONG_ANSWER", fmt.Sprintf("cart %+v, want method %s and total %d", p.Cart, method.ID, subtotal+method.Price.Amount))
		t.flows++
		return
	}
	total := p.Cart.Cost.Total.Amount
	p, ok = s.call(ctx, t, kindComplete, docComplete, map[string]any{"in": map[string]any{
		"cartId": cart, "paymentProvider": "MANUAL", "idempotencyKey": uuid.NewString()}})
	if !ok {
		return
	}
	t.flows++
	if p.Order == nil || p.Payment == nil || len(p.Order.Items) != len(lines) || p.Order.TotalAmount != total {
		t.fail(kindComplete, "WRONG_ANSWER", fmt.Sprintf("order %+v, want %d lines and total %d", p.Order, len(lines), total))
		return
	}
	if s.verify && (p.Order.OrderNumber <= 0 || p.Order.Status != "PENDING" || p.Payment.Provider != "MANUAL" ||
		p.Payment.Status != "PENDING" || p.Payment.Amount.Amount != total || method.Price.Amount != 500) {
		t.fail(kindComplete, "WRONG_ANSWER", fmt.Sprintf("order %+v, payment %+v, shipping %d: want a PENDING MANUAL order of %d with the bench shipping (500)",
			p.Order, p.Payment, method.Price.Amount, total))
		return
	}
	t.orders++
	t.units += int64(len(lines))
}

// lines picks 1 to maxLines distinct variants, one unit each.
func (s *shopper) lines() []map[string]any {
	n := 1 + s.rng.IntN(max(1, s.c.maxLines))
	var picked []int
	for len(picked) < n {
		i := s.rng.IntN(len(s.variants))
		if !slices.Contains(picked, i) {
			picked = append(picked, i)
		}
	}
	out := make([]map[string]any, n)
	for j, i := range picked {
		out[j] = map[string]any{"variantId": s.variants[i], "quantity": 1}
	}
	return out
}

// call sends one request of the flow and records it. It answers false
// when the flow cannot go on: a failure (recorded, and the flow counted as
// finished) or the end of the run (nothing recorded).
func (s *shopper) call(ctx context.Context, t *tally, k kind, doc string, vars map[string]any) (*payloadAnswer, bool) {
	body := mustJSON(map[string]any{"query": doc, "variables": vars})
	t0 := time.Now()
	resp, err := post(ctx, s.client, s.c, body)
	lat := time.Since(t0)
	if ctx.Err() != nil || !s.end.IsZero() && time.Now().After(s.end) {
		return nil, false // answered after the end of the run: not counted
	}
	t.requests[k]++
	fail := func(code, detail string) (*payloadAnswer, bool) {
		t.fail(k, code, detail)
		t.flows++
		return nil, false
	}
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			return fail(fmt.Sprintf("HTTP %d", he.status), err.Error())
		}
		return fail("TRANSPORT", err.Error())
	}
	var r struct {
		Data   map[string]*payloadAnswer
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return fail("BAD_JSON", truncate(resp))
	}
	if len(r.Errors) > 0 {
		code := r.Errors[0].Extensions.Code
		if code == "" {
			code = "GRAPHQL_ERROR"
		}
		return fail(code, truncate(resp))
	}
	var p *payloadAnswer
	for _, v := range r.Data {
		p = v
	}
	if p == nil {
		return fail("NO_PAYLOAD", truncate(resp))
	}
	if len(p.UserErrors) > 0 {
		codes := make([]string, 0, len(p.UserErrors))
		for _, ue := range p.UserErrors {
			if !slices.Contains(codes, ue.Code) {
				codes = append(codes, ue.Code)
			}
		}
		return fail(strings.Join(codes, "+"), truncate(resp))
	}
	t.lat[k] = append(t.lat[k], lat)
	return p, true
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

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
		return b, &httpError{status: resp.StatusCode, body: truncate(b)}
	}
	return b, nil
}

func latencyOf(name string, lat []time.Duration) Latency {
	slices.Sort(lat)
	l := Latency{Kind: name, N: len(lat), P50ms: pct(lat, 0.50), P95ms: pct(lat, 0.95), P99ms: pct(lat, 0.99)}
	if len(lat) > 0 {
		l.MaxMs = ms(lat[len(lat)-1])
	}
	return l
}

func printResult(w io.Writer, r *Result) {
	fmt.Fprintf(w, "checkout: %d shoppers, %.1f s measured\n", r.Shoppers, r.Seconds)
	fmt.Fprintf(w, "orders: %d (%.1f/s); flows finished: %d (%.1f/s); requests: %d (%.0f/s); errors: %d; units ordered: %d\n",
		r.Orders, r.OrdersPS, r.Flows, r.FlowsPS, r.Requests, r.RequestPS, r.Errors, r.UnitsOrdered)
	fmt.Fprintf(w, "%-26s %7s %8s %8s %8s %8s\n", "latency (ms)", "n", "p50", "p95", "p99", "max")
	for _, l := range r.Latency {
		fmt.Fprintf(w, "%-26s %7d %8.2f %8.2f %8.2f %8.2f\n", l.Kind, l.N, l.P50ms, l.P95ms, l.P99ms, l.MaxMs)
	}
	if len(r.ErrorsByCode) > 0 {
		codes := make([]string, 0, len(r.ErrorsByCode))
		for code := range r.ErrorsByCode {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		for _, code := range codes {
			fmt.Fprintf(w, "errors: %s: %d\n", code, r.ErrorsByCode[code])
		}
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
	if r.ServerCores > 0 {
		fmt.Fprintf(w, "server: CPU %.2f ms/order, %.3f ms/request (%.2f cores busy); RSS max %.1f MiB, at end %.1f MiB\n",
			r.ServerCPUmsPerOrder, r.ServerCPUmsPerReq, r.ServerCores, r.RSSMiBMax, r.RSSMiBEnd)
	}
	if r.PGCores > 0 {
		fmt.Fprintf(w, "PostgreSQL backends: CPU %.2f ms/order (%.2f cores busy)", r.PGCPUmsPerOrder, r.PGCores)
		if r.PGBackendsGone > 0 {
			fmt.Fprintf(w, "; %d backends of the start were gone at the end (their CPU time is missing)", r.PGBackendsGone)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "machine: %.2f of %d cores busy: server %.2f, PostgreSQL backends %.2f, load generator %.2f, the rest %.2f "+
		"(other processes, PostgreSQL's background processes, the kernel); load average at the end: %s\n",
		r.MachineBusyCores, r.MachineCores, r.ServerCores, r.PGCores, r.LoadGenCores,
		r.MachineBusyCores-r.ServerCores-r.PGCores-r.LoadGenCores, r.LoadAverageAtEnd)
	if r.XactsPerOrder > 0 {
		fmt.Fprintf(w, "PostgreSQL per order: %.2f transactions committed, %.3f rolled back; connections opened during the run: %d\n",
			r.XactsPerOrder, r.RollbacksPerOrder, r.ConnectionsOpened)
		var parts []string
		for _, tw := range r.RowsWrittenPerOrder {
			parts = append(parts, fmt.Sprintf("%s +%.2f/~%.2f", tw.Table, tw.Inserted, tw.Updated))
		}
		fmt.Fprintf(w, "rows inserted/updated per order: %s\n", strings.Join(parts, ", "))
	}
	if a := r.Activity; a != nil {
		fmt.Fprintf(w, "backends (mean of %d samples): %.1f connected, %.1f active, %.1f idle in transaction; waiting on a lock %.1f",
			a.Samples, a.Connected, a.Active, a.IdleInTx, a.LockWaiting)
		if len(a.LockWaitsBy) > 0 {
			var parts []string
			for _, s := range a.LockWaitsBy {
				parts = append(parts, fmt.Sprintf("%s %.2f", s.Statement, s.Mean))
			}
			fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
		}
		if len(a.OtherWaits) > 0 {
			var parts []string
			for _, s := range a.OtherWaits {
				parts = append(parts, fmt.Sprintf("%s %.2f", s.Statement, s.Mean))
			}
			fmt.Fprintf(w, "; other waits of active backends: %s", strings.Join(parts, ", "))
		}
		fmt.Fprintln(w)
	}
	if s := r.Stock; s != nil {
		verdict := "no oversell"
		if !s.OK {
			verdict = "STOCK CHECK FAILED"
		}
		fmt.Fprintf(w, "%s: %d inventory rows, %d with reserved > on hand (no backorder); reserved units grew by %d, order_items hold %d new units; "+
			"%d of %d variants differ; %d products with a stale total_inventory; orders in the database: %d (answered: %d), order numbers unique and gapless: %v\n",
			verdict, s.Rows, s.OverReserved, s.ReservedGrowth, s.OrderedGrowth, s.VariantsDiffering, s.Variants,
			s.StaleTotals, s.Orders, s.OrdersAnswered, s.OrderNumbersUnique)
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

// selfCPU is the CPU time the load generator has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

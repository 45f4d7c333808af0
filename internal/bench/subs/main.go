// Command subs is the subscription fan-out benchmark (docs/benchmarks.md):
// N WebSocket subscribers of inventoryAlerts spread over the given server
// processes, one store's low-stock events caused at a steady rate through
// the admin API (inventoryAdjust on the first server), and the time from
// each event's occurredAt to its arrival at each subscriber, in all and per
// event (the first delivery, and the spread to the last).
//
//	go run ./internal/bench/subs -urls http://127.0.0.1:18081,http://127.0.0.1:18082 -n 5000 -rate 10 -d 20s -pids 123,456
//
// internal/bench/subs.sh starts the two servers on a scratch database and
// runs it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnisphere/omnisphere/internal/bench/proc"
)

func main() {
	urls := flag.String("urls", "http://127.0.0.1:18081,http://127.0.0.1:18082", "comma-separated server base URLs; subscribers are spread over them")
	n := flag.Int("n", 1000, "subscribers")
	rate := flag.Float64("rate", 10, "events per second")
	d := flag.Duration("d", 20*time.Second, "measured duration")
	pids := flag.String("pids", "", "comma-separated server pids, for RSS and CPU")
	clkTck := flag.Int("clk-tck", 100, "getconf CLK_TCK")
	nreaders := flag.Int("readers", 2, "goroutines reading the subscribers' sockets (epoll)")
	rssRest := flag.Int64("rss-rest", 0, "the servers' RSS (KiB) before any subscriber, for the RSS per 1,000 subscribers")
	flag.Parse()
	// The generator shares the two cores with the servers: it keeps its
	// own cost low (fewer collections here; no goroutine, allocation or
	// JSON decoding per message in client.go).
	debug.SetGCPercent(400)
	servers := strings.Split(*urls, ",")
	var serverPIDs []int
	for _, p := range strings.Split(*pids, ",") {
		if pid, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
			serverPIDs = append(serverPIDs, pid)
		}
	}

	// A store, a variant with stock 10 and threshold 5 in one warehouse.
	slug := fmt.Sprintf("subs%d", time.Now().UnixNano()%1e9)
	var reg struct {
		MerchantRegister struct {
			AccessToken string
			UserErrors  []struct{ Message string }
		}
	}
	must(gql(servers[0], "", `mutation($in: MerchantRegisterInput!) { merchantRegister(input: $in) { accessToken userErrors { message } } }`,
		map[string]any{"in": map[string]any{"email": slug + "@bench.test", "password": "bench password 123", "fullName": "Bench",
			"storeName": "Subs bench", "storeSlug": slug}}, &reg))
	tok := reg.MerchantRegister.AccessToken
	if tok == "" {
		log.Fatalf("register: %+v", reg.MerchantRegister.UserErrors)
	}
	var prod struct {
		ProductCreate struct {
			Product struct{ Variants []struct{ ID string } }
		}
	}
	must(gql(servers[0], tok, `mutation { productCreate(input: {title: "Lamp", variants: [{sku: "LAMP", price: 100}]}) { product { variants { id } } } }`, nil, &prod))
	var wh struct {
		WarehouseCreate struct{ Warehouse struct{ ID string } }
	}
	must(gql(servers[0], tok, `mutation { warehouseCreate(input: {name: "Bench", code: "BENCH"}) { warehouse { id } } }`, nil, &wh))
	variant, warehouse := prod.ProductCreate.Product.Variants[0].ID, wh.WarehouseCreate.Warehouse.ID
	must(gql(servers[0], tok, `mutation($in: InventoryLevelUpdateInput!) { inventoryLevelUpdate(input: $in) { userErrors { message } } }`,
		map[string]any{"in": map[string]any{"variantId": variant, "warehouseId": warehouse, "lowStockThreshold": 5}}, nil))
	adjust := func(delta int) error {
		return gql(servers[0], tok, `mutation($in: InventoryAdjustInput!) { inventoryAdjust(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"variantId": variant, "warehouseId": warehouse, "delta": delta, "reason": "CORRECTION"}}, nil)
	}
	must(adjust(10))
	// One event: a dip to the threshold (the alert) and a restock (which
	// re-arms it), two mutations run in order in one request.
	adjustIn := func(delta int) map[string]any {
		return map[string]any{"variantId": variant, "warehouseId": warehouse, "delta": delta, "reason": "CORRECTION"}
	}
	event := func() error {
		return gql(servers[0], tok, `mutation($dip: InventoryAdjustInput!, $restock: InventoryAdjustInput!) {
			dip: inventoryAdjust(input: $dip) { userErrors { message } }
			restock: inventoryAdjust(input: $restock) { userErrors { message } } }`,
			map[string]any{"dip": adjustIn(-6), "restock": adjustIn(6)}, nil)
	}

	// The subscribers: each dials, subscribes, and hands its socket to one
	// of the readers (epoll), which find each event's occurredAt.
	readers := make([]*reader, *nreaders)
	for i := range readers {
		var err error
		if readers[i], err = newReader(); err != nil {
			log.Fatal(err)
		}
		go readers[i].run()
	}
	start := time.Now()
	var wg sync.WaitGroup
	var dialErr atomic.Value
	sem := make(chan struct{}, 64) // do not stampede the accept queues
	for i := range *n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fd, err := dial(servers[i%len(servers)], tok)
			if err != nil {
				dialErr.Store(err)
				return
			}
			if err := readers[i%len(readers)].add(fd); err != nil {
				dialErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		log.Fatalf("subscribers: %v", err)
	}
	fmt.Printf("subs: %d subscribers on %d servers connected in %s (%d readers)\n", *n, len(servers), time.Since(start).Round(time.Millisecond), len(readers))
	time.Sleep(time.Second)
	rss0 := rssOf(serverPIDs)
	cpu0 := cpuOf(serverPIDs)
	self0 := cpuOf([]int{os.Getpid()})
	all0, _ := proc.MachineCPU()
	for _, r := range readers {
		r.measuring.Store(true)
	}

	// Events at a steady rate: each is one dip to the threshold (the
	// alert) and one restock (which re-arms it).
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	sent := 0
	end := time.After(*d)
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
			if err := event(); err != nil {
				log.Fatal(err)
			}
			sent++
		}
	}
	tick.Stop()
	time.Sleep(2 * time.Second) // the last events arrive
	cpu1 := cpuOf(serverPIDs)
	self1 := cpuOf([]int{os.Getpid()})
	all1, _ := proc.MachineCPU()
	rss1 := rssOf(serverPIDs)
	var lat []time.Duration
	var received, errorsN int64
	first, last := map[int64]time.Duration{}, map[int64]time.Duration{}
	for _, r := range readers {
		l, errs := r.stop()
		for _, d := range l {
			lat = append(lat, d.latency)
			if f, ok := first[d.event]; !ok || d.latency < f {
				first[d.event] = d.latency
			}
			last[d.event] = max(last[d.event], d.latency)
		}
		errorsN += errs
	}
	received = int64(len(lat))
	slices.Sort(lat)
	// Per event: the first delivery (the path to the servers: commit,
	// relay, Redis, rendering) and the spread to the last (the burst).
	var firsts, spreads []time.Duration
	for e, f := range first {
		firsts = append(firsts, f)
		spreads = append(spreads, last[e]-f)
	}
	slices.Sort(firsts)
	slices.Sort(spreads)
	median := func(s []time.Duration) time.Duration {
		if len(s) == 0 {
			return 0
		}
		return s[len(s)/2]
	}
	var maxSpread time.Duration
	if len(spreads) > 0 {
		maxSpread = spreads[len(spreads)-1]
	}
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	want := int64(sent) * int64(*n)
	fmt.Printf("subs: %d events in %s (%.1f/s), %d deliveries of %d expected (%.2f%%), %d subscriber errors\n",
		sent, *d, float64(sent)/d.Seconds(), received, want, 100*float64(received)/float64(max(want, 1)), errorsN)
	fmt.Printf("subs: event to client latency p50 %s, p90 %s, p99 %s, max %s\n",
		pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	p99 := func(s []time.Duration) time.Duration {
		if len(s) == 0 {
			return 0
		}
		return s[min(len(s)-1, len(s)*99/100)]
	}
	fmt.Printf("subs: per event, the first delivery after %s (median; p99 %s), the last %s after the first (median; p99 %s, max %s)\n",
		median(firsts).Round(10*time.Microsecond), p99(firsts).Round(10*time.Microsecond),
		median(spreads).Round(10*time.Microsecond), p99(spreads).Round(10*time.Microsecond), maxSpread.Round(10*time.Microsecond))
	if rss0 > 0 {
		per := func(rss int64) float64 { return float64(rss-*rssRest) / 1024 / float64(*n) * 1000 }
		fmt.Printf("subs: servers' RSS %.1f MiB at rest, %.1f MiB with %d subscribers (%.1f MiB per 1,000 over rest), %.1f MiB after the events (%.1f per 1,000)\n",
			float64(*rssRest)/1024, float64(rss0)/1024, *n, per(rss0), float64(rss1)/1024, per(rss1))
		fmt.Printf("subs: servers' CPU %.2f cores busy while events flowed\n", float64(cpu1-cpu0)/float64(*clkTck)/(d.Seconds()+2))
	}
	fmt.Printf("subs: this load generator %.2f cores, the whole machine %.2f of %d cores busy\n",
		float64(self1-self0)/float64(*clkTck)/(d.Seconds()+2),
		float64(all1.Busy-all0.Busy)/float64(max(all1.Total-all0.Total, 1))*float64(runtime.NumCPU()), runtime.NumCPU())
}

func gql(base, tok, q string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s", r.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// rssOf sums the resident set (KiB) of the pids.
func rssOf(pids []int) int64 {
	var total int64
	for _, p := range pids {
		if kib, err := proc.RSS(p); err == nil {
			total += kib
		}
	}
	return total
}

// cpuOf sums the CPU time (clock ticks) of the pids.
func cpuOf(pids []int) int64 {
	var total int64
	for _, p := range pids {
		if t, err := proc.CPUTicks(p); err == nil {
			total += t
		}
	}
	return total
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// Command subs is the subscription fan-out benchmark (docs/benchmarks.md):
// N WebSocket subscribers of inventoryAlerts spread over the given server
// processes, one store's low-stock events caused at a steady rate through
// the admin API (inventoryAdjust on the first server), and the time from
// each event's occurredAt to its arrival at each subscriber.
//
//	go run ./internal/bench/subs -urls http://127.0.0.1:18081,http://127.0.0.1:18082 -n 5000 -rate 10 -d 20s -pids 123,456
//
// internal/bench/subs.sh starts the two servers on a scratch database and
// runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

func main() {
	urls := flag.String("urls", "http://127.0.0.1:18081,http://127.0.0.1:18082", "comma-separated server base URLs; subscribers are spread over them")
	n := flag.Int("n", 1000, "subscribers")
	rate := flag.Float64("rate", 10, "events per second")
	d := flag.Duration("d", 20*time.Second, "measured duration")
	pids := flag.String("pids", "", "comma-separated server pids, for RSS and CPU")
	clkTck := flag.Int("clk-tck", 100, "getconf CLK_TCK")
	flag.Parse()
	servers := strings.Split(*urls, ",")
	ctx := context.Background()

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

	// The subscribers.
	var mu sync.Mutex
	var lat []time.Duration
	var received, errorsN atomic.Int64
	ready := make(chan struct{}, *n)
	start := time.Now()
	var wg sync.WaitGroup
	cctx, stop := context.WithCancel(ctx)
	for i := range *n {
		wg.Add(1)
		go func(base string) {
			defer wg.Done()
			if err := subscriber(cctx, base, tok, ready, func(at time.Time) {
				l := time.Since(at)
				received.Add(1)
				mu.Lock()
				lat = append(lat, l)
				mu.Unlock()
			}); err != nil && cctx.Err() == nil {
				errorsN.Add(1)
				log.Printf("subscriber: %v", err)
			}
		}(servers[i%len(servers)])
		if i%200 == 199 {
			time.Sleep(20 * time.Millisecond) // do not stampede the accept queues
		}
	}
	for range *n {
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			log.Fatalf("subscribers not ready after 60 s (%d errors)", errorsN.Load())
		}
	}
	fmt.Printf("subs: %d subscribers on %d servers connected in %s\n", *n, len(servers), time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	rss0 := rssOf(*pids)
	cpu0 := cpuOf(*pids)

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
			if err := adjust(-6); err != nil {
				log.Fatal(err)
			}
			if err := adjust(6); err != nil {
				log.Fatal(err)
			}
			sent++
		}
	}
	tick.Stop()
	time.Sleep(2 * time.Second) // the last events arrive
	cpu1 := cpuOf(*pids)
	rss1 := rssOf(*pids)
	stop()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	want := int64(sent) * int64(*n)
	fmt.Printf("subs: %d events in %s (%.1f/s), %d deliveries of %d expected (%.2f%%), %d subscriber errors\n",
		sent, *d, float64(sent)/d.Seconds(), received.Load(), want, 100*float64(received.Load())/float64(max(want, 1)), errorsN.Load())
	fmt.Printf("subs: event to client latency p50 %s, p90 %s, p99 %s, max %s\n",
		pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	if rss0 > 0 {
		fmt.Printf("subs: servers' RSS %.1f MiB with %d subscribers (%.1f MiB per 1,000), %.1f MiB after the events\n",
			float64(rss0)/1024, *n, float64(rss0)/1024/float64(*n)*1000, float64(rss1)/1024)
		fmt.Printf("subs: servers' CPU %.2f cores busy while events flowed\n", float64(cpu1-cpu0)/float64(*clkTck)/(d.Seconds()+2))
	}
}

// subscriber holds one graphql-transport-ws subscription and calls got with
// each event's occurredAt.
func subscriber(ctx context.Context, base, tok string, ready chan<- struct{}, got func(time.Time)) error {
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return c.Write(ctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + tok}}); err != nil {
		return err
	}
	subscribed := false
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			Type    string
			Payload struct {
				Data struct {
					InventoryAlerts struct{ OccurredAt time.Time }
				}
				Errors []any
			}
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		switch m.Type {
		case "connection_ack":
			if err := write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
				"query": "subscription { inventoryAlerts { eventId occurredAt sku quantityAvailable } }"}}); err != nil {
				return err
			}
			if !subscribed {
				subscribed = true
				ready <- struct{}{}
			}
		case "ping":
			_ = write(map[string]any{"type": "pong"})
		case "next":
			if len(m.Payload.Errors) > 0 {
				return fmt.Errorf("errors: %s", b)
			}
			got(m.Payload.Data.InventoryAlerts.OccurredAt)
		case "error", "complete":
			return fmt.Errorf("%s: %s", m.Type, b)
		}
	}
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
func rssOf(pids string) int64 {
	var total int64
	for _, p := range strings.Split(pids, ",") {
		b, err := os.ReadFile("/proc/" + strings.TrimSpace(p) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				total += v
			}
		}
	}
	return total
}

// cpuOf sums utime+stime (clock ticks) of the pids.
func cpuOf(pids string) int64 {
	var total int64
	for _, p := range strings.Split(pids, ",") {
		b, err := os.ReadFile("/proc/" + strings.TrimSpace(p) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			total += u + st
		}
	}
	return total
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/omnisphere/omnisphere/internal/bench/proc"
)

// What the run reads of PostgreSQL, as the database's owner (no row-level
// security): the stock before and after, cumulative statistics, and samples
// of what the server's backends are doing.

// stockSnapshot holds, per variant of the store, the units reserved over
// its inventory rows and the units of it in order lines, plus the rows
// where more is reserved than on hand for a variant without backorder.
type stockSnapshot struct {
	reserved, ordered map[string]int64
	rows, over        int
	// staleTotals are the products whose total_inventory is not what their
	// levels sum to (available units of each tracked variant, never below
	// zero): the aggregate checkout keeps up to date under the product lock.
	staleTotals int
}

func snapshotStock(ctx context.Context, pg *sql.DB, merchant string) (stockSnapshot, error) {
	s := stockSnapshot{reserved: map[string]int64{}, ordered: map[string]int64{}}
	rows, err := pg.QueryContext(ctx, `
		SELECT v.id::text,
		       COALESCE((SELECT sum(i.quantity_reserved) FROM inventory i WHERE i.variant_id = v.id), 0)::bigint,
		       COALESCE((SELECT sum(oi.quantity) FROM order_items oi WHERE oi.variant_id = v.id), 0)::bigint
		FROM product_variants v WHERE v.merchant_id = $1`, merchant)
	if err != nil {
		return s, fmt.Errorf("stock snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var reserved, ordered int64
		if err := rows.Scan(&id, &reserved, &ordered); err != nil {
			return s, fmt.Errorf("stock snapshot: %w", err)
		}
		s.reserved[id], s.ordered[id] = reserved, ordered
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("stock snapshot: %w", err)
	}
	err = pg.QueryRowContext(ctx, `
		SELECT count(*),
		       count(*) FILTER (WHERE i.quantity_reserved > i.quantity_on_hand AND NOT v.allow_backorder)
		FROM inventory i JOIN product_variants v ON v.id = i.variant_id
		WHERE i.merchant_id = $1`, merchant).Scan(&s.rows, &s.over)
	if err != nil {
		return s, fmt.Errorf("stock snapshot: %w", err)
	}
	err = pg.QueryRowContext(ctx, `
		SELECT count(*) FROM products p
		WHERE p.merchant_id = $1 AND p.total_inventory <> COALESCE((
		  SELECT sum(GREATEST(a, 0)) FROM (
		    SELECT sum(i.quantity_on_hand - i.quantity_reserved) AS a
		    FROM product_variants v JOIN inventory i ON i.variant_id = v.id
		    WHERE v.product_id = p.id AND v.track_inventory GROUP BY v.id) per_variant), 0)`, merchant).Scan(&s.staleTotals)
	if err != nil {
		return s, fmt.Errorf("stock snapshot: %w", err)
	}
	if len(s.reserved) == 0 {
		return s, fmt.Errorf("stock snapshot: the store %s has no variants", merchant)
	}
	return s, nil
}

// StockCheck is the verdict on overselling.
type StockCheck struct {
	OK bool `json:"ok"`
	// Rows are the store's inventory rows; OverReserved those where more
	// units are reserved than on hand though the variant takes no
	// backorders.
	Rows         int `json:"inventory_rows"`
	OverReserved int `json:"over_reserved_rows"`
	// ReservedGrowth is how many more units are reserved than before the
	// run, OrderedGrowth how many more units order lines hold; per variant
	// they must be equal (VariantsDiffering counts those where not).
	ReservedGrowth    int64 `json:"reserved_growth"`
	OrderedGrowth     int64 `json:"ordered_growth"`
	Variants          int   `json:"variants"`
	VariantsDiffering int   `json:"variants_differing"`
	// Orders are the store's orders in the database; OrdersAnswered those
	// the shoppers were answered (the database may hold up to one more per
	// shopper: checkouts cut off by the end of a run still commit).
	// StaleTotals are products whose total_inventory differs from their
	// levels afterwards.
	StaleTotals        int   `json:"stale_product_totals"`
	Orders             int64 `json:"orders"`
	OrdersAnswered     int64 `json:"orders_answered"`
	OrderNumbersUnique bool  `json:"order_numbers_unique_and_gapless"`
}

func compareStock(before, after stockSnapshot, answered int64) *StockCheck {
	c := &StockCheck{Rows: after.rows, OverReserved: after.over, Variants: len(after.reserved), OrdersAnswered: answered,
		StaleTotals: after.staleTotals}
	for id, r := range after.reserved {
		dr := r - before.reserved[id]
		do := after.ordered[id] - before.ordered[id]
		c.ReservedGrowth += dr
		c.OrderedGrowth += do
		if dr != do {
			c.VariantsDiffering++
		}
	}
	c.OK = c.OverReserved == 0 && c.VariantsDiffering == 0 && c.StaleTotals == 0
	return c
}

// orderNumbers counts the store's orders and checks that their numbers
// are 1…n (the store's counter hands each out once, and a rolled-back
// checkout gives its number back).
func orderNumbers(ctx context.Context, pg *sql.DB, merchant string) (int64, bool, error) {
	var n, distinct, lo, hi int64
	err := pg.QueryRowContext(ctx, `
		SELECT count(*), count(DISTINCT order_number), COALESCE(min(order_number), 0), COALESCE(max(order_number), 0)
		FROM orders WHERE merchant_id = $1`, merchant).Scan(&n, &distinct, &lo, &hi)
	if err != nil {
		return 0, false, fmt.Errorf("order numbers: %w", err)
	}
	return n, n == distinct && (n == 0 || hi-lo+1 == n), nil
}

// pgStats are cumulative counters of the database: committed and rolled
// back transactions, and rows inserted and updated per table.
type pgStats struct {
	commits, rollbacks int64
	// sessions are the connections established to the database so far.
	sessions          int64
	inserted, updated map[string]int64
}

func readPGStats(ctx context.Context, pg *sql.DB) (pgStats, error) {
	s := pgStats{inserted: map[string]int64{}, updated: map[string]int64{}}
	if err := pg.QueryRowContext(ctx, `SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database WHERE datname = current_database()`).
		Scan(&s.commits, &s.rollbacks, &s.sessions); err != nil {
		return s, fmt.Errorf("read pg statistics: %w", err)
	}
	rows, err := pg.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables`)
	if err != nil {
		return s, fmt.Errorf("read pg statistics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		var ins, upd int64
		if err := rows.Scan(&t, &ins, &upd); err != nil {
			return s, fmt.Errorf("read pg statistics: %w", err)
		}
		s.inserted[t], s.updated[t] = ins, upd
	}
	return s, rows.Err()
}

// TableWrites are the rows of a table inserted and updated per order.
type TableWrites struct {
	Table    string  `json:"table"`
	Inserted float64 `json:"inserted"`
	Updated  float64 `json:"updated"`
}

func writesPerOrder(before, after pgStats, orders float64) []TableWrites {
	var out []TableWrites
	for t, ins := range after.inserted {
		tw := TableWrites{Table: t, Inserted: float64(ins-before.inserted[t]) / orders,
			Updated: float64(after.updated[t]-before.updated[t]) / orders}
		if tw.Inserted > 0.005 || tw.Updated > 0.005 {
			out = append(out, tw)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Inserted+out[i].Updated > out[j].Inserted+out[j].Updated ||
			out[i].Inserted+out[i].Updated == out[j].Inserted+out[j].Updated && out[i].Table < out[j].Table
	})
	return out
}

// backendCPU returns the CPU ticks so far of each client backend serving
// the database (they are processes of the same machine).
func backendCPU(ctx context.Context, pg *sql.DB) map[int]int64 {
	out := map[int]int64{}
	if pg == nil {
		return out
	}
	rows, err := pg.QueryContext(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if t, err := proc.CPUTicks(pid); err == nil {
				out[pid] = t
			}
		}
	}
	return out
}

// cpuDelta sums the ticks the backends of after used since before (all of
// them for a backend that started in between). Backends that ended in
// between are missed.
func cpuDelta(before, after map[int]int64) int64 {
	var sum int64
	for pid, t := range after {
		sum += t - before[pid]
	}
	return sum
}

// Activity is what the server's backends were doing, averaged over samples
// of pg_stat_activity taken during the run.
type Activity struct {
	Samples     int     `json:"samples"`
	Connected   float64 `json:"connected"`
	Active      float64 `json:"active"`
	IdleInTx    float64 `json:"idle_in_transaction"`
	LockWaiting float64 `json:"waiting_on_lock"`
	// LockWaitsBy splits LockWaiting by the statement waiting (verb and
	// table); OtherWaits are the other waits of active backends by
	// wait_event_type:wait_event.
	LockWaitsBy []MeanOf `json:"lock_waits_by_statement,omitempty"`
	OtherWaits  []MeanOf `json:"other_waits,omitempty"`
}

// MeanOf is the mean number of backends in one state.
type MeanOf struct {
	Statement string  `json:"what"`
	Mean      float64 `json:"mean"`
}

type activitySampler struct {
	mu     sync.Mutex
	a      Activity
	lockBy map[string]int
	other  map[string]int
	cancel context.CancelFunc
	done   chan struct{}
}

func sampleActivity(ctx context.Context, pg *sql.DB, every time.Duration) *activitySampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &activitySampler{lockBy: map[string]int{}, other: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	var connected, active, idleTx, locked int
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.mu.Lock()
				n := float64(max(s.a.Samples, 1))
				s.a.Connected, s.a.Active, s.a.IdleInTx, s.a.LockWaiting =
					float64(connected)/n, float64(active)/n, float64(idleTx)/n, float64(locked)/n
				s.mu.Unlock()
				return
			case <-t.C:
			}
			rows, err := pg.QueryContext(ctx, `SELECT COALESCE(state, ''), COALESCE(wait_event_type, ''), COALESCE(wait_event, ''), query
				FROM pg_stat_activity
				WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
			if err != nil {
				if ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "checkout: pg_stat_activity:", err)
				}
				continue
			}
			s.mu.Lock()
			s.a.Samples++
			for rows.Next() {
				var state, wtype, wevent, query string
				if rows.Scan(&state, &wtype, &wevent, &query) != nil {
					continue
				}
				connected++
				switch state {
				case "active":
					active++
					switch wtype {
					case "Lock":
						locked++
						s.lockBy[statementOf(query)]++
					case "":
					default:
						s.other[wtype+":"+wevent]++
					}
				case "idle in transaction":
					idleTx++
				}
			}
			rows.Close()
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *activitySampler) stop() *Activity {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	n := float64(max(s.a.Samples, 1))
	s.a.LockWaitsBy = means(s.lockBy, n)
	s.a.OtherWaits = means(s.other, n)
	a := s.a
	return &a
}

func means(counts map[string]int, n float64) []MeanOf {
	var out []MeanOf
	for what, c := range counts {
		out = append(out, MeanOf{Statement: what, Mean: float64(c) / n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mean > out[j].Mean })
	if len(out) > 8 {
		out = out[:8]
	}
	return out
}

var (
	reUpdate = regexp.MustCompile(`(?i)^\s*update\s+"?(\w+)"?`)
	reInsert = regexp.MustCompile(`(?i)^\s*insert\s+into\s+"?(\w+)"?`)
	reDelete = regexp.MustCompile(`(?i)^\s*delete\s+from\s+"?(\w+)"?`)
	reFrom   = regexp.MustCompile(`(?i)\bfrom\s+"?(\w+)"?`)
)

// statementOf names a statement by its verb and table ("UPDATE
// storefront_configs", "SELECT products FOR UPDATE").
func statementOf(q string) string {
	for verb, re := range map[string]*regexp.Regexp{"UPDATE": reUpdate, "INSERT": reInsert, "DELETE": reDelete} {
		if m := re.FindStringSubmatch(q); m != nil {
			return verb + " " + m[1]
		}
	}
	if m := reFrom.FindStringSubmatch(q); m != nil {
		s := "SELECT " + m[1]
		if strings.Contains(strings.ToUpper(q), "FOR UPDATE") {
			s += " FOR UPDATE"
		}
		return s
	}
	f := strings.Fields(q)
	if len(f) == 0 {
		return "?"
	}
	return strings.ToUpper(f[0])
}

package server_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// TestOutboxEventsReachBusAndDurable: the server's relay publishes an
// inventory.low event committed by a mutation to the store's live
// subscribers (not to another store's) and to the durable consumers, and
// marks the outbox row PUBLISHED — in process, and through Redis when
// TEST_REDIS_URL is set.
func TestOutboxEventsReachBusAndDurable(t *testing.T) {
	paths := map[string]func(*server.Config){"in-process": nil}
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		paths["redis"] = func(c *server.Config) { c.RedisURL = u }
	}
	for _, b := range dbtest.Backends() {
		for name, edit := range paths {
			t.Run(string(b)+"/"+name, func(t *testing.T) {
				group := "test-" + uuid.NewString()
				if edit != nil { // a shared Redis: leave no group behind, once the server is closed
					opts, err := redis.ParseURL(os.Getenv("TEST_REDIS_URL"))
					require.NoError(t, err)
					rdb := redis.NewClient(opts)
					t.Cleanup(func() {
						rdb.XGroupDestroy(context.Background(), events.DefaultPrefix+"stream", group)
						rdb.Close()
					})
				}
				s := newServer(t, b, nil, edit)
				c := s.DB.Client
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				sys := viewer.SystemContext(ctx, "test seed")
				a, err := c.MerchantAccount.Create().SetName("Acme").SetSlug("acme").Save(sys)
				require.NoError(t, err)
				other, err := c.MerchantAccount.Create().SetName("Bolt").SetSlug("bolt").Save(sys)
				require.NoError(t, err)
				actx := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: a.ID, UserID: uuid.New()})
				p, err := c.Product.Create().SetTitle("Shirt").SetSlug("shirt").Save(actx)
				require.NoError(t, err)
				v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku("A-1").SetTitle("Default").SetPrice(1000).Save(actx)
				require.NoError(t, err)
				w, err := s.Catalog.CreateWarehouse(actx, catalog.WarehouseInput{Name: "Main", Code: "MAIN"})
				require.NoError(t, err)

				subA, err := s.Bus.Subscribe(ctx, a.ID, events.TopicInventoryLow)
				require.NoError(t, err)
				subB, err := s.Bus.Subscribe(ctx, other.ID)
				require.NoError(t, err)
				var mu sync.Mutex
				var durable []events.Event
				require.NoError(t, s.Durable.Consume(ctx, group, func(_ context.Context, ev events.Event) error {
					if ev.MerchantID == a.ID { // a shared Redis holds other tests' events too
						mu.Lock()
						durable = append(durable, ev)
						mu.Unlock()
					}
					return nil
				}))

				// 5 available, threshold 3, then 2 out: at the threshold.
				_, err = s.Catalog.AdjustInventory(actx, catalog.AdjustInput{VariantID: v.ID, WarehouseID: w.ID, Delta: 5, Reason: "RECEIVED"})
				require.NoError(t, err)
				threshold := 3
				_, err = s.Catalog.UpdateInventoryLevel(actx, catalog.LevelInput{VariantID: v.ID, WarehouseID: w.ID, LowStockThreshold: &threshold})
				require.NoError(t, err)
				_, err = s.Catalog.AdjustInventory(actx, catalog.AdjustInput{VariantID: v.ID, WarehouseID: w.ID, Delta: -2, Reason: "CORRECTION"})
				require.NoError(t, err)

				var got events.Event
				select {
				case got = <-subA:
				case <-ctx.Done():
					t.Fatal("the store's live subscriber got no inventory.low event")
				}
				low, err := events.Decode[events.InventoryLow](got)
				require.NoError(t, err)
				require.Equal(t, v.ID, low.VariantID)
				require.Equal(t, 3, low.QuantityAvailable)

				waitFor(t, 10*time.Second, func() bool {
					row, err := c.OutboxEvent.Get(sys, got.ID)
					return err == nil && row.Status == outboxevent.StatusPUBLISHED && row.PublishedAt != nil
				}, "the outbox row is not PUBLISHED")
				waitFor(t, 10*time.Second, func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(durable) == 1 && durable[0].ID == got.ID
				}, "the durable consumer did not get the event")
				select {
				case ev := <-subB:
					t.Fatalf("another store's subscriber got %+v", ev)
				default:
				}
			})
		}
	}
}

// waitFor polls cond until it holds, or fails after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

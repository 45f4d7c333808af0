package loaders_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/loaders"
)

// countingDriver counts the queries ent sends.
type countingDriver struct {
	dialect.Driver
	queries atomic.Int64
}

func (d *countingDriver) Query(ctx context.Context, q string, args, v any) error {
	d.queries.Add(1)
	return d.Driver.Query(ctx, q, args, v)
}

func TestVariantStockBatchesAndSums(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLite)
	c := d.Client
	sys := viewer.SystemContext(context.Background(), "test seed")
	var merchants []uuid.UUID
	for _, slug := range []string{"a", "b"} {
		m, err := c.MerchantAccount.Create().SetName(slug).SetSlug(slug).Save(sys)
		require.NoError(t, err)
		merchants = append(merchants, m.ID)
	}
	ctxA := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: merchants[0]})
	ctxB := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: merchants[1]})

	variant := func(ctx context.Context, sku string) *ent.ProductVariant {
		p, err := c.Product.Create().SetTitle(sku).SetSlug(sku).Save(ctx)
		require.NoError(t, err)
		v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku(sku).SetTitle(sku).SetPrice(100).Save(ctx)
		require.NoError(t, err)
		return v
	}
	stock := func(ctx context.Context, v *ent.ProductVariant, w *ent.Warehouse, onHand, reserved int) {
		_, err := c.InventoryLevel.Create().SetVariantID(v.ID).SetWarehouseID(w.ID).
			SetQuantityOnHand(onHand).SetQuantityReserved(reserved).Save(ctx)
		require.NoError(t, err)
	}
	w1, err := c.Warehouse.Create().SetName("Main").SetCode("MAIN").Save(ctxA)
	require.NoError(t, err)
	w2, err := c.Warehouse.Create().SetName("East").SetCode("EAST").Save(ctxA)
	require.NoError(t, err)
	wb, err := c.Warehouse.Create().SetName("B").SetCode("B").Save(ctxB)
	require.NoError(t, err)

	twoWarehouses, oversold, none := variant(ctxA, "two"), variant(ctxA, "oversold"), variant(ctxA, "none")
	stock(ctxA, twoWarehouses, w1, 10, 3)
	stock(ctxA, twoWarehouses, w2, 5, 0)
	stock(ctxA, oversold, w1, 2, 4)
	foreign := variant(ctxB, "foreign")
	stock(ctxB, foreign, wb, 99, 0)

	counter := &countingDriver{Driver: entsql.OpenDB(dialect.SQLite, d.SQL)}
	counted := ent.NewClient(ent.Driver(counter))
	l := loaders.New(counted)

	want := map[uuid.UUID]int{twoWarehouses.ID: 12, oversold.ID: 0, none.ID: 0, foreign.ID: 0}
	var wg sync.WaitGroup
	got := sync.Map{}
	for i := 0; i < 40; i++ { // many concurrent resolvers, few distinct keys
		for id := range want {
			wg.Add(1)
			go func(id uuid.UUID) {
				defer wg.Done()
				s, err := l.VariantStock.Load(ctxA, id)()
				if err != nil {
					t.Error(err)
					return
				}
				got.Store(id, s.Available())
			}(id)
		}
	}
	wg.Wait()
	require.EqualValues(t, 1, counter.queries.Load(), "160 loads must run as one query")
	for id, n := range want {
		v, _ := got.Load(id)
		require.Equal(t, n, v, "variant %s", id)
	}
}

func TestStockAvailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    loaders.Stock
		want int
	}{
		{"nothing", loaders.Stock{}, 0},
		{"some reserved", loaders.Stock{OnHand: 10, Reserved: 4}, 6},
		{"all reserved", loaders.Stock{OnHand: 3, Reserved: 3}, 0},
		{"oversold", loaders.Stock{OnHand: 1, Reserved: 5}, 0},
		{"backordered", loaders.Stock{OnHand: -2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.s.Available())
		})
	}
}

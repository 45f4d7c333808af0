package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/schema/types"
)

// TestReserveStock checks what checkout's reservation leaves behind
// besides the reserved units: the allocations per warehouse, the products'
// total inventory (exact, as refreshing them from scratch computes it) and
// the low-stock alerts, on every backend.
func TestReserveStock(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testReserveStock(t, b) })
	}
}

func testReserveStock(t *testing.T, b dbtest.Backend) {
	d := dbtest.Open(t, b)
	c := d.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := c.MerchantAccount.Create().SetName("Shop").SetSlug("shop").Save(viewer.SystemContext(ctx, "test"))
	require.NoError(t, err)
	staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID})
	svc := catalog.New(c, nil, t.TempDir(), nil)

	main, err := c.Warehouse.Create().SetName("Main").SetCode("MAIN").SetIsDefault(true).Save(staff)
	require.NoError(t, err)
	other, err := c.Warehouse.Create().SetName("Other").SetCode("OTHER").Save(staff)
	require.NoError(t, err)
	closed, err := c.Warehouse.Create().SetName("Closed").SetCode("CLOSED").SetActive(false).Save(staff)
	require.NoError(t, err)

	// Tee: S (4 in main, 6 in other, 5 in a closed warehouse; alert at 6
	// available), M (10 in main, not in the cart), L (untracked). Mug: one
	// variant, 2 in main, backorders allowed.
	tee, err := c.Product.Create().SetTitle("Tee").SetSlug("tee").SetStatus("ACTIVE").Save(staff)
	require.NoError(t, err)
	mug, err := c.Product.Create().SetTitle("Mug").SetSlug("mug").SetStatus("ACTIVE").Save(staff)
	require.NoError(t, err)
	variant := func(p *ent.Product, sku string, track, backorder bool) *ent.ProductVariant {
		v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku(sku).SetPrice(1000).
			SetTrackInventory(track).SetAllowBackorder(backorder).Save(staff)
		require.NoError(t, err)
		return v
	}
	s, mv, l := variant(tee, "TEE-S", true, false), variant(tee, "TEE-M", true, false), variant(tee, "TEE-L", false, false)
	mugV := variant(mug, "MUG", true, true)
	level := func(v *ent.ProductVariant, w *ent.Warehouse, onHand, threshold int) {
		_, err := c.InventoryLevel.Create().SetVariantID(v.ID).SetWarehouseID(w.ID).SetQuantityOnHand(onHand).
			SetLowStockThreshold(threshold).Save(staff)
		require.NoError(t, err)
	}
	level(s, main, 4, 6)
	level(s, other, 6, 0)
	level(s, closed, 5, 0)
	level(mv, main, 10, 0)
	level(mugV, main, 2, 0)

	// What RefreshStock would compute: available units over the tracked
	// variants' levels, each variant never below zero.
	exactTotal := func(p *ent.Product) int {
		vs, err := p.QueryVariants().All(staff)
		require.NoError(t, err)
		total := 0
		for _, v := range vs {
			if !v.TrackInventory {
				continue
			}
			a := 0
			for _, lv := range v.QueryInventoryLevels().AllX(staff) {
				a += lv.QuantityOnHand - lv.QuantityReserved
			}
			total += max(a, 0)
		}
		return total
	}
	reserved := func(v *ent.ProductVariant, w *ent.Warehouse) int {
		lv, err := c.InventoryLevel.Query().Where(inventorylevel.VariantID(v.ID), inventorylevel.WarehouseID(w.ID)).Only(staff)
		require.NoError(t, err)
		return lv.QuantityReserved
	}
	lowEvents := func(v *ent.ProductVariant) int {
		n, err := c.OutboxEvent.Query().Where(outboxevent.Topic("inventory.low"), outboxevent.AggregateID(v.ID.String())).Count(staff)
		require.NoError(t, err)
		return n
	}
	store := viewer.ActAsStore(ctx, m.ID, "test reservation")
	reserve := func(lines ...catalog.StockLine) ([][]types.Allocation, error) {
		var out [][]types.Allocation
		err := db.InTx(store, c, func(tx *ent.Client) error {
			var err error
			out, err = svc.ReserveStock(store, tx, lines)
			return err
		})
		return out, err
	}

	t.Run("units come from the default warehouse first, then the one with most; totals stay exact; the alert fires once", func(t *testing.T) {
		got, err := reserve(catalog.StockLine{Variant: s, Quantity: 5}, catalog.StockLine{Variant: l, Quantity: 7},
			catalog.StockLine{Variant: mugV, Quantity: 3})
		require.NoError(t, err)
		require.Equal(t, [][]types.Allocation{
			{{WarehouseID: main.ID, Quantity: 4}, {WarehouseID: other.ID, Quantity: 1}},
			nil,
			{{WarehouseID: main.ID, Quantity: 3}},
		}, got)
		require.Equal(t, 4, reserved(s, main))
		require.Equal(t, 1, reserved(s, other))
		require.Equal(t, 0, reserved(s, closed))
		require.Equal(t, 3, reserved(mugV, main), "a backorder goes past the stock")
		for _, p := range []*ent.Product{tee, mug} {
			fresh, err := c.Product.Get(staff, p.ID)
			require.NoError(t, err)
			require.Equal(t, exactTotal(p), fresh.TotalInventory, p.Title)
		}
		require.Equal(t, 0+(6-1)+5+10, exactTotal(tee), "S keeps 5 in other and 5 closed, M 10")
		require.Equal(t, 0, exactTotal(mug), "never below zero")
		require.Equal(t, 1, lowEvents(mugV), "the mug is below its threshold 0")
		require.Zero(t, lowEvents(s), "S has 10 available over its warehouses, above its threshold 6")

		got, err = reserve(catalog.StockLine{Variant: s, Quantity: 4}, catalog.StockLine{Variant: s, Quantity: 1})
		require.NoError(t, err)
		require.Equal(t, [][]types.Allocation{{{WarehouseID: other.ID, Quantity: 4}}, {{WarehouseID: other.ID, Quantity: 1}}}, got)
		require.Equal(t, 1, lowEvents(s), "5 available (the closed warehouse's) is not above 6: one alert, though S is on two lines")
		fresh, err := c.Product.Get(staff, tee.ID)
		require.NoError(t, err)
		require.Equal(t, exactTotal(tee), fresh.TotalInventory)
	})

	t.Run("a line short of stock writes nothing", func(t *testing.T) {
		before, err := c.Product.Get(staff, tee.ID)
		require.NoError(t, err)
		_, err = reserve(catalog.StockLine{Variant: mv, Quantity: 2}, catalog.StockLine{Variant: s, Quantity: 1})
		var short *catalog.ShortageError
		require.True(t, errors.As(err, &short), "%v", err)
		require.Equal(t, map[int]int{1: 0}, short.Available)
		require.Equal(t, 0, reserved(mv, main))
		after, err := c.Product.Get(staff, tee.ID)
		require.NoError(t, err)
		require.Equal(t, before.TotalInventory, after.TotalInventory)
	})
}

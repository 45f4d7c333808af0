package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// TestNestedQueryStatementCountIsFlat pins the SQL statements of a nested
// admin query: entgql's field collection loads edges in one statement per
// edge and the dataloaders batch computed fields, so the count does not grow
// with the page size.
func TestNestedQueryStatementCountIsFlat(t *testing.T) {
	e := newGQLEnv(t, dbtest.SQLite)
	ctx := viewer.NewContext(context.Background(), e.staff(e.a))
	c := e.s.DB.Client
	cat, err := c.ProductCategory.Create().SetName("Tops").SetSlug("tops").Save(ctx)
	require.NoError(t, err)
	w, err := c.Warehouse.Query().First(ctx)
	require.NoError(t, err)
	for i := 0; i < 40; i++ {
		p, err := c.Product.Create().SetTitle(fmt.Sprintf("P%02d", i)).SetSlug(fmt.Sprintf("p-%02d", i)).SetCategoryID(cat.ID).Save(ctx)
		require.NoError(t, err)
		for j := 0; j < 3; j++ {
			v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku(fmt.Sprintf("P%02d-%d", i, j)).SetTitle("v").SetPrice(100).Save(ctx)
			require.NoError(t, err)
			_, err = c.InventoryLevel.Create().SetVariantID(v.ID).SetWarehouseID(w.ID).SetQuantityOnHand(3).Save(ctx)
			require.NoError(t, err)
		}
		_, err = c.ProductImage.Create().SetProductID(p.ID).SetURL("https://img.example/p.png").Save(ctx)
		require.NoError(t, err)
	}
	staff := e.staff(e.a)
	q := `query($n: Int!) { products(first: $n, orderBy: {field: TITLE}) { totalCount edges { node {
		title category { name } images { url } variants { sku price quantityAvailable }
	} } } }`
	count := func(n int) uint64 {
		before := e.s.DB.Statements()
		r := e.query(t, &staff, q, map[string]any{"n": n})
		require.Empty(t, r.Errors, r.Body)
		return e.s.DB.Statements() - before
	}
	small, large := count(3), count(12)
	require.Equal(t, small, large, "statements grew with the page size: %d for 3 products, %d for 12", small, large)
	require.LessOrEqual(t, large, uint64(10), "statements of the nested query")
	t.Logf("nested products query: %d SQL statements for 3 and for 12 products", large)
}

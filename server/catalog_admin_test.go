package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The admin catalogue through the real handler (graph/catalog_admin.graphqls,
// internal/catalog), on every backend.

// payload is one mutation's payload, decoded loosely.
type payload map[string]any

// mutate runs a mutation as v and returns the payload of field. It fails
// the test on top-level errors.
func (e *gqlEnv) mutate(t *testing.T, v *viewer.Viewer, field, q string, vars map[string]any) payload {
	t.Helper()
	r := e.query(t, v, q, vars)
	require.Empty(t, r.Errors, "body: %s", r.Body)
	var data map[string]payload
	require.NoError(t, json.Unmarshal(r.Data, &data), r.Body)
	sortVariants(map[string]any(data[field]))
	return data[field]
}

// sortVariants orders every "variants" list of v by position (the edge
// itself promises no order).
func sortVariants(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if l, ok := x.([]any); ok && k == "variants" {
				sort.SliceStable(l, func(i, j int) bool {
					pi, _ := l[i].(map[string]any)["position"].(float64)
					pj, _ := l[j].(map[string]any)["position"].(float64)
					return pi < pj
				})
			}
			sortVariants(x)
		}
	case []any:
		for _, x := range v {
			sortVariants(x)
		}
	}
}

// codes lists the userErrors of a payload as "CODE field.path".
func (p payload) errs() []string {
	var out []string
	ues, _ := p["userErrors"].([]any)
	for _, u := range ues {
		m := u.(map[string]any)
		var f []string
		if fs, ok := m["field"].([]any); ok {
			for _, x := range fs {
				f = append(f, x.(string))
			}
		}
		out = append(out, fmt.Sprintf("%s %s", m["code"], strings.Join(f, ".")))
	}
	return out
}

// get walks a decoded JSON value: get("product", "variants", 0, "sku").
func (p payload) get(keys ...any) any {
	var cur any = map[string]any(p)
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := cur.(map[string]any)
			cur = m[k]
		case int:
			l, _ := cur.([]any)
			if k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func (p payload) str(keys ...any) string { s, _ := p.get(keys...).(string); return s }
func (p payload) num(keys ...any) int    { n, _ := p.get(keys...).(float64); return int(n) }
func (p payload) list(keys ...any) []any { l, _ := p.get(keys...).([]any); return l }

const productFields = `id title slug status publishedAt priceMin priceMax totalInventory options tags
  category { id }
  variants { id sku title optionValues price compareAtPrice cost position }`

var (
	productCreateQ  = `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { ` + productFields + ` } userErrors { field message code } } }`
	productUpdateQ  = `mutation($in: ProductUpdateInput!) { productUpdate(input: $in) { product { ` + productFields + ` } userErrors { field message code } } }`
	productDeleteQ  = `mutation($in: ProductDeleteInput!) { productDelete(input: $in) { deletedProductId archivedProduct { id status } userErrors { field message code } } }`
	variantCreateQ  = `mutation($in: ProductVariantCreateInput!) { productVariantCreate(input: $in) { productVariant { id sku title optionValues price position } product { options priceMin priceMax } userErrors { field message code } } }`
	variantUpdateQ  = `mutation($in: ProductVariantUpdateInput!) { productVariantUpdate(input: $in) { productVariant { id sku title optionValues price compareAtPrice position } product { priceMin priceMax } userErrors { field message code } } }`
	variantDeleteQ  = `mutation($in: ProductVariantDeleteInput!) { productVariantDelete(input: $in) { deletedProductVariantId product { priceMin priceMax } userErrors { field message code } } }`
	categoryCreateQ = `mutation($in: CategoryCreateInput!) { categoryCreate(input: $in) { category { id name slug position parent { id } } userErrors { field message code } } }`
	categoryUpdateQ = `mutation($in: CategoryUpdateInput!) { categoryUpdate(input: $in) { category { id name slug position parent { id } } userErrors { field message code } } }`
	categoryDeleteQ = `mutation($in: CategoryDeleteInput!) { categoryDelete(input: $in) { deletedCategoryId userErrors { field message code } } }`
	imageAddQ       = `mutation($in: ProductImageAddInput!) { productImageAdd(input: $in) { image { id url altText position featured variantID } userErrors { field message code } } }`
	warehouseQ      = `mutation($in: WarehouseCreateInput!) { warehouseCreate(input: $in) { warehouse { id code isDefault } userErrors { field message code } } }`
	adjustQ         = `mutation($in: InventoryAdjustInput!) { inventoryAdjust(input: $in) { inventoryLevel { quantityOnHand quantityReserved quantityAvailable } userErrors { field message code } } }`
	levelUpdateQ    = `mutation($in: InventoryLevelUpdateInput!) { inventoryLevelUpdate(input: $in) { inventoryLevel { lowStockThreshold binLocation } userErrors { field message code } } }`
	storefrontQ     = `mutation($in: StorefrontConfigUpdateInput!) { storefrontConfigUpdate(input: $in) { storefrontConfig { currency taxRateBps guestCheckout published theme branding } userErrors { field message code } } }`
)

func TestCatalogAdmin(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testCatalogAdmin(t, newGQLEnv(t, b)) })
	}
}

func testCatalogAdmin(t *testing.T, e *gqlEnv) {
	staffA, staffB := e.staff(e.a), e.staff(e.b)
	ctx := context.Background()

	var tee payload
	t.Run("productCreate generates a slug and one variant per option combination", func(t *testing.T) {
		p := e.mutate(t, &staffA, "productCreate", productCreateQ, map[string]any{"in": map[string]any{
			"title": "Classic Tee!", "status": "ACTIVE", "tags": []string{"cotton", " Cotton ", "summer"},
			"options": []any{map[string]any{"name": "Size", "values": []string{"S", "M"}},
				map[string]any{"name": "Color", "values": []string{"Red", "Blue"}}},
			"price": 1999, "compareAtPrice": 2499, "cost": 700,
		}})
		require.Empty(t, p.errs())
		tee = payload(p.get("product").(map[string]any))
		require.Equal(t, "classic-tee", tee.str("slug"))
		require.Equal(t, "ACTIVE", tee.str("status"))
		require.NotEmpty(t, tee.str("publishedAt"), "an active product is published")
		require.Equal(t, []any{"cotton", "summer"}, tee.list("tags"), "repeated tags are dropped")
		var skus, titles []string
		for i := range tee.list("variants") {
			skus = append(skus, tee.str("variants", i, "sku"))
			titles = append(titles, tee.str("variants", i, "title"))
			require.Equal(t, 1999, tee.num("variants", i, "price"))
			require.Equal(t, 700, tee.num("variants", i, "cost"))
			require.Equal(t, i, tee.num("variants", i, "position"))
		}
		require.Equal(t, []string{"S / Red", "S / Blue", "M / Red", "M / Blue"}, titles)
		require.Equal(t, []string{"CLASSIC-TEE-S-RED", "CLASSIC-TEE-S-BLUE", "CLASSIC-TEE-M-RED", "CLASSIC-TEE-M-BLUE"}, skus)
		require.Equal(t, map[string]any{"Size": "M", "Color": "Blue"}, tee.get("variants", 3, "optionValues"))
		require.Equal(t, 1999, tee.num("priceMin"))
		require.Equal(t, 1999, tee.num("priceMax"))

		p = e.mutate(t, &staffA, "productCreate", productCreateQ, map[string]any{"in": map[string]any{"title": "Classic  Tee"}})
		require.Empty(t, p.errs())
		require.Equal(t, "classic-tee-2", p.str("product", "slug"), "generated slugs are unique per store")
		require.Equal(t, "CLASSIC-TEE-2", p.str("product", "variants", 0, "sku"))
		require.Equal(t, "DRAFT", p.str("product", "status"))

		p = e.mutate(t, &staffB, "productCreate", productCreateQ, map[string]any{"in": map[string]any{"title": "Classic Tee"}})
		require.Equal(t, "classic-tee", p.str("product", "slug"), "slugs are per store")
	})

	var mugID string
	t.Run("productCreate with explicit variants", func(t *testing.T) {
		p := e.mutate(t, &staffA, "productCreate", productCreateQ, map[string]any{"in": map[string]any{
			"title": "Mug", "slug": "Coffee Mug",
			"variants": []any{
				map[string]any{"sku": "MUG-W", "optionValues": map[string]any{"Color": "White"}, "price": 900},
				map[string]any{"sku": "MUG-B", "optionValues": map[string]any{"Color": "Black"}, "price": 1100, "title": "Midnight"},
			},
		}})
		require.Empty(t, p.errs())
		require.Equal(t, "coffee-mug", p.str("product", "slug"), "a given slug is normalised")
		require.Equal(t, []any{map[string]any{"name": "Color", "values": []any{"White", "Black"}}}, p.list("product", "options"),
			"options are derived from the variants")
		require.Equal(t, "White", p.str("product", "variants", 0, "title"))
		require.Equal(t, "Midnight", p.str("product", "variants", 1, "title"))
		require.Equal(t, 900, p.num("product", "priceMin"))
		require.Equal(t, 1100, p.num("product", "priceMax"))
		mugID = p.str("product", "id")
	})

	t.Run("productCreate userErrors", func(t *testing.T) {
		many := make([]string, 11)
		for i := range many {
			many[i] = fmt.Sprint(i)
		}
		tooManyVariants := make([]any, 101)
		for i := range tooManyVariants {
			tooManyVariants[i] = map[string]any{"price": 1}
		}
		for _, tc := range []struct {
			name string
			in   map[string]any
			want []string
		}{
			{"empty title", map[string]any{"title": " "}, []string{"REQUIRED input.title"}},
			{"negative price", map[string]any{"title": "X", "price": -1}, []string{"INVALID input.price"}},
			{"negative variant price and cost", map[string]any{"title": "X", "variants": []any{
				map[string]any{"sku": "N-1", "price": -5, "cost": -1}}}, []string{"INVALID input.variants.0.price", "INVALID input.variants.0.cost"}},
			{"SKU of another product", map[string]any{"title": "X", "variants": []any{
				map[string]any{"sku": "A-1", "price": 5}}}, []string{"TAKEN input.variants.0.sku"}},
			{"SKU twice", map[string]any{"title": "X", "variants": []any{
				map[string]any{"sku": "D-1", "price": 5, "optionValues": map[string]any{"Size": "S"}},
				map[string]any{"sku": "D-1", "price": 5, "optionValues": map[string]any{"Size": "M"}}}}, []string{"TAKEN input.variants.1.sku"}},
			{"same option values twice", map[string]any{"title": "X", "options": []any{map[string]any{"name": "Size", "values": []string{"S", "M"}}},
				"variants": []any{
					map[string]any{"price": 5, "optionValues": map[string]any{"Size": "S"}},
					map[string]any{"price": 5, "optionValues": map[string]any{"Size": "S"}}}}, []string{"TAKEN input.variants.1.optionValues"}},
			{"value not of the option", map[string]any{"title": "X", "options": []any{map[string]any{"name": "Size", "values": []string{"S"}}},
				"variants": []any{map[string]any{"price": 5, "optionValues": map[string]any{"Size": "XL"}}}}, []string{"INVALID input.variants.0.optionValues.Size"}},
			{"more than 100 combinations", map[string]any{"title": "X", "options": []any{
				map[string]any{"name": "A", "values": many}, map[string]any{"name": "B", "values": many}}}, []string{"TOO_MANY input.options"}},
			{"more than 100 variants", map[string]any{"title": "X", "variants": tooManyVariants}, []string{"TOO_MANY input.variants"}},
			{"more than 3 options", map[string]any{"title": "X", "options": []any{
				map[string]any{"name": "A", "values": []string{"1"}}, map[string]any{"name": "B", "values": []string{"1"}},
				map[string]any{"name": "C", "values": []string{"1"}}, map[string]any{"name": "D", "values": []string{"1"}}}}, []string{"TOO_MANY input.options"}},
			{"unknown category", map[string]any{"title": "X", "categoryId": uuid.New()}, []string{"NOT_FOUND input.categoryId"}},
			{"category of another store", map[string]any{"title": "X", "categoryId": e.productB.ID}, []string{"NOT_FOUND input.categoryId"}},
			{"slug taken", map[string]any{"title": "X", "slug": "classic-tee"}, []string{"TAKEN input.slug"}},
			{"slug without letters", map[string]any{"title": "X", "slug": "---"}, []string{"INVALID input.slug"}},
			{"title too long", map[string]any{"title": strings.Repeat("x", 256)}, []string{"TOO_LONG input.title"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := e.mutate(t, &staffA, "productCreate", productCreateQ, map[string]any{"in": tc.in})
				require.Equal(t, tc.want, p.errs())
				require.Nil(t, p.get("product"))
			})
		}
		n, err := e.s.DB.Client.Product.Query().Where(product.Title("X")).Count(viewer.NewContext(ctx, staffA))
		require.NoError(t, err)
		require.Zero(t, n, "nothing of a refused product is written")
	})

	t.Run("productUpdate keeps the slug, syncs variants with new options", func(t *testing.T) {
		id := tee.str("id")
		p := e.mutate(t, &staffA, "productUpdate", productUpdateQ, map[string]any{"in": map[string]any{
			"id": id, "title": "Classic Tee v2", "vendor": "Acme",
			"options": []any{map[string]any{"name": "Size", "values": []string{"M", "L"}},
				map[string]any{"name": "Color", "values": []string{"Red", "Blue"}}},
		}})
		require.Empty(t, p.errs())
		require.Equal(t, "classic-tee", p.str("product", "slug"), "the slug is stable when the title changes")
		require.Equal(t, "Classic Tee v2", p.str("product", "title"))
		skus := map[string]string{}
		for i := range p.list("product", "variants") {
			skus[p.str("product", "variants", i, "title")] = p.str("product", "variants", i, "sku")
		}
		require.Equal(t, map[string]string{
			"M / Red": "CLASSIC-TEE-M-RED", "M / Blue": "CLASSIC-TEE-M-BLUE",
			"L / Red": "CLASSIC-TEE-L-RED", "L / Blue": "CLASSIC-TEE-L-BLUE",
		}, skus, "M variants are kept (same SKU), L generated, S deleted")
		require.Equal(t, tee.str("variants", 2, "id"), p.str("product", "variants", 0, "id"), "a kept variant keeps its id")
		require.Equal(t, 1999, p.num("product", "variants", 2, "price"), "new combinations take the price of the first variant")

		// Explicit variants: matched by SKU, the others deleted.
		p = e.mutate(t, &staffA, "productUpdate", productUpdateQ, map[string]any{"in": map[string]any{
			"id": id, "options": []any{map[string]any{"name": "Size", "values": []string{"M", "XL"}}},
			"variants": []any{
				map[string]any{"sku": "CLASSIC-TEE-M-RED", "optionValues": map[string]any{"Size": "M"}, "price": 2100},
				map[string]any{"sku": "TEE-XL", "optionValues": map[string]any{"Size": "XL"}, "price": 2500},
			},
		}})
		require.Empty(t, p.errs())
		require.Len(t, p.list("product", "variants"), 2)
		require.Equal(t, tee.str("variants", 2, "id"), p.str("product", "variants", 0, "id"))
		require.Equal(t, 2100, p.num("product", "priceMin"))
		require.Equal(t, 2500, p.num("product", "priceMax"))

		// A title of the merchant's own survives new options.
		p = e.mutate(t, &staffA, "productUpdate", productUpdateQ, map[string]any{"in": map[string]any{
			"id": mugID, "options": []any{map[string]any{"name": "Color", "values": []string{"White", "Black", "Red"}}}}})
		require.Empty(t, p.errs())
		var titles []string
		for i := range p.list("product", "variants") {
			titles = append(titles, p.str("product", "variants", i, "title"))
		}
		require.Equal(t, []string{"White", "Midnight", "Red"}, titles)

		p = e.mutate(t, &staffA, "productUpdate", productUpdateQ, map[string]any{"in": map[string]any{"id": id, "vendor": nil, "slug": "tee"}})
		require.Empty(t, p.errs())
		require.Equal(t, "tee", p.str("product", "slug"), "an explicit slug change")
		p = e.mutate(t, &staffA, "productUpdate", productUpdateQ, map[string]any{"in": map[string]any{"id": id, "slug": "coffee-mug"}})
		require.Equal(t, []string{"TAKEN input.slug"}, p.errs())
	})

	t.Run("variant create, update, delete", func(t *testing.T) {
		pid := tee.str("id")
		p := e.mutate(t, &staffA, "productVariantCreate", variantCreateQ, map[string]any{"in": map[string]any{
			"productId": pid, "optionValues": map[string]any{"Size": "S"}, "price": 1500, "position": 0}})
		require.Empty(t, p.errs())
		require.Equal(t, "TEE-S", p.str("productVariant", "sku"), "generated from the (new) slug")
		require.Equal(t, 0, p.num("productVariant", "position"))
		require.Equal(t, []any{map[string]any{"name": "Size", "values": []any{"M", "XL", "S"}}}, p.list("product", "options"),
			"a new value extends the option")
		require.Equal(t, 1500, p.num("product", "priceMin"))
		vid := p.str("productVariant", "id")

		for _, tc := range []struct {
			name string
			in   map[string]any
			want []string
		}{
			{"combination taken", map[string]any{"productId": pid, "optionValues": map[string]any{"Size": "M"}, "price": 1}, []string{"TAKEN input.optionValues"}},
			{"SKU taken", map[string]any{"productId": pid, "sku": "A-1", "optionValues": map[string]any{"Size": "XXL"}, "price": 1}, []string{"TAKEN input.sku"}},
			{"missing option", map[string]any{"productId": pid, "price": 1}, []string{"REQUIRED input.optionValues"}},
			{"negative price", map[string]any{"productId": pid, "optionValues": map[string]any{"Size": "XXS"}, "price": -1}, []string{"INVALID input.price"}},
			{"product of another store", map[string]any{"productId": e.productB.ID, "price": 1}, []string{"NOT_FOUND input.productId"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := e.mutate(t, &staffA, "productVariantCreate", variantCreateQ, map[string]any{"in": tc.in})
				require.Equal(t, tc.want, p.errs())
			})
		}

		p = e.mutate(t, &staffA, "productVariantUpdate", variantUpdateQ, map[string]any{"in": map[string]any{
			"id": vid, "price": 1700, "compareAtPrice": 2000, "sku": "TEE-SMALL", "position": 2}})
		require.Empty(t, p.errs())
		require.Equal(t, "TEE-SMALL", p.str("productVariant", "sku"))
		require.Equal(t, 2000, p.num("productVariant", "compareAtPrice"))
		require.Equal(t, 2, p.num("productVariant", "position"))
		require.Equal(t, 1700, p.num("product", "priceMin"))
		p = e.mutate(t, &staffA, "productVariantUpdate", variantUpdateQ, map[string]any{"in": map[string]any{"id": vid, "compareAtPrice": nil}})
		require.Empty(t, p.errs())
		require.Nil(t, p.get("productVariant", "compareAtPrice"), "null clears")
		p = e.mutate(t, &staffA, "productVariantUpdate", variantUpdateQ, map[string]any{"in": map[string]any{"id": vid, "sku": "TEE-XL"}})
		require.Equal(t, []string{"TAKEN input.sku"}, p.errs())
		p = e.mutate(t, &staffA, "productVariantUpdate", variantUpdateQ, map[string]any{"in": map[string]any{"id": e.variantB.ID, "price": 1}})
		require.Equal(t, []string{"NOT_FOUND input.id"}, p.errs(), "a variant of another store")

		p = e.mutate(t, &staffA, "productVariantDelete", variantDeleteQ, map[string]any{"in": map[string]any{"id": vid}})
		require.Empty(t, p.errs())
		require.Equal(t, vid, p.str("deletedProductVariantId"))
		require.Equal(t, 2100, p.num("product", "priceMin"))

		// The last variant stays.
		only := e.variantA.ID
		p = e.mutate(t, &staffA, "productVariantDelete", variantDeleteQ, map[string]any{"in": map[string]any{"id": only}})
		require.Equal(t, []string{"INVALID input.id"}, p.errs())
	})

	t.Run("categories: tree, move without cycles, reorder, delete", func(t *testing.T) {
		create := func(in map[string]any) payload {
			p := e.mutate(t, &staffA, "categoryCreate", categoryCreateQ, map[string]any{"in": in})
			require.Empty(t, p.errs())
			return payload(p.get("category").(map[string]any))
		}
		apparel := create(map[string]any{"name": "Apparel"})
		home := create(map[string]any{"name": "Home & Living"})
		require.Equal(t, "home-living", home.str("slug"))
		require.Equal(t, 1, home.num("position"))
		shirts := create(map[string]any{"name": "Shirts", "parentId": apparel.str("id")})
		tees := create(map[string]any{"name": "Tees", "parentId": shirts.str("id")})
		hats := create(map[string]any{"name": "Hats", "parentId": apparel.str("id"), "position": 0})
		require.Equal(t, 0, hats.num("position"))

		positions := func(parent string) map[string]int {
			c := e.s.DB.Client
			var pid *uuid.UUID
			if parent != "" {
				u := uuid.MustParse(parent)
				pid = &u
			}
			q := c.ProductCategory.Query()
			cats, err := q.All(viewer.NewContext(ctx, staffA))
			require.NoError(t, err)
			out := map[string]int{}
			for _, x := range cats {
				if (pid == nil && x.ParentID == nil) || (pid != nil && x.ParentID != nil && *x.ParentID == *pid) {
					out[x.Name] = x.Position
				}
			}
			return out
		}
		require.Equal(t, map[string]int{"Hats": 0, "Shirts": 1}, positions(apparel.str("id")))

		// Cycles are refused.
		for _, target := range []string{apparel.str("id"), shirts.str("id"), tees.str("id")} {
			p := e.mutate(t, &staffA, "categoryUpdate", categoryUpdateQ, map[string]any{"in": map[string]any{"id": apparel.str("id"), "parentId": target}})
			require.Equal(t, []string{"INVALID input.parentId"}, p.errs())
		}
		p := e.mutate(t, &staffA, "categoryUpdate", categoryUpdateQ, map[string]any{"in": map[string]any{"id": apparel.str("id"), "parentId": uuid.New()}})
		require.Equal(t, []string{"NOT_FOUND input.parentId"}, p.errs())

		// Rename and move Tees under Home at the front; reorder roots.
		p = e.mutate(t, &staffA, "categoryUpdate", categoryUpdateQ, map[string]any{"in": map[string]any{
			"id": tees.str("id"), "name": "T-Shirts", "parentId": home.str("id"), "position": 0}})
		require.Empty(t, p.errs())
		require.Equal(t, "T-Shirts", p.str("category", "name"))
		require.Equal(t, "tees", p.str("category", "slug"), "a rename keeps the slug")
		require.Equal(t, home.str("id"), p.str("category", "parent", "id"))
		p = e.mutate(t, &staffA, "categoryUpdate", categoryUpdateQ, map[string]any{"in": map[string]any{"id": home.str("id"), "position": 0}})
		require.Empty(t, p.errs())
		require.Equal(t, map[string]int{"Home & Living": 0, "Apparel": 1}, positions(""))
		p = e.mutate(t, &staffA, "categoryUpdate", categoryUpdateQ, map[string]any{"in": map[string]any{"id": shirts.str("id"), "parentId": nil}})
		require.Empty(t, p.errs())
		require.Nil(t, p.get("category", "parent"), "null moves to the root")
		require.Equal(t, map[string]int{"Home & Living": 0, "Apparel": 1, "Shirts": 2}, positions(""))
		require.Equal(t, map[string]int{"Hats": 0}, positions(apparel.str("id")), "the old siblings close the gap")

		// A product in Apparel; deleting Apparel moves Hats to the root and
		// leaves the product without a category.
		prod := e.mutate(t, &staffA, "productCreate", productCreateQ, map[string]any{"in": map[string]any{"title": "Cap", "categoryId": apparel.str("id")}})
		require.Equal(t, apparel.str("id"), prod.str("product", "category", "id"))
		p = e.mutate(t, &staffA, "categoryDelete", categoryDeleteQ, map[string]any{"in": map[string]any{"id": apparel.str("id")}})
		require.Empty(t, p.errs())
		require.Equal(t, map[string]int{"Home & Living": 0, "Shirts": 1, "Hats": 2}, positions(""))
		got, err := e.s.DB.Client.Product.Get(viewer.NewContext(ctx, staffA), uuid.MustParse(prod.str("product", "id")))
		require.NoError(t, err)
		require.Nil(t, got.CategoryID)

		p = e.mutate(t, &staffB, "categoryUpdate", categoryUpdateQ, map[string]any{"in": map[string]any{"id": home.str("id"), "name": "Mine"}})
		require.Equal(t, []string{"NOT_FOUND input.id"}, p.errs(), "a category of another store")
	})

	t.Run("images by URL: position, featured, variant", func(t *testing.T) {
		pid := e.productA[1].ID
		add := func(in map[string]any) payload {
			in["productId"] = pid
			return e.mutate(t, &staffA, "productImageAdd", imageAddQ, map[string]any{"in": in})
		}
		first := add(map[string]any{"url": "https://cdn.example.com/1.jpg", "alt": "One"})
		require.Empty(t, first.errs())
		require.True(t, first.get("image", "featured").(bool), "the first image is featured")
		second := add(map[string]any{"url": "https://cdn.example.com/2.jpg", "position": 0, "featured": true})
		require.Equal(t, 0, second.num("image", "position"))
		require.True(t, second.get("image", "featured").(bool))
		imgs, err := e.s.DB.Client.ProductImage.Query().All(viewer.NewContext(ctx, staffA))
		require.NoError(t, err)
		featured := 0
		for _, im := range imgs {
			if im.Featured {
				featured++
			}
			if im.URL == "https://cdn.example.com/1.jpg" {
				require.Equal(t, 1, im.Position, "the first image moved down")
			}
		}
		require.Equal(t, 1, featured, "one featured image per product")

		for _, tc := range []struct {
			in   map[string]any
			want string
		}{
			{map[string]any{"url": "javascript:alert(1)"}, "INVALID input.url"},
			{map[string]any{"url": "ftp://x.test/a.jpg"}, "INVALID input.url"},
			{map[string]any{"url": "https://x.test/" + strings.Repeat("a", 2048)}, "TOO_LONG input.url"},
			{map[string]any{"url": "https://x.test/a.jpg", "variantId": e.variantA.ID}, "NOT_FOUND input.variantId"},
		} {
			require.Equal(t, []string{tc.want}, add(tc.in).errs())
		}
		p := e.mutate(t, &staffA, "productImageAdd", imageAddQ, map[string]any{"in": map[string]any{"productId": e.productB.ID, "url": "https://x.test/a.jpg"}})
		require.Equal(t, []string{"NOT_FOUND input.productId"}, p.errs())
	})

	t.Run("warehouses and inventory", func(t *testing.T) {
		w := e.mutate(t, &staffA, "warehouseCreate", warehouseQ, map[string]any{"in": map[string]any{"name": "East", "code": "east", "countryCode": "us"}})
		require.Empty(t, w.errs())
		require.Equal(t, "EAST", w.str("warehouse", "code"))
		require.True(t, w.get("warehouse", "isDefault").(bool), "the store had no default warehouse")
		p := e.mutate(t, &staffA, "warehouseCreate", warehouseQ, map[string]any{"in": map[string]any{"name": "East 2", "code": "EAST"}})
		require.Equal(t, []string{"TAKEN input.code"}, p.errs())
		p = e.mutate(t, &staffA, "warehouseCreate", warehouseQ, map[string]any{"in": map[string]any{"name": "X", "code": "a b", "countryCode": "USA"}})
		require.Equal(t, []string{"INVALID input.code", "INVALID input.countryCode"}, p.errs())

		wid := w.str("warehouse", "id")
		vid := e.variantA.ID
		adj := func(v *viewer.Viewer, in map[string]any) payload {
			return e.mutate(t, v, "inventoryAdjust", adjustQ, map[string]any{"in": in})
		}
		p = adj(&staffA, map[string]any{"variantId": vid, "warehouseId": wid, "delta": 10, "reason": "RECEIVED", "note": "PO-1"})
		require.Empty(t, p.errs())
		require.Equal(t, map[string]any{"quantityOnHand": float64(10), "quantityReserved": float64(0), "quantityAvailable": float64(10)}, p.get("inventoryLevel"))
		p = adj(&staffA, map[string]any{"variantId": vid, "warehouseId": wid, "delta": -4, "reason": "DAMAGED"})
		require.Equal(t, 6, p.num("inventoryLevel", "quantityOnHand"))
		for _, tc := range []struct {
			in   map[string]any
			want []string
		}{
			{map[string]any{"variantId": vid, "warehouseId": wid, "delta": -7, "reason": "CORRECTION"}, []string{"INVALID input.delta"}},
			{map[string]any{"variantId": vid, "warehouseId": wid, "delta": 0, "reason": "CORRECTION"}, []string{"INVALID input.delta"}},
			{map[string]any{"variantId": e.variantB.ID, "warehouseId": wid, "delta": 1, "reason": "RECEIVED"}, []string{"NOT_FOUND input.variantId"}},
			{map[string]any{"variantId": vid, "warehouseId": uuid.New(), "delta": 1, "reason": "RECEIVED"}, []string{"NOT_FOUND input.warehouseId"}},
		} {
			require.Equal(t, tc.want, adj(&staffA, tc.in).errs())
		}
		r := e.query(t, &staffA, adjustQ, map[string]any{"in": map[string]any{"variantId": vid, "warehouseId": wid, "delta": 1, "reason": "STOLEN"}})
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "an unknown reason is not in the enum")

		// Product aggregates follow stock: MAIN has 7 on hand, 2 reserved.
		sctx := viewer.NewContext(ctx, staffA)
		prod, err := e.s.DB.Client.Product.Get(sctx, e.productA[0].ID)
		require.NoError(t, err)
		require.Equal(t, 5+6, prod.TotalInventory)
		n, err := e.s.DB.Client.AuditLog.Query().Where(auditlog.Action("inventory.adjust")).Count(sctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "each adjustment is audited")

		p = e.mutate(t, &staffA, "inventoryLevelUpdate", levelUpdateQ, map[string]any{"in": map[string]any{
			"variantId": vid, "warehouseId": wid, "lowStockThreshold": 3, "binLocation": "A-01"}})
		require.Empty(t, p.errs())
		require.Equal(t, 3, p.num("inventoryLevel", "lowStockThreshold"))
		require.Equal(t, "A-01", p.str("inventoryLevel", "binLocation"))
		p = e.mutate(t, &staffA, "inventoryLevelUpdate", levelUpdateQ, map[string]any{"in": map[string]any{
			"variantId": vid, "warehouseId": wid, "lowStockThreshold": -1}})
		require.Equal(t, []string{"INVALID input.lowStockThreshold"}, p.errs())
	})

	t.Run("storefrontConfigUpdate validates theme, branding, currency and tax", func(t *testing.T) {
		theme := map[string]any{"colors": map[string]any{"primary": "#1a73e8"}, "fonts": map[string]any{"body": "Inter"},
			"layout": map[string]any{"productsPerRow": 4, "productGrid": "grid"}, "mode": "dark"}
		p := e.mutate(t, &staffA, "storefrontConfigUpdate", storefrontQ, map[string]any{"in": map[string]any{
			"currency": "eur", "taxRateBps": 825, "guestCheckout": false, "published": true, "theme": theme,
			"branding": map[string]any{"logoUrl": "https://cdn.example.com/logo.png", "tagline": "Hi"}}})
		require.Empty(t, p.errs())
		require.Equal(t, "EUR", p.str("storefrontConfig", "currency"))
		require.Equal(t, 825, p.num("storefrontConfig", "taxRateBps"))
		require.Equal(t, false, p.get("storefrontConfig", "guestCheckout"))
		require.Equal(t, true, p.get("storefrontConfig", "published"))
		require.Equal(t, "dark", p.str("storefrontConfig", "theme", "mode"))

		for _, tc := range []struct {
			in   map[string]any
			want []string
		}{
			{map[string]any{"currency": "EURO"}, []string{"INVALID input.currency"}},
			{map[string]any{"currency": "ABC"}, []string{"INVALID input.currency"}},
			{map[string]any{"taxRateBps": 10001}, []string{"INVALID input.taxRateBps"}},
			{map[string]any{"taxRateBps": -1}, []string{"INVALID input.taxRateBps"}},
			{map[string]any{"theme": map[string]any{"colors": map[string]any{"primary": "red"}}}, []string{"INVALID input.theme.colors.primary"}},
			{map[string]any{"theme": map[string]any{"script": "x"}}, []string{"INVALID input.theme.script"}},
			{map[string]any{"branding": map[string]any{"logoUrl": "javascript:x"}}, []string{"INVALID input.branding.logoUrl"}},
			{map[string]any{"supportEmail": "nope"}, []string{"INVALID input.supportEmail"}},
			{map[string]any{"defaultLocale": "english please"}, []string{"INVALID input.defaultLocale"}},
		} {
			require.Equal(t, tc.want, e.mutate(t, &staffA, "storefrontConfigUpdate", storefrontQ, map[string]any{"in": tc.in}).errs())
		}
		p = e.mutate(t, &staffA, "storefrontConfigUpdate", storefrontQ, map[string]any{"in": map[string]any{"theme": nil}})
		require.Empty(t, p.errs())
		require.Nil(t, p.get("storefrontConfig", "theme"), "null clears the theme")
		require.Equal(t, "EUR", p.str("storefrontConfig", "currency"), "fields left out stay")
	})

	t.Run("another store cannot update or delete a product: like a missing id", func(t *testing.T) {
		for _, id := range []uuid.UUID{e.productA[2].ID, uuid.New()} {
			p := e.mutate(t, &staffB, "productUpdate", productUpdateQ, map[string]any{"in": map[string]any{"id": id, "title": "Hacked"}})
			require.Equal(t, []string{"NOT_FOUND input.id"}, p.errs())
			p = e.mutate(t, &staffB, "productDelete", productDeleteQ, map[string]any{"in": map[string]any{"id": id}})
			require.Equal(t, []string{"NOT_FOUND input.id"}, p.errs())
			require.Nil(t, p.get("deletedProductId"))
		}
		got, err := e.s.DB.Client.Product.Get(viewer.NewContext(ctx, staffA), e.productA[2].ID)
		require.NoError(t, err)
		require.Equal(t, "Gamma Hat", got.Title)
	})

	t.Run("permissions", func(t *testing.T) {
		readOnly := viewer.Viewer{Kind: viewer.APIKey, MerchantID: e.a.ID, APIKeyID: uuid.New(), Permissions: []string{"products:read"}}
		writer := viewer.Viewer{Kind: viewer.APIKey, MerchantID: e.a.ID, APIKeyID: uuid.New(), Permissions: []string{"products:read", "products:write"}}
		visitor := viewer.Viewer{Kind: viewer.Anonymous, MerchantID: e.a.ID}
		in := map[string]any{"in": map[string]any{"title": "Via key"}}
		r := e.query(t, &readOnly, productCreateQ, in)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes())
		r = e.query(t, &visitor, productCreateQ, in)
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes())
		r = e.query(t, &writer, warehouseQ, map[string]any{"in": map[string]any{"name": "W", "code": "W"}})
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "warehouses need settings:write")
		p := e.mutate(t, &writer, "productCreate", productCreateQ, in)
		require.Empty(t, p.errs())
		require.Equal(t, "via-key", p.str("product", "slug"))
	})

	t.Run("productDelete deletes, or archives an ordered product", func(t *testing.T) {
		sctx := viewer.NewContext(ctx, staffA)
		c := e.s.DB.Client
		// Beta Mug: images (added above) and stock; no orders.
		mug := e.productA[1]
		p := e.mutate(t, &staffA, "productDelete", productDeleteQ, map[string]any{"in": map[string]any{"id": mug.ID}})
		require.Empty(t, p.errs())
		require.Equal(t, mug.ID.String(), p.str("deletedProductId"))
		_, err := c.Product.Get(sctx, mug.ID)
		require.True(t, ent.IsNotFound(err))
		n, err := c.ProductVariant.Query().Where(productvariant.ProductID(mug.ID)).Count(sctx)
		require.NoError(t, err)
		require.Zero(t, n)

		// Alpha Shirt was ordered: archived, variants kept.
		shirt := e.productA[0]
		o, err := c.Order.Create().SetOrderNumber(1001).SetEmail("buyer@example.com").SetSubtotalAmount(1000).SetTotalAmount(1000).Save(sctx)
		if err != nil {
			t.Fatalf("order: %v", err)
		}
		_, err = c.OrderItem.Create().SetOrderID(o.ID).SetVariantID(e.variantA.ID).SetProductID(shirt.ID).
			SetProductTitle(shirt.Title).SetQuantity(1).SetUnitPrice(1000).Save(sctx)
		require.NoError(t, err)
		p = e.mutate(t, &staffA, "productDelete", productDeleteQ, map[string]any{"in": map[string]any{"id": shirt.ID}})
		require.Empty(t, p.errs())
		require.Nil(t, p.get("deletedProductId"))
		require.Equal(t, "ARCHIVED", p.str("archivedProduct", "status"))
		_, err = c.ProductVariant.Get(sctx, e.variantA.ID)
		require.NoError(t, err)
	})
}

// TestInventoryAdjustConcurrent: N adjustments at once, of the same level
// and of another variant of the same product, lose none (conditional update
// under the product's row lock): the levels and the product's total are
// exact.
func TestInventoryAdjustConcurrent(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newGQLEnv(t, b)
			staffA := e.staff(e.a)
			ctx := viewer.NewContext(context.Background(), staffA)
			c := e.s.DB.Client
			w, err := c.Warehouse.Query().Only(ctx)
			require.NoError(t, err)
			p := e.mutate(t, &staffA, "productVariantCreate", variantCreateQ, map[string]any{"in": map[string]any{
				"productId": e.productA[0].ID, "sku": "A-1-BIS", "price": 1000}})
			require.Empty(t, p.errs())
			other := p.str("productVariant", "id")
			// Headroom first, so that no interleaving of the -2s drives the
			// stock below zero (which is refused, and would make the test
			// depend on the order the adjustments happen to run in).
			p = e.mutate(t, &staffA, "inventoryAdjust", adjustQ, map[string]any{"in": map[string]any{
				"variantId": e.variantA.ID, "warehouseId": w.ID, "delta": 20, "reason": "RECEIVED"}})
			require.Empty(t, p.errs())
			const n = 30
			var wg sync.WaitGroup
			errs := make(chan string, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					var variant any = e.variantA.ID
					delta := 3
					switch i % 3 {
					case 0:
						delta = -2
					case 1:
						variant = other
					}
					body, _ := json.Marshal(map[string]any{"query": adjustQ, "variables": map[string]any{"in": map[string]any{
						"variantId": variant, "warehouseId": w.ID, "delta": delta, "reason": "CORRECTION"}}})
					req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					e.handlerFor(&staffA).ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) || strings.Contains(rec.Body.String(), `"code"`) {
						errs <- rec.Body.String()
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Errorf("adjustment failed: %s", e)
			}
			level := func(v any) *ent.InventoryLevel {
				id, _ := v.(uuid.UUID)
				if s, ok := v.(string); ok {
					id = uuid.MustParse(s)
				}
				lv, err := c.InventoryLevel.Query().Where(inventorylevel.VariantID(id), inventorylevel.WarehouseID(w.ID)).Only(ctx)
				require.NoError(t, err)
				return lv
			}
			a, o := level(e.variantA.ID), level(other)
			// 7 on hand (2 reserved), +20, then 10 adjustments of -2 and
			// 10 of +3; the other variant: 10 of +3 from nothing.
			require.Equal(t, 7+20+10*(-2)+10*3, a.QuantityOnHand)
			require.Equal(t, 10*3, o.QuantityOnHand)
			prod, err := c.Product.Get(ctx, e.productA[0].ID)
			require.NoError(t, err)
			require.Equal(t, a.QuantityOnHand-a.QuantityReserved+o.QuantityOnHand, prod.TotalInventory, "the product's total is exact")
		})
	}
}

// TestInventoryLowOutbox: an inventory.low outbox row is written in the
// adjustment's transaction, once per dip to or below the threshold.
func TestInventoryLowOutbox(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newGQLEnv(t, b)
			staffA := e.staff(e.a)
			ctx := viewer.NewContext(context.Background(), staffA)
			c := e.s.DB.Client
			w, err := c.Warehouse.Query().Only(ctx)
			require.NoError(t, err)
			// MAIN: 7 on hand, 2 reserved (5 available). Threshold 3.
			p := e.mutate(t, &staffA, "inventoryLevelUpdate", levelUpdateQ, map[string]any{"in": map[string]any{
				"variantId": e.variantA.ID, "warehouseId": w.ID, "lowStockThreshold": 3}})
			require.Empty(t, p.errs())
			alerts := func() []*ent.OutboxEvent {
				evs, err := c.OutboxEvent.Query().Where(outboxevent.Topic("inventory.low")).All(ctx)
				require.NoError(t, err)
				return evs
			}
			require.Empty(t, alerts(), "5 available is above 3")
			adjust := func(delta int) {
				p := e.mutate(t, &staffA, "inventoryAdjust", adjustQ, map[string]any{"in": map[string]any{
					"variantId": e.variantA.ID, "warehouseId": w.ID, "delta": delta, "reason": "CORRECTION"}})
				require.Empty(t, p.errs())
			}
			adjust(-1) // 4 available
			require.Empty(t, alerts())
			adjust(-1) // 3: at the threshold
			evs := alerts()
			require.Len(t, evs, 1)
			require.Equal(t, e.variantA.ID.String(), evs[0].AggregateID)
			require.Equal(t, "A-1", evs[0].Payload["sku"])
			require.EqualValues(t, 3, evs[0].Payload["quantityAvailable"])
			// Committed with the adjustment; the relay publishes it after.
			require.Contains(t, []outboxevent.Status{outboxevent.StatusPENDING, outboxevent.StatusPUBLISHED}, evs[0].Status)
			adjust(-2) // 1: still low, no second alert
			require.Len(t, alerts(), 1)
			adjust(+10) // 11: restocked, re-armed
			require.Len(t, alerts(), 1)
			lv, err := c.InventoryLevel.Query().Where(inventorylevel.VariantID(e.variantA.ID)).Only(ctx)
			require.NoError(t, err)
			require.Nil(t, lv.LowStockAlertedAt)
			adjust(-9) // 2: a new dip
			require.Len(t, alerts(), 2)

			// A refused adjustment writes nothing.
			r := e.query(t, &staffA, adjustQ, map[string]any{"in": map[string]any{
				"variantId": e.variantA.ID, "warehouseId": w.ID, "delta": -100, "reason": "CORRECTION"}})
			require.Contains(t, r.Body, "INVALID")
			require.Len(t, alerts(), 2)
		})
	}
}

// ---- uploads and /media ----------------------------------------------------------

// multipartRequest builds a GraphQL multipart request (the spec) with one
// file in variable path varPath.
func multipartRequest(t *testing.T, q string, vars map[string]any, varPath, filename string, file []byte, preflight bool) *http.Request {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	ops, err := json.Marshal(map[string]any{"query": q, "variables": vars})
	require.NoError(t, err)
	require.NoError(t, w.WriteField("operations", string(ops)))
	require.NoError(t, w.WriteField("map", `{"0": ["variables.`+varPath+`"]}`))
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="0"; filename="`+filename+`"`)
	h.Set("Content-Type", "application/octet-stream")
	part, err := w.CreatePart(h)
	require.NoError(t, err)
	_, err = part.Write(file)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	req := httptest.NewRequest(http.MethodPost, "/graphql", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if preflight {
		req.Header.Set("GraphQL-Preflight", "1")
	}
	return req
}

func (e *gqlEnv) upload(t *testing.T, v *viewer.Viewer, req *http.Request) gqlResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	e.handlerFor(v).ServeHTTP(rec, req)
	r := gqlResponse{Status: rec.Code, Body: rec.Body.String()}
	require.Less(t, r.Status, 500, r.Body)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), r.Body)
	requireNoLeak(t, r)
	return r
}

func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

const uploadQ = `mutation($in: ProductImageUploadInput!) { productImageUpload(input: $in) {
  image { id url contentType sizeBytes width height featured altText } userErrors { field message code } } }`

func TestProductImageUploadAndMedia(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newGQLEnv(t, b)
			staffA := e.staff(e.a)
			pid := e.productA[0].ID
			vars := func() map[string]any {
				return map[string]any{"in": map[string]any{"productId": pid, "file": nil, "alt": "Front"}}
			}
			data := pngImage(t, 3, 2)

			t.Run("without a preflight header the edge refuses it", func(t *testing.T) {
				r := e.upload(t, &staffA, multipartRequest(t, uploadQ, vars(), "in.file", "a.png", data, false))
				require.Equal(t, http.StatusBadRequest, r.Status)
				require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes())
			})

			var url string
			t.Run("a PNG is stored, recorded and served at /media", func(t *testing.T) {
				r := e.upload(t, &staffA, multipartRequest(t, uploadQ, vars(), "in.file", "evil.html", data, true))
				require.Empty(t, r.Errors, r.Body)
				var d struct {
					ProductImageUpload struct {
						Image struct {
							URL, ContentType, AltText string
							SizeBytes, Width, Height  int
							Featured                  bool
						}
						UserErrors []any
					}
				}
				r.decode(t, &d)
				im := d.ProductImageUpload.Image
				require.Empty(t, d.ProductImageUpload.UserErrors)
				require.Regexp(t, `^/media/`+e.a.ID.String()+`/[0-9a-f]{32}\.png$`, im.URL, "random name, the type's extension")
				require.Equal(t, "image/png", im.ContentType)
				require.Equal(t, len(data), im.SizeBytes)
				require.Equal(t, 3, im.Width)
				require.Equal(t, 2, im.Height)
				require.True(t, im.Featured)
				url = im.URL

				rec := httptest.NewRecorder()
				e.s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
				require.Equal(t, http.StatusOK, rec.Code)
				require.Equal(t, "image/png", rec.Header().Get("Content-Type"))
				require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
				require.Contains(t, rec.Header().Get("Cache-Control"), "immutable")
				require.Equal(t, data, rec.Body.Bytes())
				_, err := os.Stat(filepath.Join(e.s.Config.DataDir, "media", strings.TrimPrefix(url, "/media/")))
				require.NoError(t, err, "stored per store under DATA_DIR/media")
			})

			t.Run("anything but an image is refused, whatever its name", func(t *testing.T) {
				for name, body := range map[string][]byte{
					"fake.png":  []byte("<html><script>alert(1)</script></html>"),
					"empty.jpg": {},
					"doc.pdf":   []byte("%PDF-1.4 ..."),
				} {
					r := e.upload(t, &staffA, multipartRequest(t, uploadQ, vars(), "in.file", name, body, true))
					require.Empty(t, r.Errors, r.Body)
					require.Contains(t, r.Body, `"code":"INVALID"`, name)
					require.Contains(t, r.Body, `"field":["input","file"]`)
				}
			})

			t.Run("more than 10 MiB is TOO_LONG", func(t *testing.T) {
				big := append(pngImage(t, 1, 1), make([]byte, 10<<20)...)
				r := e.upload(t, &staffA, multipartRequest(t, uploadQ, vars(), "in.file", "big.png", big, true))
				require.Empty(t, r.Errors, r.Body)
				require.Contains(t, r.Body, `"code":"TOO_LONG"`)
			})

			t.Run("a product of another store is NOT_FOUND and nothing is stored", func(t *testing.T) {
				before, _ := os.ReadDir(filepath.Join(e.s.Config.DataDir, "media", e.b.ID.String()))
				v := map[string]any{"in": map[string]any{"productId": e.productB.ID, "file": nil}}
				r := e.upload(t, &staffA, multipartRequest(t, uploadQ, v, "in.file", "a.png", data, true))
				require.Contains(t, r.Body, `"code":"NOT_FOUND"`)
				after, _ := os.ReadDir(filepath.Join(e.s.Config.DataDir, "media", e.a.ID.String()))
				require.Len(t, after, 1, "only the first upload's file")
				require.Empty(t, before)
			})

			t.Run("/media serves only media names", func(t *testing.T) {
				require.NoError(t, os.WriteFile(filepath.Join(e.s.Config.DataDir, "secret.png"), data, 0o600))
				for _, p := range []string{
					"/media/../secret.png", "/media/" + e.a.ID.String() + "/../../secret.png",
					"/media/" + e.a.ID.String() + "/nope.png", "/media/x.png", "/media/", "/media/a/b/c.png",
					"/media/" + e.a.ID.String() + "/" + strings.Repeat("0", 32) + ".html", "/media/%2e%2e/secret.png",
				} {
					rec := httptest.NewRecorder()
					e.s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
					require.NotEqual(t, http.StatusOK, rec.Code, p)
					require.NotEqual(t, data, rec.Body.Bytes(), p)
				}
			})

			t.Run("deleting the image removes the file", func(t *testing.T) {
				sctx := viewer.NewContext(context.Background(), staffA)
				im, err := e.s.DB.Client.ProductImage.Query().Only(sctx)
				require.NoError(t, err)
				p := e.mutate(t, &staffA, "productImageDelete", `mutation($in: ProductImageDeleteInput!) { productImageDelete(input: $in) { deletedImageId userErrors { code } } }`,
					map[string]any{"in": map[string]any{"id": im.ID}})
				require.Empty(t, p.errs())
				rec := httptest.NewRecorder()
				e.s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
				require.Equal(t, http.StatusNotFound, rec.Code)
			})
		})
	}
}

// ---- import ----------------------------------------------------------------------

const importQ = `mutation($in: ProductImportInput!) { productImport(input: $in) {
  created updated failed errors { row field message code } userErrors { field message code } } }`

type importResult struct {
	Created, Updated, Failed int
	Errors                   []struct {
		Row     int
		Field   *string
		Message string
		Code    string
	}
	UserErrors []struct {
		Field []string
		Code  string
	}
}

func (e *gqlEnv) importFile(t *testing.T, v *viewer.Viewer, format, data string) importResult {
	t.Helper()
	r := e.upload(t, v, multipartRequest(t, importQ, map[string]any{"in": map[string]any{"file": nil, "format": format}},
		"in.file", "products."+strings.ToLower(format), []byte(data), true))
	require.Empty(t, r.Errors, r.Body)
	var d struct{ ProductImport importResult }
	r.decode(t, &d)
	return d.ProductImport
}

func (r importResult) rowErrors() []string {
	var out []string
	for _, e := range r.Errors {
		f := ""
		if e.Field != nil {
			f = *e.Field
		}
		out = append(out, fmt.Sprintf("%d %s %s", e.Row, f, e.Code))
	}
	return out
}

func TestProductImport(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newGQLEnv(t, b)
			staffA := e.staff(e.a)
			sctx := viewer.NewContext(context.Background(), staffA)
			c := e.s.DB.Client

			jsonl := strings.Join([]string{
				`{"slug": "classic-tee", "title": "Classic Tee", "status": "ACTIVE", "category": "shirts", "categoryName": "Shirts", "tags": ["cotton"],` +
					` "options": [{"name": "Size", "values": ["S", "M"]}], "variants": [` +
					`{"sku": "TEE-S", "optionValues": {"Size": "S"}, "price": 1999, "inventory": 10},` +
					`{"sku": "TEE-M", "optionValues": {"Size": "M"}, "price": 2199, "inventory": {"MAIN": 4}}],` +
					` "images": [{"url": "https://cdn.example.com/tee.jpg", "alt": "Tee"}, {"url": "https://cdn.example.com/tee-m.jpg", "variantSku": "TEE-M"}]}`,
				`{"title": "Gift Card", "price": 5000}`,
				``,
				`{"title": "Bad Price", "price": -5}`,
				`{"title": "Dup SKU", "variants": [{"sku": "A-1", "price": 5}]}`,
				`{"title": "Broken", `,
				`{"title": "Unknown Cat", "category": "nope"}`,
				`{"title": "Mug", "category": "shirts", "price": 800}`,
			}, "\n")
			res := e.importFile(t, &staffA, "JSONL", jsonl)
			require.Equal(t, 3, res.Created, "%+v", res)
			require.Equal(t, 0, res.Updated)
			require.Equal(t, 4, res.Failed)
			require.Equal(t, []string{
				"6  INVALID",
				"4 price INVALID",
				"5 variants.0.sku TAKEN",
				"7 category NOT_FOUND",
			}, res.rowErrors())

			tee, err := c.Product.Query().Where(product.Slug("classic-tee")).WithVariants().WithImages().Only(sctx)
			require.NoError(t, err)
			require.Equal(t, product.StatusACTIVE, tee.Status)
			require.NotNil(t, tee.CategoryID, "the category was created")
			require.Len(t, tee.Edges.Variants, 2)
			require.Len(t, tee.Edges.Images, 2)
			require.Equal(t, 10+4, tee.TotalInventory)
			require.Equal(t, int64(1999), tee.PriceMin)
			require.Equal(t, int64(2199), tee.PriceMax)
			mug, err := c.Product.Query().Where(product.Slug("mug")).Only(sctx)
			require.NoError(t, err)
			require.Equal(t, tee.CategoryID, mug.CategoryID, "a later row finds the category created earlier")
			n, err := c.Product.Query().Where(product.TitleIn("Bad Price", "Dup SKU", "Unknown Cat")).Count(sctx)
			require.NoError(t, err)
			require.Zero(t, n, "failed rows leave nothing behind")

			// The same file again: everything is an update, nothing changes.
			res = e.importFile(t, &staffA, "JSONL", jsonl)
			require.Equal(t, 0, res.Created)
			require.Equal(t, 3, res.Updated)
			tee2, err := c.Product.Query().Where(product.Slug("classic-tee")).WithVariants().WithImages().Only(sctx)
			require.NoError(t, err)
			require.ElementsMatch(t, ids(tee.Edges.Variants), ids(tee2.Edges.Variants), "variants are upserted by SKU")
			require.Equal(t, 14, tee2.TotalInventory, "stock is set, not added")
			require.Len(t, tee2.Edges.Images, 2)
			n, err = c.Product.Query().Count(sctx)
			require.NoError(t, err)
			require.Equal(t, 3+3, n)

			// CSV: one row per variant, errors point at rows and columns.
			csv := "slug,title,status,option1_name,option1_value,sku,price,inventory\n" +
				"classic-tee,,,Size,S,TEE-S,1899,8\n" +
				"classic-tee,,,,L,TEE-L,2399,2\n" +
				"hoodie,Hoodie,ACTIVE,Size,M,HOOD-M,4999,1\n" +
				"hoodie,,,,L,A-1,4999,1\n" +
				"cap,Cap,,,,,12.50,\n"
			res = e.importFile(t, &staffA, "CSV", csv)
			require.Equal(t, 1, res.Updated, "%+v", res)
			require.Equal(t, 0, res.Created)
			require.Equal(t, 2, res.Failed)
			require.Equal(t, []string{"6 price INVALID", "5 sku TAKEN"}, res.rowErrors())
			tee3, err := c.Product.Query().Where(product.Slug("classic-tee")).WithVariants().Only(sctx)
			require.NoError(t, err)
			var skus []string
			for _, v := range tee3.Edges.Variants {
				skus = append(skus, v.Sku)
			}
			require.ElementsMatch(t, []string{"TEE-S", "TEE-L"}, skus, "the CSV's variants replace the product's")
			require.Equal(t, int64(1899), tee3.PriceMin)
			require.Equal(t, 8+2, tee3.TotalInventory)

			// File errors are userErrors; nothing is imported.
			res = e.importFile(t, &staffA, "CSV", "title,colour\nX,red\n")
			require.Len(t, res.UserErrors, 1)
			require.Equal(t, "INVALID", res.UserErrors[0].Code)
			require.Equal(t, []string{"input", "file"}, res.UserErrors[0].Field)

			// Another store's import never touches A's products.
			staffB := e.staff(e.b)
			res = e.importFile(t, &staffB, "JSONL", `{"slug": "classic-tee", "title": "B's tee", "variants": [{"sku": "TEE-S", "price": 1}]}`)
			require.Equal(t, 1, res.Created, "%+v", res)
			tee4, err := c.Product.Query().Where(product.Slug("classic-tee")).Only(sctx)
			require.NoError(t, err)
			require.Equal(t, "Classic Tee", tee4.Title)
		})
	}
}

// TestProductImportBatches: more rows than one batch, with a bad row in the
// second batch: the others of that batch are saved.
func TestProductImportBatches(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newGQLEnv(t, b)
			staffA := e.staff(e.a)
			var lines []string
			for i := 1; i <= 150; i++ {
				price := 100 + i
				if i == 120 {
					price = -1
				}
				lines = append(lines, fmt.Sprintf(`{"title": "Item %03d", "price": %d, "variants": [{"sku": "IT-%03d", "price": %d, "inventory": 5}]}`, i, price, i, price))
			}
			start := time.Now()
			res, err := e.s.Catalog.Import(viewer.NewContext(context.Background(), staffA), strings.NewReader(strings.Join(lines, "\n")), "JSONL")
			require.NoError(t, err)
			t.Logf("150 products imported in %s", time.Since(start).Round(time.Millisecond))
			require.Equal(t, 149, res.Created)
			require.Equal(t, 1, res.Failed)
			require.Equal(t, 120, res.Errors[0].Row)
			n, err := e.s.DB.Client.Product.Query().Count(viewer.NewContext(context.Background(), staffA))
			require.NoError(t, err)
			require.Equal(t, 3+149, n)
		})
	}
}

func ids(vs []*ent.ProductVariant) []uuid.UUID {
	out := make([]uuid.UUID, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// catalogue is what seedCatalogue wrote for one store.
type catalogue struct {
	merchant   uuid.UUID
	staff      context.Context
	root, leaf uuid.UUID // categories: root > leaf
	products   []*ent.Product
}

// seedCatalogue writes n active, published products into merchant's store,
// "P0000"…, each with 3 variants (S, M, L: stock 5, 0 and untracked), two
// images (the second featured) and the category leaf (under root) for even
// products, root for odd ones. Prices: 1000 + 10·i + 100·v.
func seedCatalogue(t testing.TB, c *ent.Client, merchant uuid.UUID, n int) *catalogue {
	t.Helper()
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: merchant, UserID: uuid.New()})
	cat := &catalogue{merchant: merchant, staff: ctx}
	root, err := c.ProductCategory.Create().SetName("Root").SetSlug("root").Save(ctx)
	require.NoError(t, err)
	leaf, err := c.ProductCategory.Create().SetName("Leaf").SetSlug("leaf").SetParentID(root.ID).Save(ctx)
	require.NoError(t, err)
	cat.root, cat.leaf = root.ID, leaf.ID
	wh, err := c.Warehouse.Create().SetName("Main").SetCode("MAIN").Save(ctx)
	require.NoError(t, err)
	published := time.Now().Add(-time.Hour)

	products := make([]*ent.ProductCreate, n)
	for i := range products {
		catID := leaf.ID
		if i%2 == 1 {
			catID = root.ID
		}
		base := int64(1000 + 10*i)
		products[i] = c.Product.Create().SetTitle(fmt.Sprintf("P%04d", i)).SetSlug(fmt.Sprintf("p%04d", i)).
			SetDescription(fmt.Sprintf("Product number %d", i)).SetStatus(product.StatusACTIVE).SetPublishedAt(published).
			SetCategoryID(catID).SetTags([]string{"t" + fmt.Sprint(i%3)}).SetPriceMin(base).SetPriceMax(base + 200).
			SetTotalInventory(5)
	}
	cat.products, err = c.Product.CreateBulk(products...).Save(ctx)
	require.NoError(t, err)
	var variants []*ent.ProductVariantCreate
	var images []*ent.ProductImageCreate
	for i, p := range cat.products {
		for v, size := range []string{"S", "M", "L"} {
			variants = append(variants, c.ProductVariant.Create().SetProductID(p.ID).SetSku(fmt.Sprintf("SKU-%04d-%s", i, size)).
				SetTitle(size).SetPrice(int64(1000+10*i+100*v)).SetCost(500).SetPosition(v).SetTrackInventory(size != "L"))
		}
		for k := range 2 {
			images = append(images, c.ProductImage.Create().SetProductID(p.ID).SetURL(fmt.Sprintf("https://img.test/%d-%d.png", i, k)).
				SetPosition(k).SetFeatured(k == 1))
		}
	}
	vs, err := c.ProductVariant.CreateBulk(variants...).Save(ctx)
	require.NoError(t, err)
	_, err = c.ProductImage.CreateBulk(images...).Save(ctx)
	require.NoError(t, err)
	var levels []*ent.InventoryLevelCreate
	for i, v := range vs {
		if i%3 == 0 {
			levels = append(levels, c.InventoryLevel.Create().SetVariantID(v.ID).SetWarehouseID(wh.ID).SetQuantityOnHand(5))
		}
	}
	_, err = c.InventoryLevel.CreateBulk(levels...).Save(ctx)
	require.NoError(t, err)
	return cat
}

// sfEnv is a server with two registered stores, acme (with a catalogue of
// visible and hidden products) and bolt, reached through HTTP headers.
type sfEnv struct {
	*idEnv
	acme, bolt registered
	a, b       uuid.UUID
	cat        *catalogue
	draft      *ent.Product
}

func (e *sfEnv) visitor() []string {
	return []string{"X-Storefront-Key", e.acme.MerchantRegister.StorefrontKey}
}
func (e *sfEnv) staff() []string { return bearer(e.acme.MerchantRegister.AccessToken) }

// customer registers a customer of acme and returns its bearer header.
func (e *sfEnv) customer(t *testing.T, email string) []string {
	t.Helper()
	r := e.do(t, `mutation($e: String!) { customerRegister(input: {email: $e, password: "customer password"}) { customerAccessToken } }`,
		map[string]any{"e": email}, e.visitor()...)
	require.Empty(t, r.Errors, r.Body)
	var reg struct {
		CustomerRegister struct{ CustomerAccessToken string }
	}
	r.decode(t, &reg)
	return bearer(reg.CustomerRegister.CustomerAccessToken)
}

// secretKey creates a secret key of acme with permissions and returns its
// bearer header.
func (e *sfEnv) secretKey(t *testing.T, permissions ...string) []string {
	t.Helper()
	r := e.do(t, `mutation($p: [String!]!) { apiKeyCreate(input: {name: "k", permissions: $p}) { secret } }`,
		map[string]any{"p": permissions}, e.staff()...)
	require.Empty(t, r.Errors, r.Body)
	var key struct{ APIKeyCreate struct{ Secret string } }
	r.decode(t, &key)
	return bearer(key.APIKeyCreate.Secret)
}

// updateStorefront applies storefrontConfigUpdate(input: in) as acme's staff.
func (e *sfEnv) updateStorefront(t *testing.T, in map[string]any) {
	t.Helper()
	r := e.do(t, `mutation($in: StorefrontConfigUpdateInput!) { storefrontConfigUpdate(input: $in) { userErrors { code } } }`,
		map[string]any{"in": in}, e.staff()...)
	require.Empty(t, r.Errors, r.Body)
	require.JSONEq(t, `{"storefrontConfigUpdate": {"userErrors": []}}`, string(r.Data))
}

func newSFEnv(t *testing.T, b dbtest.Backend) *sfEnv {
	t.Helper()
	e := &sfEnv{idEnv: newIDEnv(t, b, nil)}
	e.acme, e.bolt = e.register(t, "acme"), e.register(t, "bolt")
	e.publish(t, e.acme)
	e.publish(t, e.bolt)
	e.a, e.b = uuid.MustParse(e.acme.MerchantRegister.Merchant.ID), uuid.MustParse(e.bolt.MerchantRegister.Merchant.ID)
	c := e.s.DB.Client
	e.cat = seedCatalogue(t, c, e.a, 4)
	var err error
	e.draft, err = c.Product.Create().SetTitle("Draft Jacket").SetSlug("draft-jacket").SetCategoryID(e.cat.leaf).
		SetTags([]string{"t0"}).Save(e.cat.staff)
	require.NoError(t, err)
	_, err = c.ProductVariant.Create().SetProductID(e.draft.ID).SetSku("JKT").SetPrice(5).Save(e.cat.staff)
	require.NoError(t, err)
	_, err = c.Product.Create().SetTitle("Future Boots").SetSlug("future-boots").SetStatus(product.StatusACTIVE).
		SetPublishedAt(time.Now().Add(time.Hour)).Save(e.cat.staff)
	require.NoError(t, err)
	boltStaff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: e.b, UserID: uuid.New()})
	_, err = c.Product.Create().SetTitle("Bolt Widget").SetSlug("bolt-widget").SetStatus(product.StatusACTIVE).
		SetPublishedAt(time.Now().Add(-time.Hour)).SetTags([]string{"t0"}).Save(boltStaff)
	require.NoError(t, err)
	return e
}

// titlesOf lists the product titles of a products connection in data.
func titlesOf(t *testing.T, r gqlResponse, field string) []string {
	t.Helper()
	var d map[string]struct {
		TotalCount *int `json:"totalCount"`
		Edges      []struct {
			Node struct{ Title string } `json:"node"`
		} `json:"edges"`
	}
	r.decode(t, &d)
	out := []string{}
	for _, e := range d[field].Edges {
		out = append(out, e.Node.Title)
	}
	return out
}

func TestStorefront(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testStorefront(t, newSFEnv(t, b)) })
	}
}

func testStorefront(t *testing.T, e *sfEnv) {
	const list = `query($q: String, $f: ProductFilter, $s: ProductSortKeys, $r: Boolean, $first: Int, $after: Cursor) {
		products(query: $q, filter: $f, sortKey: $s, reverse: $r, first: $first, after: $after) {
			totalCount pageInfo { hasNextPage endCursor } edges { cursor node { title } } } }`
	visible := []string{"P0000", "P0001", "P0002", "P0003"}

	t.Run("a visitor sees the active, published products of its store", func(t *testing.T) {
		for name, h := range map[string][]string{
			"storefront key": e.visitor(),
			"store slug":     {"X-Store-Slug", "acme"},
		} {
			r := e.do(t, list, nil, h...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.Equal(t, visible, titlesOf(t, r, "products"), name)
			require.Contains(t, r.Body, `"totalCount":4`, name)
			for _, hidden := range []string{"Draft", "Future", "Bolt"} {
				require.NotContains(t, r.Body, hidden, name)
			}
		}
		r := e.do(t, list, nil, "X-Store-Slug", "bolt")
		require.Equal(t, []string{"Bolt Widget"}, titlesOf(t, r, "products"))
	})

	t.Run("a customer sees what visitors see", func(t *testing.T) {
		r := e.do(t, `mutation { customerRegister(input: {email: "c@example.com", password: "customer password"}) { customerAccessToken userErrors { code } } }`,
			nil, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		var reg struct {
			CustomerRegister struct{ CustomerAccessToken string }
		}
		r.decode(t, &reg)
		r = e.do(t, list, nil, bearer(reg.CustomerRegister.CustomerAccessToken)...)
		require.Empty(t, r.Errors, r.Body)
		require.Equal(t, visible, titlesOf(t, r, "products"))
	})

	t.Run("staff see every status and keep the admin arguments", func(t *testing.T) {
		r := e.do(t, list, nil, e.staff()...)
		require.Empty(t, r.Errors, r.Body)
		require.Equal(t, []string{"Draft Jacket", "Future Boots", "P0000", "P0001", "P0002", "P0003"}, titlesOf(t, r, "products"))
		r = e.do(t, `{ products(where: {status: DRAFT}, orderBy: {field: TITLE, direction: DESC}) { edges { node { title } } } }`, nil, e.staff()...)
		require.Empty(t, r.Errors, r.Body)
		require.Equal(t, []string{"Draft Jacket"}, titlesOf(t, r, "products"))
	})

	t.Run("no store, no catalogue", func(t *testing.T) {
		r := e.do(t, list, nil)
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Body)
		for _, q := range []string{`{ product(slug: "p0000") { id } }`, `{ categories { totalCount } }`, `{ storefront { storeName } }`} {
			r = e.do(t, q, nil)
			require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Body)
		}
	})

	t.Run("admin arguments are refused to the storefront", func(t *testing.T) {
		for _, q := range []string{
			`{ products(where: {status: DRAFT}) { totalCount } }`,
			`{ products(orderBy: {field: TITLE}) { totalCount } }`,
			`{ products(where: {hasVariantsWith: {costGT: 100}}) { totalCount } }`,
			// The nested generated connections take where too: the same rule.
			`{ categories { edges { node { products(where: {hasVariantsWith: {costGT: 100}}) { totalCount } } } } }`,
			`{ categories { edges { node { children(where: {nameContains: "e"}) { totalCount } } } } }`,
		} {
			r := e.do(t, q, nil, e.visitor()...)
			require.Contains(t, r.codes(), "BAD_USER_INPUT", "%s: %s", q, r.Body)
			require.NotContains(t, r.Body, `"totalCount"`, q)
		}
		r := e.do(t, `{ categories { edges { node { products(where: {hasVariantsWith: {costGT: 100}}) { totalCount } } } } }`, nil, e.staff()...)
		require.Empty(t, r.Errors, r.Body)
	})

	t.Run("product by slug or id", func(t *testing.T) {
		const q = `query($id: ID, $slug: String) { product(id: $id, slug: $slug) {
			title priceRange { min { amount currencyCode } max { amount currencyCode } }
			featuredImage { url } images { url } seo { title description }
			variants { sku price available quantityAvailable } category { name } } }`
		r := e.do(t, q, map[string]any{"slug": "p0001"}, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"product": {
			"title": "P0001",
			"priceRange": {"min": {"amount": 1010, "currencyCode": "USD"}, "max": {"amount": 1210, "currencyCode": "USD"}},
			"featuredImage": {"url": "https://img.test/1-1.png"},
			"images": [{"url": "https://img.test/1-0.png"}, {"url": "https://img.test/1-1.png"}],
			"seo": {"title": "P0001", "description": "Product number 1"},
			"variants": [
				{"sku": "SKU-0001-S", "price": 1010, "available": true, "quantityAvailable": 5},
				{"sku": "SKU-0001-M", "price": 1110, "available": false, "quantityAvailable": 0},
				{"sku": "SKU-0001-L", "price": 1210, "available": true, "quantityAvailable": 0}],
			"category": {"name": "Root"}}}`, string(r.Data))
		r = e.do(t, `query($id: ID) { product(id: $id) { title } }`, map[string]any{"id": e.cat.products[2].ID}, e.visitor()...)
		require.JSONEq(t, `{"product": {"title": "P0002"}}`, string(r.Data))

		// Hidden or foreign products are null, like missing ones.
		for name, vars := range map[string]map[string]any{
			"draft":   {"slug": "draft-jacket"},
			"draftID": {"id": e.draft.ID},
			"future":  {"slug": "future-boots"},
			"foreign": {"slug": "bolt-widget"},
			"missing": {"id": uuid.New()},
		} {
			r := e.do(t, `query($id: ID, $slug: String) { product(id: $id, slug: $slug) { title } }`, vars, e.visitor()...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.JSONEq(t, `{"product": null}`, string(r.Data), name)
		}
		r = e.do(t, `{ product(slug: "draft-jacket") { title status } }`, nil, e.staff()...)
		require.JSONEq(t, `{"product": {"title": "Draft Jacket", "status": "DRAFT"}}`, string(r.Data))
		r = e.do(t, `{ product { title } }`, nil, e.visitor()...)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Body)
		r = e.do(t, `{ product(slug: "p0001", id: "`+e.draft.ID.String()+`") { title } }`, nil, e.visitor()...)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Body)
	})

	t.Run("staff-only fields are null and FORBIDDEN for the storefront", func(t *testing.T) {
		const q = `{ product(slug: "p0000") { title totalInventory variants { sku cost inventoryLevels { quantityOnHand } } } }`
		r := e.do(t, q, nil, e.visitor()...)
		require.JSONEq(t, `{"product": {"title": "P0000", "totalInventory": null, "variants": [
			{"sku": "SKU-0000-S", "cost": null, "inventoryLevels": null},
			{"sku": "SKU-0000-M", "cost": null, "inventoryLevels": null},
			{"sku": "SKU-0000-L", "cost": null, "inventoryLevels": null}]}}`, string(r.Data))
		require.Len(t, r.Errors, 7, r.Body)
		var paths []string
		for _, err := range r.Errors {
			require.Equal(t, "FORBIDDEN", err.code(), r.Body)
			paths = append(paths, fmt.Sprint(err.Path))
		}
		require.Contains(t, paths, "[product totalInventory]")
		require.Contains(t, paths, "[product variants 2 cost]")

		r = e.do(t, q, nil, e.staff()...)
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, `"cost":500`)
		require.Contains(t, r.Body, `"totalInventory":5`)

		// A secret key without products:read is a storefront reader; its
		// denial is audited once, not once per row.
		r = e.do(t, `mutation { apiKeyCreate(input: {name: "orders", permissions: ["orders:read"]}) { secret } }`, nil, e.staff()...)
		require.Empty(t, r.Errors, r.Body)
		var key struct{ APIKeyCreate struct{ Secret string } }
		r.decode(t, &key)
		r = e.do(t, `{ products { edges { node { title variants { cost } } } } }`, nil, bearer(key.APIKeyCreate.Secret)...)
		require.NotContains(t, r.Body, "Draft")
		require.Len(t, r.Errors, 12, r.Body)
		n, err := e.s.DB.Client.AuditLog.Query().Where(auditlog.Action("permission.denied"), auditlog.ResourceID("ProductVariant.cost")).Count(e.cat.staff)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})

	t.Run("categories: the tree, and no drafts below it", func(t *testing.T) {
		const q = `{ categories(first: 5) { totalCount edges { node { name
			products(first: 5, orderBy: {field: TITLE}) { totalCount edges { node { title } } }
			children(first: 5) { edges { node { name products(first: 10, orderBy: {field: TITLE}) { totalCount edges { node { title } } } } } } } } } }`
		r := e.do(t, q, nil, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"categories": {"totalCount": 1, "edges": [{"node": {"name": "Root",
			"products": {"totalCount": 2, "edges": [{"node": {"title": "P0001"}}, {"node": {"title": "P0003"}}]},
			"children": {"edges": [{"node": {"name": "Leaf",
				"products": {"totalCount": 2, "edges": [{"node": {"title": "P0000"}}, {"node": {"title": "P0002"}}]}}}]}}}]}}`,
			string(r.Data))
		r = e.do(t, q, nil, e.staff()...)
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, "Draft Jacket")

		// An unpublished category hides its subtree from the storefront.
		c := e.s.DB.Client
		require.NoError(t, c.ProductCategory.UpdateOneID(e.cat.root).SetPublished(false).Exec(e.cat.staff))
		defer func() {
			require.NoError(t, c.ProductCategory.UpdateOneID(e.cat.root).SetPublished(true).Exec(e.cat.staff))
		}()
		r = e.do(t, `{ categories { totalCount } }`, nil, e.visitor()...)
		require.JSONEq(t, `{"categories": {"totalCount": 0}}`, string(r.Data))
		r = e.do(t, list, map[string]any{"f": map[string]any{"categoryId": e.cat.leaf}}, e.visitor()...)
		require.Empty(t, titlesOf(t, r, "products"))
		// A product stays visible; its category does not when it or a
		// category above it is unpublished: P0001's Root, and P0000's
		// published Leaf under Root — on one product and on a page alike.
		r = e.do(t, `{ product(slug: "p0001") { title category { name } } }`, nil, e.visitor()...)
		require.JSONEq(t, `{"product": {"title": "P0001", "category": null}}`, string(r.Data))
		r = e.do(t, `{ product(slug: "p0000") { title category { name parent { name } } } }`, nil, e.visitor()...)
		require.JSONEq(t, `{"product": {"title": "P0000", "category": null}}`, string(r.Data))
		const page = `{ products(first: 2) { edges { node { title category { name } } } } }`
		r = e.do(t, page, nil, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"products": {"edges": [{"node": {"title": "P0000", "category": null}}, {"node": {"title": "P0001", "category": null}}]}}`, string(r.Data))
		r = e.do(t, page, nil, e.staff()...)
		require.Contains(t, r.Body, `"category":{"name":"Leaf"}`)
	})

	t.Run("categories: an unpublished category hides its subtree on every path", func(t *testing.T) {
		const q = `query($slug: String) { product(slug: $slug) { category { name parent { name } children { totalCount } } } }`
		r := e.do(t, q, map[string]any{"slug": "p0000"}, e.visitor()...)
		require.JSONEq(t, `{"product": {"category": {"name": "Leaf", "parent": {"name": "Root"}, "children": {"totalCount": 0}}}}`, string(r.Data))

		c := e.s.DB.Client
		require.NoError(t, c.ProductCategory.UpdateOneID(e.cat.leaf).SetPublished(false).Exec(e.cat.staff))
		defer func() {
			require.NoError(t, c.ProductCategory.UpdateOneID(e.cat.leaf).SetPublished(true).Exec(e.cat.staff))
		}()
		r = e.do(t, q, map[string]any{"slug": "p0000"}, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"product": {"category": null}}`, string(r.Data))
		r = e.do(t, q, map[string]any{"slug": "p0001"}, e.visitor()...)
		require.JSONEq(t, `{"product": {"category": {"name": "Root", "parent": null, "children": {"totalCount": 0}}}}`, string(r.Data))
		r = e.do(t, `{ categories { totalCount edges { node { name children { totalCount } } } } }`, nil, e.visitor()...)
		require.JSONEq(t, `{"categories": {"totalCount": 1, "edges": [{"node": {"name": "Root", "children": {"totalCount": 0}}}]}}`, string(r.Data))
		r = e.do(t, list, map[string]any{"f": map[string]any{"categoryId": e.cat.root}}, e.visitor()...)
		require.Equal(t, []string{"P0001", "P0003"}, titlesOf(t, r, "products"), "the filter leaves the hidden leaf out")

		// A category below a hidden one is hidden too (three levels).
		sub, err := c.ProductCategory.Create().SetName("Sub").SetSlug("sub").SetParentID(e.cat.leaf).Save(e.cat.staff)
		require.NoError(t, err)
		defer func() { require.NoError(t, c.ProductCategory.DeleteOneID(sub.ID).Exec(e.cat.staff)) }()
		require.NoError(t, c.Product.UpdateOneID(e.cat.products[2].ID).SetCategoryID(sub.ID).Exec(e.cat.staff))
		defer func() {
			require.NoError(t, c.Product.UpdateOneID(e.cat.products[2].ID).SetCategoryID(e.cat.leaf).Exec(e.cat.staff))
		}()
		r = e.do(t, q, map[string]any{"slug": "p0002"}, e.visitor()...)
		require.JSONEq(t, `{"product": {"category": null}}`, string(r.Data))
		r = e.do(t, q, map[string]any{"slug": "p0002"}, e.staff()...)
		require.JSONEq(t, `{"product": {"category": {"name": "Sub", "parent": {"name": "Leaf"}, "children": {"totalCount": 0}}}}`, string(r.Data))
	})

	t.Run("an unpublished store serves only its staff", func(t *testing.T) {
		customer := e.customer(t, "closed@example.com")
		key := e.secretKey(t, "orders:read")
		e.updateStorefront(t, map[string]any{"published": false})
		defer e.updateStorefront(t, map[string]any{"published": true})

		// Every storefront field, to every visitor and customer, at once
		// (the change was made by this process; others follow within
		// auth.StoreCacheTTL).
		for name, h := range map[string][]string{
			"storefront key": e.visitor(),
			"key as bearer":  bearer(e.acme.MerchantRegister.StorefrontKey),
			"store slug":     {"X-Store-Slug", "acme"},
			"customer":       customer,
		} {
			for _, q := range []string{list, `{ product(slug: "p0000") { title } }`, `{ categories { totalCount } }`, `{ storefront { storeName } }`,
				`mutation { customerRegister(input: {email: "late@example.com", password: "customer password"}) { customerAccessToken } }`,
				`mutation { customerLogin(input: {email: "closed@example.com", password: "customer password"}) { customerAccessToken } }`,
			} {
				r := e.do(t, q, nil, h...)
				require.Equal(t, []string{"STORE_NOT_PUBLISHED"}, r.codes(), "%s: %s: %s", name, q, r.Body)
				require.NotContains(t, r.Body, "P000", name)
				require.NotContains(t, r.Body, `AccessToken":"`, name)
			}
		}
		r := e.do(t, list, nil, e.visitor()...)
		require.JSONEq(t, `null`, string(r.Data))
		require.Equal(t, "products", fmt.Sprint(r.Errors[0].Path...))

		// A signed-in customer keeps their own account.
		r = e.do(t, `{ customer { email } }`, nil, customer...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"customer": {"email": "closed@example.com"}}`, string(r.Data))
		// The store's staff and its secret keys read everything.
		for name, h := range map[string][]string{"staff": e.staff(), "secret key": key} {
			r = e.do(t, `{ storefront { published } products(first: 1) { totalCount } categories { totalCount } }`, nil, h...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.Contains(t, r.Body, `"published":false`, name)
		}
		// Another store is not affected.
		r = e.do(t, list, nil, "X-Store-Slug", "bolt")
		require.Equal(t, []string{"Bolt Widget"}, titlesOf(t, r, "products"))

		// Published again: served again, at once.
		e.updateStorefront(t, map[string]any{"published": true})
		r = e.do(t, list, nil, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		require.Equal(t, visible, titlesOf(t, r, "products"))
	})

	t.Run("the store may hide exact stock from the storefront", func(t *testing.T) {
		customer := e.customer(t, "stock@example.com")
		key := e.secretKey(t, "orders:read")
		const q = `{ storefront { showStockQuantity } product(slug: "p0001") { variants { sku available quantityAvailable } } }`
		shown := `{"storefront": {"showStockQuantity": %t}, "product": {"variants": [
			{"sku": "SKU-0001-S", "available": true, "quantityAvailable": 5},
			{"sku": "SKU-0001-M", "available": false, "quantityAvailable": 0},
			{"sku": "SKU-0001-L", "available": true, "quantityAvailable": 0}]}}`
		r := e.do(t, q, nil, e.visitor()...)
		require.JSONEq(t, fmt.Sprintf(shown, true), string(r.Data))

		e.updateStorefront(t, map[string]any{"showStockQuantity": false})
		defer e.updateStorefront(t, map[string]any{"showStockQuantity": true})
		for name, h := range map[string][]string{"storefront key": e.visitor(), "store slug": {"X-Store-Slug", "acme"}, "customer": customer} {
			r := e.do(t, q, nil, h...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.JSONEq(t, `{"storefront": {"showStockQuantity": false}, "product": {"variants": [
				{"sku": "SKU-0001-S", "available": true, "quantityAvailable": null},
				{"sku": "SKU-0001-M", "available": false, "quantityAvailable": null},
				{"sku": "SKU-0001-L", "available": true, "quantityAvailable": null}]}}`, string(r.Data), name)
			// On a page too; the inStock filter still applies.
			r = e.do(t, `{ products(filter: {inStock: true}) { edges { node { title variants { quantityAvailable } } } } }`, nil, h...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.Equal(t, visible, titlesOf(t, r, "products"), name)
			require.NotRegexp(t, `"quantityAvailable":\d`, r.Body, name)
		}
		// The store's staff and secret keys see the numbers.
		for name, h := range map[string][]string{"staff": e.staff(), "secret key": key} {
			r := e.do(t, q, nil, h...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.JSONEq(t, fmt.Sprintf(shown, false), string(r.Data), name)
		}
	})

	t.Run("storefront settings", func(t *testing.T) {
		r := e.do(t, `{ storefront { storeName currency guestCheckout } }`, nil, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"storefront": {"storeName": "Store acme", "currency": "USD", "guestCheckout": true}}`, string(r.Data))
		r = e.do(t, `{ storefront { storeName } }`, nil, "X-Store-Slug", "bolt")
		require.JSONEq(t, `{"storefront": {"storeName": "Store bolt"}}`, string(r.Data))
	})

	t.Run("search, filters and sorts", func(t *testing.T) {
		for name, tc := range map[string]struct {
			vars map[string]any
			want []string
		}{
			"search":                 {map[string]any{"q": "number 2"}, []string{"P0002"}},
			"search a sku":           {map[string]any{"q": "sku-0003-m"}, []string{"P0003"}},
			"search hides drafts":    {map[string]any{"q": "jacket"}, []string{}},
			"category and below":     {map[string]any{"f": map[string]any{"categoryId": e.cat.root}}, visible},
			"category leaf":          {map[string]any{"f": map[string]any{"categoryId": e.cat.leaf}}, []string{"P0000", "P0002"}},
			"price":                  {map[string]any{"f": map[string]any{"priceMin": 1230, "priceMax": 1300}}, []string{"P0003"}},
			"tags":                   {map[string]any{"f": map[string]any{"tags": []string{"t0", "t2"}}}, []string{"P0000", "P0002", "P0003"}},
			"in stock":               {map[string]any{"f": map[string]any{"inStock": true}}, visible},
			"out of stock":           {map[string]any{"f": map[string]any{"inStock": false}}, []string{}},
			"price sort reversed":    {map[string]any{"s": "PRICE", "r": true}, []string{"P0003", "P0002", "P0001", "P0000"}},
			"relevance":              {map[string]any{"s": "RELEVANCE", "q": "p0001"}, []string{"P0001"}},
			"another store's filter": {map[string]any{"f": map[string]any{"categoryId": uuid.New()}}, []string{}},
		} {
			r := e.do(t, list, tc.vars, e.visitor()...)
			require.Empty(t, r.Errors, "%s: %s", name, r.Body)
			require.Equal(t, tc.want, titlesOf(t, r, "products"), name)
		}
		// Bolt's visitor cannot filter by acme's category, nor find its products.
		r := e.do(t, list, map[string]any{"f": map[string]any{"categoryId": e.cat.root}}, "X-Store-Slug", "bolt")
		require.Empty(t, titlesOf(t, r, "products"))
		r = e.do(t, list, map[string]any{"q": "p0001"}, "X-Store-Slug", "bolt")
		require.Empty(t, titlesOf(t, r, "products"))
		r = e.do(t, list, map[string]any{"f": map[string]any{"tags": make([]string, 21)}}, e.visitor()...)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Body)
	})

	t.Run("cursors page through every sort", func(t *testing.T) {
		for _, sort := range []string{"TITLE", "PRICE", "CREATED_AT", "RELEVANCE"} {
			var got []string
			vars := map[string]any{"s": sort, "first": 3, "q": "product"}
			for page := 0; ; page++ {
				require.Less(t, page, 5)
				r := e.do(t, list, vars, e.visitor()...)
				require.Empty(t, r.Errors, r.Body)
				got = append(got, titlesOf(t, r, "products")...)
				var d struct {
					Products struct {
						PageInfo struct {
							HasNextPage bool
							EndCursor   string
						}
					}
				}
				r.decode(t, &d)
				if !d.Products.PageInfo.HasNextPage {
					break
				}
				vars["after"] = d.Products.PageInfo.EndCursor
			}
			require.ElementsMatch(t, visible, got, sort)
			require.Len(t, got, 4, sort)
		}
		// A cursor of one sort is refused by another.
		r := e.do(t, list, map[string]any{"first": 1}, e.visitor()...)
		var d struct {
			Products struct{ PageInfo struct{ EndCursor string } }
		}
		r.decode(t, &d)
		r = e.do(t, list, map[string]any{"first": 1, "s": "PRICE", "after": d.Products.PageInfo.EndCursor}, e.visitor()...)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Body)
		r = e.do(t, list, map[string]any{"first": 101}, e.visitor()...)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Body)
	})
}

// TestStorefrontStatementCountIsFlat pins the SQL statements of a storefront
// product page with its variants (and their stock), images, featured image,
// price range and category: the same for 5, 20 and 100 products. Field
// collection loads each edge in one statement and the resolver primes the
// dataloaders (stock, featured image) with the whole page.
func TestStorefrontStatementCountIsFlat(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := &idEnv{s: newServer(t, b, nil, func(c *server.Config) {
				c.MaxCost = 10000 // 100 products with all of this cost about 2,900
				c.RateLimitBucket = 1000000
				c.StorefrontCacheMB = 0 // each request resolves (they repeat)
			})}
			acme := e.register(t, "acme")
			e.publish(t, acme)
			seedCatalogue(t, e.s.DB.Client, uuid.MustParse(acme.MerchantRegister.Merchant.ID), 100)
			key := []string{"X-Storefront-Key", acme.MerchantRegister.StorefrontKey}
			const q = `query($n: Int!) { products(first: $n, sortKey: TITLE) { edges { node {
				id title
				variants { id sku price available quantityAvailable }
				images { url }
				featuredImage { url altText }
				priceRange { min { amount currencyCode } max { amount currencyCode } }
				category { name }
				seo { title }
			} } } }`
			count := func(n int) uint64 {
				// The key is cached for auth.StoreCacheTTL (5 s): a request
				// just before warms it.
				require.Empty(t, e.do(t, `{ storefront { storeName } }`, nil, key...).Errors)
				before := e.s.DB.Statements()
				r := e.do(t, q, map[string]any{"n": n}, key...)
				require.Empty(t, r.Errors, r.Body)
				var d struct {
					Products struct {
						Edges []struct {
							Node struct {
								Variants      []json.RawMessage
								FeaturedImage *struct{ URL string }
							}
						}
					}
				}
				r.decode(t, &d)
				require.Len(t, d.Products.Edges, n)
				for _, edge := range d.Products.Edges {
					require.Len(t, edge.Node.Variants, 3)
					require.NotNil(t, edge.Node.FeaturedImage)
					require.True(t, strings.HasSuffix(edge.Node.FeaturedImage.URL, "-1.png"))
				}
				return e.s.DB.Statements() - before
			}
			count(1) // the first request of a key also notes its use
			counts := map[int]uint64{}
			for _, n := range []int{5, 20, 100} {
				// The fewest of three: on a machine slow enough for the
				// key's cache entry to expire between the warm-up and the
				// page, one request also looks the key up again.
				counts[n] = min(count(n), count(n), count(n))
			}
			// The page (1), variants, images and category (3), stock and
			// featured images (2); the storefront key was resolved by the
			// first request and is cached (auth.StoreCacheTTL).
			require.Equal(t, map[int]uint64{5: 6, 20: 6, 100: 6}, counts)
			// The store's settings (published, stock shown) come with the
			// key, from the same cache: hiding stock costs nothing either.
			r := e.do(t, `mutation { storefrontConfigUpdate(input: {showStockQuantity: false}) { userErrors { code } } }`, nil,
				bearer(acme.MerchantRegister.AccessToken)...)
			require.Empty(t, r.Errors, r.Body)
			count(1) // reads the changed settings once
			require.Equal(t, uint64(6), count(20))
			t.Logf("storefront page with variants, stock, images, featured image, price range and category: %d SQL statements for 5, 20 and 100 products", counts[100])
		})
	}
}

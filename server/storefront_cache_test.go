package server_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/server"
)

const cacheListQuery = `{ products(first: 3, sortKey: TITLE) { edges { node { id title variants { id sku quantityAvailable } } } } }`

// cacheCost is the extensions.cost.actualQueryCost of a response.
func cacheCost(t *testing.T, r gqlResponse) float64 {
	t.Helper()
	var body struct {
		Extensions struct {
			Cost struct{ ActualQueryCost float64 }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.Body), &body))
	return body.Extensions.Cost.ActualQueryCost
}

// TestStorefrontCache: a repeated anonymous storefront query is answered
// without SQL, every write of the store's data is visible to the next
// request, and nothing is shared between stores or with signed-in callers.
func TestStorefrontCache(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newSFEnv(t, b)
			statements := func(q string, vars map[string]any, header ...string) (gqlResponse, uint64) {
				t.Helper()
				before := e.s.DB.Statements()
				r := e.do(t, q, vars, header...)
				require.Empty(t, r.Errors, r.Body)
				return r, e.s.DB.Statements() - before
			}

			first, n := statements(cacheListQuery, nil, e.visitor()...)
			require.NotZero(t, n)
			again, n := statements(cacheListQuery, nil, e.visitor()...)
			require.Zero(t, n, "the same query again is answered from the cache")
			require.JSONEq(t, string(first.Data), string(again.Data))
			require.Equal(t, cacheCost(t, first), cacheCost(t, again), "a hit is charged what the answer cost")

			// Other variables, another store, a customer, staff: no hit.
			_, n = statements(`query($n: Int!) { products(first: $n) { edges { node { id } } } }`, map[string]any{"n": 1}, e.visitor()...)
			require.NotZero(t, n)
			_, n = statements(`query($n: Int!) { products(first: $n) { edges { node { id } } } }`, map[string]any{"n": 2}, e.visitor()...)
			require.NotZero(t, n)
			bolt, _ := statements(cacheListQuery, nil, "X-Storefront-Key", e.bolt.MerchantRegister.StorefrontKey)
			require.NotEqual(t, string(first.Data), string(bolt.Data))
			require.Contains(t, string(bolt.Data), "Bolt Widget")
			customer := e.customer(t, "c@example.com")
			for _, h := range [][]string{append(e.visitor(), customer...), e.staff()} {
				statements(cacheListQuery, nil, h...)
				_, n = statements(cacheListQuery, nil, h...)
				require.NotZero(t, n, "signed-in callers are never served from the cache")
			}

			// A product renamed through the admin API: the next visitor sees it.
			p := e.cat.products[0]
			r := e.do(t, `mutation($in: ProductUpdateInput!) { productUpdate(input: $in) { userErrors { code } } }`,
				map[string]any{"in": map[string]any{"id": p.ID, "title": "A renamed"}}, e.staff()...)
			require.Empty(t, r.Errors, r.Body)
			renamed, n := statements(cacheListQuery, nil, e.visitor()...)
			require.NotZero(t, n)
			require.Contains(t, string(renamed.Data), "A renamed")
			require.NotContains(t, string(first.Data), "A renamed")

			// Stock received: quantityAvailable of the next answer counts it.
			var data struct {
				Products struct {
					Edges []struct {
						Node struct {
							Variants []struct {
								ID                string
								QuantityAvailable *int
							}
						}
					}
				}
			}
			renamed.decode(t, &data)
			v := data.Products.Edges[0].Node.Variants[0]
			require.NotNil(t, v.QuantityAvailable)
			before := *v.QuantityAvailable
			wh, err := e.s.DB.Client.Warehouse.Query().Where(warehouse.Code("MAIN")).Only(e.cat.staff)
			require.NoError(t, err)
			r = e.do(t, `mutation($in: InventoryAdjustInput!) { inventoryAdjust(input: $in) { userErrors { code } } }`,
				map[string]any{"in": map[string]any{"variantId": v.ID, "warehouseId": wh.ID, "delta": 7, "reason": "RECEIVED"}}, e.staff()...)
			require.Empty(t, r.Errors, r.Body)
			restocked, _ := statements(cacheListQuery, nil, e.visitor()...)
			restocked.decode(t, &data)
			require.Equal(t, before+7, *data.Products.Edges[0].Node.Variants[0].QuantityAvailable)

			// A write of another store leaves this store's answers cached.
			statements(cacheListQuery, nil, e.visitor()...)
			r = e.do(t, `mutation { storefrontConfigUpdate(input: {storeName: "Bolt 2"}) { userErrors { code } } }`, nil,
				bearer(e.bolt.MerchantRegister.AccessToken)...)
			require.Empty(t, r.Errors, r.Body)
			_, n = statements(cacheListQuery, nil, e.visitor()...)
			require.Zero(t, n)

			// Stock hidden, then the store closed: cached answers never
			// outlive the settings.
			statements(cacheListQuery, nil, e.visitor()...)
			e.updateStorefront(t, map[string]any{"showStockQuantity": false})
			hidden, _ := statements(cacheListQuery, nil, e.visitor()...)
			require.Contains(t, string(hidden.Data), `"quantityAvailable":null`)
			e.updateStorefront(t, map[string]any{"published": false})
			closed := e.do(t, cacheListQuery, nil, e.visitor()...)
			require.Equal(t, []string{"STORE_NOT_PUBLISHED"}, closed.codes(), closed.Body)
			e.updateStorefront(t, map[string]any{"published": true, "showStockQuantity": true})

			// An answer with errors is not kept.
			const bad = `{ product(slug: "p0001") { id } nope: product(id: "not-an-id") { id } }`
			for range 2 {
				before := e.s.DB.Statements()
				r = e.do(t, bad, nil, e.visitor()...)
				require.NotEmpty(t, r.Errors)
				require.NotZero(t, e.s.DB.Statements()-before)
			}
		})
	}
}

// TestStorefrontCacheAcrossInstances: two servers sharing PostgreSQL and
// Redis; a write through one retires what the other cached.
func TestStorefrontCacheAcrossInstances(t *testing.T) {
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" || os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("needs TEST_DATABASE_URL and TEST_REDIS_URL")
	}
	e := newSFEnv(t, dbtest.Postgres)
	// The servers must share one Redis and one database, and talk on a
	// channel no other test uses: a fresh pair of servers on e's database.
	shared := func(c *server.Config) {
		c.DatabaseURL = e.s.Config.DatabaseURL
		c.RedisURL = redisURL
		c.AutoMigrate = false
	}
	a := &idEnv{s: newServer(t, dbtest.Postgres, nil, shared)}
	bsrv := &idEnv{s: newServer(t, dbtest.Postgres, nil, shared)}

	q := `{ product(slug: "p0002") { title } }`
	read := func(env *idEnv) string {
		r := env.do(t, q, nil, e.visitor()...)
		require.Empty(t, r.Errors, r.Body)
		return string(r.Data)
	}
	require.Eventually(t, func() bool {
		read(bsrv)
		before := bsrv.s.DB.Statements()
		read(bsrv)
		return bsrv.s.DB.Statements() == before
	}, 5*time.Second, 50*time.Millisecond, "b caches the answer")

	r := a.do(t, `mutation($in: ProductUpdateInput!) { productUpdate(input: $in) { userErrors { code } } }`,
		map[string]any{"in": map[string]any{"id": e.cat.products[2].ID, "title": "Renamed on A"}}, e.staff()...)
	require.Empty(t, r.Errors, r.Body)
	require.Eventually(t, func() bool {
		return strings.Contains(read(bsrv), "Renamed on A")
	}, 2*time.Second, 10*time.Millisecond, "b sees a's write")
}

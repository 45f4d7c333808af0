package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// testSecret is a JWT secret of the minimum accepted length and more.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// testConfig is the configuration of an in-process server on backend b.
func testConfig(t *testing.T, b dbtest.Backend) server.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{
		Port:            8080,
		DataDir:         dir,
		SQLitePath:      filepath.Join(dir, "x.db"),
		AutoMigrate:     true,
		JWTSecret:       testSecret,
		LogLevel:        slog.LevelError,
		ShutdownTimeout: time.Second,
		// LoadConfig's defaults; the other edge limits default when zero.
		Introspection: true,
		// The storefront cache on, as in production: every storefront test
		// also checks that writes retire what it holds.
		StorefrontCacheMB: 32, StorefrontCacheTTL: 10 * time.Second,
	}
	if b == dbtest.Postgres {
		cfg.DatabaseURL = dbtest.PostgresURL(t)
	}
	return cfg
}

// newServer assembles a server on backend b, closed when the test ends.
func newServer(t *testing.T, b dbtest.Backend, log *slog.Logger, edit func(*server.Config)) *server.Server {
	t.Helper()
	cfg := testConfig(t, b)
	if edit != nil {
		edit(&cfg)
	}
	if log == nil {
		log = server.NewLogger(io.Discard, slog.LevelError)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := server.New(ctx, cfg, log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

type gqlResponse struct {
	Status    int
	RequestID string
	Body      string
	Data      json.RawMessage `json:"data"`
	Errors    []gqlError      `json:"errors"`
}

// codes lists the extensions.code of every error, in order.
func (r gqlResponse) codes() []string {
	var cs []string
	for _, e := range r.Errors {
		cs = append(cs, e.code())
	}
	return cs
}

// decode unmarshals data into v.
func (r gqlResponse) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Data, v), "data: %s", r.Data)
}

// leakMarkers must never appear in a response: they would reveal SQL,
// driver or runtime details to the caller.
var leakMarkers = []string{"SELECT", "select ", "pq:", "sql:", "SQLSTATE", "sqlite", "pgx", "goroutine", ".go:"}

// requireNoLeak fails when any error of r reveals internals.
func requireNoLeak(t *testing.T, r gqlResponse) {
	t.Helper()
	for _, e := range r.Errors {
		raw, _ := json.Marshal(e)
		for _, m := range leakMarkers {
			require.NotContains(t, string(raw), m, "error leaks internals: %s", raw)
		}
	}
}

// gqlEnv is one seeded server: merchants A and B, three products of A, one
// of B (each with a variant) and one webhook event.
type gqlEnv struct {
	backend  dbtest.Backend
	s        *server.Server
	logs     *syncBuffer
	a, b     *ent.MerchantAccount
	productA []*ent.Product // Alpha Shirt, Beta Mug, Gamma Hat
	variantA *ent.ProductVariant
	productB *ent.Product // Bolt Secret Widget
	variantB *ent.ProductVariant
}

func (e *gqlEnv) staff(m *ent.MerchantAccount) viewer.Viewer {
	return viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()}
}

func newGQLEnv(t *testing.T, b dbtest.Backend) *gqlEnv {
	t.Helper()
	logs := &syncBuffer{}
	e := &gqlEnv{backend: b, logs: logs, s: newServer(t, b, server.NewLogger(logs, slog.LevelError), nil)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.s.DB.Client
	sys := viewer.SystemContext(ctx, "test seed")

	var err error
	e.a, err = c.MerchantAccount.Create().SetName("Acme").SetSlug("acme").Save(sys)
	require.NoError(t, err)
	e.b, err = c.MerchantAccount.Create().SetName("Bolt").SetSlug("bolt").Save(sys)
	require.NoError(t, err)

	actx := viewer.NewContext(ctx, e.staff(e.a))
	for i, title := range []string{"Alpha Shirt", "Beta Mug", "Gamma Hat"} {
		p, err := c.Product.Create().SetTitle(title).SetSlug(strings.ToLower(strings.ReplaceAll(title, " ", "-"))).Save(actx)
		require.NoError(t, err)
		v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku("A-" + string(rune('1'+i))).
			SetTitle("Default").SetPrice(int64(1000 + 100*i)).Save(actx)
		require.NoError(t, err)
		require.Equal(t, e.a.ID, p.MerchantID, "merchant_id is stamped from the viewer")
		e.productA = append(e.productA, p)
		if e.variantA == nil {
			e.variantA = v
		}
	}

	bctx := viewer.NewContext(ctx, e.staff(e.b))
	e.productB, err = c.Product.Create().SetTitle("Bolt Secret Widget").SetSlug("secret-widget").Save(bctx)
	require.NoError(t, err)
	e.variantB, err = c.ProductVariant.Create().SetProductID(e.productB.ID).SetSku("B-1").
		SetTitle("Default").SetPrice(999).Save(bctx)
	require.NoError(t, err)

	w, err := c.Warehouse.Create().SetName("Main").SetCode("MAIN").Save(actx)
	require.NoError(t, err)
	_, err = c.InventoryLevel.Create().SetVariantID(e.variantA.ID).SetWarehouseID(w.ID).
		SetQuantityOnHand(7).SetQuantityReserved(2).Save(actx)
	require.NoError(t, err)

	_, err = c.WebhookEvent.Create().SetEventID("evt_test_1").SetType("account.updated").
		SetPayload(map[string]any{"id": "evt_test_1"}).Save(sys)
	require.NoError(t, err)
	return e
}

// handlerFor injects v into every request, as the authentication
// middleware will.
func (e *gqlEnv) handlerFor(v *viewer.Viewer) http.Handler {
	if v == nil {
		return e.s.Handler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.s.Handler.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), *v)))
	})
}

// query posts a GraphQL request as v (nil: no viewer in the context at all)
// and checks the invariants of every answer: JSON, no 5xx, no leak.
func (e *gqlEnv) query(t *testing.T, v *viewer.Viewer, q string, vars map[string]any) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": q, "variables": vars})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.handlerFor(v).ServeHTTP(rec, req)

	r := gqlResponse{Status: rec.Code, RequestID: rec.Header().Get("X-Request-ID"), Body: rec.Body.String()}
	require.Less(t, r.Status, 500, "body: %s", r.Body)
	require.Contains(t, rec.Header().Get("Content-Type"), "application/json")
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), "body: %s", r.Body)
	requireNoLeak(t, r)
	return r
}

// failIf fails the test when a condition that must not hold does.
func failIf(t *testing.T, present bool, format string, args ...any) {
	t.Helper()
	if present {
		t.Fatalf(format, args...)
	}
}

type productsData struct {
	Products struct {
		TotalCount int `json:"totalCount"`
		PageInfo   struct {
			HasNextPage bool   `json:"hasNextPage"`
			EndCursor   string `json:"endCursor"`
		} `json:"pageInfo"`
		Edges []struct {
			Node struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"node"`
		} `json:"edges"`
	} `json:"products"`
}

func (d productsData) titles() []string {
	var ts []string
	for _, e := range d.Products.Edges {
		ts = append(ts, e.Node.Title)
	}
	return ts
}

const productsQuery = `query($first: Int, $after: Cursor, $where: ProductWhereInput, $orderBy: ProductOrder) {
  products(first: $first, after: $after, where: $where, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title } }
  }
}`

const nodeQuery = `query($id: ID!) { node(id: $id) { id ... on Product { title } ... on ProductVariant { sku } } }`

const nodesQuery = `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Product { title } ... on ProductVariant { sku } } }`

func TestGraphQL(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			testGraphQL(t, newGQLEnv(t, b))
		})
	}
}

func testGraphQL(t *testing.T, e *gqlEnv) {
	staffA, staffB := e.staff(e.a), e.staff(e.b)
	a1, a2, b1 := e.productA[0], e.productA[1], e.productB

	t.Run("staff sees only their store's products", func(t *testing.T) {
		r := e.query(t, &staffA, productsQuery, map[string]any{"first": 10})
		require.Empty(t, r.Errors)
		require.Equal(t, http.StatusOK, r.Status)
		var d productsData
		r.decode(t, &d)
		require.Equal(t, 3, d.Products.TotalCount)
		require.ElementsMatch(t, []string{"Alpha Shirt", "Beta Mug", "Gamma Hat"}, d.titles())
		require.NotContains(t, r.Body, "Secret")
		require.NotContains(t, r.Body, b1.ID.String())

		r = e.query(t, &staffB, productsQuery, map[string]any{"first": 10})
		require.Empty(t, r.Errors)
		d = productsData{}
		r.decode(t, &d)
		require.Equal(t, 1, d.Products.TotalCount)
		require.Equal(t, []string{"Bolt Secret Widget"}, d.titles())
	})

	t.Run("variant stock comes through the per-operation loaders", func(t *testing.T) {
		r := e.query(t, &staffA, `{ products(first: 10, orderBy: {field: TITLE}) { edges { node { title variants { sku quantityAvailable } } } } }`, nil)
		require.Empty(t, r.Errors, "body: %s", r.Body)
		require.JSONEq(t, `{"products": {"edges": [
			{"node": {"title": "Alpha Shirt", "variants": [{"sku": "A-1", "quantityAvailable": 5}]}},
			{"node": {"title": "Beta Mug", "variants": [{"sku": "A-2", "quantityAvailable": 0}]}},
			{"node": {"title": "Gamma Hat", "variants": [{"sku": "A-3", "quantityAvailable": 0}]}}
		]}}`, string(r.Data))
	})

	t.Run("node of another store is NOT_FOUND", func(t *testing.T) {
		for _, id := range []uuid.UUID{b1.ID, e.variantB.ID} {
			r := e.query(t, &staffA, nodeQuery, map[string]any{"id": id})
			require.JSONEq(t, `{"node": null}`, string(r.Data))
			require.Equal(t, []string{"NOT_FOUND"}, r.codes(), "body: %s", r.Body)
			require.Equal(t, []any{"node"}, r.Errors[0].Path)
			require.NotContains(t, r.Body, "Secret")
		}
	})

	t.Run("node of an unknown id is NOT_FOUND", func(t *testing.T) {
		for _, id := range []uuid.UUID{uuid.New(), uuid.Nil} {
			r := e.query(t, &staffA, nodeQuery, map[string]any{"id": id})
			require.JSONEq(t, `{"node": null}`, string(r.Data))
			require.Equal(t, []string{"NOT_FOUND"}, r.codes(), "body: %s", r.Body)
		}
	})

	t.Run("node of own store", func(t *testing.T) {
		r := e.query(t, &staffA, nodeQuery, map[string]any{"id": a1.ID})
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"node": {"id": "`+a1.ID.String()+`", "title": "Alpha Shirt"}}`, string(r.Data))

		r = e.query(t, &staffA, nodeQuery, map[string]any{"id": e.variantA.ID})
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"node": {"id": "`+e.variantA.ID.String()+`", "sku": "A-1"}}`, string(r.Data))
	})

	t.Run("nodes returns own nodes and NOT_FOUND for others", func(t *testing.T) {
		r := e.query(t, &staffA, nodesQuery, map[string]any{"ids": []uuid.UUID{a1.ID, b1.ID, a2.ID, e.variantB.ID, uuid.New()}})
		var d struct {
			Nodes []*struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"nodes"`
		}
		r.decode(t, &d)
		require.Len(t, d.Nodes, 5)
		require.NotNil(t, d.Nodes[0])
		require.Equal(t, "Alpha Shirt", d.Nodes[0].Title)
		require.Nil(t, d.Nodes[1])
		require.NotNil(t, d.Nodes[2])
		require.Equal(t, "Beta Mug", d.Nodes[2].Title)
		require.Nil(t, d.Nodes[3])
		require.Nil(t, d.Nodes[4])
		require.Equal(t, []string{"NOT_FOUND", "NOT_FOUND", "NOT_FOUND"}, r.codes(), "body: %s", r.Body)
		require.NotContains(t, r.Body, "Secret")

		r = e.query(t, &staffA, nodesQuery, map[string]any{"ids": []uuid.UUID{a1.ID, a2.ID}})
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"nodes": [{"id": "`+a1.ID.String()+`", "title": "Alpha Shirt"}, {"id": "`+a2.ID.String()+`", "title": "Beta Mug"}]}`, string(r.Data))

		// A single id takes another path through ent (Noder, not noders).
		r = e.query(t, &staffA, nodesQuery, map[string]any{"ids": []uuid.UUID{b1.ID}})
		require.Equal(t, []string{"NOT_FOUND"}, r.codes(), "body: %s", r.Body)
		require.JSONEq(t, `{"nodes": [null]}`, string(r.Data), "one unknown id answers like several")
		require.NotContains(t, r.Body, "Secret")

		many := make([]uuid.UUID, 101)
		for i := range many {
			many[i] = a1.ID
		}
		r = e.query(t, &staffA, nodesQuery, map[string]any{"ids": many})
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "body: %s", r.Body)
	})

	t.Run("anonymous is UNAUTHENTICATED", func(t *testing.T) {
		for name, v := range map[string]*viewer.Viewer{
			"no viewer in context": nil,
			"zero viewer":          {},
			"storefront visitor":   {Kind: viewer.Anonymous, MerchantID: e.a.ID},
			"customer":             {Kind: viewer.Customer, MerchantID: e.a.ID, CustomerID: uuid.New()},
		} {
			t.Run(name, func(t *testing.T) {
				r := e.query(t, v, productsQuery, map[string]any{"first": 10})
				require.Equal(t, http.StatusOK, r.Status)
				if v != nil && v.HasMerchant() {
					// products serves the storefront too: it shows only
					// active, published products (the seeded ones are
					// drafts). server/storefront_test.go tests it.
					require.Empty(t, r.Errors, "body: %s", r.Body)
					require.JSONEq(t, `{"products": {"totalCount": 0, "pageInfo": {"hasNextPage": false, "endCursor": null}, "edges": []}}`, string(r.Data))
				} else {
					require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), "body: %s", r.Body)
					require.JSONEq(t, `null`, string(r.Data))
				}
				require.NotContains(t, r.Body, "Alpha")

				r = e.query(t, v, nodeQuery, map[string]any{"id": a1.ID})
				require.Equal(t, http.StatusOK, r.Status)
				require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), "body: %s", r.Body)
				require.JSONEq(t, `{"node": null}`, string(r.Data))
				require.NotContains(t, r.Body, "Alpha")
			})
		}
	})

	t.Run("introspection is open", func(t *testing.T) {
		r := e.query(t, nil, `{ __typename }`, nil)
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"__typename": "Query"}`, string(r.Data))

		for _, q := range []string{
			`{ __schema { queryType { name } } }`,
			`{ __type(name: "Product") { name } }`,
		} {
			r = e.query(t, nil, q, nil)
			// graph.RequireScope compares graphql.RootFieldContext.Object
			// with "Query", but gqlgen sets Object to the root field's name,
			// so __schema and __type are refused (and the playground cannot
			// load the schema). Fixed in graph/directives.go, this skip goes
			// away by itself.
			failIf(t, len(r.Errors) == 1 && strings.Contains(r.Errors[0].Message, "declares no scope"),
				"introspection refused by graph.RequireScope: %s", r.Body)
			require.Empty(t, r.Errors, "%s: %s", q, r.Body)
			require.NotContains(t, string(r.Data), "null", q)
		}
	})

	t.Run("staff without a store is FORBIDDEN", func(t *testing.T) {
		r := e.query(t, &viewer.Viewer{Kind: viewer.Staff}, productsQuery, nil)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "body: %s", r.Body)
		require.JSONEq(t, `null`, string(r.Data))
	})

	t.Run("API key needs the field's permission", func(t *testing.T) {
		key := func(perms ...string) *viewer.Viewer {
			return &viewer.Viewer{Kind: viewer.APIKey, MerchantID: e.a.ID, APIKeyID: uuid.New(), Permissions: perms}
		}
		// products serves the storefront too: a key without products:read
		// reads it as the storefront does (the seeded drafts are hidden),
		// and its admin arguments are refused.
		r := e.query(t, key("orders:read"), productsQuery, map[string]any{"first": 10})
		require.Equal(t, http.StatusOK, r.Status)
		require.Empty(t, r.Errors, "body: %s", r.Body)
		var hidden productsData
		r.decode(t, &hidden)
		require.Zero(t, hidden.Products.TotalCount)
		r = e.query(t, key("orders:read"), productsQuery, map[string]any{"first": 10, "where": map[string]any{"titleContains": "a"}})
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "body: %s", r.Body)
		require.JSONEq(t, `null`, string(r.Data))
		r = e.query(t, key("orders:read"), `{ productVariants(first: 10) { totalCount } }`, nil)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "body: %s", r.Body)
		require.Contains(t, r.Errors[0].Message, "products:read")

		r = e.query(t, key(), `{ productVariants(first: 10) { totalCount } }`, nil)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "body: %s", r.Body)

		r = e.query(t, key("orders:read", "products:read"), productsQuery, map[string]any{"first": 10})
		require.Empty(t, r.Errors)
		var d productsData
		r.decode(t, &d)
		require.Equal(t, 3, d.Products.TotalCount)
		require.ElementsMatch(t, []string{"Alpha Shirt", "Beta Mug", "Gamma Hat"}, d.titles())

		// A key of no store is refused even with the permission.
		r = e.query(t, &viewer.Viewer{Kind: viewer.APIKey, Permissions: []string{"products:read"}}, productsQuery, nil)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "body: %s", r.Body)

		// node names no permission: no key may use it.
		r = e.query(t, key("products:read"), nodeQuery, map[string]any{"id": a1.ID})
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "body: %s", r.Body)
		require.JSONEq(t, `{"node": null}`, string(r.Data))
	})

	t.Run("page size is bounded", func(t *testing.T) {
		for _, vars := range []map[string]any{
			{"first": 101},
			{"first": -1},
			{"first": 1000000},
		} {
			r := e.query(t, &staffA, productsQuery, vars)
			require.Equal(t, http.StatusOK, r.Status)
			require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "vars %v body: %s", vars, r.Body)
			require.JSONEq(t, `null`, string(r.Data))
		}
		r := e.query(t, &staffA, `{ products(last: 101) { totalCount } }`, nil)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "body: %s", r.Body)

		r = e.query(t, &staffA, productsQuery, map[string]any{"first": 100})
		require.Empty(t, r.Errors)

		// Without first or last, the page is bounded by default.
		r = e.query(t, &staffA, productsQuery, nil)
		require.Empty(t, r.Errors)
		var d productsData
		r.decode(t, &d)
		require.Len(t, d.Products.Edges, 3)
	})

	t.Run("where filter", func(t *testing.T) {
		r := e.query(t, &staffA, productsQuery, map[string]any{"where": map[string]any{"titleContains": "Mug"}})
		require.Empty(t, r.Errors)
		var d productsData
		r.decode(t, &d)
		require.Equal(t, 1, d.Products.TotalCount)
		require.Equal(t, []string{"Beta Mug"}, d.titles())

		// Filtering never reaches another store's rows.
		for _, where := range []map[string]any{
			{"titleContains": "Secret"},
			{"idIn": []uuid.UUID{b1.ID}},
			{"or": []map[string]any{{"titleContains": "Secret"}, {"title": "Bolt Secret Widget"}}},
		} {
			r = e.query(t, &staffA, productsQuery, map[string]any{"where": where})
			require.Empty(t, r.Errors)
			d = productsData{}
			r.decode(t, &d)
			require.Zero(t, d.Products.TotalCount, "where %v", where)
			require.Empty(t, d.Products.Edges)
		}
	})

	t.Run("orderBy", func(t *testing.T) {
		r := e.query(t, &staffA, productsQuery, map[string]any{"orderBy": map[string]any{"field": "TITLE", "direction": "DESC"}})
		require.Empty(t, r.Errors)
		var d productsData
		r.decode(t, &d)
		require.Equal(t, []string{"Gamma Hat", "Beta Mug", "Alpha Shirt"}, d.titles())

		r = e.query(t, &staffA, productsQuery, map[string]any{"orderBy": map[string]any{"field": "TITLE", "direction": "ASC"}})
		require.Empty(t, r.Errors)
		d = productsData{}
		r.decode(t, &d)
		require.Equal(t, []string{"Alpha Shirt", "Beta Mug", "Gamma Hat"}, d.titles())
	})

	t.Run("cursor pagination", func(t *testing.T) {
		order := map[string]any{"field": "TITLE", "direction": "ASC"}
		r := e.query(t, &staffA, productsQuery, map[string]any{"first": 2, "orderBy": order})
		require.Empty(t, r.Errors)
		var d productsData
		r.decode(t, &d)
		require.Equal(t, 3, d.Products.TotalCount)
		require.Equal(t, []string{"Alpha Shirt", "Beta Mug"}, d.titles())
		require.True(t, d.Products.PageInfo.HasNextPage)
		require.NotEmpty(t, d.Products.PageInfo.EndCursor)

		r = e.query(t, &staffA, productsQuery, map[string]any{"first": 2, "after": d.Products.PageInfo.EndCursor, "orderBy": order})
		require.Empty(t, r.Errors)
		d = productsData{}
		r.decode(t, &d)
		require.Equal(t, []string{"Gamma Hat"}, d.titles())
		require.False(t, d.Products.PageInfo.HasNextPage)
	})

	t.Run("malformed ids and cursors are input errors", func(t *testing.T) {
		r1 := e.query(t, &staffA, nodeQuery, map[string]any{"id": "not-a-uuid"})
		require.JSONEq(t, `{"node": null}`, string(r1.Data))
		require.Len(t, r1.Errors, 1, "body: %s", r1.Body)
		r2 := e.query(t, &staffA, productsQuery, map[string]any{"first": 2, "after": "bm90IGEgY3Vyc29y"})
		require.JSONEq(t, `null`, string(r2.Data))
		require.Len(t, r2.Errors, 1, "body: %s", r2.Body)
		for _, r := range []gqlResponse{r1, r2} {
			// graph.ErrorPresenter passes through only gqlgen errors whose
			// Err is nil; argument coercion errors wrap their cause, so they
			// are answered INTERNAL (and logged at ERROR) instead.
			failIf(t, r.Errors[0].code() == "INTERNAL", "malformed argument answered INTERNAL: %s", r.Body)
			require.Equal(t, "BAD_USER_INPUT", r.Errors[0].code(), "body: %s", r.Body)
		}
	})

	t.Run("webhookEvents is for platform admins", func(t *testing.T) {
		const q = `{ webhookEvents(first: 10) { totalCount edges { node { type } } } }`
		for name, v := range map[string]*viewer.Viewer{
			"staff":     &staffA,
			"api key":   {Kind: viewer.APIKey, MerchantID: e.a.ID, Permissions: []string{"products:read", "orders:read", "settings:read"}},
			"anonymous": {},
			"customer":  {Kind: viewer.Customer, MerchantID: e.a.ID},
		} {
			r := e.query(t, v, q, nil)
			require.Equal(t, http.StatusOK, r.Status)
			require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "%s: %s", name, r.Body)
			require.JSONEq(t, `null`, string(r.Data))
			require.NotContains(t, r.Body, "account.updated")
		}

		r := e.query(t, &viewer.Viewer{Kind: viewer.PlatformAdmin}, q, nil)
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"webhookEvents": {"totalCount": 1, "edges": [{"node": {"type": "account.updated"}}]}}`, string(r.Data))
	})

	t.Run("internal errors reveal nothing", func(t *testing.T) {
		// Inputs the database itself refuses: a LIKE pattern past SQLite's
		// limit (50000 bytes), and a NUL byte, which PostgreSQL text refuses.
		failsOn := map[string]dbtest.Backend{"long pattern": dbtest.SQLite, "nul byte": dbtest.Postgres}
		for name, where := range map[string]map[string]any{
			"long pattern": {"titleContains": strings.Repeat("x", 60000)},
			"nul byte":     {"titleContains": "a\x00b"},
		} {
			r := e.query(t, &staffA, productsQuery, map[string]any{"where": where})
			require.Equal(t, http.StatusOK, r.Status, "%s: %s", name, r.Body)
			if failsOn[name] != e.backend {
				require.Empty(t, r.Errors, "%s: %s", name, r.Body)
				var d productsData
				r.decode(t, &d)
				require.Zero(t, d.Products.TotalCount, name)
				continue
			}
			require.Equal(t, []string{"INTERNAL"}, r.codes(), "%s: %s", name, r.Body)
			require.Equal(t, "internal error", r.Errors[0].Message, name)
			// The cause is logged, with the request's id, for the operator.
			require.Eventually(t, func() bool {
				for _, line := range strings.Split(e.logs.String(), "\n") {
					if strings.Contains(line, `"graphql resolver error"`) && strings.Contains(line, `"request_id":"`+r.RequestID+`"`) {
						return true
					}
				}
				return false
			}, 5*time.Second, 10*time.Millisecond, "no log of the internal error with request_id %s in:\n%s", r.RequestID, e.logs.String())
		}
	})
}

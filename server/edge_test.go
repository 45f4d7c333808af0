package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// edgeResponse is a decoded /graphql answer with everything the edge
// promises: status, headers, whether "data" was present at all.
type edgeResponse struct {
	Status     int
	Header     http.Header
	Body       string
	HasData    bool
	Data       json.RawMessage `json:"data"`
	Errors     []gqlError      `json:"errors"`
	Extensions struct {
		Cost *struct {
			RequestedQueryCost int  `json:"requestedQueryCost"`
			ActualQueryCost    *int `json:"actualQueryCost"`
			ThrottleStatus     *struct {
				MaximumAvailable   int `json:"maximumAvailable"`
				CurrentlyAvailable int `json:"currentlyAvailable"`
				RestoreRate        int `json:"restoreRate"`
			} `json:"throttleStatus"`
		} `json:"cost"`
	} `json:"extensions"`
}

func (r edgeResponse) codes() []string {
	var cs []string
	for _, e := range r.Errors {
		cs = append(cs, e.code())
	}
	return cs
}

// serve sends req through s.Handler as v (nil: no viewer) and decodes the
// answer, checking what holds for every answer: JSON (unless streaming),
// never a 5xx, nothing internal revealed.
func serve(t *testing.T, s *server.Server, v *viewer.Viewer, req *http.Request) edgeResponse {
	t.Helper()
	if v != nil {
		req = req.WithContext(viewer.NewContext(req.Context(), *v))
	}
	rec := httptest.NewRecorder()
	s.Handler.ServeHTTP(rec, req)
	r := edgeResponse{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
	require.Less(t, r.Status, 500, "body: %s", r.Body)
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") || r.Body == "" {
		return r
	}
	require.Contains(t, rec.Header().Get("Content-Type"), "json", "body: %s", r.Body)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), "body: %s", r.Body)
	var keys map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &keys))
	_, r.HasData = keys["data"]
	requireNoLeak(t, gqlResponse{Errors: r.Errors})
	for _, e := range r.Errors {
		require.NotEmpty(t, e.code(), "every top-level error carries extensions.code: %s", r.Body)
	}
	return r
}

// post sends a JSON POST of body (marshalled unless already bytes).
func post(t *testing.T, s *server.Server, v *viewer.Viewer, body any, header ...string) edgeResponse {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		b, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return serve(t, s, v, req)
}

func gql(query string, vars map[string]any) map[string]any {
	return map[string]any{"query": query, "variables": vars}
}

// seedStore creates a store with n products (one variant each) and returns
// a staff viewer of it, with a bucket of its own.
func seedStore(t *testing.T, s *server.Server, n int) viewer.Viewer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := s.DB.Client
	slug := "edge-" + uuid.NewString()[:8]
	m, err := c.MerchantAccount.Create().SetName("Edge").SetSlug(slug).Save(viewer.SystemContext(ctx, "test seed"))
	require.NoError(t, err)
	staff := viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()}
	actx := viewer.NewContext(ctx, staff)
	for i := range n {
		p, err := c.Product.Create().SetTitle(fmt.Sprintf("Product %d", i)).SetSlug(fmt.Sprintf("product-%d", i)).Save(actx)
		require.NoError(t, err)
		_, err = c.ProductVariant.Create().SetProductID(p.ID).SetSku(fmt.Sprintf("SKU-%d", i)).
			SetTitle("Default").SetPrice(1000).Save(actx)
		require.NoError(t, err)
	}
	return staff
}

// refusedBeforeSQL sends body and requires that it is refused with code
// before any SQL statement runs, with no data entry.
func refusedBeforeSQL(t *testing.T, s *server.Server, v viewer.Viewer, body any, code string) edgeResponse {
	t.Helper()
	before := s.DB.Statements()
	r := post(t, s, &v, body)
	require.Equal(t, before, s.DB.Statements(), "a refused request ran SQL: %s", r.Body)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, []string{code}, r.codes(), "body: %s", r.Body)
	require.False(t, r.HasData, "a request refused before execution has no data entry: %s", r.Body)
	return r
}

// ranSQL sends body and requires that it ran (SQL included) without errors.
func ranSQL(t *testing.T, s *server.Server, v viewer.Viewer, body any) edgeResponse {
	t.Helper()
	before := s.DB.Statements()
	r := post(t, s, &v, body)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Empty(t, r.Errors, "body: %s", r.Body)
	require.Greater(t, s.DB.Statements(), before, "the request ran no SQL: %s", r.Body)
	return r
}

func TestEdgeLimits(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			s := newServer(t, b, nil, func(c *server.Config) {
				c.MaxDepth = 6
				c.MaxTokens = 400 // enough for every other query here
			})
			staff := seedStore(t, s, 3)

			t.Run("cost", func(t *testing.T) {
				// 2 + 90 x (1 product + 10 variants) + 2 + b x 1 product.
				const q = `query($a: Int, $b: Int) {
					a: products(first: $a) { edges { node { variants { sku } } } }
					b: products(first: $b) { edges { node { id } } }
				}`
				r := ranSQL(t, s, staff, gql(q, map[string]any{"a": 90, "b": 6}))
				require.NotNil(t, r.Extensions.Cost, "body: %s", r.Body)
				require.Equal(t, 1000, r.Extensions.Cost.RequestedQueryCost)

				r = refusedBeforeSQL(t, s, staff, gql(q, map[string]any{"a": 90, "b": 7}), "COMPLEXITY_LIMIT_EXCEEDED")
				require.Equal(t, "cost", r.Errors[0].Extensions["limit"])
				require.EqualValues(t, 1001, r.Errors[0].Extensions["actual"])
				require.EqualValues(t, 1000, r.Errors[0].Extensions["maximum"])
				require.NotNil(t, r.Extensions.Cost, "a refused request still reports its cost: %s", r.Body)
				require.Equal(t, 1001, r.Extensions.Cost.RequestedQueryCost)
				require.Nil(t, r.Extensions.Cost.ActualQueryCost)

				// Page sizes are clamped: first 1000 costs like first 100,
				// and a connection without first or last counts 50.
				r = post(t, s, &staff, gql(`{ products(first: 1000) { edges { node { id } } } }`, nil))
				require.Equal(t, 102, r.Extensions.Cost.RequestedQueryCost, "body: %s", r.Body)
				r = post(t, s, &staff, gql(`{ products { edges { node { id } } } }`, nil))
				require.Equal(t, 52, r.Extensions.Cost.RequestedQueryCost, "body: %s", r.Body)
			})

			t.Run("depth", func(t *testing.T) {
				// products edges node variants product id: 6 levels.
				ranSQL(t, s, staff, gql(`{ products(first: 1) { edges { node { variants { product { id } } } } } }`, nil))
				r := refusedBeforeSQL(t, s, staff,
					gql(`{ products(first: 1) { edges { node { variants { product { variants { id } } } } } } }`, nil),
					"COMPLEXITY_LIMIT_EXCEEDED")
				require.Equal(t, "depth", r.Errors[0].Extensions["limit"], "body: %s", r.Body)
				require.EqualValues(t, 7, r.Errors[0].Extensions["actual"])

				// Fragments count where they are spread.
				refusedBeforeSQL(t, s, staff, gql(`{ products(first: 1) { edges { node { ...V } } } }
					fragment V on Product { variants { product { variants { id } } } }`, nil), "COMPLEXITY_LIMIT_EXCEEDED")
			})

			t.Run("aliases", func(t *testing.T) {
				aliased := func(n int) string {
					var b strings.Builder
					b.WriteString("{")
					for i := range n {
						fmt.Fprintf(&b, " p%d: products(first: 1) { totalCount }", i)
					}
					return b.String() + " }"
				}
				// Default limit: 30.
				ranSQL(t, s, staff, gql(aliased(30), nil))
				r := refusedBeforeSQL(t, s, staff, gql(aliased(31), nil), "COMPLEXITY_LIMIT_EXCEEDED")
				require.Equal(t, "aliases", r.Errors[0].Extensions["limit"], "body: %s", r.Body)
			})

			t.Run("parser tokens", func(t *testing.T) {
				ranSQL(t, s, staff, gql(`{ products(first: 1) { totalCount } }`, nil))
				long := `{ products(first: 1) { totalCount }` + strings.Repeat(" __typename", 400) + " }"
				r := refusedBeforeSQL(t, s, staff, gql(long, nil), "COMPLEXITY_LIMIT_EXCEEDED")
				require.Contains(t, r.Errors[0].Message, "token limit")
			})
		})
	}
}

func TestEdgeHTTP(t *testing.T) {
	s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) { c.MaxBodyBytes = 8192 })
	staff := seedStore(t, s, 3)
	const productsQ = `{ products(first: 10) { edges { node { title } } } }`

	t.Run("body size is bounded: 413", func(t *testing.T) {
		big := []byte(`{"query": "{ __typename }", "variables": {"x": "` + strings.Repeat("x", 10000) + `"}}`)
		r := post(t, s, &staff, big)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "body: %s", r.Body)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes())

		// Without a Content-Length, the limit stops the read.
		req := httptest.NewRequest(http.MethodPost, "/graphql", io.MultiReader(bytes.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		r = serve(t, s, &staff, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "body: %s", r.Body)
	})

	t.Run("batch array: 400", func(t *testing.T) {
		before := s.DB.Statements()
		r := post(t, s, &staff, []any{gql(productsQ, nil), gql(productsQ, nil)})
		require.Equal(t, http.StatusBadRequest, r.Status, "body: %s", r.Body)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes())
		require.Contains(t, r.Errors[0].Message, "batch")
		require.Equal(t, before, s.DB.Statements())
	})

	t.Run("malformed requests: 400 without data", func(t *testing.T) {
		for name, body := range map[string]string{
			"not json":           `{ "not a JSON`,
			"no query":           `{"qeury": "{ __typename }"}`,
			"query not a string": `{"query": 1}`,
			"variables a list":   `{"query": "{ __typename }", "variables": ["a"]}`,
			"empty body":         ``,
		} {
			r := post(t, s, &staff, []byte(body))
			require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", name, r.Body)
			require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), name)
			require.False(t, r.HasData, name)
			require.NotContains(t, r.Body, "qeury", "the request is not echoed back")
		}
	})

	t.Run("GET runs queries, never mutations", func(t *testing.T) {
		get := func(query string, accept string) edgeResponse {
			req := httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(query), nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			return serve(t, s, &staff, req)
		}
		r := get(productsQ, "")
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		require.Empty(t, r.Errors, "body: %s", r.Body)
		require.Contains(t, string(r.Data), "Product 0")

		before := s.DB.Statements()
		for _, tc := range []struct{ query, operationName string }{
			{`mutation { __typename }`, ""},
			{`mutation M { __typename }`, "M"},
			{`query Q { __typename } mutation M { __typename }`, "M"},
		} {
			v := url.Values{"query": {tc.query}}
			if tc.operationName != "" {
				v.Set("operationName", tc.operationName)
			}
			r = serve(t, s, &staff, httptest.NewRequest(http.MethodGet, "/graphql?"+v.Encode(), nil))
			require.Equal(t, http.StatusMethodNotAllowed, r.Status, "%s: %s", tc.query, r.Body)
			require.Equal(t, "POST", r.Header.Get("Allow"))
			require.False(t, r.HasData)
		}
		require.Equal(t, before, s.DB.Statements())
	})

	t.Run("form posts and text/plain never execute", func(t *testing.T) {
		before := s.DB.Statements()
		form := url.Values{"query": {productsQ}}.Encode()
		for ct, body := range map[string]string{
			"application/x-www-form-urlencoded": form,
			"text/plain":                        `{"query": "` + productsQ + `"}`,
			"text/plain; charset=utf-8":         `{"query": "` + productsQ + `"}`,
			"":                                  `{"query": "` + productsQ + `"}`,
			"application/graphql":               productsQ,
		} {
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			r := serve(t, s, &staff, req)
			require.Equal(t, http.StatusUnsupportedMediaType, r.Status, "%q: %s", ct, r.Body)
			require.NotContains(t, r.Body, "Product 0")
		}
		require.Equal(t, before, s.DB.Statements(), "a form or text/plain post ran SQL")

		req := httptest.NewRequest(http.MethodPut, "/graphql", strings.NewReader(`{"query": "{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		r := serve(t, s, &staff, req)
		require.Equal(t, http.StatusMethodNotAllowed, r.Status)
	})

	t.Run("multipart needs a preflight header", func(t *testing.T) {
		multipartReq := func(header ...string) *http.Request {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			require.NoError(t, mw.WriteField("operations", `{"query": "`+productsQ+`"}`))
			require.NoError(t, mw.WriteField("map", `{}`))
			require.NoError(t, mw.Close())
			req := httptest.NewRequest(http.MethodPost, "/graphql", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			return req
		}
		before := s.DB.Statements()
		r := serve(t, s, &staff, multipartReq())
		require.Equal(t, http.StatusBadRequest, r.Status, "body: %s", r.Body)
		require.Contains(t, r.Errors[0].Message, "GraphQL-Preflight")
		require.Equal(t, before, s.DB.Statements(), "a multipart form without preflight header ran SQL")

		for _, h := range []string{"GraphQL-Preflight", "Apollo-Require-Preflight"} {
			r = serve(t, s, &staff, multipartReq(h, "1"))
			require.Equal(t, http.StatusOK, r.Status, "%s: %s", h, r.Body)
			require.Contains(t, string(r.Data), "Product 0", "%s: %s", h, r.Body)
		}
	})

	t.Run("content negotiation", func(t *testing.T) {
		r := post(t, s, &staff, gql(`{ __typename }`, nil), "Accept", "application/graphql-response+json")
		require.Equal(t, http.StatusOK, r.Status)
		require.Contains(t, r.Header.Get("Content-Type"), "application/graphql-response+json")

		// A validation error: 200 with application/json, 400 with
		// application/graphql-response+json; no data entry either way.
		r = post(t, s, &staff, gql(`{ nope }`, nil))
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes())
		require.False(t, r.HasData)
		r = post(t, s, &staff, gql(`{ nope }`, nil), "Accept", "application/graphql-response+json")
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.False(t, r.HasData)
	})

	t.Run("extensions.cost", func(t *testing.T) {
		v := staff
		v.UserID = uuid.New() // a fresh bucket
		r := ranSQL(t, s, v, gql(`{ products(first: 10) { totalCount edges { node { id } } } }`, nil))
		c := r.Extensions.Cost
		require.NotNil(t, c, "body: %s", r.Body)
		require.Equal(t, 12, c.RequestedQueryCost, "2 for the connection + 10 products")
		require.NotNil(t, c.ActualQueryCost)
		require.Equal(t, 5, *c.ActualQueryCost, "2 for the connection + the 3 products there are")
		require.NotNil(t, c.ThrottleStatus)
		require.Equal(t, 2000, c.ThrottleStatus.MaximumAvailable)
		require.Equal(t, 100, c.ThrottleStatus.RestoreRate)
		require.LessOrEqual(t, c.ThrottleStatus.CurrentlyAvailable, 2000)
		require.GreaterOrEqual(t, c.ThrottleStatus.CurrentlyAvailable, 2000-5, "the unused cost is refunded")
	})

	t.Run("no field suggestions", func(t *testing.T) {
		for _, q := range []string{
			`{ prodcts(first: 1) { totalCount } }`,
			`{ products(frist: 1) { totalCount } }`,
			`{ products(first: 1, orderBy: {field: TITEL}) { totalCount } }`,
			`query($w: ProductWhereInpt) { products(where: $w) { totalCount } }`,
		} {
			r := post(t, s, &staff, gql(q, nil))
			require.NotEmpty(t, r.Errors, q)
			require.Equal(t, "BAD_USER_INPUT", r.Errors[0].code(), q)
			require.NotContains(t, r.Body, "Did you mean", q)
		}
	})

	t.Run("server-sent events", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query": "`+productsQ+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		r := serve(t, s, &staff, req)
		require.Equal(t, http.StatusOK, r.Status)
		require.Contains(t, r.Header.Get("Content-Type"), "text/event-stream")
		require.Contains(t, r.Body, "event: next")
		require.Contains(t, r.Body, "Product 0")
		require.Contains(t, r.Body, "event: complete")
	})

	t.Run("the standard introspection query fits the limits", func(t *testing.T) {
		r := post(t, s, nil, gql(introspectionQuery, nil))
		require.Empty(t, r.Errors, "body: %.500s", r.Body)
		require.Contains(t, string(r.Data), `"queryType":{"name":"Query"`)
		require.Equal(t, 100, r.Extensions.Cost.RequestedQueryCost)

		// A list of type lists inside another multiplies the answer by the
		// size of the schema: refused.
		r = post(t, s, nil, gql(`{ __schema { types { fields { type { fields { name } } } } } }`, nil))
		require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.codes(), "body: %s", r.Body)
	})
}

func TestEdgeRequestTimeout(t *testing.T) {
	s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) { c.RequestTimeout = time.Nanosecond })
	staff := seedStore(t, s, 1)
	before := s.DB.Statements()
	r := post(t, s, &staff, gql(`{ products(first: 1) { totalCount } }`, nil))
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, []string{"INTERNAL"}, r.codes(), "body: %s", r.Body)
	require.Contains(t, r.Errors[0].Message, "timed out")
	require.NotContains(t, r.Body, "totalCount\":")
	require.Equal(t, before, s.DB.Statements(), "no SQL after the deadline")
}

func TestEdgeIntrospectionOff(t *testing.T) {
	s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) { c.Introspection = false })
	for _, q := range []string{
		`{ __schema { queryType { name } } }`,
		`{ __type(name: "Product") { name } }`,
		`{ ...F } fragment F on Query { __schema { types { name } } }`,
	} {
		r := post(t, s, nil, gql(q, nil))
		require.Equal(t, []string{"FORBIDDEN"}, r.codes(), "%s: %s", q, r.Body)
		require.False(t, r.HasData)
		require.NotContains(t, r.Body, "Product\"")
	}
	r := post(t, s, nil, gql(`{ __typename }`, nil))
	require.Empty(t, r.Errors, "__typename stays available: %s", r.Body)

	// Without introspection, suggestions would be the way to map the
	// schema: there are none.
	r = post(t, s, nil, gql(`{ prodcts { id } }`, nil))
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes())
	require.NotContains(t, r.Body, "Did you mean")
	require.NotContains(t, r.Body, "products")
}

func TestEdgeRateLimit(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "redis"}[withRedis], func(t *testing.T) {
			redisURL := os.Getenv("TEST_REDIS_URL")
			if withRedis && redisURL == "" {
				t.Skip("TEST_REDIS_URL is not set")
			}
			s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) {
				c.RateLimitBucket = 10
				c.RateLimitRestore = 2
				if withRedis {
					c.RedisURL = redisURL
				}
			})
			staff := seedStore(t, s, 3)
			// 2 for the connection + 3 products: requested = actual = 5.
			body := gql(`{ products(first: 3) { edges { node { id } } } }`, nil)
			for i := range 2 {
				r := post(t, s, &staff, body)
				require.Empty(t, r.Errors, "request %d: %s", i, r.Body)
				require.Equal(t, 5, r.Extensions.Cost.RequestedQueryCost)
			}
			before := s.DB.Statements()
			r := post(t, s, &staff, body)
			require.Equal(t, http.StatusTooManyRequests, r.Status, "body: %s", r.Body)
			require.Equal(t, []string{"RATE_LIMITED"}, r.codes(), "body: %s", r.Body)
			retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After: %q", r.Header.Get("Retry-After"))
			require.True(t, retry >= 1 && retry <= 3, "Retry-After: %d", retry)
			require.False(t, r.HasData)
			require.Equal(t, before, s.DB.Statements(), "a throttled request ran SQL")
			require.NotNil(t, r.Extensions.Cost.ThrottleStatus, "body: %s", r.Body)
			require.Less(t, r.Extensions.Cost.ThrottleStatus.CurrentlyAvailable, 5)
			require.Equal(t, 10, r.Extensions.Cost.ThrottleStatus.MaximumAvailable)

			// Another caller has a bucket of its own.
			other := staff
			other.UserID = uuid.New()
			require.Empty(t, post(t, s, &other, body).Errors)

			// The bucket drains at 2 per second: the caller recovers.
			require.Eventually(t, func() bool {
				return post(t, s, &staff, body).Status == http.StatusOK
			}, 5*time.Second, 100*time.Millisecond)
		})
	}
}

func TestEdgeAPQ(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "redis"}[withRedis], func(t *testing.T) {
			redisURL := os.Getenv("TEST_REDIS_URL")
			if withRedis && redisURL == "" {
				t.Skip("TEST_REDIS_URL is not set")
			}
			s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) {
				if withRedis {
					c.RedisURL = redisURL
				}
			})
			staff := seedStore(t, s, 2)
			// A comment makes the query, and so its hash, unique to this run.
			query := "# " + uuid.NewString() + "\n{ products(first: 5) { edges { node { title } } } }"
			sum := sha256.Sum256([]byte(query))
			hash := hex.EncodeToString(sum[:])
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}

			r := post(t, s, &staff, map[string]any{"extensions": ext})
			require.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, r.codes(), "body: %s", r.Body)
			require.Equal(t, "PersistedQueryNotFound", r.Errors[0].Message)

			r = post(t, s, &staff, map[string]any{"query": query, "extensions": ext})
			require.Empty(t, r.Errors, "body: %s", r.Body)
			require.Contains(t, string(r.Data), "Product 1")

			r = post(t, s, &staff, map[string]any{"extensions": ext})
			require.Empty(t, r.Errors, "body: %s", r.Body)
			require.Contains(t, string(r.Data), "Product 1")

			// GET with the hash alone works too (what CDNs cache).
			extJSON, _ := json.Marshal(ext)
			req := httptest.NewRequest(http.MethodGet, "/graphql?extensions="+url.QueryEscape(string(extJSON)), nil)
			r = serve(t, s, &staff, req)
			require.Empty(t, r.Errors, "body: %s", r.Body)
			require.Contains(t, string(r.Data), "Product 1")

			// A hash that is not the query's is refused.
			bad := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}
			r = post(t, s, &staff, map[string]any{"query": query, "extensions": bad})
			require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "body: %s", r.Body)

			if withRedis {
				opts, err := redis.ParseURL(redisURL)
				require.NoError(t, err)
				rc := redis.NewClient(opts)
				defer rc.Close()
				ctx := context.Background()
				key := "omnisphere:apq:" + hash
				got, err := rc.Get(ctx, key).Result()
				require.NoError(t, err)
				require.Equal(t, query, got)
				ttl, err := rc.TTL(ctx, key).Result()
				require.NoError(t, err)
				require.Greater(t, ttl, 23*time.Hour)
				require.NoError(t, rc.Del(ctx, key).Err())
			}
		})
	}
}

func TestEdgeCORS(t *testing.T) {
	preflight := func(s *server.Server, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		// As browsers send it: lower case, sorted, no spaces.
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, req)
		return rec
	}
	s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) { c.CORSOrigins = []string{"https://shop.example"} })

	rec := preflight(s, "https://shop.example")
	require.Less(t, rec.Code, 300)
	require.Equal(t, "https://shop.example", rec.Header().Get("Access-Control-Allow-Origin"))
	require.Contains(t, strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "authorization")
	require.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "POST")

	rec = preflight(s, "https://evil.example")
	require.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	require.Empty(t, rec.Header().Get("Access-Control-Allow-Methods"))

	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query": "{ __typename }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://shop.example")
	r := serve(t, s, nil, req)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "https://shop.example", r.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id")

	// No origins configured: no CORS headers for anyone.
	plain := newServer(t, dbtest.SQLite, nil, nil)
	rec = preflight(plain, "https://shop.example")
	require.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
}

// wsDial opens a graphql-transport-ws connection to srv.
func wsDial(t *testing.T, ctx context.Context, srv *httptest.Server, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   h,
	})
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func wsWrite(t *testing.T, ctx context.Context, c *websocket.Conn, m any) {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, b))
}

// wsRead returns the next message that is not a ping or pong.
func wsRead(ctx context.Context, c *websocket.Conn) (wsMessage, error) {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return wsMessage{}, err
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return wsMessage{}, err
		}
		if m.Type != "ping" && m.Type != "pong" && m.Type != "ka" {
			return m, nil
		}
	}
}

func TestEdgeWebSocket(t *testing.T) {
	s := newServer(t, dbtest.SQLite, nil, func(c *server.Config) { c.WSOrigins = []string{"admin.example"} })
	srv := httptest.NewServer(s.Handler)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("connection_init is acked and operations run", func(t *testing.T) {
		c, _, err := wsDial(t, ctx, srv, "")
		require.NoError(t, err)
		defer c.CloseNow()
		require.Equal(t, "graphql-transport-ws", c.Subprotocol())
		wsWrite(t, ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{}})
		m, err := wsRead(ctx, c)
		require.NoError(t, err)
		require.Equal(t, "connection_ack", m.Type)

		wsWrite(t, ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ __typename }"}})
		m, err = wsRead(ctx, c)
		require.NoError(t, err)
		require.Equal(t, "next", m.Type, "payload: %s", m.Payload)
		require.Contains(t, string(m.Payload), `"__typename":"Query"`)
		m, err = wsRead(ctx, c)
		require.NoError(t, err)
		require.Equal(t, "complete", m.Type)
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	})

	t.Run("bad credentials close with 4403", func(t *testing.T) {
		c, _, err := wsDial(t, ctx, srv, "")
		require.NoError(t, err)
		defer c.CloseNow()
		wsWrite(t, ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer not-a-token"}})
		m, err := wsRead(ctx, c)
		if err == nil && m.Type == "connection_ack" {
			t.Skip("needs identity: wsInit accepts any credentials")
		}
		require.Error(t, err, "got %+v", m)
		require.Equal(t, websocket.StatusCode(4403), websocket.CloseStatus(err), "err: %v", err)
	})

	t.Run("origins", func(t *testing.T) {
		// Same host (no pattern needed) and an allowed pattern pass.
		for _, origin := range []string{srv.URL, "https://admin.example"} {
			c, _, err := wsDial(t, ctx, srv, origin)
			require.NoError(t, err, origin)
			c.CloseNow()
		}
		_, resp, err := wsDial(t, ctx, srv, "https://evil.example")
		require.Error(t, err)
		require.NotNil(t, resp)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
}

// introspectionQuery is graphql-js 16's getIntrospectionQuery() with every
// option on: what GraphiQL and most tools send.
const introspectionQuery = `
    query IntrospectionQuery {
      __schema {
        description
        queryType { name kind }
        mutationType { name kind }
        subscriptionType { name kind }
        types {
          ...FullType
        }
        directives {
          name
          description
          isRepeatable
          locations
          args(includeDeprecated: true) {
            ...InputValue
          }
        }
      }
    }
    fragment FullType on __Type {
      kind
      name
      description
      specifiedByURL
      fields(includeDeprecated: true) {
        name
        description
        args(includeDeprecated: true) {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields(includeDeprecated: true) {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }
    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      isDeprecated
      deprecationReason
    }
    fragment TypeRef on __Type {
      kind
      name
      ofType {
        name
        kind
        ofType {
          name
          kind
          ofType {
            name
            kind
            ofType {
              name
              kind
              ofType {
                name
                kind
                ofType {
                  name
                  kind
                  ofType {
                    name
                    kind
                    ofType {
                      name
                      kind
                      ofType {
                        name
                        kind
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
`

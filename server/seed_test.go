package server_test

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// startServer assembles a server for cfg, closed when the test ends (or
// earlier by the test).
func startServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := server.New(ctx, cfg, server.NewLogger(io.Discard, slog.LevelError))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func countStores(t *testing.T, s *server.Server) int {
	t.Helper()
	n, err := s.DB.Client.MerchantAccount.Query().Count(viewer.SystemContext(context.Background(), "test: count stores"))
	require.NoError(t, err)
	return n
}

const demoProductsQuery = `query($after: Cursor) {
  products(first: 60, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { title slug featuredImage { url } category { slug parent { slug } }
      variants { sku price optionValues quantityAvailable } } }
  }
}`

type demoProducts struct {
	Products struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				Title, Slug   string
				FeaturedImage *struct{ URL string }
				Category      *struct {
					Slug   string
					Parent *struct{ Slug string }
				}
				Variants []struct {
					SKU               string
					Price             int
					OptionValues      map[string]any
					QuantityAvailable int
				}
			}
		}
	}
}

func TestDemoStoreSeedsAnEmptyEmbeddedDatabaseOnce(t *testing.T) {
	cfg := testConfig(t, dbtest.SQLite)
	cfg.BcryptCost = 10
	ctx := context.Background()

	s := startServer(t, cfg)
	var out bytes.Buffer
	res := s.SeedOnStart(ctx, true, &out)
	require.NotNil(t, res)
	require.True(t, res.Seeded)
	for _, want := range []string{res.Email, res.Password, res.StorefrontKey, res.CustomerEmail, res.CustomerPassword} {
		require.NotEmpty(t, want)
		require.Contains(t, out.String(), want, "printed on start")
	}
	require.GreaterOrEqual(t, res.Products, 45)

	e := &idEnv{s: s, logs: &syncBuffer{}}
	key := []string{"X-Storefront-Key", res.StorefrontKey}

	// The storefront shows the catalogue: products in a category tree, with
	// variants in stock and images served from the media directory.
	r := e.do(t, demoProductsQuery, nil, key...)
	require.Empty(t, r.Errors, r.Body)
	var list demoProducts
	r.decode(t, &list)
	require.GreaterOrEqual(t, list.Products.TotalCount, 45)
	nested, withOptions, inStock := 0, 0, 0
	for _, edge := range list.Products.Edges {
		p := edge.Node
		require.NotNil(t, p.FeaturedImage, p.Title)
		require.True(t, strings.HasPrefix(p.FeaturedImage.URL, "/media/demo/"), p.FeaturedImage.URL)
		file := filepath.Join(cfg.DataDir, "media", strings.TrimPrefix(p.FeaturedImage.URL, "/media/"))
		f, err := os.Open(file)
		require.NoError(t, err, "image of %s", p.Title)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err)
		require.Equal(t, 64, img.Bounds().Dx())
		require.NotNil(t, p.Category, p.Title)
		if p.Category.Parent != nil {
			nested++
		}
		require.NotEmpty(t, p.Variants, p.Title)
		for _, v := range p.Variants {
			if _, ok := v.OptionValues["Size"]; ok {
				withOptions++
			} else if _, ok := v.OptionValues["Color"]; ok {
				withOptions++
			}
			if v.QuantityAvailable > 0 {
				inStock++
			}
		}
	}
	require.Positive(t, nested, "categories form a tree")
	require.Greater(t, withOptions, 50, "variants by Size and Color")
	require.Greater(t, inStock, 50, "the warehouse holds stock")

	// The printed logins work.
	r = e.do(t, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken userErrors { code } } }`,
		map[string]any{"e": res.Email, "p": res.Password})
	var login struct{ Login struct{ AccessToken string } }
	r.decode(t, &login)
	require.NotEmpty(t, login.Login.AccessToken, r.Body)
	r = e.do(t, `mutation($e: String!, $p: String!) { customerLogin(input: {email: $e, password: $p}) { customerAccessToken userErrors { code } } }`,
		map[string]any{"e": res.CustomerEmail, "p": res.CustomerPassword}, key...)
	var clogin struct {
		CustomerLogin struct{ CustomerAccessToken string }
	}
	r.decode(t, &clogin)
	require.NotEmpty(t, clogin.CustomerLogin.CustomerAccessToken, r.Body)

	// Two shipping methods.
	r = e.do(t, `{ shippingMethods(first: 10) { totalCount edges { node { code price } } } }`, nil,
		bearer(login.Login.AccessToken)...)
	require.Empty(t, r.Errors, r.Body)
	var ship struct{ ShippingMethods struct{ TotalCount int } }
	r.decode(t, &ship)
	require.Equal(t, 2, ship.ShippingMethods.TotalCount)
	require.NoError(t, s.Close())

	// The next start finds a store: no second demo.
	s2 := startServer(t, cfg)
	var out2 bytes.Buffer
	require.Nil(t, s2.SeedOnStart(ctx, true, &out2))
	require.Empty(t, out2.String())
	require.Equal(t, 1, countStores(t, s2))
	e2 := &idEnv{s: s2, logs: &syncBuffer{}}
	r = e2.do(t, demoProductsQuery, nil, key...)
	var again demoProducts
	r.decode(t, &again)
	require.Equal(t, list.Products.TotalCount, again.Products.TotalCount)
}

func TestNoDemoLeavesTheDatabaseEmpty(t *testing.T) {
	s := newServer(t, dbtest.SQLite, nil, nil)
	var out bytes.Buffer
	require.Nil(t, s.SeedOnStart(context.Background(), false, &out))
	require.Empty(t, out.String())
	require.Zero(t, countStores(t, s))
}

func TestDemoIsSeededOnPostgresOnlyWhenAsked(t *testing.T) {
	s := newServer(t, dbtest.Postgres, nil, func(c *server.Config) { c.BcryptCost = 10 })
	ctx := context.Background()
	var out bytes.Buffer
	require.Nil(t, s.SeedOnStart(ctx, true, &out), "never on start on PostgreSQL")
	require.Zero(t, countStores(t, s))

	res, err := s.SeedDemo(ctx, &out) // `seed demo`
	require.NoError(t, err)
	require.True(t, res.Seeded)
	require.GreaterOrEqual(t, res.Products, 45)
	require.Contains(t, out.String(), res.StorefrontKey)

	out.Reset()
	res, err = s.SeedDemo(ctx, &out)
	require.NoError(t, err)
	require.False(t, res.Seeded)
	require.Contains(t, out.String(), "already exists")
	require.Equal(t, 1, countStores(t, s))
}

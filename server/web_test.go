package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
)

type webConfig struct {
	GraphQL string `json:"graphql"`
	Store   *struct {
		Slug, Name, Currency, StorefrontKey string
	} `json:"store"`
}

func getWebConfig(t *testing.T, h http.Handler) webConfig {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/config.json", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var c webConfig
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &c))
	return c
}

// TestWebPages: the server serves /admin, /store, /playground and their
// assets; /assets/config.json names the demo store with the publishable key
// this process seeded, after a restart only its slug (the key is stored
// hashed), and WEB_STOREFRONT_KEY when set.
func TestWebPages(t *testing.T) {
	cfg := testConfig(t, dbtest.SQLite)
	cfg.BcryptCost = 10
	s := startServer(t, cfg)

	c := getWebConfig(t, s.Handler)
	require.Equal(t, "/graphql", c.GraphQL)
	require.Nil(t, c.Store, "no demo store yet")

	res := s.SeedOnStart(context.Background(), true, io.Discard)
	require.NotNil(t, res)
	c = getWebConfig(t, s.Handler)
	require.NotNil(t, c.Store)
	require.Equal(t, "demo", c.Store.Slug)
	require.Equal(t, "USD", c.Store.Currency)
	require.Equal(t, res.StorefrontKey, c.Store.StorefrontKey)

	for path, ct := range map[string]string{
		"/admin": "text/html; charset=utf-8", "/store/": "text/html; charset=utf-8", "/playground": "text/html; charset=utf-8",
		"/assets/lib/gql.js": "text/javascript; charset=utf-8", "/assets/vendor/graphiql/graphiql.min.css": "text/css; charset=utf-8",
	} {
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, rec.Code, path)
		require.Equal(t, ct, rec.Header().Get("Content-Type"), path)
		if strings.HasSuffix(ct, "html; charset=utf-8") {
			require.Contains(t, rec.Header().Get("Content-Security-Policy"), "script-src 'self'", path)
		}
	}
	require.NoError(t, s.Close())

	// A restart over the same database: the store, but not its key.
	s2 := startServer(t, cfg)
	c = getWebConfig(t, s2.Handler)
	require.NotNil(t, c.Store)
	require.Equal(t, "demo", c.Store.Slug)
	require.Empty(t, c.Store.StorefrontKey)
	require.NoError(t, s2.Close())

	cfg.WebStorefrontKey = "opk_configured"
	s3 := startServer(t, cfg)
	require.Equal(t, "opk_configured", getWebConfig(t, s3.Handler).Store.StorefrontKey)
	cfg.WebStore = "nope"
	s4 := startServer(t, cfg)
	require.Nil(t, getWebConfig(t, s4.Handler).Store)
}

package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// idEnv is a server reached only through HTTP headers, as real clients do.
type idEnv struct {
	s    *server.Server
	logs *syncBuffer
}

func newIDEnv(t *testing.T, b dbtest.Backend, edit func(*server.Config)) *idEnv {
	t.Helper()
	logs := &syncBuffer{}
	s := newServer(t, b, server.NewLogger(logs, slog.LevelDebug), func(c *server.Config) {
		c.BcryptCost = 10
		c.BcryptConcurrency = 4
		c.LoginMaxAttempts = 5
		c.LoginMaxPerIP = 1000
		c.LoginWindow = 15 * time.Minute
		c.AccessTokenTTL = time.Hour
		c.RefreshTokenTTL = 24 * time.Hour
		if edit != nil {
			edit(c)
		}
	})
	return &idEnv{s: s, logs: logs}
}

// do posts a GraphQL request with the given headers (name, value, ...).
func (e *idEnv) do(t *testing.T, q string, vars map[string]any, header ...string) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": q, "variables": vars})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.s.Handler.ServeHTTP(rec, req)
	r := gqlResponse{Status: rec.Code, Body: rec.Body.String()}
	require.Less(t, r.Status, 500, "body: %s", r.Body)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), "body: %s", r.Body)
	requireNoLeak(t, r)
	return r
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

const registerMutation = `mutation($in: MerchantRegisterInput!) {
  merchantRegister(input: $in) {
    accessToken refreshToken storefrontKey
    user { id email role } merchant { id slug }
    userErrors { field message code }
  }
}`

type registered struct {
	MerchantRegister struct {
		AccessToken, RefreshToken, StorefrontKey string
		User                                     struct{ ID, Email, Role string }
		Merchant                                 struct{ ID, Slug string }
		UserErrors                               []struct {
			Field   []string
			Message string
			Code    string
		}
	}
}

func (e *idEnv) register(t *testing.T, slug string) registered {
	t.Helper()
	r := e.do(t, registerMutation, map[string]any{"in": map[string]any{
		"email": slug + "@example.com", "password": "correct horse battery", "fullName": "Owner",
		"storeName": "Store " + slug, "storeSlug": slug,
	}})
	require.Empty(t, r.Errors, r.Body)
	var out registered
	r.decode(t, &out)
	require.Empty(t, out.MerchantRegister.UserErrors)
	require.NotEmpty(t, out.MerchantRegister.AccessToken)
	return out
}

// publish opens reg's storefront to the public: a registered store starts
// unpublished, and its storefront fields answer STORE_NOT_PUBLISHED to
// anyone but its staff until then.
func (e *idEnv) publish(t *testing.T, reg registered) {
	t.Helper()
	r := e.do(t, `mutation { storefrontConfigUpdate(input: {published: true}) { userErrors { code } } }`, nil,
		bearer(reg.MerchantRegister.AccessToken)...)
	require.Empty(t, r.Errors, r.Body)
	require.JSONEq(t, `{"storefrontConfigUpdate": {"userErrors": []}}`, string(r.Data))
}

func TestIdentityOverHTTP(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testIdentity(t, newIDEnv(t, b, nil)) })
	}
}

func testIdentity(t *testing.T, e *idEnv) {
	acme := e.register(t, "acme")
	e.publish(t, acme)
	tok := acme.MerchantRegister.AccessToken

	t.Run("me with the access token", func(t *testing.T) {
		r := e.do(t, `{ me { user { email role } merchant { slug } } }`, nil, bearer(tok)...)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, `{"me": {"user": {"email": "acme@example.com", "role": "OWNER"}, "merchant": {"slug": "acme"}}}`, string(r.Data))
	})

	t.Run("registration errors are userErrors with codes", func(t *testing.T) {
		r := e.do(t, registerMutation, map[string]any{"in": map[string]any{
			"email": "x@example.com", "password": strings.Repeat("p", 73), "fullName": "x", "storeName": "x", "storeSlug": "acme",
		}})
		require.Empty(t, r.Errors)
		var out registered
		r.decode(t, &out)
		require.Len(t, out.MerchantRegister.UserErrors, 1)
		require.Equal(t, "TOO_LONG", out.MerchantRegister.UserErrors[0].Code)
		require.Equal(t, []string{"input", "password"}, out.MerchantRegister.UserErrors[0].Field)
		require.Empty(t, out.MerchantRegister.AccessToken)
	})

	t.Run("bad tokens are 401 before any SQL", func(t *testing.T) {
		now := time.Now()
		claims := func(mut func(*auth.Claims)) string {
			c := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "omnisphere", Audience: jwt.ClaimStrings{"omnisphere-api"},
				Subject: acme.MerchantRegister.User.ID, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)},
				Type: auth.TypeAccess, Kind: auth.KindStaff, Merchant: acme.MerchantRegister.Merchant.ID, Session: uuid.NewString()}
			mut(&c)
			m := jwt.SigningMethod(jwt.SigningMethodHS256)
			var key any = testSecret
			if c.Issuer == "none" {
				m, key, c.Issuer = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "omnisphere"
			}
			s, err := jwt.NewWithClaims(m, c).SignedString(key)
			require.NoError(t, err)
			return s
		}
		for name, bad := range map[string]string{
			"alg none":          claims(func(c *auth.Claims) { c.Issuer = "none" }),
			"expired":           claims(func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) }),
			"missing exp":       claims(func(c *auth.Claims) { c.ExpiresAt = nil }),
			"future nbf":        claims(func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }),
			"wrong iss":         claims(func(c *auth.Claims) { c.Issuer = "evil" }),
			"wrong aud":         claims(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"x"} }),
			"refresh as access": acme.MerchantRegister.RefreshToken,
			"tampered":          tok[:len(tok)-3] + "abc",
		} {
			t.Run(name, func(t *testing.T) {
				before := e.s.DB.Statements()
				r := e.do(t, `{ me { user { id } } }`, nil, bearer(bad)...)
				require.Equal(t, http.StatusUnauthorized, r.Status, r.Body)
				require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes())
				require.Equal(t, before, e.s.DB.Statements(), "a rejected token must not reach the database")
			})
		}
		r := e.do(t, `{ me { user { id } } }`, nil, "Authorization", "Basic abc")
		require.Equal(t, http.StatusUnauthorized, r.Status)
	})

	t.Run("login, refresh rotation, reuse, logout", func(t *testing.T) {
		r := e.do(t, `mutation { login(input: {email: "acme@example.com", password: "correct horse battery"}) { accessToken refreshToken userErrors { code } } }`, nil)
		require.Empty(t, r.Errors, r.Body)
		var login struct {
			Login struct{ AccessToken, RefreshToken string }
		}
		r.decode(t, &login)

		refresh := `mutation($t: String!) { tokenRefresh(input: {refreshToken: $t}) { accessToken refreshToken userErrors { code } } }`
		r = e.do(t, refresh, map[string]any{"t": login.Login.RefreshToken})
		var rot struct {
			TokenRefresh struct {
				AccessToken, RefreshToken string
				UserErrors                []struct{ Code string }
			}
		}
		r.decode(t, &rot)
		require.Empty(t, rot.TokenRefresh.UserErrors)
		require.Equal(t, http.StatusOK, e.do(t, `{ me { user { id } } }`, nil, bearer(rot.TokenRefresh.AccessToken)...).Status)

		r = e.do(t, refresh, map[string]any{"t": login.Login.RefreshToken})
		rot.TokenRefresh.UserErrors = nil
		r.decode(t, &rot)
		require.Equal(t, "TOKEN_REUSED", rot.TokenRefresh.UserErrors[0].Code)
		require.Equal(t, http.StatusUnauthorized, e.do(t, `{ me { user { id } } }`, nil, bearer(rot.TokenRefresh.AccessToken)...).Status,
			"reuse revokes the whole session")

		// Logout ends the session at once; other sessions live on.
		r = e.do(t, `mutation { logout { loggedOut } }`, nil, bearer(tok)...)
		require.JSONEq(t, `{"logout": {"loggedOut": true}}`, string(r.Data))
		require.Equal(t, http.StatusUnauthorized, e.do(t, `{ me { user { id } } }`, nil, bearer(tok)...).Status)
	})

	t.Run("login throttling answers RATE_LIMITED", func(t *testing.T) {
		e.register(t, "throttled")
		q := `mutation { login(input: {email: "throttled@example.com", password: "wrong password"}) { userErrors { code } } }`
		for i := 0; i < 5; i++ {
			r := e.do(t, q, nil)
			require.JSONEq(t, `{"login": {"userErrors": [{"code": "INVALID_CREDENTIALS"}]}}`, string(r.Data))
		}
		r := e.do(t, q, nil)
		require.Equal(t, []string{"RATE_LIMITED"}, r.codes(), r.Body)
	})

	var secret string
	t.Run("API keys: created once, permissions, revocation at once", func(t *testing.T) {
		login := e.do(t, `mutation { login(input: {email: "acme@example.com", password: "correct horse battery"}) { accessToken } }`, nil)
		var l struct{ Login struct{ AccessToken string } }
		login.decode(t, &l)
		tok = l.Login.AccessToken

		r := e.do(t, `mutation { apiKeyCreate(input: {name: "ERP", permissions: ["products:read"]}) { secret apiKey { id name prefix permissions } userErrors { code } } }`, nil, bearer(tok)...)
		require.Empty(t, r.Errors, r.Body)
		var created struct {
			APIKeyCreate struct {
				Secret string
				APIKey struct{ ID string }
			}
		}
		r.decode(t, &created)
		secret = created.APIKeyCreate.Secret
		require.True(t, strings.HasPrefix(secret, "osk_"))

		r = e.do(t, `{ products(first: 5) { totalCount } }`, nil, bearer(secret)...)
		require.Empty(t, r.Errors, r.Body)
		r = e.do(t, `{ orders(first: 5) { totalCount } }`, nil, bearer(secret)...)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes())

		// The denial is audited in the store's log.
		ctx := viewer.NewContext(t.Context(), viewer.Viewer{Kind: viewer.Staff, MerchantID: uuid.MustParse(acme.MerchantRegister.Merchant.ID)})
		n, err := e.s.DB.Client.AuditLog.Query().Where(auditlog.Action("permission.denied")).Count(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		r = e.do(t, `mutation($id: ID!) { apiKeyRevoke(input: {id: $id}) { apiKey { revokedAt } userErrors { code } } }`,
			map[string]any{"id": created.APIKeyCreate.APIKey.ID}, bearer(tok)...)
		require.Empty(t, r.Errors, r.Body)
		r = e.do(t, `{ products(first: 5) { totalCount } }`, nil, bearer(secret)...)
		require.Equal(t, http.StatusUnauthorized, r.Status)
	})

	t.Run("no secret reaches the logs", func(t *testing.T) {
		logs := e.logs.String()
		require.NotEmpty(t, logs)
		for _, s := range []string{secret, acme.MerchantRegister.AccessToken, acme.MerchantRegister.RefreshToken,
			acme.MerchantRegister.StorefrontKey, "correct horse battery"} {
			require.NotContains(t, logs, s)
		}
	})

	t.Run("storefront customers, per store", func(t *testing.T) {
		bolt := e.register(t, "bolt")
		reg := `mutation($in: CustomerRegisterInput!) { customerRegister(input: $in) { customerAccessToken customer { email } userErrors { code } } }`
		in := map[string]any{"email": "ann@example.com", "password": "ann's password"}
		// A store takes customers once its storefront is published.
		r := e.do(t, reg, map[string]any{"in": in}, "X-Storefront-Key", bolt.MerchantRegister.StorefrontKey)
		require.Equal(t, []string{"STORE_NOT_PUBLISHED"}, r.codes(), r.Body)
		e.publish(t, bolt)
		r = e.do(t, reg, map[string]any{"in": in}, "X-Storefront-Key", acme.MerchantRegister.StorefrontKey)
		require.Empty(t, r.Errors, r.Body)
		r = e.do(t, reg, map[string]any{"in": in}, "X-Store-Slug", "bolt")
		require.Empty(t, r.Errors, r.Body)
		var out struct {
			CustomerRegister struct{ CustomerAccessToken string }
		}
		r.decode(t, &out)

		// Without a store, customerRegister is refused.
		r = e.do(t, reg, map[string]any{"in": in})
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes())
		// An unknown key is 401.
		r = e.do(t, `{ customer { email } }`, nil, "X-Storefront-Key", "opk_unknownunknownunknown")
		require.Equal(t, http.StatusUnauthorized, r.Status)

		r = e.do(t, `{ customer { email } }`, nil, bearer(out.CustomerRegister.CustomerAccessToken)...)
		require.JSONEq(t, `{"customer": {"email": "ann@example.com"}}`, string(r.Data))
		// A customer token is not staff.
		r = e.do(t, `{ productVariants(first: 1) { totalCount } }`, nil, bearer(out.CustomerRegister.CustomerAccessToken)...)
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes())
		// The customer token and another store's key disagree.
		r = e.do(t, `{ customer { email } }`, nil, append(bearer(out.CustomerRegister.CustomerAccessToken), "X-Storefront-Key", acme.MerchantRegister.StorefrontKey)...)
		require.Equal(t, http.StatusUnauthorized, r.Status)
		_ = bolt

		login := `mutation($e: String!, $p: String!) { customerLogin(input: {email: $e, password: $p}) { customerAccessToken userErrors { code } } }`
		r = e.do(t, login, map[string]any{"e": "ann@example.com", "p": "ann's password"}, "X-Store-Slug", "acme")
		require.Empty(t, r.Errors)
		r = e.do(t, login, map[string]any{"e": "ann@example.com", "p": "wrong"}, "X-Store-Slug", "acme")
		require.JSONEq(t, `{"customerLogin": {"customerAccessToken": null, "userErrors": [{"code": "INVALID_CREDENTIALS"}]}}`, string(r.Data))
	})
}

// TestCrossTenantIDsLookMissing: merchant B's token with merchant A's ids
// gets exactly what a random id gets — no FORBIDDEN versus NOT_FOUND oracle.
func TestCrossTenantIDsLookMissing(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newIDEnv(t, b, nil)
			a, bb := e.register(t, "acme"), e.register(t, "bolt")
			aTok, bTok := a.MerchantRegister.AccessToken, bb.MerchantRegister.AccessToken
			// Give A one row of several types to probe.
			r := e.do(t, `mutation { apiKeyCreate(input: {name: "k", permissions: ["products:read"]}) { apiKey { id } } }`, nil, bearer(aTok)...)
			var k struct {
				APIKeyCreate struct{ APIKey struct{ ID string } }
			}
			r.decode(t, &k)
			ctxA := viewer.NewContext(t.Context(), viewer.Viewer{Kind: viewer.Staff, MerchantID: uuid.MustParse(a.MerchantRegister.Merchant.ID)})
			wh, err := e.s.DB.Client.Warehouse.Query().Only(ctxA)
			require.NoError(t, err)
			cfg, err := e.s.DB.Client.StorefrontConfig.Query().Only(ctxA)
			require.NoError(t, err)
			ids := map[string]string{
				"user": a.MerchantRegister.User.ID, "merchant": a.MerchantRegister.Merchant.ID,
				"apiKey": k.APIKeyCreate.APIKey.ID, "warehouse": wh.ID.String(), "storefrontConfig": cfg.ID.String(),
			}
			probes := map[string]string{
				"node":         `query($id: ID!) { node(id: $id) { id } }`,
				"nodes":        `query($id: ID!) { nodes(ids: [$id]) { id } }`,
				"apiKeyRevoke": `mutation($id: ID!) { apiKeyRevoke(input: {id: $id}) { apiKey { id } userErrors { field code message } } }`,
			}
			for kind, id := range ids {
				for name, q := range probes {
					t.Run(kind+"/"+name, func(t *testing.T) {
						// A random id of the same table looks the same as A's id.
						parsed := uuid.MustParse(id)
						missing := parsed
						missing[15] ^= 0xFF
						missing[14] ^= 0xFF
						got := e.do(t, q, map[string]any{"id": id}, bearer(bTok)...)
						want := e.do(t, q, map[string]any{"id": missing.String()}, bearer(bTok)...)
						require.Equal(t, want.Status, got.Status)
						// Data and errors alike (the cost extension varies with the bucket).
						shape := func(r gqlResponse, id string) string {
							b, err := json.Marshal(map[string]any{"data": r.Data, "errors": r.Errors})
							require.NoError(t, err)
							return strings.ReplaceAll(string(b), id, "ID")
						}
						require.Equal(t, shape(want, missing.String()), shape(got, id))
						require.NotContains(t, got.Body, "FORBIDDEN")
					})
				}
			}
			// And A's own id does resolve for A.
			r = e.do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": wh.ID.String()}, bearer(aTok)...)
			require.Empty(t, r.Errors)
		})
	}
}

package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test")

type fixture struct {
	svc   *Service
	db    *db.DB
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFixture(t *testing.T, b dbtest.Backend) *fixture {
	t.Helper()
	d := dbtest.Open(t, b)
	c := &clock{t: time.Now()}
	svc, err := New(d.Client, ratelimit.NewMemory(), slog.New(slog.NewTextHandler(io.Discard, nil)), Config{
		Secret: secret, BcryptCost: 10, BcryptConcurrency: 4, LoginMaxAttempts: 3, LoginMaxPerIP: 100, Now: c.Now,
	})
	require.NoError(t, err)
	return &fixture{svc: svc, db: d, clock: c}
}

func ipCtx(ip string) context.Context {
	return viewer.NewRequestContext(context.Background(), viewer.Request{IP: ip, UserAgent: "test", ID: "req-1"})
}

func (f *fixture) register(t *testing.T, slug string) *Registered {
	t.Helper()
	r, err := f.svc.Register(ipCtx("10.0.0.1"), RegisterInput{
		Email: slug + "@example.com", Password: "correct horse battery", FullName: "Owner " + slug,
		StoreName: "Store " + slug, StoreSlug: slug,
	})
	require.NoError(t, err)
	return r
}

func codes(err error) []Code {
	e, ok := IsUserError(err)
	if !ok {
		return nil
	}
	var out []Code
	for _, fe := range e.Errors {
		out = append(out, fe.Code)
	}
	return out
}

func forEachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { fn(t, newFixture(t, b)) })
	}
}

func TestRegisterCreatesTheStoreInOneTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		r := f.register(t, "acme")
		require.Equal(t, "acme", r.Merchant.Slug)
		require.True(t, strings.HasPrefix(r.StorefrontKey, PublishableKeyPrefix))
		staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID, UserID: r.User.ID})
		c := f.db.Client
		for name, q := range map[string]interface {
			Count(context.Context) (int, error)
		}{
			"warehouses":  c.Warehouse.Query(),
			"storefront":  c.StorefrontConfig.Query(),
			"api keys":    c.APIKey.Query(),
			"users":       c.User.Query(),
			"audit":       c.AuditLog.Query().Where(auditlog.Action("merchant.register")),
			"refresh tok": c.RefreshToken.Query(),
		} {
			n, err := q.Count(staff)
			require.NoError(t, err, name)
			require.Equal(t, 1, n, name)
		}
		// The access token authenticates as the owner.
		v, err := f.svc.Authenticate(context.Background(), r.Session.AccessToken)
		require.NoError(t, err)
		require.Equal(t, viewer.Staff, v.Kind)
		require.Equal(t, r.Merchant.ID, v.MerchantID)
		require.Equal(t, r.User.ID, v.UserID)
		// The storefront key identifies the store.
		v, err = f.svc.AuthenticateStorefrontKey(context.Background(), r.StorefrontKey)
		require.NoError(t, err)
		require.Equal(t, viewer.Viewer{Kind: viewer.Anonymous, MerchantID: r.Merchant.ID}, v)

		// Taken slug and email; a failed registration leaves nothing behind.
		_, err = f.svc.Register(context.Background(), RegisterInput{Email: "other@example.com", Password: "correct horse battery",
			FullName: "x", StoreName: "x", StoreSlug: "acme"})
		require.Equal(t, []Code{CodeTaken}, codes(err))
		_, err = f.svc.Register(context.Background(), RegisterInput{Email: "ACME@example.com", Password: "correct horse battery",
			FullName: "x", StoreName: "x", StoreSlug: "other"})
		require.Equal(t, []Code{CodeTaken}, codes(err))
		n, err := c.MerchantAccount.Query().Count(viewer.SystemContext(context.Background(), "test"))
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestRegisterValidation(t *testing.T) {
	f := newFixture(t, dbtest.SQLite)
	long := strings.Repeat("é", 37) // 74 bytes, 37 characters
	for _, tc := range []struct {
		name string
		in   RegisterInput
		want []Code
	}{
		{"all missing", RegisterInput{}, []Code{CodeRequired, CodeRequired, CodeRequired, CodeRequired, CodeRequired}},
		{"bad email", RegisterInput{Email: "not-an-email", Password: "long enough", FullName: "a", StoreName: "a", StoreSlug: "a"}, []Code{CodeInvalid}},
		{"short password", RegisterInput{Email: "a@b.co", Password: "short", FullName: "a", StoreName: "a", StoreSlug: "a"}, []Code{CodeTooShort}},
		{"password over 72 bytes", RegisterInput{Email: "a@b.co", Password: long, FullName: "a", StoreName: "a", StoreSlug: "a"}, []Code{CodeTooLong}},
		{"bad slug", RegisterInput{Email: "a@b.co", Password: "long enough", FullName: "a", StoreName: "a", StoreSlug: "-Bad Slug"}, []Code{CodeInvalid}},
		{"reserved slug", RegisterInput{Email: "a@b.co", Password: "long enough", FullName: "a", StoreName: "a", StoreSlug: "admin"}, []Code{CodeTaken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Register(context.Background(), tc.in)
			require.Equal(t, tc.want, codes(err), "%v", err)
		})
	}
}

// sign makes a token with arbitrary claims and method, as an attacker would.
func sign(t *testing.T, method jwt.SigningMethod, key any, mutate func(c *Claims)) string {
	t.Helper()
	now := time.Now()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "omnisphere", Audience: jwt.ClaimStrings{"omnisphere-api"}, Subject: uuid.NewString(),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
		},
		Type: TypeAccess, Kind: KindStaff, Merchant: uuid.NewString(), Session: uuid.NewString(),
	}
	if mutate != nil {
		mutate(&c)
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestJWTRejections(t *testing.T) {
	f := newFixture(t, dbtest.SQLite)
	r := f.register(t, "acme")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ours := func(c *Claims) { c.Subject, c.Merchant = r.User.ID.String(), r.Merchant.ID.String() }
	cases := map[string]string{
		"alg none": sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ours),
		"HS512":    sign(t, jwt.SigningMethodHS512, secret, ours),
		"RS256":    sign(t, jwt.SigningMethodRS256, rsaKey, ours),
		"bad signature": func() string {
			s := r.Session.AccessToken
			return s[:len(s)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(s, "AAAA")]
		}(),
		"other secret":      sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-000"), ours),
		"expired":           sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }),
		"missing exp":       sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.ExpiresAt = nil }),
		"future nbf":        sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
		"future iat":        sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
		"wrong iss":         sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.Issuer = "evil" }),
		"wrong aud":         sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.Audience = jwt.ClaimStrings{"other"} }),
		"no type":           sign(t, jwt.SigningMethodHS256, secret, func(c *Claims) { ours(c); c.Type = "" }),
		"refresh as access": r.Session.RefreshToken,
		"garbage":           "not.a.jwt",
		"unknown session":   sign(t, jwt.SigningMethodHS256, secret, ours), // well-formed, but no such session
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Authenticate(context.Background(), tok)
			require.ErrorIs(t, err, ErrUnauthenticated)
		})
	}
	// And the genuine one passes.
	_, err = f.svc.Authenticate(context.Background(), r.Session.AccessToken)
	require.NoError(t, err)
}

func TestRefreshRotationAndReuseDetection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		r := f.register(t, "acme")
		first := r.Session
		f.clock.Add(time.Second) // new tokens differ from the old ones
		second, err := f.svc.Refresh(context.Background(), first.RefreshToken)
		require.NoError(t, err)
		require.NotEqual(t, first.RefreshToken, second.Session.RefreshToken)
		_, err = f.svc.Authenticate(context.Background(), second.Session.AccessToken)
		require.NoError(t, err)

		// The spent token again: reuse. The whole family is revoked, the
		// newest tokens included, and the reuse is audited.
		_, err = f.svc.Refresh(context.Background(), first.RefreshToken)
		require.Equal(t, []Code{CodeTokenReused}, codes(err))
		_, err = f.svc.Refresh(context.Background(), second.Session.RefreshToken)
		require.Equal(t, []Code{CodeInvalidToken}, codes(err))
		_, err = f.svc.Authenticate(context.Background(), second.Session.AccessToken)
		require.ErrorIs(t, err, ErrUnauthenticated)
		_, err = f.svc.Authenticate(context.Background(), first.AccessToken)
		require.ErrorIs(t, err, ErrUnauthenticated)
		staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID, UserID: r.User.ID})
		n, err := f.db.Client.AuditLog.Query().Where(auditlog.Action("refresh_token.reuse")).Count(staff)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// An access token is never a refresh token.
		_, err = f.svc.Refresh(context.Background(), second.Session.AccessToken)
		require.Equal(t, []Code{CodeInvalidToken}, codes(err))
	})
}

func TestConcurrentRefreshOfOneTokenIssuesOnePair(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		r := f.register(t, "acme")
		var wg sync.WaitGroup
		results := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.svc.Refresh(context.Background(), r.Session.RefreshToken)
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			if err == nil {
				ok++
				continue
			}
			if c := codes(err); len(c) != 1 || (c[0] != CodeTokenReused && c[0] != CodeInvalidToken) {
				// SQLite may report a busy database under this contention; it must not be a success.
				require.NotNil(t, err)
			}
		}
		require.LessOrEqual(t, ok, 1, "one refresh token produced %d pairs", ok)
	})
}

func TestLoginIsUniformAndThrottled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		r := f.register(t, "acme")
		ctx := ipCtx("10.0.0.7")
		_, err := f.svc.Login(ctx, "nobody@example.com", "whatever password")
		unknown, _ := IsUserError(err)
		_, err = f.svc.Login(ctx, "acme@example.com", "wrong password")
		wrong, _ := IsUserError(err)
		require.Equal(t, unknown, wrong, "unknown email and wrong password must answer alike")

		in, err := f.svc.Login(ctx, " ACME@example.com ", "correct horse battery")
		require.NoError(t, err)
		require.Equal(t, r.User.ID, in.User.ID)

		// LoginMaxAttempts (3) failures lock the account, even for the right
		// password, until the window drains.
		for i := 0; i < 2; i++ {
			_, err = f.svc.Login(ctx, "acme@example.com", "wrong password")
			require.Equal(t, []Code{CodeInvalidCredentials}, codes(err))
		}
		_, err = f.svc.Login(ctx, "acme@example.com", "correct horse battery")
		var rl *ErrRateLimited
		require.ErrorAs(t, err, &rl)
		require.Greater(t, rl.RetryAfter, time.Duration(0))
		staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID})
		n, err := f.db.Client.AuditLog.Query().Where(auditlog.Action("user.login_failed")).Count(staff)
		require.NoError(t, err)
		require.Equal(t, 3, n)
	})
}

func TestLoginThrottledPerIP(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLite)
	svc, err := New(d.Client, ratelimit.NewMemory(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		Config{Secret: secret, BcryptCost: 10, LoginMaxAttempts: 100, LoginMaxPerIP: 3})
	require.NoError(t, err)
	ctx := ipCtx("192.0.2.1")
	for i := 0; i < 3; i++ {
		_, err := svc.Login(ctx, fmt.Sprintf("user%d@example.com", i), "whatever password")
		require.Equal(t, []Code{CodeInvalidCredentials}, codes(err))
	}
	_, err = svc.Login(ctx, "user9@example.com", "whatever password")
	var rl *ErrRateLimited
	require.ErrorAs(t, err, &rl)
	// Another IP is unaffected.
	_, err = svc.Login(ipCtx("192.0.2.2"), "user9@example.com", "whatever password")
	require.Equal(t, []Code{CodeInvalidCredentials}, codes(err))
}

func TestAPIKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		r := f.register(t, "acme")
		staff := viewer.NewContext(ipCtx("10.0.0.1"), viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID, UserID: r.User.ID})
		secretKey, key, err := f.svc.CreateKey(staff, CreateKeyInput{Name: "ERP", Permissions: []string{"orders:read", "products:read"}})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(secretKey, SecretKeyPrefix))

		v, err := f.svc.Authenticate(context.Background(), secretKey)
		require.NoError(t, err)
		require.Equal(t, viewer.APIKey, v.Kind)
		require.True(t, v.Can("orders:read"))
		require.False(t, v.Can("orders:write"))

		// Nothing but the hash and the lookup prefix is stored.
		requireNotStored(t, f.db, secretKey)
		requireNotStored(t, f.db, r.StorefrontKey)
		requireNotStored(t, f.db, r.Session.RefreshToken)

		// A near miss fails; an unknown permission is a user error; a key
		// cannot grant what its creator lacks.
		_, err = f.svc.Authenticate(context.Background(), secretKey[:len(secretKey)-1]+"x")
		require.ErrorIs(t, err, ErrUnauthenticated)
		_, _, err = f.svc.CreateKey(staff, CreateKeyInput{Name: "x", Permissions: []string{"root"}})
		require.Equal(t, []Code{CodeUnknownPermission}, codes(err))
		keyCtx := viewer.NewContext(context.Background(), v)
		_, _, err = f.svc.CreateKey(keyCtx, CreateKeyInput{Name: "x", Permissions: []string{"orders:write"}})
		require.Equal(t, []Code{CodeInvalid}, codes(err))

		// Revocation is effective at once.
		_, err = f.svc.RevokeKey(staff, key.ID)
		require.NoError(t, err)
		_, err = f.svc.Authenticate(context.Background(), secretKey)
		require.ErrorIs(t, err, ErrUnauthenticated)

		// Expiry.
		soon := f.clock.Now().Add(time.Hour)
		exp, _, err := f.svc.CreateKey(staff, CreateKeyInput{Name: "temp", Permissions: []string{"orders:read"}, ExpiresAt: &soon})
		require.NoError(t, err)
		_, err = f.svc.Authenticate(context.Background(), exp)
		require.NoError(t, err)
		f.clock.Add(2 * time.Hour)
		_, err = f.svc.Authenticate(context.Background(), exp)
		require.ErrorIs(t, err, ErrUnauthenticated)

		n, err := f.db.Client.AuditLog.Query().Where(auditlog.ActionIn("api_key.create", "api_key.revoke")).Count(staff)
		require.NoError(t, err)
		require.Equal(t, 3, n)
	})
}

// requireNotStored scans every text column of every table for s.
func requireNotStored(t *testing.T, d *db.DB, s string) {
	t.Helper()
	sys := viewer.SystemContext(context.Background(), "test scan")
	keys, err := d.Client.APIKey.Query().All(sys)
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k.KeyHash, s)
		require.NotEqual(t, s, k.Prefix)
	}
	tokens, err := d.Client.RefreshToken.Query().All(sys)
	require.NoError(t, err)
	for _, tk := range tokens {
		require.NotEqual(t, s, tk.TokenHash)
	}
	logs, err := d.Client.AuditLog.Query().All(sys)
	require.NoError(t, err)
	for _, l := range logs {
		require.NotContains(t, fmt.Sprint(l.Metadata), s)
	}
	if d.Dialect == "sqlite3" || d.Dialect == "sqlite" {
		// The raw file holds no plaintext either.
		var n int
		require.NoError(t, d.SQL.QueryRow(`SELECT count(*) FROM api_keys WHERE key_hash = ? OR prefix = ?`, s, s).Scan(&n))
		require.Zero(t, n)
	}
	_ = sql.ErrNoRows
}

func TestCustomersArePerStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		a, b := f.register(t, "acme"), f.register(t, "bolt")
		storeA := viewer.NewContext(ipCtx("10.1.1.1"), viewer.Viewer{MerchantID: a.Merchant.ID})
		storeB := viewer.NewContext(ipCtx("10.1.1.1"), viewer.Viewer{MerchantID: b.Merchant.ID})
		ca, err := f.svc.RegisterCustomer(storeA, CustomerRegisterInput{Email: "ann@example.com", Password: "password one"})
		require.NoError(t, err)
		cb, err := f.svc.RegisterCustomer(storeB, CustomerRegisterInput{Email: "ann@example.com", Password: "password two"})
		require.NoError(t, err)
		require.NotEqual(t, ca.Customer.ID, cb.Customer.ID)
		_, err = f.svc.RegisterCustomer(storeA, CustomerRegisterInput{Email: "ANN@example.com", Password: "password three"})
		require.Equal(t, []Code{CodeTaken}, codes(err))

		// Each password works in its own store only.
		_, err = f.svc.LoginCustomer(storeA, "ann@example.com", "password two")
		require.Equal(t, []Code{CodeInvalidCredentials}, codes(err))
		in, err := f.svc.LoginCustomer(storeA, "ann@example.com", "password one")
		require.NoError(t, err)
		v, err := f.svc.Authenticate(context.Background(), in.Session.AccessToken)
		require.NoError(t, err)
		require.Equal(t, viewer.Viewer{Kind: viewer.Customer, MerchantID: a.Merchant.ID, CustomerID: ca.Customer.ID, SessionID: v.SessionID}, v)

		// A customer reads their own profile, not another's, and nothing of
		// the staff's.
		cctx := viewer.NewContext(context.Background(), v)
		other, err := f.svc.RegisterCustomer(storeA, CustomerRegisterInput{Email: "bob@example.com", Password: "password bob"})
		require.NoError(t, err)
		got, err := f.db.Client.Customer.Query().All(cctx)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, ca.Customer.ID, got[0].ID)
		_, err = f.db.Client.Customer.Get(cctx, other.Customer.ID)
		require.True(t, ent.IsNotFound(err), "%v", err)
		_, err = f.db.Client.User.Query().All(cctx)
		require.ErrorIs(t, err, viewer.ErrStaffOnly)
		_, err = f.db.Client.Customer.UpdateOneID(other.Customer.ID).SetFirstName("x").Save(cctx)
		require.ErrorIs(t, err, viewer.ErrStaffOnly)
	})
}

func TestAccountDeletion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		r := f.register(t, "acme")
		v, err := f.svc.Authenticate(context.Background(), r.Session.AccessToken)
		require.NoError(t, err)
		ctx := viewer.NewContext(ipCtx("10.0.0.1"), v)
		_, err = f.svc.DeleteUser(ctx, "wrong password")
		require.Equal(t, []Code{CodeInvalidCredentials}, codes(err))
		closed, err := f.svc.DeleteUser(ctx, "correct horse battery")
		require.NoError(t, err)
		require.True(t, closed, "the last owner leaving closes the store")
		_, err = f.svc.Authenticate(context.Background(), r.Session.AccessToken)
		require.ErrorIs(t, err, ErrUnauthenticated)
		_, err = f.svc.Login(ipCtx("10.0.0.2"), "acme@example.com", "correct horse battery")
		require.Equal(t, []Code{CodeInvalidCredentials}, codes(err))
		_, err = f.svc.AuthenticateStorefrontKey(context.Background(), r.StorefrontKey)
		require.ErrorIs(t, err, ErrUnauthenticated)

		sys := viewer.SystemContext(context.Background(), "test")
		u, err := f.db.Client.User.Get(sys, r.User.ID)
		require.NoError(t, err)
		require.NotContains(t, u.Email, "acme@example.com")
		require.Empty(t, u.FullName)
		require.Empty(t, u.PasswordHash)
		n, err := f.db.Client.AuditLog.Query().Where(auditlog.Action("account.delete"), auditlog.ActorID(r.User.ID)).Count(sys)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the deletion is audited and the entry survives")
	})
}

func TestStorefrontKeyCacheExpires(t *testing.T) {
	f := newFixture(t, dbtest.SQLite)
	r := f.register(t, "acme")
	v, err := f.svc.AuthenticateStorefrontKey(context.Background(), r.StorefrontKey)
	require.NoError(t, err)
	require.Equal(t, r.Merchant.ID, v.MerchantID)
	_, err = f.svc.AuthenticateStoreSlug(context.Background(), "acme")
	require.NoError(t, err)
	// Revoke the publishable key: it keeps identifying the store only until
	// the cache entry expires.
	staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID, UserID: r.User.ID})
	keys, err := f.db.Client.APIKey.Query().All(staff)
	require.NoError(t, err)
	_, err = f.svc.RevokeKey(staff, keys[0].ID)
	require.NoError(t, err)
	_, err = f.svc.AuthenticateStorefrontKey(context.Background(), r.StorefrontKey)
	require.NoError(t, err, "cached for StoreCacheTTL")
	f.clock.Add(StoreCacheTTL)
	_, err = f.svc.AuthenticateStorefrontKey(context.Background(), r.StorefrontKey)
	require.ErrorIs(t, err, ErrUnauthenticated)
}

// TestStorefrontSettingsCache: a store's storefront settings are read once
// per StoreCacheTTL; a change reaches this process at once through
// ForgetStorefront, and any other process when its entry expires.
func TestStorefrontSettingsCache(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			f := newFixture(t, b)
			r := f.register(t, "acme")
			ctx := context.Background()
			st, err := f.svc.Storefront(ctx, r.Merchant.ID)
			require.NoError(t, err)
			require.Equal(t, viewer.Storefront{Closed: true}, st, "a registered store starts unpublished and shows stock")

			staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID, UserID: r.User.ID})
			require.NoError(t, f.db.Client.StorefrontConfig.Update().SetPublished(true).SetShowStockQuantity(false).Exec(staff))
			before := f.db.Statements()
			st, err = f.svc.Storefront(ctx, r.Merchant.ID)
			require.NoError(t, err)
			require.Equal(t, viewer.Storefront{Closed: true}, st, "cached for StoreCacheTTL")
			require.Equal(t, before, f.db.Statements(), "a cached answer costs no statement")

			f.clock.Add(StoreCacheTTL) // another process: its entry expires
			st, err = f.svc.Storefront(ctx, r.Merchant.ID)
			require.NoError(t, err)
			require.Equal(t, viewer.Storefront{HideStockQuantity: true}, st)

			require.NoError(t, f.db.Client.StorefrontConfig.Update().SetPublished(false).Exec(staff))
			f.svc.ForgetStorefront(r.Merchant.ID) // the process that made the change
			st, err = f.svc.Storefront(ctx, r.Merchant.ID)
			require.NoError(t, err)
			require.Equal(t, viewer.Storefront{Closed: true, HideStockQuantity: true}, st)

			// A store without settings is closed.
			st, err = f.svc.Storefront(ctx, uuid.New())
			require.NoError(t, err)
			require.True(t, st.Closed)
		})
	}
}

package auth

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Benchmarks of the per-request credential checks (run with -bench .; on
// PostgreSQL too when TEST_DATABASE_URL is set).
func BenchmarkAuthenticate(b *testing.B) {
	for _, be := range dbtest.Backends() {
		b.Run(string(be), func(b *testing.B) {
			d := dbtest.Open(b, be)
			svc, err := New(d.Client, ratelimit.NewMemory(), slog.New(slog.NewTextHandler(io.Discard, nil)),
				Config{Secret: secret, BcryptCost: 10})
			if err != nil {
				b.Fatal(err)
			}
			r, err := svc.Register(context.Background(), RegisterInput{Email: "b@example.com", Password: "correct horse battery",
				FullName: "B", StoreName: "B", StoreSlug: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: r.Merchant.ID, UserID: r.User.ID})
			key, _, err := svc.CreateKey(staff, CreateKeyInput{Name: "k", Permissions: []string{"products:read"}})
			if err != nil {
				b.Fatal(err)
			}
			for name, cred := range map[string]string{"access-token": r.Session.AccessToken, "api-key": key, "storefront-key": r.StorefrontKey} {
				b.Run(name, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						if _, err := svc.Authenticate(context.Background(), cred); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkPasswordVerify is the CPU one login costs at the default cost.
func BenchmarkPasswordVerify(b *testing.B) {
	h, err := newHasher(12, 1)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := h.hash(context.Background(), "correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := h.verify(context.Background(), hash, "wrong password"); err != nil {
			b.Fatal(err)
		}
	}
}

// Package seed fills a database with ready-made stores: the demo store that
// the embedded default opens with (Demo), and the deterministic benchmark
// catalogue of ../shared/bench/DATASET.md (Bench). Both create their own
// merchant through internal/auth's registration and then write as that
// merchant's staff, so the tenant guards of the data layer apply as they do
// to any request; neither knows about HTTP or GraphQL.
package seed

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/user"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// ErrExists reports that a seed's store already exists in a state the seed
// cannot complete without overwriting it (Bench with another product count).
var ErrExists = errors.New("seed: the store already exists")

// store is a merchant a seeder writes to, with a staff context to write in.
type store struct {
	merchant *ent.MerchantAccount
	owner    uuid.UUID
	// registered: the store was created by this run (its key and password
	// are new); false: it was found.
	registered    bool
	storefrontKey string
	password      string
	email         string
}

// staff returns ctx acting as the store's owner.
func (s *store) staff(ctx context.Context) context.Context {
	return viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: s.merchant.ID, UserID: s.owner})
}

// findOrRegister returns the store with the given slug, registering it (owner
// email, a generated password) when there is none.
func findOrRegister(ctx context.Context, client *ent.Client, a *auth.Service, slug, storeName, email, fullName string) (*store, error) {
	sys := viewer.SystemContext(ctx, "seed: find store "+slug)
	m, err := client.MerchantAccount.Query().Where(merchantaccount.Slug(slug)).Only(sys)
	switch {
	case err == nil:
		owner, err := client.User.Query().
			Where(user.MerchantID(m.ID), user.RoleEQ(user.RoleOWNER), user.StatusEQ(user.StatusACTIVE)).
			Order(ent.Asc(user.FieldCreatedAt)).First(sys)
		if err != nil {
			return nil, fmt.Errorf("seed: owner of store %q: %w", slug, err)
		}
		return &store{merchant: m, owner: owner.ID, email: owner.Email}, nil
	case !ent.IsNotFound(err):
		return nil, fmt.Errorf("seed: find store %q: %w", slug, err)
	}
	password := Password()
	r, err := a.Register(ctx, auth.RegisterInput{
		Email: email, Password: password, FullName: fullName, StoreName: storeName, StoreSlug: slug,
	})
	if err != nil {
		return nil, fmt.Errorf("seed: register store %q: %w", slug, err)
	}
	return &store{merchant: r.Merchant, owner: r.User.ID, registered: true,
		storefrontKey: r.StorefrontKey, password: password, email: r.User.Email}, nil
}

// newStorefrontKey issues a publishable key for a store found by a later run:
// keys are stored hashed and shown once, so an existing one cannot be
// printed again.
func newStorefrontKey(ctx context.Context, a *auth.Service, s *store, name string) (string, error) {
	key, _, err := a.CreateKey(s.staff(ctx), auth.CreateKeyInput{Name: name, Publishable: true})
	if err != nil {
		return "", fmt.Errorf("seed: storefront key: %w", err)
	}
	return key, nil
}

// Password returns a random 20-character password for a seeded account.
func Password() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// Slugify lower-cases s, replaces every run of characters other than ASCII
// letters and digits with "-" and trims leading and trailing dashes: the
// slug rule of the benchmark dataset.
func Slugify(s string) string {
	return strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// chunks calls fn for each consecutive slice of at most size elements of xs.
func chunks[T any](xs []T, size int, fn func([]T) error) error {
	for start := 0; start < len(xs); start += size {
		end := min(start+size, len(xs))
		if err := fn(xs[start:end]); err != nil {
			return err
		}
	}
	return nil
}

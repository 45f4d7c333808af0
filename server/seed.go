package server

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/omnisphere/omnisphere/internal/seed"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// This file wires the seeders of internal/seed to the server: the demo store
// that an empty embedded database opens with, and the two `seed`
// subcommands of main.

// SeedOnStart seeds the demo store when the server starts on the embedded
// default with an empty database (no store at all) and demo is on (main's
// --no-demo turns it off). It never seeds PostgreSQL: there the demo store
// is only created when asked (`omnisphere seed demo`). The credentials go to
// w (main passes stderr: stdout carries the JSON logs) and to the log.
// A failed seed is logged and does not stop the server. It returns what was
// seeded, nil when nothing was.
func (s *Server) SeedOnStart(ctx context.Context, demo bool, w io.Writer) *seed.DemoResult {
	if !demo || !s.Config.Embedded() {
		return nil
	}
	n, err := s.DB.Client.MerchantAccount.Query().Count(viewer.SystemLookupContext(ctx, "seed: is the database empty"))
	if err != nil {
		s.Log.ErrorContext(ctx, "demo store: cannot tell whether the database is empty", "error", err)
		return nil
	}
	if n > 0 {
		return nil
	}
	res, err := s.SeedDemo(ctx, w)
	if err != nil {
		s.Log.ErrorContext(ctx, "demo store not seeded", "error", err)
		return nil
	}
	return res
}

// SeedDemo creates the demo store (`omnisphere seed demo`, and SeedOnStart)
// and writes how to use it to w. It does nothing but say so when the demo
// store already exists.
func (s *Server) SeedDemo(ctx context.Context, w io.Writer) (*seed.DemoResult, error) {
	start := time.Now()
	res, err := seed.Demo(ctx, seed.DemoDeps{
		Client:   s.DB.Client,
		Auth:     s.Auth,
		Catalog:  s.Catalog,
		MediaDir: s.mediaRoot(),
	}, seed.DemoOptions{})
	if err != nil {
		return nil, err
	}
	if !res.Seeded {
		fmt.Fprintf(w, "demo store %q already exists: nothing done\n", res.Slug)
		return res, nil
	}
	s.seededKey.Store(&seededStoreKey{slug: res.Slug, key: res.StorefrontKey})
	base := fmt.Sprintf("http://localhost:%d", s.Config.Port)
	fmt.Fprintf(w, `
  OmniSphere demo store %q is ready (%d products, seeded in %s)
    storefront       %s/store
    dashboard        %s/admin
    playground       %s/playground
    merchant login   %s  password %s
    storefront key   X-Storefront-Key: %s   (or X-Store-Slug: %s)
    customer login   %s  password %s

`, res.Slug, res.Products, time.Since(start).Round(time.Millisecond), base, base, base,
		res.Email, res.Password, res.StorefrontKey, res.Slug, res.CustomerEmail, res.CustomerPassword)
	attrs := []any{"store", res.Slug, "products", res.Products, "merchant_email", res.Email,
		"storefront_key", res.StorefrontKey, "customer_email", res.CustomerEmail}
	if s.Config.Embedded() {
		// The embedded default is a local demo: the throwaway passwords are
		// logged too, so that they can be found again.
		attrs = append(attrs, "merchant_password", res.Password, "customer_password", res.CustomerPassword)
	}
	s.Log.InfoContext(ctx, "demo store seeded", attrs...)
	return res, nil
}

// SeedBench creates the benchmark catalogue of n products in the store slug
// (`omnisphere seed bench --products N`) and writes its storefront key to w.
func (s *Server) SeedBench(ctx context.Context, n int, slug string, w io.Writer) error {
	start := time.Now()
	res, err := seed.Bench(ctx, s.DB.Client, s.Auth, seed.BenchOptions{Products: n, Slug: slug})
	if err != nil {
		return err
	}
	if res.Seeded {
		if err := s.DB.Analyze(ctx); err != nil {
			return err
		}
	}
	if res.Seeded {
		fmt.Fprintf(w, "bench catalogue: %d products created in store %q in %s\n",
			res.Products, res.Slug, time.Since(start).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "bench catalogue: store %q already holds these %d products: nothing written; issued a new storefront key\n",
			res.Slug, res.Products)
	}
	fmt.Fprintf(w, "merchant id: %s\nstore slug: %s\nstorefront key: %s\n", res.MerchantID, res.Slug, res.StorefrontKey)
	if res.Password != "" {
		fmt.Fprintf(w, "owner login: %s password %s\n", res.Email, res.Password)
	}
	s.Log.InfoContext(ctx, "bench catalogue", "store", res.Slug, "products", res.Products, "seeded", res.Seeded)
	return nil
}

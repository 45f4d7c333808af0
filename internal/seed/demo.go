package seed

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// demoJSONL is the demo catalogue in the import format of docs/catalog.md:
// it goes through catalog.(*Service).Import like any merchant's file.
//
//go:embed demo.jsonl
var demoJSONL []byte

// DemoSlug is the demo store's slug.
const DemoSlug = "demo"

// DemoDeps are what Demo writes through.
type DemoDeps struct {
	Client  *ent.Client
	Auth    *auth.Service
	Catalog *catalog.Service
	// MediaDir is the directory served at /media; the demo's images are
	// written to MediaDir/demo and referenced as /media/demo/<name>.png.
	MediaDir string
}

// DemoOptions says what Demo creates.
type DemoOptions struct {
	// Slug is the store's slug (DemoSlug).
	Slug string
}

// DemoResult says what Demo did and how to use the store.
type DemoResult struct {
	MerchantID uuid.UUID
	Slug       string
	// Seeded is false when the store already existed: nothing was written
	// and the fields below the slug are empty.
	Seeded           bool
	Products         int
	StorefrontKey    string
	Email, Password  string // the merchant owner's login
	CustomerEmail    string // a storefront customer account
	CustomerPassword string
}

// Demo creates the demo store: a merchant with a generated password, a
// small category tree, ~50 products with Size/Color variants and images
// (imported from the embedded demo.jsonl through the catalogue importer),
// stock in the default warehouse, two shipping methods, a published
// storefront and a customer account. When the store exists it does nothing.
func Demo(ctx context.Context, d DemoDeps, opts DemoOptions) (*DemoResult, error) {
	if opts.Slug == "" {
		opts.Slug = DemoSlug
	}
	s, err := findOrRegister(ctx, d.Client, d.Auth, opts.Slug, "OmniSphere Demo Store",
		"owner@"+opts.Slug+".omnisphere.test", "Demo Owner")
	if err != nil {
		return nil, err
	}
	res := &DemoResult{MerchantID: s.merchant.ID, Slug: opts.Slug}
	if !s.registered {
		return res, nil
	}
	res.Seeded, res.StorefrontKey, res.Email, res.Password = true, s.storefrontKey, s.email, s.password

	if err := writeDemoImages(filepath.Join(d.MediaDir, "demo")); err != nil {
		return nil, err
	}
	sctx := s.staff(ctx)
	if err := writeDemoCategories(sctx, d.Catalog); err != nil {
		return nil, err
	}
	if err := writeDemoStorefront(sctx, d.Catalog); err != nil {
		return nil, err
	}
	if err := db.InTx(sctx, d.Client, func(c *ent.Client) error { return writeDemoShipping(sctx, c) }); err != nil {
		return nil, err
	}
	imported, err := d.Catalog.Import(sctx, bytes.NewReader(demoJSONL), catalog.FormatJSONL)
	if err != nil {
		return nil, fmt.Errorf("seed: import the demo catalogue: %w", err)
	}
	if imported.Failed > 0 {
		var msgs []string
		for _, e := range imported.Errors {
			msgs = append(msgs, fmt.Sprintf("row %d %s: %s (%s)", e.Row, e.Field, e.Message, e.Code))
		}
		return nil, fmt.Errorf("seed: the demo catalogue has %d bad rows: %s", imported.Failed, strings.Join(msgs, "; "))
	}
	res.Products = imported.Created + imported.Updated

	res.CustomerEmail, res.CustomerPassword = "customer@"+opts.Slug+".omnisphere.test", Password()
	visitor := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Anonymous, MerchantID: s.merchant.ID})
	if _, err := d.Auth.RegisterCustomer(visitor, auth.CustomerRegisterInput{
		Email: res.CustomerEmail, Password: res.CustomerPassword, FirstName: "Casey", LastName: "Customer",
		AcceptsMarketing: true,
	}); err != nil {
		return nil, fmt.Errorf("seed: demo customer: %w", err)
	}
	return res, nil
}

// demoCategories is the demo's category tree, parents first; demo.jsonl
// files its products under these slugs.
var demoCategories = []struct{ slug, name, parent, description string }{
	{"apparel", "Apparel", "", "Tees, hoodies, hats and jackets."},
	{"t-shirts", "T-Shirts", "apparel", ""},
	{"hoodies", "Hoodies & Sweatshirts", "apparel", ""},
	{"hats", "Hats", "apparel", ""},
	{"home", "Home", "", "For the kitchen and the living room."},
	{"kitchen", "Kitchen", "home", ""},
	{"decor", "Decor", "home", ""},
	{"accessories", "Accessories", "", "Bags, socks, belts and more."},
	{"bags", "Bags", "accessories", ""},
	{"stationery", "Stationery", "", "Notebooks, pens and desk things."},
}

// writeDemoCategories creates the category tree through the catalogue
// service (slugs, positions and the tree rules are its).
func writeDemoCategories(ctx context.Context, svc *catalog.Service) error {
	ids := map[string]uuid.UUID{}
	for _, c := range demoCategories {
		in := catalog.CategoryInput{Name: &c.name, Slug: &c.slug}
		if c.parent != "" {
			in.ParentID = catalog.Val(ids[c.parent])
		}
		if c.description != "" {
			in.Description = catalog.Val(c.description)
		}
		cat, err := svc.CreateCategory(ctx, in)
		if err != nil {
			return fmt.Errorf("seed: demo category %s: %w", c.slug, err)
		}
		ids[c.slug] = cat.ID
	}
	return nil
}

// writeDemoStorefront publishes the storefront with a theme and branding of
// the shapes docs/catalog.md documents.
func writeDemoStorefront(ctx context.Context, svc *catalog.Service) error {
	name, usd, tax, yes := "OmniSphere Demo Store", "USD", 0, true
	_, err := svc.UpdateStorefrontConfig(ctx, catalog.StorefrontInput{
		StoreName:        &name,
		StoreDescription: catalog.Val("Everyday goods for a demo: apparel, home, accessories and stationery."),
		SupportEmail:     catalog.Val("support@demo.omnisphere.test"),
		Currency:         &usd,
		TaxRateBps:       &tax,
		GuestCheckout:    &yes,
		Published:        &yes,
		SEOTitle:         catalog.Val(name),
		SEODescription:   catalog.Val("A demo storefront served by OmniSphere, the GraphQL commerce backend."),
		Theme: catalog.Val(map[string]any{
			"colors":       map[string]any{"primary": "#1f2d5a", "accent": "#ef7d22", "background": "#ffffff", "text": "#222222"},
			"fonts":        map[string]any{"heading": "Inter", "body": "Inter"},
			"layout":       map[string]any{"productGrid": "grid", "productsPerRow": 4, "header": "left", "showVendor": false},
			"borderRadius": 6, "mode": "light",
		}),
		Branding: catalog.Val(map[string]any{
			"logoUrl": "/media/demo/navy.png", "faviconUrl": "/media/demo/orange.png",
			"colors":  map[string]any{"primary": "#1f2d5a", "secondary": "#f4f4f0"},
			"tagline": "Everyday goods, demo prices",
		}),
	})
	if err != nil {
		return fmt.Errorf("seed: demo storefront: %w", err)
	}
	return nil
}

// writeDemoShipping gives the default warehouse an address and creates the
// two shipping methods.
func writeDemoShipping(ctx context.Context, c *ent.Client) error {
	wh, err := defaultWarehouse(ctx, c)
	if err != nil {
		return err
	}
	if err := c.Warehouse.UpdateOne(wh).SetName("Main warehouse").SetAddress1("1 Demo Way").
		SetCity("Portland").SetProvince("OR").SetPostalCode("97201").SetCountryCode("US").Exec(ctx); err != nil {
		return fmt.Errorf("seed: demo warehouse: %w", err)
	}
	for _, m := range []shippingSpec{
		{code: "standard", name: "Standard (3–5 days)", description: "Tracked ground shipping.",
			price: 500, daysMin: 3, daysMax: 5, position: 0},
		{code: "express", name: "Express (1–2 days)", description: "Tracked express shipping.",
			price: 1500, daysMin: 1, daysMax: 2, position: 1},
	} {
		if err := ensureShipping(ctx, c, m); err != nil {
			return err
		}
	}
	return nil
}

// demoColors are the demo's images: one solid 64×64 PNG per colour, written
// at seed time so that the demo works offline.
var demoColors = []struct {
	name string
	rgb  color.RGBA
}{
	{"black", color.RGBA{0x22, 0x22, 0x22, 0xff}},
	{"white", color.RGBA{0xf4, 0xf4, 0xf0, 0xff}},
	{"grey", color.RGBA{0x9e, 0x9e, 0x9e, 0xff}},
	{"navy", color.RGBA{0x1f, 0x2d, 0x5a, 0xff}},
	{"blue", color.RGBA{0x3b, 0x82, 0xd6, 0xff}},
	{"red", color.RGBA{0xc6, 0x28, 0x28, 0xff}},
	{"green", color.RGBA{0x2e, 0x7d, 0x32, 0xff}},
	{"olive", color.RGBA{0x80, 0x80, 0x3a, 0xff}},
	{"yellow", color.RGBA{0xf2, 0xc9, 0x4c, 0xff}},
	{"orange", color.RGBA{0xef, 0x7d, 0x22, 0xff}},
	{"pink", color.RGBA{0xf0, 0x9a, 0xb8, 0xff}},
	{"purple", color.RGBA{0x6a, 0x3d, 0x9a, 0xff}},
	{"brown", color.RGBA{0x79, 0x55, 0x48, 0xff}},
	{"sand", color.RGBA{0xd8, 0xc3, 0x9a, 0xff}},
	{"teal", color.RGBA{0x1f, 0x8a, 0x8a, 0xff}},
}

// writeDemoImages writes the colour swatches into dir (kept if present).
func writeDemoImages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("seed: media directory: %w", err)
	}
	for _, c := range demoColors {
		path := filepath.Join(dir, c.name+".png")
		if _, err := os.Stat(path); err == nil {
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("seed: %w", err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, swatch(c.rgb)); err != nil {
			return fmt.Errorf("seed: encode %s: %w", path, err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// swatch is a 64×64 square of c with a slightly darker 2-pixel frame.
func swatch(c color.RGBA) image.Image {
	const size, frame = 64, 2
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	dark := color.RGBA{c.R / 10 * 8, c.G / 10 * 8, c.B / 10 * 8, 0xff}
	for y := range size {
		for x := range size {
			if x < frame || y < frame || x >= size-frame || y >= size-frame {
				img.SetRGBA(x, y, dark)
			} else {
				img.SetRGBA(x, y, c)
			}
		}
	}
	return img
}

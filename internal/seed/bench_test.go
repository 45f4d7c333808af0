package seed

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/shippingmethod"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// testdata/bench-dataset.json.gz is ../shared/bench/dataset.json (sha256
// c32ffa1a…e15c4), gzipped: the canonical rows for N = 1000.
func loadDataset(t *testing.T) BenchDataset {
	t.Helper()
	f, err := os.Open("testdata/bench-dataset.json.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var d BenchDataset
	dec := json.NewDecoder(zr)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&d))
	require.Len(t, d.Products, 1000)
	return d
}

func TestSlugify(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Amber Anchor 0001", "amber-anchor-0001"},
		{"  Tea -- & Coffee!  ", "tea-coffee"},
		{"Crème brûlée", "cr-me-br-l-e"},
		{"---", ""},
	} {
		t.Run(tc.in, func(t *testing.T) { require.Equal(t, tc.want, Slugify(tc.in)) })
	}
}

func TestBenchCatalogueIsTheDataset(t *testing.T) {
	want := loadDataset(t)
	got := BenchCatalogue(1000)
	require.Equal(t, want.Categories, got.Categories)
	for i := range want.Products {
		require.Equal(t, want.Products[i], got.Products[i], "product %d", i+1)
	}
	// Smaller N is a prefix.
	require.Equal(t, want.Products[:7], BenchCatalogue(7).Products)

	names := make([]string, len(got.Products))
	for i, p := range got.Products {
		names[i] = p.Name
	}
	sort.Strings(names)
	require.Equal(t, []string{"Amber Anchor 0001", "Amber Apron 0651", "Amber Basket 0026"}, names[:3])
}

func newAuth(t *testing.T, d *db.DB) *auth.Service {
	t.Helper()
	a, err := auth.New(d.Client, ratelimit.NewMemory(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		auth.Config{Secret: []byte("0123456789abcdef0123456789abcdef-test"), BcryptCost: 10})
	require.NoError(t, err)
	return a
}

// readBench reads a seeded store back into the dataset's shape, checking on
// the way what the dataset does not carry (status, aggregates, options).
func readBench(t *testing.T, ctx context.Context, c *ent.Client) BenchDataset {
	t.Helper()
	var out BenchDataset
	cats, err := c.ProductCategory.Query().Order(ent.Asc("position")).All(ctx)
	require.NoError(t, err)
	for _, cat := range cats {
		require.Nil(t, cat.ParentID)
		out.Categories = append(out.Categories, BenchCategory{Index: cat.Position, Name: cat.Name, Slug: cat.Slug})
	}
	products, err := c.Product.Query().WithCategory().
		WithVariants(func(q *ent.ProductVariantQuery) {
			q.Order(ent.Asc(productvariant.FieldPosition)).WithInventoryLevels()
		}).All(ctx)
	require.NoError(t, err)
	now := time.Now()
	for _, p := range products {
		require.Equal(t, "ACTIVE", p.Status.String(), p.Title)
		require.NotNil(t, p.PublishedAt)
		require.True(t, p.PublishedAt.Before(now))
		require.Equal(t, "USD", p.Currency)
		require.Equal(t, []map[string]any{{"name": "Size", "values": []any{"S", "M", "L"}}}, p.Options)
		idx, err := strconv.Atoi(p.Title[len(p.Title)-4:])
		require.NoError(t, err)
		bp := BenchProduct{Index: idx, Name: p.Title, Slug: p.Slug, Description: p.Description,
			Category: p.Edges.Category.Slug}
		minP, maxP, total := int64(-1), int64(0), 0
		for _, v := range p.Edges.Variants {
			require.Len(t, v.Edges.InventoryLevels, 1, v.Sku)
			lvl := v.Edges.InventoryLevels[0]
			require.Zero(t, lvl.QuantityReserved)
			require.Equal(t, "USD", v.Currency)
			size, _ := v.OptionValues["Size"].(string)
			bp.Variants = append(bp.Variants, BenchVariant{SKU: v.Sku, Name: v.Title, Option: size,
				Price: v.Price, Stock: lvl.QuantityOnHand})
			if minP < 0 || v.Price < minP {
				minP = v.Price
			}
			maxP = max(maxP, v.Price)
			total += lvl.QuantityOnHand
		}
		require.Equal(t, minP, p.PriceMin, p.Title)
		require.Equal(t, maxP, p.PriceMax, p.Title)
		require.Equal(t, total, p.TotalInventory, p.Title)
		out.Products = append(out.Products, bp)
	}
	sort.Slice(out.Products, func(i, j int) bool { return out.Products[i].Index < out.Products[j].Index })
	return out
}

func TestBenchSeedsTheDataset(t *testing.T) {
	want := loadDataset(t)
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			a := newAuth(t, d)
			ctx := context.Background()

			start := time.Now()
			res, err := Bench(ctx, d.Client, a, BenchOptions{Products: 1000})
			require.NoError(t, err)
			t.Logf("%s: seeded 1000 products in %s", b, time.Since(start).Round(time.Millisecond))
			require.True(t, res.Seeded)
			require.Equal(t, "bench", res.Slug)
			require.NotEmpty(t, res.Password)

			// The key printed is the store's storefront key.
			v, err := a.AuthenticateStorefrontKey(ctx, res.StorefrontKey)
			require.NoError(t, err)
			require.Equal(t, res.MerchantID, v.MerchantID)
			require.Equal(t, viewer.Anonymous, v.Kind)

			// Every row, read back as a storefront visitor, is the dataset's.
			vctx := viewer.NewContext(ctx, v)
			got := readBench(t, vctx, d.Client)
			require.Equal(t, want.Categories, got.Categories)
			require.Len(t, got.Products, 1000)
			for i := range want.Products {
				require.Equal(t, want.Products[i], got.Products[i], "product %d", i+1)
			}

			ship, err := d.Client.ShippingMethod.Query().Where(shippingmethod.Code(BenchShippingCode)).Only(vctx)
			require.NoError(t, err)
			require.EqualValues(t, 500, ship.Price)
			require.Equal(t, "USD", ship.Currency)
			require.Equal(t, []string{"US"}, ship.Countries)
			require.True(t, ship.Active)
			cfg, err := d.Client.StorefrontConfig.Query().Only(vctx)
			require.NoError(t, err)
			require.Equal(t, "USD", cfg.Currency)
			require.Zero(t, cfg.TaxRateBps)
			require.True(t, cfg.Published)

			// Again with the same N: nothing written, a new working key.
			again, err := Bench(ctx, d.Client, a, BenchOptions{Products: 1000})
			require.NoError(t, err)
			require.False(t, again.Seeded)
			require.Empty(t, again.Password)
			require.NotEqual(t, res.StorefrontKey, again.StorefrontKey)
			v2, err := a.AuthenticateStorefrontKey(ctx, again.StorefrontKey)
			require.NoError(t, err)
			require.Equal(t, res.MerchantID, v2.MerchantID)
			n, err := d.Client.ProductVariant.Query().Count(vctx)
			require.NoError(t, err)
			require.Equal(t, 3000, n)

			// Another N in the same store is refused, not mixed in.
			_, err = Bench(ctx, d.Client, a, BenchOptions{Products: 10})
			require.ErrorIs(t, err, ErrExists)

			// A smaller catalogue in its own store is the dataset's first N.
			small, err := Bench(ctx, d.Client, a, BenchOptions{Products: 30, Slug: "bench-small"})
			require.NoError(t, err)
			require.True(t, small.Seeded)
			sv, err := a.AuthenticateStorefrontKey(ctx, small.StorefrontKey)
			require.NoError(t, err)
			got = readBench(t, viewer.NewContext(ctx, sv), d.Client)
			require.Equal(t, want.Products[:30], got.Products)
		})
	}
}

func TestBenchRejectsBadCounts(t *testing.T) {
	for _, n := range []int{0, -1, BenchMaxProducts + 1} {
		_, err := Bench(context.Background(), nil, nil, BenchOptions{Products: n})
		require.Error(t, err, n)
	}
}

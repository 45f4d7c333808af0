package seed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// TestDemoCatalogueFile checks the embedded file's own invariants: one
// product per line, unique slugs and SKUs, images of the generated colours,
// categories of the tree.
func TestDemoCatalogueFile(t *testing.T) {
	colors := map[string]bool{}
	for _, c := range demoColors {
		colors["/media/demo/"+c.name+".png"] = true
	}
	cats := map[string]bool{}
	for _, c := range demoCategories {
		cats[c.slug] = true
	}
	slugs, skus := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(demoJSONL))
	sc.Buffer(nil, 1<<20)
	rows := 0
	for sc.Scan() {
		rows++
		var p struct {
			Slug, Title, Category string
			Options               []struct{ Name string }
			Variants              []struct {
				SKU          string
				OptionValues map[string]string
				Price        int64
				Inventory    int
			}
			Images []struct{ URL string }
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &p), "line %d", rows)
		require.Equal(t, Slugify(p.Title), p.Slug)
		require.False(t, slugs[p.Slug], p.Slug)
		slugs[p.Slug] = true
		require.True(t, cats[p.Category], p.Category)
		require.NotEmpty(t, p.Variants)
		require.NotEmpty(t, p.Images)
		for _, o := range p.Options {
			require.Contains(t, []string{"Size", "Color"}, o.Name)
		}
		for _, v := range p.Variants {
			require.False(t, skus[v.SKU], v.SKU)
			skus[v.SKU] = true
			require.Positive(t, v.Price)
			require.Len(t, v.OptionValues, len(p.Options))
		}
		for _, im := range p.Images {
			require.True(t, colors[im.URL], im.URL)
		}
	}
	require.NoError(t, sc.Err())
	require.InDelta(t, 50, rows, 5)
}

func TestDemoSeedsItsStoreOnce(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			a := newAuth(t, d)
			media := t.TempDir()
			deps := DemoDeps{Client: d.Client, Auth: a, MediaDir: media,
				Catalog: catalog.New(d.Client, slog.New(slog.NewTextHandler(io.Discard, nil)), media, nil)}
			ctx := context.Background()

			res, err := Demo(ctx, deps, DemoOptions{})
			require.NoError(t, err)
			require.True(t, res.Seeded)
			require.Equal(t, DemoSlug, res.Slug)
			lines := bytes.Count(bytes.TrimSpace(demoJSONL), []byte("\n")) + 1
			require.Equal(t, lines, res.Products)

			staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: res.MerchantID})
			c := d.Client
			active, err := c.Product.Query().Where(product.StatusEQ(product.StatusACTIVE)).Count(staff)
			require.NoError(t, err)
			require.Equal(t, lines-1, active, "all but the one draft are active")
			products, err := c.Product.Query().WithCategory().WithVariants().WithImages().All(staff)
			require.NoError(t, err)
			variants := 0
			for _, p := range products {
				require.NotNil(t, p.Edges.Category, p.Title)
				require.NotEmpty(t, p.Edges.Images, p.Title)
				variants += len(p.Edges.Variants)
				require.Positive(t, p.PriceMin)
				require.LessOrEqual(t, p.PriceMin, p.PriceMax)
			}
			require.Greater(t, variants, 150)
			stocked, err := c.InventoryLevel.Query().Count(staff)
			require.NoError(t, err)
			require.Equal(t, variants, stocked, "every variant has stock in the warehouse")
			children, err := c.ProductCategory.Query().WithParent().All(staff)
			require.NoError(t, err)
			require.Len(t, children, len(demoCategories))
			ships, err := c.ShippingMethod.Query().Count(staff)
			require.NoError(t, err)
			require.Equal(t, 2, ships)
			cust, err := c.Customer.Query().Where(customer.Email(res.CustomerEmail)).Only(staff)
			require.NoError(t, err)
			require.NotEmpty(t, cust.PasswordHash)
			cfg, err := c.StorefrontConfig.Query().Only(staff)
			require.NoError(t, err)
			require.True(t, cfg.Published)

			// The images are real PNG files under the media directory.
			files, err := filepath.Glob(filepath.Join(media, "demo", "*.png"))
			require.NoError(t, err)
			require.Len(t, files, len(demoColors))
			f, err := os.Open(files[0])
			require.NoError(t, err)
			img, err := png.Decode(f)
			f.Close()
			require.NoError(t, err)
			require.Equal(t, 64, img.Bounds().Dx())

			// A second run finds the store and writes nothing.
			again, err := Demo(ctx, deps, DemoOptions{})
			require.NoError(t, err)
			require.False(t, again.Seeded)
			require.Empty(t, again.Password)
			n, err := c.Product.Query().Count(staff)
			require.NoError(t, err)
			require.Equal(t, lines, n)
			require.True(t, strings.HasPrefix(res.StorefrontKey, "opk_"))
		})
	}
}

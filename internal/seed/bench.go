package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/shippingmethod"
	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/db"
)

// The rule of the benchmark dataset (../shared/bench/DATASET.md).
var (
	benchAdjectives = [25]string{"Amber", "Bold", "Calm", "Dusky", "Eager", "Fancy", "Gentle", "Hardy", "Icy",
		"Jolly", "Keen", "Lucky", "Mellow", "Noble", "Orange", "Plush", "Quiet", "Rustic", "Sturdy", "Tidy",
		"Urban", "Vivid", "Witty", "Young", "Zesty"}
	benchNouns = [40]string{"Anchor", "Basket", "Candle", "Desk", "Easel", "Fork", "Globe", "Hammock", "Inkwell",
		"Jacket", "Kettle", "Lantern", "Mirror", "Notebook", "Ottoman", "Pillow", "Quilt", "Rug", "Scarf", "Teapot",
		"Umbrella", "Vase", "Wallet", "Xylophone", "Yoyo", "Zipper", "Apron", "Bench", "Clock", "Drum", "Envelope",
		"Flask", "Guitar", "Helmet", "Igloo", "Jug", "Kite", "Ladle", "Mug", "Napkin"}
	benchSizes = [3]string{"S", "M", "L"}
)

const (
	// BenchCategories is the number of categories of the dataset.
	BenchCategories = 20
	// BenchMaxProducts is the largest N: products are numbered in 4 digits.
	BenchMaxProducts = 9999
	// BenchStock is every variant's stock on hand in the default warehouse.
	BenchStock = 100
	// BenchShippingCode is the dataset's one shipping method (flat 500, US).
	BenchShippingCode  = "standard-shipping"
	benchShippingPrice = 500
	benchDescription   = ". Hand-finished, durable and easy to care for. Ships in recycled packaging. " +
		"Benchmark dataset item: text is fixed so that every engine returns identical bytes."
)

// benchPublishedAt is every bench product's published_at: fixed, so that two
// seeded databases hold the same rows.
var benchPublishedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchCategory is a category of the dataset (dataset.json "categories").
type BenchCategory struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Slug  string `json:"slug"`
}

// BenchProduct is a product of the dataset (dataset.json "products").
type BenchProduct struct {
	Index       int            `json:"index"`
	Name        string         `json:"name"`
	Slug        string         `json:"slug"`
	Description string         `json:"description"`
	Category    string         `json:"category"` // the category's slug
	Variants    []BenchVariant `json:"variants"`
}

// BenchVariant is a variant of a dataset product.
type BenchVariant struct {
	SKU    string `json:"sku"`
	Name   string `json:"name"`   // the variant's title
	Option string `json:"option"` // its value of the option Size
	Price  int64  `json:"price"`  // cents
	Stock  int    `json:"stock"`  // on hand in the default warehouse
}

// BenchDataset is the whole dataset, shaped as dataset.json.
type BenchDataset struct {
	Categories []BenchCategory `json:"categories"`
	Products   []BenchProduct  `json:"products"`
}

// BenchCatalogue computes the first n products of the benchmark dataset and
// its categories. It is pure: the seed writes exactly what it returns.
func BenchCatalogue(n int) BenchDataset {
	var d BenchDataset
	for c := 1; c <= BenchCategories; c++ {
		d.Categories = append(d.Categories, BenchCategory{Index: c,
			Name: fmt.Sprintf("Category %02d", c), Slug: fmt.Sprintf("category-%02d", c)})
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s %s %04d", benchAdjectives[(i-1)%25], benchNouns[((i-1)/25)%40], i)
		p := BenchProduct{
			Index: i, Name: name, Slug: Slugify(name), Description: name + benchDescription,
			Category: fmt.Sprintf("category-%02d", (i-1)%BenchCategories+1),
		}
		for v, size := range benchSizes {
			p.Variants = append(p.Variants, BenchVariant{
				SKU: fmt.Sprintf("SKU-%04d-%s", i, size), Name: name + " " + size, Option: size,
				Price: int64(1000 + (i*37)%9000 + 500*v), Stock: BenchStock,
			})
		}
		d.Products = append(d.Products, p)
	}
	return d
}

// BenchOptions says what Bench creates.
type BenchOptions struct {
	// Products is N, 1..BenchMaxProducts.
	Products int
	// Slug is the store's slug ("bench"); its owner is bench@<slug>.omnisphere.test.
	Slug string
}

// BenchResult says what Bench did.
type BenchResult struct {
	MerchantID uuid.UUID
	Slug       string
	// Seeded is false when the catalogue already existed and nothing was written.
	Seeded   bool
	Products int
	// StorefrontKey is a publishable key of the store: the registration's,
	// or a new one when the store existed (keys are shown only once).
	StorefrontKey string
	Email         string
	// Password is the owner's generated password; empty when the store
	// existed before this run.
	Password string
}

// Bench creates the benchmark catalogue of N products in its own store,
// registering the store on first use. Run again with the same N it writes
// nothing (Seeded false) and issues a new storefront key; with another N
// it refuses with ErrExists rather than mix two catalogues.
//
// The catalogue is written with bulk inserts in one transaction, as the
// store's owner, so it is all there or not at all.
func Bench(ctx context.Context, client *ent.Client, a *auth.Service, opts BenchOptions) (*BenchResult, error) {
	if opts.Products < 1 || opts.Products > BenchMaxProducts {
		return nil, fmt.Errorf("seed: --products must be between 1 and %d, got %d", BenchMaxProducts, opts.Products)
	}
	if opts.Slug == "" {
		opts.Slug = "bench"
	}
	s, err := findOrRegister(ctx, client, a, opts.Slug, "Benchmark store",
		"bench@"+opts.Slug+".omnisphere.test", "Benchmark owner")
	if err != nil {
		return nil, err
	}
	res := &BenchResult{MerchantID: s.merchant.ID, Slug: opts.Slug, Products: opts.Products,
		StorefrontKey: s.storefrontKey, Email: s.email, Password: s.password}
	sctx := s.staff(ctx)
	have, err := client.Product.Query().Count(sctx)
	if err != nil {
		return nil, fmt.Errorf("seed: count products: %w", err)
	}
	switch {
	case have == opts.Products:
		// Seeded before: nothing to write.
	case have != 0:
		return nil, fmt.Errorf("%w: store %q holds %d products, not the %d asked for: use another --merchant or a fresh database",
			ErrExists, opts.Slug, have, opts.Products)
	default:
		if err := db.InTx(sctx, client, func(c *ent.Client) error { return writeBench(sctx, c, opts.Products) }); err != nil {
			return nil, err
		}
		res.Seeded = true
	}
	if res.StorefrontKey == "" {
		if res.StorefrontKey, err = newStorefrontKey(ctx, a, s, "Benchmark storefront"); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// benchBatch is the rows per INSERT: well under the bind-variable limits of
// SQLite (32766) and PostgreSQL (65535) for the widest table written.
const benchBatch = 500

func writeBench(ctx context.Context, c *ent.Client, n int) error {
	data := BenchCatalogue(n)
	wh, err := defaultWarehouse(ctx, c)
	if err != nil {
		return err
	}
	if err := c.StorefrontConfig.Update().SetCurrency("USD").SetTaxRateBps(0).SetPricesIncludeTax(false).
		SetPublished(true).Exec(ctx); err != nil {
		return fmt.Errorf("seed: storefront config: %w", err)
	}
	if err := ensureShipping(ctx, c, shippingSpec{code: BenchShippingCode, name: "Standard shipping",
		price: benchShippingPrice, countries: []string{"US"}}); err != nil {
		return err
	}

	cats := make([]*ent.ProductCategoryCreate, len(data.Categories))
	for i, cat := range data.Categories {
		cats[i] = c.ProductCategory.Create().SetName(cat.Name).SetSlug(cat.Slug).SetPosition(cat.Index)
	}
	saved, err := c.ProductCategory.CreateBulk(cats...).Save(ctx)
	if err != nil {
		return fmt.Errorf("seed: categories: %w", err)
	}
	category := map[string]uuid.UUID{}
	for _, cat := range saved {
		category[cat.Slug] = cat.ID
	}

	options := []map[string]any{{"name": "Size", "values": []any{"S", "M", "L"}}}
	return chunks(data.Products, benchBatch, func(batch []BenchProduct) error {
		creates := make([]*ent.ProductCreate, len(batch))
		for i, p := range batch {
			minP, maxP := p.Variants[0].Price, p.Variants[0].Price
			stock := 0
			for _, v := range p.Variants {
				minP, maxP = min(minP, v.Price), max(maxP, v.Price)
				stock += v.Stock
			}
			creates[i] = c.Product.Create().SetTitle(p.Name).SetSlug(p.Slug).SetDescription(p.Description).
				SetStatus(product.StatusACTIVE).SetPublishedAt(benchPublishedAt).SetCategoryID(category[p.Category]).
				SetOptions(options).SetTags([]string{}).SetPriceMin(minP).SetPriceMax(maxP).SetCurrency("USD").
				SetTotalInventory(stock)
		}
		products, err := c.Product.CreateBulk(creates...).Save(ctx)
		if err != nil {
			return fmt.Errorf("seed: products: %w", err)
		}
		var variants []*ent.ProductVariantCreate
		var stock []int
		for i, p := range batch {
			for pos, v := range p.Variants {
				variants = append(variants, c.ProductVariant.Create().SetProductID(products[i].ID).SetSku(v.SKU).
					SetTitle(v.Name).SetOptionValues(map[string]any{"Size": v.Option}).SetPrice(v.Price).
					SetCurrency("USD").SetPosition(pos))
				stock = append(stock, v.Stock)
			}
		}
		var levels []*ent.InventoryLevelCreate
		err = chunks(variants, benchBatch, func(vb []*ent.ProductVariantCreate) error {
			saved, err := c.ProductVariant.CreateBulk(vb...).Save(ctx)
			if err != nil {
				return fmt.Errorf("seed: variants: %w", err)
			}
			for _, v := range saved {
				levels = append(levels, c.InventoryLevel.Create().SetVariantID(v.ID).SetWarehouseID(wh.ID).
					SetQuantityOnHand(stock[len(levels)]))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return chunks(levels, benchBatch, func(lb []*ent.InventoryLevelCreate) error {
			if err := c.InventoryLevel.CreateBulk(lb...).Exec(ctx); err != nil {
				return fmt.Errorf("seed: inventory: %w", err)
			}
			return nil
		})
	})
}

// defaultWarehouse returns the store's default warehouse (registration
// creates it), creating one if it is gone.
func defaultWarehouse(ctx context.Context, c *ent.Client) (*ent.Warehouse, error) {
	wh, err := c.Warehouse.Query().Where(warehouse.IsDefault(true)).Order(ent.Asc(warehouse.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		wh, err = c.Warehouse.Create().SetName("Default warehouse").SetCode("DEFAULT").SetIsDefault(true).Save(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("seed: default warehouse: %w", err)
	}
	return wh, nil
}

// shippingSpec is a flat-rate shipping method.
type shippingSpec struct {
	code, name, description string
	price                   int64
	countries               []string
	daysMin, daysMax        int
	position                int
}

// ensureShipping creates the shipping method unless its code exists.
func ensureShipping(ctx context.Context, c *ent.Client, s shippingSpec) error {
	ok, err := c.ShippingMethod.Query().Where(shippingmethod.Code(s.code)).Exist(ctx)
	if err != nil || ok {
		return err
	}
	create := c.ShippingMethod.Create().SetCode(s.code).SetName(s.name).SetPrice(s.price).SetCurrency("USD").
		SetCountries(append([]string{}, s.countries...)).SetPosition(s.position).SetActive(true)
	if s.description != "" {
		create.SetDescription(s.description)
	}
	if s.daysMax > 0 {
		create.SetEstimatedDaysMin(s.daysMin).SetEstimatedDaysMax(s.daysMax)
	}
	if err := create.Exec(ctx); err != nil {
		return fmt.Errorf("seed: shipping method %s: %w", s.code, err)
	}
	return nil
}

package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/cartitem"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/orderitem"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productcategory"
	"github.com/omnisphere/omnisphere/ent/productimage"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/storefrontconfig"
)

// Limits of a product's fields (besides the column lengths).
const (
	MaxTags        = 250
	maxTagLen      = 64
	maxDescription = 100_000
)

// ProductInput is the input of CreateProduct and UpdateProduct. Nil and
// unset fields keep the stored value (or take the default on create).
type ProductInput struct {
	Title           *string
	Slug            *string
	Description     Nullable[string]
	DescriptionHTML Nullable[string]
	Status          *product.Status
	PublishedAt     Nullable[time.Time]
	Vendor          Nullable[string]
	ProductType     Nullable[string]
	// Tags replace the stored tags when not nil.
	Tags           []string
	SEOTitle       Nullable[string]
	SEODescription Nullable[string]
	CategoryID     Nullable[uuid.UUID]
	// Options replace the product's options when not nil.
	Options []Option
	// Variants, when not nil, become the product's variants (matched to the
	// stored ones by SKU, then by option values). When nil, CreateProduct
	// generates one per option combination with Defaults, and UpdateProduct
	// does the same for new combinations when Options change.
	Variants []VariantInput
	// Defaults are the fields of generated variants.
	Defaults VariantInput

	// Import only: images replacing the gallery, a category to create, stock.
	images      []importImage
	newCategory *pendingCategory
}

// VariantInput is a variant of a product write. Nil and unset fields keep
// the stored value (or take the default for a new variant).
type VariantInput struct {
	SKU   *string
	Title *string
	// OptionValues picks one value (a string) per option of the product.
	OptionValues     map[string]any
	Price            *int64
	CompareAtPrice   Nullable[int64]
	Cost             Nullable[int64]
	WeightGrams      *int
	Barcode          Nullable[string]
	Position         *int
	RequiresShipping *bool
	Taxable          *bool
	TrackInventory   *bool
	AllowBackorder   *bool

	// Import only: stock on hand by warehouse code ("" is the default
	// warehouse), and the low-stock threshold of those levels.
	inventory         map[string]int
	lowStockThreshold *int
}

// CreateProduct creates a product with its variants.
func (s *Service) CreateProduct(ctx context.Context, in ProductInput) (*ent.Product, error) {
	var out *ent.Product
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		p, _, err := s.saveProduct(ctx, c, nil, in)
		out = p
		return err
	})
	return done(out, err)
}

// UpdateProduct changes a product; an id of another store is NOT_FOUND.
func (s *Service) UpdateProduct(ctx context.Context, id uuid.UUID, in ProductInput) (*ent.Product, error) {
	var out *ent.Product
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := s.lockProduct(ctx, c, id)
		if err != nil {
			return notFoundAs(err, path("id"), "product")
		}
		out, _, err = s.saveProduct(ctx, c, cur, in)
		return err
	})
	return done(out, err)
}

// DeleteResult says what ProductDelete did.
type DeleteResult struct {
	// Archived is set when the product was archived instead of deleted
	// (order lines refer to it); Product is then the archived product.
	Archived bool
	Product  *ent.Product
}

// DeleteProduct deletes a product with its variants, images, stock and
// cart lines, or archives it when order lines refer to it (orders, refunds,
// restocks and reports keep working).
func (s *Service) DeleteProduct(ctx context.Context, id uuid.UUID) (*DeleteResult, error) {
	var out DeleteResult
	var files []string
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		files = nil
		cur, err := s.lockProduct(ctx, c, id)
		if err != nil {
			return notFoundAs(err, path("id"), "product")
		}
		vids, err := c.ProductVariant.Query().Where(productvariant.ProductID(id)).IDs(ctx)
		if err != nil {
			return err
		}
		ordered, err := c.OrderItem.Query().Where(orderitem.Or(orderitem.ProductID(id), orderitem.VariantIDIn(vids...))).Exist(ctx)
		if err != nil {
			return err
		}
		if ordered {
			p, err := c.Product.UpdateOne(cur).SetStatus(product.StatusARCHIVED).Save(ctx)
			out = DeleteResult{Archived: true, Product: p}
			return err
		}
		imgs, err := c.ProductImage.Query().Where(productimage.ProductID(id)).All(ctx)
		if err != nil {
			return err
		}
		for _, im := range imgs {
			if im.StorageKey != "" {
				files = append(files, im.StorageKey)
			}
		}
		if _, err := c.ProductImage.Delete().Where(productimage.ProductID(id)).Exec(ctx); err != nil {
			return err
		}
		if err := deleteVariants(ctx, c, vids); err != nil {
			return err
		}
		out = DeleteResult{}
		return c.Product.DeleteOneID(id).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	s.removeFiles(ctx, files)
	if out.Product != nil {
		out.Product = out.Product.Unwrap()
	}
	return &out, nil
}

// lockProduct loads a product of the viewer's store and locks its row until
// the transaction ends (SELECT … FOR UPDATE on PostgreSQL; SQLite
// transactions are IMMEDIATE, so a writing transaction excludes the others
// from its start). Every write to a product's variants or stock takes this
// lock first, so they are serialised per product and the denormalised
// totals stay exact.
func (s *Service) lockProduct(ctx context.Context, c *ent.Client, id uuid.UUID) (*ent.Product, error) {
	found, err := c.Product.Query().Where(product.ID(id)).Select(product.FieldTotalInventory).
		Modify(forUpdate).Ints(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: lock product: %w", err)
	}
	if len(found) == 0 {
		return nil, ErrNotFound
	}
	return c.Product.Get(ctx, id)
}

// forUpdate makes a query lock its rows on PostgreSQL.
func forUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// notFoundAs turns ErrNotFound (or ent's not found) into a NOT_FOUND user
// error on field.
func notFoundAs(err error, field []string, what string) error {
	if err == ErrNotFound || ent.IsNotFound(err) {
		return fieldErr(CodeNotFound, field, "no %s with this id", what)
	}
	return err
}

// saveProduct validates in and writes the product (cur nil: create). Every
// check runs before the first write, so a user error leaves nothing behind
// in the transaction (the import relies on it).
func (s *Service) saveProduct(ctx context.Context, c *ent.Client, cur *ent.Product, in ProductInput) (*ent.Product, bool, error) {
	p := &problems{}
	now := s.now()

	// Scalars.
	var title string
	switch {
	case in.Title != nil:
		title = *text(p, path("title"), in.Title, 255)
		if title == "" {
			p.add(CodeRequired, path("title"), "title is required")
		}
	case cur == nil:
		p.add(CodeRequired, path("title"), "title is required")
	default:
		title = cur.Title
	}
	desc := nullableText(p, path("description"), in.Description, maxDescription)
	html := nullableText(p, path("descriptionHtml"), in.DescriptionHTML, maxDescription)
	if html.Value != nil {
		html = Val(SanitizeHTML(*html.Value))
	}
	vendor := nullableText(p, path("vendor"), in.Vendor, 255)
	ptype := nullableText(p, path("productType"), in.ProductType, 255)
	seoTitle := nullableText(p, path("seoTitle"), in.SEOTitle, 255)
	seoDesc := nullableText(p, path("seoDescription"), in.SEODescription, 512)
	if in.Status != nil && product.StatusValidator(*in.Status) != nil {
		p.add(CodeInvalid, path("status"), "status must be DRAFT, ACTIVE or ARCHIVED")
	}
	var tags []string
	if in.Tags != nil {
		tags = normalizeTags(p, in.Tags)
	}

	// Slug: a given one must be free; a generated one is made free.
	var curID uuid.UUID
	if cur != nil {
		curID = cur.ID
	}
	slug := ""
	switch {
	case in.Slug != nil:
		slug = Slugify(*in.Slug)
		switch {
		case slug == "":
			p.add(CodeInvalid, path("slug"), "slug must contain letters or digits")
		case len(slug) > maxSlugLen:
			p.add(CodeTooLong, path("slug"), "slug is too long (at most %d bytes)", maxSlugLen)
		default:
			taken, err := c.Product.Query().Where(product.Slug(slug), product.IDNEQ(curID)).Exist(ctx)
			if err != nil {
				return nil, false, err
			}
			if taken {
				p.add(CodeTaken, path("slug"), "slug %q is used by another product", slug)
			}
		}
	case cur == nil && title != "":
		var err error
		if slug, err = freeProductSlug(ctx, c, baseSlug(title, "product")); err != nil {
			return nil, false, err
		}
	case cur != nil:
		slug = cur.Slug
	}

	// Category.
	if in.CategoryID.Set && in.CategoryID.Value != nil {
		ok, err := c.ProductCategory.Query().Where(productcategory.ID(*in.CategoryID.Value)).Exist(ctx)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			p.add(CodeNotFound, path("categoryId"), "no category with this id")
		}
	}

	// Options and variants.
	var existing []*ent.ProductVariant
	if cur != nil {
		var err error
		existing, err = c.ProductVariant.Query().Where(productvariant.ProductID(cur.ID)).
			Order(ent.Asc(productvariant.FieldPosition), ent.Asc(productvariant.FieldID)).All(ctx)
		if err != nil {
			return nil, false, err
		}
	}
	var opts []Option
	optsChanged := false
	switch {
	case in.Options != nil:
		opts = normalizeOptions(in.Options, p)
		optsChanged = true
	case cur != nil && in.Variants == nil:
		opts = optionsFromJSON(cur.Options)
	case in.Variants != nil:
		// Explicit variants without options: derive the options from them.
		opts = normalizeOptions(inferOptions(in.Variants), p)
		optsChanged = true
	}
	desired := in.Variants
	if desired == nil {
		switch {
		case cur == nil:
			if checkDefaults(p, in.Defaults) {
				desired = generateVariants(opts, in.Defaults)
			}
		case optsChanged:
			desired = generateVariants(opts, VariantInput{})
		}
	}
	var plan *variantPlan
	if desired != nil && len(p.list) == 0 {
		var oldOpts []Option
		if cur != nil {
			oldOpts = optionsFromJSON(cur.Options)
		}
		var err error
		if plan, err = planVariants(ctx, c, curID, slug, opts, oldOpts, desired, existing, p); err != nil {
			return nil, false, err
		}
	}
	var imgs []importImage
	if in.images != nil {
		imgs = checkImportImages(p, in.images)
		skus := map[string]bool{}
		if plan != nil {
			for _, it := range plan.items {
				skus[it.sku] = true
			}
		} else {
			for _, e := range existing {
				skus[e.Sku] = true
			}
		}
		for i, im := range imgs {
			if im.variantSKU != "" && !skus[im.variantSKU] {
				p.add(CodeNotFound, path("images", i, "variantSku"), "the product has no variant with SKU %q", im.variantSKU)
			}
		}
	}
	if err := p.err(); err != nil {
		return nil, false, err
	}

	// Writes.
	if in.newCategory != nil {
		id, err := s.createPendingCategory(ctx, c, in.newCategory)
		if err != nil {
			return nil, false, err
		}
		in.CategoryID = Val(id)
	}
	var m *ent.ProductMutation
	var create *ent.ProductCreate
	var update *ent.ProductUpdateOne
	if cur == nil {
		create = c.Product.Create()
		m = create.Mutation()
		m.SetCurrency(storeCurrency(ctx, c))
	} else {
		update = c.Product.UpdateOne(cur)
		m = update.Mutation()
	}
	m.SetTitle(title)
	m.SetSlug(slug)
	setNullable(desc, m.SetDescription, m.ClearDescription)
	setNullable(html, m.SetDescriptionHTML, m.ClearDescriptionHTML)
	setNullable(vendor, m.SetVendor, m.ClearVendor)
	setNullable(ptype, m.SetProductType, m.ClearProductType)
	setNullable(seoTitle, m.SetSeoTitle, m.ClearSeoTitle)
	setNullable(seoDesc, m.SetSeoDescription, m.ClearSeoDescription)
	setNullable(in.CategoryID, m.SetCategoryID, m.ClearCategoryID)
	setNullable(in.PublishedAt, m.SetPublishedAt, m.ClearPublishedAt)
	if tags != nil {
		m.SetTags(tags)
	}
	if in.Status != nil {
		m.SetStatus(*in.Status)
	}
	// An active product is published: now, unless a time is given or kept.
	status := product.StatusDRAFT
	if cur != nil {
		status = cur.Status
	}
	if in.Status != nil {
		status = *in.Status
	}
	published := cur != nil && cur.PublishedAt != nil
	if in.PublishedAt.Set {
		published = in.PublishedAt.Value != nil
	}
	if status == product.StatusACTIVE && !published {
		m.SetPublishedAt(now)
	}
	if optsChanged || cur == nil {
		m.SetOptions(optionsToJSON(opts))
	}
	var prod *ent.Product
	var err error
	if create != nil {
		prod, err = create.Save(ctx)
	} else {
		prod, err = update.Save(ctx)
	}
	if err != nil {
		return nil, false, err
	}
	var variantIDs []uuid.UUID
	if plan != nil {
		if variantIDs, err = applyVariantPlan(ctx, c, prod, plan); err != nil {
			return nil, false, err
		}
	}
	if in.images != nil {
		if err := s.replaceImages(ctx, c, prod.ID, imgs, plan, variantIDs); err != nil {
			return nil, false, err
		}
	}
	if plan != nil {
		if err := s.applyImportStock(ctx, c, plan, variantIDs); err != nil {
			return nil, false, err
		}
	}
	if err := refreshProduct(ctx, c, prod.ID); err != nil {
		return nil, false, err
	}
	prod, err = c.Product.Get(ctx, prod.ID)
	return prod, cur == nil, err
}

// setNullable applies a Nullable to a mutation's setter and clearer.
func setNullable[T any](v Nullable[T], set func(T), clear func()) {
	if !v.Set {
		return
	}
	if v.Value == nil {
		clear()
		return
	}
	set(*v.Value)
}

// normalizeTags trims tags and drops repeats (ignoring case).
func normalizeTags(p *problems, in []string) []string {
	if len(in) > MaxTags {
		p.add(CodeTooMany, path("tags"), "at most %d tags", MaxTags)
		return nil
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, t := range in {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			p.add(CodeInvalid, path("tags", i), "tags must not be empty")
			continue
		case len(t) > maxTagLen:
			p.add(CodeTooLong, path("tags", i), "tags are at most %d bytes", maxTagLen)
			continue
		}
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

// freeProductSlug returns base or the first free base-N among the store's products.
func freeProductSlug(ctx context.Context, c *ent.Client, base string) (string, error) {
	used, err := c.Product.Query().Where(product.SlugHasPrefix(base)).Select(product.FieldSlug).Strings(ctx)
	if err != nil {
		return "", fmt.Errorf("catalog: product slugs: %w", err)
	}
	taken := make(map[string]bool, len(used))
	for _, u := range used {
		taken[u] = true
	}
	return uniqueSlug(base, taken), nil
}

// storeCurrency is the storefront's currency (USD when not configured).
func storeCurrency(ctx context.Context, c *ent.Client) string {
	cfg, err := c.StorefrontConfig.Query().Select(storefrontconfig.FieldCurrency).First(ctx)
	if err != nil || cfg.Currency == "" {
		return "USD"
	}
	return cfg.Currency
}

// deleteVariants deletes variants with their stock and cart lines (order
// lines keep their snapshot; their variant link is set to null by the
// foreign key, as is an image's).
func deleteVariants(ctx context.Context, c *ent.Client, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := c.InventoryLevel.Delete().Where(inventorylevel.VariantIDIn(ids...)).Exec(ctx); err != nil {
		return err
	}
	if _, err := c.CartItem.Delete().Where(cartitem.VariantIDIn(ids...)).Exec(ctx); err != nil {
		return err
	}
	if _, err := c.ProductImage.Update().Where(productimage.VariantIDIn(ids...)).ClearVariantID().Save(ctx); err != nil {
		return err
	}
	_, err := c.ProductVariant.Delete().Where(productvariant.IDIn(ids...)).Exec(ctx)
	return err
}

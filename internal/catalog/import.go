package catalog

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productcategory"
	"github.com/omnisphere/omnisphere/ent/productimage"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// ImportBatchSize is how many products one import transaction holds.
const ImportBatchSize = 100

// MaxImportErrors is how many row errors an ImportResult lists (Failed
// counts them all).
const MaxImportErrors = 1000

// ParseFormat reads a format name (jsonl, csv; any case).
func ParseFormat(s string) (Format, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "JSONL", "NDJSON":
		return FormatJSONL, true
	case "CSV":
		return FormatCSV, true
	}
	return "", false
}

// importRow is one product of an import file, in the JSONL shape (CSV rows
// are converted to it). Absent fields keep the stored value on update.
type importRow struct {
	Slug            *string           `json:"slug"`
	Title           *string           `json:"title"`
	Description     *string           `json:"description"`
	DescriptionHTML *string           `json:"descriptionHtml"`
	Status          *string           `json:"status"`
	PublishedAt     *string           `json:"publishedAt"`
	Vendor          *string           `json:"vendor"`
	ProductType     *string           `json:"productType"`
	Tags            *[]string         `json:"tags"`
	SEOTitle        *string           `json:"seoTitle"`
	SEODescription  *string           `json:"seoDescription"`
	Category        *string           `json:"category"`
	CategoryName    *string           `json:"categoryName"`
	CategoryParent  *string           `json:"categoryParent"`
	Options         *[]importOption   `json:"options"`
	Price           *int64            `json:"price"`
	CompareAtPrice  *int64            `json:"compareAtPrice"`
	Cost            *int64            `json:"cost"`
	WeightGrams     *int              `json:"weightGrams"`
	Variants        *[]importVariant  `json:"variants"`
	Images          *[]importImageRow `json:"images"`
}

type importOption struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

type importVariant struct {
	SKU               *string          `json:"sku"`
	Title             *string          `json:"title"`
	OptionValues      map[string]any   `json:"optionValues"`
	Price             *int64           `json:"price"`
	CompareAtPrice    *int64           `json:"compareAtPrice"`
	Cost              *int64           `json:"cost"`
	WeightGrams       *int             `json:"weightGrams"`
	Barcode           *string          `json:"barcode"`
	Position          *int             `json:"position"`
	RequiresShipping  *bool            `json:"requiresShipping"`
	Taxable           *bool            `json:"taxable"`
	TrackInventory    *bool            `json:"trackInventory"`
	AllowBackorder    *bool            `json:"allowBackorder"`
	Inventory         *importInventory `json:"inventory"`
	LowStockThreshold *int             `json:"lowStockThreshold"`
}

type importImageRow struct {
	URL        string  `json:"url"`
	Alt        *string `json:"alt"`
	Featured   bool    `json:"featured"`
	VariantSKU string  `json:"variantSku"`
	// variant is 1 + the index of the variant it shows (CSV); 0 for none.
	variant int
}

// importImage is a checked image of an import row.
type importImage struct {
	url        string
	alt        *string
	featured   bool
	variantSKU string
	variant    int // 1 + variant index, 0 none
}

// record is one product of a file with where it came from.
type record struct {
	row         int   // first row (line or CSV record) of the product
	variantRows []int // CSV: the row of each variant
	optionNames []string
	csv         bool
	data        importRow
	errs        []RowError // problems found while parsing
}

// importState is what one import batch caches: the store's warehouses by
// code ("" is the default one) and categories by slug.
type importState struct {
	warehouses map[string]uuid.UUID
	categories map[string]uuid.UUID
	removed    []string
}

type importStateKey struct{}

func (s *Service) importProducts(ctx context.Context, r io.Reader, format Format) (*ImportResult, error) {
	if _, ok := viewer.MerchantFromContext(ctx); !ok {
		return nil, viewer.ErrNoTenant
	}
	res := &ImportResult{Errors: []RowError{}}
	var batch []*record
	emit := func(rec *record) error {
		if len(rec.errs) > 0 {
			res.fail(rec.errs...)
			return nil
		}
		batch = append(batch, rec)
		if len(batch) >= ImportBatchSize {
			err := s.runBatch(ctx, batch, res)
			batch = batch[:0]
			return err
		}
		return nil
	}
	var err error
	switch format {
	case FormatJSONL:
		err = parseJSONL(r, emit)
	case FormatCSV:
		err = parseCSV(r, emit)
	default:
		return nil, fieldErr(CodeInvalid, path("format"), "format must be JSONL or CSV")
	}
	if err == nil && len(batch) > 0 {
		err = s.runBatch(ctx, batch, res)
	}
	if err != nil {
		return nil, err
	}
	if e := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		return audit(ctx, c, "catalog.import", "product", "", map[string]any{
			"format": string(format), "created": res.Created, "updated": res.Updated, "failed": res.Failed})
	}); e != nil {
		s.log.WarnContext(ctx, "catalog: import audit entry not written", "error", e)
	}
	if s.AfterImport != nil && res.Created+res.Updated > 0 {
		if e := s.AfterImport(ctx); e != nil {
			s.log.WarnContext(ctx, "catalog: after import", "error", e)
		}
	}
	return res, nil
}

func (r *ImportResult) fail(errs ...RowError) {
	r.Failed++
	for _, e := range errs {
		if len(r.Errors) < MaxImportErrors {
			r.Errors = append(r.Errors, e)
		}
	}
}

// runBatch saves a batch in one transaction. A row with a user error is
// reported and leaves nothing behind (every check runs before its first
// write). When the transaction itself fails (a lost race, a database
// error), the batch is run again one row per transaction, so only the row
// at fault is lost.
func (s *Service) runBatch(ctx context.Context, recs []*record, res *ImportResult) error {
	type outcome struct {
		created bool
		errs    []RowError
	}
	outs := make([]outcome, len(recs))
	var st *importState
	err := s.tryTx(ctx, func(ctx context.Context, c *ent.Client) error {
		st = &importState{}
		ctx = context.WithValue(ctx, importStateKey{}, st)
		for i, rec := range recs {
			created, err := s.importRecord(ctx, c, rec)
			if ue, ok := IsUserError(err); ok {
				outs[i] = outcome{errs: rec.rowErrors(ue)}
				continue
			}
			if err != nil {
				return err
			}
			outs[i] = outcome{created: created}
		}
		return nil
	})
	if err == nil {
		for _, o := range outs {
			switch {
			case o.errs != nil:
				res.fail(o.errs...)
			case o.created:
				res.Created++
			default:
				res.Updated++
			}
		}
		s.removeFiles(ctx, st.removed)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.log.InfoContext(ctx, "catalog: import batch failed, retrying row by row", "error", err)
	for _, rec := range recs {
		var created bool
		st := &importState{}
		err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
			*st = importState{}
			var err error
			created, err = s.importRecord(context.WithValue(ctx, importStateKey{}, st), c, rec)
			return err
		})
		if ue, ok := IsUserError(err); ok {
			res.fail(rec.rowErrors(ue)...)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.ErrorContext(ctx, "catalog: import row not saved", "row", rec.row, "error", err)
			res.fail(RowError{Row: rec.row, Message: "the row could not be saved", Code: CodeInvalid})
			continue
		}
		s.removeFiles(ctx, st.removed)
		if created {
			res.Created++
		} else {
			res.Updated++
		}
	}
	return nil
}

// importRecord upserts one product by slug (the slug of its title when no
// slug is given) and reports whether it was created.
func (s *Service) importRecord(ctx context.Context, c *ent.Client, rec *record) (bool, error) {
	st := ctx.Value(importStateKey{}).(*importState)
	d := rec.data
	p := &problems{}
	key := ""
	switch {
	case d.Slug != nil:
		key = Slugify(*d.Slug)
	case d.Title != nil:
		key = baseSlug(*d.Title, "")
	}
	if key == "" {
		if d.Slug != nil {
			return false, fieldErr(CodeInvalid, path("slug"), "slug must contain letters or digits")
		}
		return false, fieldErr(CodeRequired, path("title"), "title (or slug) is required")
	}
	cur, err := c.Product.Query().Where(product.Slug(key)).Only(ctx)
	if ent.IsNotFound(err) {
		cur, err = nil, nil
	}
	if err != nil {
		return false, err
	}
	if cur != nil {
		if cur, err = s.lockProduct(ctx, c, cur.ID); err != nil {
			return false, err
		}
	}
	in := ProductInput{
		Title: d.Title, Slug: &key, Tags: derefTags(d.Tags),
		Description: Ptr(d.Description), DescriptionHTML: Ptr(d.DescriptionHTML),
		Vendor: Ptr(d.Vendor), ProductType: Ptr(d.ProductType),
		SEOTitle: Ptr(d.SEOTitle), SEODescription: Ptr(d.SEODescription),
	}
	if d.Status != nil {
		st := product.Status(strings.ToUpper(strings.TrimSpace(*d.Status)))
		if product.StatusValidator(st) != nil {
			p.add(CodeInvalid, path("status"), "status must be DRAFT, ACTIVE or ARCHIVED")
		}
		in.Status = &st
	}
	if d.PublishedAt != nil {
		if v := strings.TrimSpace(*d.PublishedAt); v == "" {
			in.PublishedAt = Null[time.Time]()
		} else if t, err := time.Parse(time.RFC3339, v); err != nil {
			p.add(CodeInvalid, path("publishedAt"), "publishedAt must be an RFC 3339 time, e.g. 2024-05-01T09:00:00Z")
		} else {
			in.PublishedAt = Val(t.UTC())
		}
	}
	if err := s.importCategory(ctx, c, st, d, &in, p); err != nil {
		return false, err
	}
	if d.Options != nil {
		in.Options = make([]Option, 0, len(*d.Options))
		for _, o := range *d.Options {
			in.Options = append(in.Options, Option{Name: o.Name, Values: o.Values})
		}
	}
	defaults := VariantInput{Price: d.Price, CompareAtPrice: Ptr(d.CompareAtPrice), Cost: Ptr(d.Cost), WeightGrams: d.WeightGrams}
	switch {
	case d.Variants != nil:
		in.Variants = make([]VariantInput, 0, len(*d.Variants))
		for _, v := range *d.Variants {
			in.Variants = append(in.Variants, VariantInput{
				SKU: v.SKU, Title: v.Title, OptionValues: v.OptionValues, Price: v.Price,
				CompareAtPrice: Ptr(v.CompareAtPrice), Cost: Ptr(v.Cost), WeightGrams: v.WeightGrams,
				Barcode: Ptr(v.Barcode), Position: v.Position, RequiresShipping: v.RequiresShipping,
				Taxable: v.Taxable, TrackInventory: v.TrackInventory, AllowBackorder: v.AllowBackorder,
				inventory: v.Inventory.levels(), lowStockThreshold: v.LowStockThreshold,
			})
		}
		if in.Options == nil && rec.csv {
			in.Options = optionsFromRows(rec.optionNames, in.Variants)
		}
	case d.Options != nil || d.Price != nil || d.CompareAtPrice != nil || d.Cost != nil || d.WeightGrams != nil:
		// A product given without variants: one per combination of its
		// options, each with the row's price.
		if in.Options == nil && cur != nil {
			in.Options = optionsFromJSON(cur.Options)
		}
		check := &problems{}
		opts := normalizeOptions(in.Options, check)
		if len(check.list) == 0 && checkDefaults(p, defaults) {
			in.Variants = generateVariants(opts, defaults)
		}
		if in.Options == nil {
			in.Options = []Option{}
		}
	}
	in.Defaults = defaults
	if d.Images != nil {
		in.images = make([]importImage, 0, len(*d.Images))
		for _, im := range *d.Images {
			in.images = append(in.images, importImage{url: im.URL, alt: im.Alt, featured: im.Featured,
				variantSKU: strings.TrimSpace(im.VariantSKU), variant: im.variant})
		}
	}
	if err := s.checkImportStock(ctx, c, st, in.Variants, p); err != nil {
		return false, err
	}
	if err := p.err(); err != nil {
		return false, err
	}
	_, created, err := s.saveProduct(ctx, c, cur, in)
	return created, err
}

// optionsFromRows builds a CSV product's options: the names of its first
// row, the values in order of appearance.
func optionsFromRows(names []string, vs []VariantInput) []Option {
	if len(names) == 0 {
		return nil
	}
	opts := make([]Option, len(names))
	for i, n := range names {
		opts[i].Name = n
		for _, v := range vs {
			if s, ok := v.OptionValues[n].(string); ok && s != "" && !contains(opts[i].Values, s) {
				opts[i].Values = append(opts[i].Values, s)
			}
		}
	}
	return opts
}

func derefTags(t *[]string) []string {
	if t == nil {
		return nil
	}
	if *t == nil {
		return []string{}
	}
	return *t
}

// importCategory resolves a row's category slug (creating it when the row
// names it and the store has none).
func (s *Service) importCategory(ctx context.Context, c *ent.Client, st *importState, d importRow, in *ProductInput, p *problems) error {
	if d.Category == nil {
		return nil
	}
	slug := Slugify(*d.Category)
	if slug == "" {
		in.CategoryID = Null[uuid.UUID]()
		return nil
	}
	if st.categories == nil {
		cats, err := c.ProductCategory.Query().Select(productcategory.FieldID, productcategory.FieldSlug).All(ctx)
		if err != nil {
			return err
		}
		st.categories = make(map[string]uuid.UUID, len(cats))
		for _, x := range cats {
			st.categories[x.Slug] = x.ID
		}
	}
	if id, ok := st.categories[slug]; ok {
		in.CategoryID = Val(id)
		return nil
	}
	if d.CategoryName == nil || strings.TrimSpace(*d.CategoryName) == "" {
		p.add(CodeNotFound, path("category"), "no category with slug %q (give categoryName to create it)", slug)
		return nil
	}
	if len(strings.TrimSpace(*d.CategoryName)) > 255 {
		p.add(CodeTooLong, path("categoryName"), "categoryName is too long (at most 255 bytes)")
		return nil
	}
	if len(slug) > maxSlugLen {
		p.add(CodeTooLong, path("category"), "category is too long (at most %d bytes)", maxSlugLen)
		return nil
	}
	pc := &pendingCategory{slug: slug, name: strings.TrimSpace(*d.CategoryName)}
	if d.CategoryParent != nil && Slugify(*d.CategoryParent) != "" {
		id, ok := st.categories[Slugify(*d.CategoryParent)]
		if !ok {
			p.add(CodeNotFound, path("categoryParent"), "no category with slug %q", Slugify(*d.CategoryParent))
			return nil
		}
		pc.parentID = &id
	}
	in.newCategory = pc
	return nil
}

// checkImportStock checks the warehouse codes of the variants' stock.
func (s *Service) checkImportStock(ctx context.Context, c *ent.Client, st *importState, vs []VariantInput, p *problems) error {
	for i, v := range vs {
		for code := range v.inventory {
			if code == "" {
				continue
			}
			if err := s.loadWarehouses(ctx, c, st); err != nil {
				return err
			}
			if _, ok := st.warehouses[code]; !ok {
				p.add(CodeNotFound, path("variants", i, "inventory"), "no warehouse with code %q", code)
			}
		}
	}
	return nil
}

func (s *Service) loadWarehouses(ctx context.Context, c *ent.Client, st *importState) error {
	if st.warehouses != nil {
		return nil
	}
	ws, err := c.Warehouse.Query().All(ctx)
	if err != nil {
		return err
	}
	st.warehouses = make(map[string]uuid.UUID, len(ws)+1)
	for _, w := range ws {
		st.warehouses[w.Code] = w.ID
		if w.IsDefault {
			st.warehouses[""] = w.ID
		}
	}
	return nil
}

// defaultWarehouse returns the store's default warehouse, creating one
// (code DEFAULT) when the store has none.
func (s *Service) defaultWarehouse(ctx context.Context, c *ent.Client, st *importState) (uuid.UUID, error) {
	if err := s.loadWarehouses(ctx, c, st); err != nil {
		return uuid.Nil, err
	}
	if id, ok := st.warehouses[""]; ok {
		return id, nil
	}
	w, err := c.Warehouse.Query().Order(ent.Asc(warehouse.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		w, err = c.Warehouse.Create().SetName("Default warehouse").SetCode(uniqueSlug("DEFAULT", codes(st.warehouses))).
			SetIsDefault(true).Save(ctx)
	}
	if err != nil {
		return uuid.Nil, err
	}
	st.warehouses[""] = w.ID
	st.warehouses[w.Code] = w.ID
	return w.ID, nil
}

func codes(m map[string]uuid.UUID) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// applyImportStock sets the stock on hand (and thresholds) that import rows
// give their variants, then raises or re-arms low-stock alerts.
func (s *Service) applyImportStock(ctx context.Context, c *ent.Client, plan *variantPlan, ids []uuid.UUID) error {
	st, _ := ctx.Value(importStateKey{}).(*importState)
	if st == nil {
		return nil
	}
	touched := map[uuid.UUID]bool{}
	for i, it := range plan.items {
		if len(it.in.inventory) == 0 && it.in.lowStockThreshold == nil {
			continue
		}
		levels := it.in.inventory
		if len(levels) == 0 {
			levels = map[string]int{}
		}
		for code, qty := range levels {
			var wid uuid.UUID
			var err error
			if code == "" {
				wid, err = s.defaultWarehouse(ctx, c, st)
			} else {
				wid = st.warehouses[code]
			}
			if err != nil {
				return err
			}
			lv, err := c.InventoryLevel.Query().Where(inventorylevel.VariantID(ids[i]), inventorylevel.WarehouseID(wid)).Only(ctx)
			switch {
			case ent.IsNotFound(err):
				cr := c.InventoryLevel.Create().SetVariantID(ids[i]).SetWarehouseID(wid).SetQuantityOnHand(qty)
				if it.in.lowStockThreshold != nil {
					cr.SetLowStockThreshold(*it.in.lowStockThreshold)
				}
				err = cr.Exec(ctx)
			case err == nil:
				u := c.InventoryLevel.UpdateOne(lv).SetQuantityOnHand(qty)
				if it.in.lowStockThreshold != nil {
					u.SetLowStockThreshold(*it.in.lowStockThreshold)
				}
				err = u.Exec(ctx)
			}
			if err != nil {
				return err
			}
		}
		if len(it.in.inventory) == 0 && it.in.lowStockThreshold != nil {
			if _, err := c.InventoryLevel.Update().Where(inventorylevel.VariantID(ids[i])).
				SetLowStockThreshold(*it.in.lowStockThreshold).Save(ctx); err != nil {
				return err
			}
		}
		touched[ids[i]] = true
	}
	for id := range touched {
		v, err := c.ProductVariant.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := s.checkLowStock(ctx, c, v, nil); err != nil {
			return err
		}
	}
	return nil
}

// checkImportImages checks the images of a row.
func checkImportImages(p *problems, in []importImage) []importImage {
	if len(in) > 250 {
		p.add(CodeTooMany, path("images"), "at most 250 images")
		return nil
	}
	out := make([]importImage, 0, len(in))
	seen := map[string]bool{}
	for i, im := range in {
		im.url = checkURL(p, path("images", i, "url"), im.url)
		im.alt = text(p, path("images", i, "alt"), im.alt, 512)
		if seen[im.url] {
			continue // the same picture twice: once is enough
		}
		seen[im.url] = true
		out = append(out, im)
	}
	return out
}

// replaceImages makes a product's gallery exactly imgs (kept by URL), in
// order, the first featured one (or the first) featured.
func (s *Service) replaceImages(ctx context.Context, c *ent.Client, productID uuid.UUID, imgs []importImage, plan *variantPlan, ids []uuid.UUID) error {
	st, _ := ctx.Value(importStateKey{}).(*importState)
	cur, err := c.ProductImage.Query().Where(productimage.ProductID(productID)).All(ctx)
	if err != nil {
		return err
	}
	byURL := map[string]*ent.ProductImage{}
	for _, im := range cur {
		byURL[im.URL] = im
	}
	// Variant of an image: by the index of its CSV row, or by SKU.
	bySKU := map[string]uuid.UUID{}
	if plan != nil {
		for i, it := range plan.items {
			bySKU[it.sku] = ids[i]
		}
	} else {
		vs, err := c.ProductVariant.Query().Where(productvariant.ProductID(productID)).All(ctx)
		if err != nil {
			return err
		}
		for _, v := range vs {
			bySKU[v.Sku] = v.ID
		}
	}
	featured := 0
	for i, im := range imgs {
		if im.featured {
			featured = i
			break
		}
	}
	keep := map[uuid.UUID]bool{}
	for i, im := range imgs {
		var variant *uuid.UUID
		switch {
		case im.variant > 0 && plan != nil && im.variant <= len(ids):
			variant = &ids[im.variant-1]
		case im.variantSKU != "":
			if id, ok := bySKU[im.variantSKU]; ok {
				variant = &id
			}
		}
		if old, ok := byURL[im.url]; ok && !keep[old.ID] {
			keep[old.ID] = true
			u := c.ProductImage.UpdateOne(old).SetPosition(i).SetFeatured(i == featured).SetNillableAltText(im.alt)
			if variant != nil {
				u.SetVariantID(*variant)
			} else {
				u.ClearVariantID()
			}
			if err := u.Exec(ctx); err != nil {
				return err
			}
			continue
		}
		if err := c.ProductImage.Create().SetProductID(productID).SetURL(im.url).SetNillableAltText(im.alt).
			SetPosition(i).SetFeatured(i == featured).SetNillableVariantID(variant).Exec(ctx); err != nil {
			return err
		}
	}
	for _, im := range cur {
		if keep[im.ID] {
			continue
		}
		if err := c.ProductImage.DeleteOne(im).Exec(ctx); err != nil {
			return err
		}
		if im.StorageKey != "" && st != nil {
			st.removed = append(st.removed, im.StorageKey)
		}
	}
	return nil
}

// rowErrors maps a product's user errors to rows and fields of its file.
func (rec *record) rowErrors(e *Error) []RowError {
	out := make([]RowError, 0, len(e.Errors))
	for _, fe := range e.Errors {
		f := fe.Field
		if len(f) > 0 && f[0] == "input" {
			f = f[1:]
		}
		row := rec.row
		if rec.csv && len(f) >= 2 && f[0] == "variants" {
			if i, err := strconv.Atoi(f[1]); err == nil && i >= 0 && i < len(rec.variantRows) {
				row = rec.variantRows[i]
			}
		}
		field := strings.Join(f, ".")
		if rec.csv {
			field = csvColumnOf(f, rec.optionNames)
		}
		out = append(out, RowError{Row: row, Field: field, Message: fe.Message, Code: fe.Code})
	}
	return out
}

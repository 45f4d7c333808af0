package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productvariant"
)

// maxSKULen is the longest SKU (the column's length).
const maxSKULen = 100

// variantPlan is what a product write does to its variants, decided before
// anything is written.
type variantPlan struct {
	items   []plannedVariant
	deletes []uuid.UUID
	// defaultPrice is the price of a new variant given none: the first
	// existing variant's (0 for a new product).
	defaultPrice int64
}

// plannedVariant is one variant the product will have.
type plannedVariant struct {
	in       VariantInput
	existing *ent.ProductVariant // nil: a new variant
	sku      string
	title    string
	vals     map[string]string
	position int
}

// generateVariants returns one variant input per combination of opts, each
// with the fields of def.
func generateVariants(opts []Option, def VariantInput) []VariantInput {
	combos := combinations(opts)
	out := make([]VariantInput, 0, len(combos))
	for _, c := range combos {
		v := def
		v.SKU, v.Title, v.Position = nil, nil, nil
		v.OptionValues = optionValuesToJSON(c)
		out = append(out, v)
	}
	return out
}

// planVariants checks the desired variants of a product (productID is nil
// for a new product) against its options, the store's SKUs and the limits,
// and matches them to the existing variants: by SKU, then by option values,
// then (without options) a single variant to the single existing one.
func planVariants(ctx context.Context, c *ent.Client, productID uuid.UUID, slug string, opts, oldOpts []Option,
	desired []VariantInput, existing []*ent.ProductVariant, p *problems) (*variantPlan, error) {
	if len(desired) > MaxVariants {
		p.add(CodeTooMany, path("variants"), "a product has at most %d variants", MaxVariants)
		return nil, nil
	}
	if len(desired) == 0 {
		p.add(CodeRequired, path("variants"), "a product needs at least one variant")
		return nil, nil
	}
	bySKU := map[string]*ent.ProductVariant{}
	byCombo := map[string]*ent.ProductVariant{}
	for _, e := range existing {
		bySKU[e.Sku] = e
		if len(opts) > 0 {
			byCombo[comboKey(opts, optionValuesOf(e.OptionValues))] = e
		}
	}
	used := map[uuid.UUID]bool{}
	skuAt := map[string]int{}
	comboAt := map[string]int{}
	plan := &variantPlan{}
	if len(existing) > 0 {
		plan.defaultPrice = existing[0].Price
	}
	var checkSKUs []string
	for i, d := range desired {
		at := func(f string) []string { return path("variants", i, f) }
		vals := checkOptionValues(opts, d.OptionValues, at("optionValues"), false, p)
		key := ""
		if vals != nil && len(opts) > 0 {
			key = comboKey(opts, vals)
			if j, dup := comboAt[key]; dup {
				p.add(CodeTaken, at("optionValues"), "variant %d has the same option values", j)
			}
			comboAt[key] = i
		}
		checkVariantFields(p, d, func(f string) []string { return at(f) })
		item := plannedVariant{in: d, vals: vals, position: i}
		if d.Position != nil {
			item.position = *d.Position
		}
		if d.SKU != nil {
			item.sku = checkSKU(p, at("sku"), *d.SKU)
			if j, dup := skuAt[item.sku]; dup && item.sku != "" {
				p.add(CodeTaken, at("sku"), "SKU %q is also given to variant %d", item.sku, j)
			}
			skuAt[item.sku] = i
		}
		// Match.
		switch e := bySKU[item.sku]; {
		case item.sku != "" && e != nil && !used[e.ID]:
			item.existing = e
		case key != "" && byCombo[key] != nil && !used[byCombo[key].ID]:
			item.existing = byCombo[key]
		case len(opts) == 0 && len(desired) == 1 && len(existing) == 1 && (item.sku == "" || bySKU[item.sku] == nil):
			item.existing = existing[0]
		}
		if item.existing != nil {
			used[item.existing.ID] = true
		}
		if item.sku != "" && (item.existing == nil || item.existing.Sku != item.sku) {
			checkSKUs = append(checkSKUs, item.sku)
		}
		item.title = variantTitle(opts, vals)
		switch e := item.existing; {
		case d.Title != nil:
			item.title = strings.TrimSpace(*d.Title)
		case e != nil && e.Title != "" && e.Title != variantTitle(oldOpts, optionValuesOf(e.OptionValues)):
			item.title = e.Title // a title of the merchant's own stays
		}
		plan.items = append(plan.items, item)
	}
	for _, e := range existing {
		if !used[e.ID] {
			plan.deletes = append(plan.deletes, e.ID)
		}
	}
	if len(p.list) > 0 {
		return nil, nil
	}
	// SKUs must be free in the store (a variant of this product that keeps
	// or gives up the SKU is fine).
	if len(checkSKUs) > 0 {
		holders, err := c.ProductVariant.Query().Where(productvariant.SkuIn(checkSKUs...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("catalog: check SKUs: %w", err)
		}
		for _, h := range holders {
			if h.ProductID == productID {
				continue
			}
			p.add(CodeTaken, path("variants", skuAt[h.Sku], "sku"), "SKU %q is used by another product", h.Sku)
		}
		if len(p.list) > 0 {
			return nil, nil
		}
	}
	// Generate the SKUs of new variants that have none, free in the store.
	var taken map[string]bool
	for i := range plan.items {
		it := &plan.items[i]
		if it.sku != "" {
			continue
		}
		if it.existing != nil {
			it.sku = it.existing.Sku
			continue
		}
		if taken == nil {
			var err error
			if taken, err = skusWithPrefix(ctx, c, generatedSKU(slug, nil, nil)); err != nil {
				return nil, err
			}
			for _, x := range plan.items {
				if x.sku != "" {
					taken[x.sku] = true
				}
			}
		}
		it.sku = uniqueSlug(generatedSKU(slug, opts, it.vals), taken)
		taken[it.sku] = true
	}
	return plan, nil
}

// skusWithPrefix returns the store's SKUs that start with prefix.
func skusWithPrefix(ctx context.Context, c *ent.Client, prefix string) (map[string]bool, error) {
	used, err := c.ProductVariant.Query().Where(productvariant.SkuHasPrefix(prefix)).
		Select(productvariant.FieldSku).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: SKUs: %w", err)
	}
	taken := make(map[string]bool, len(used))
	for _, u := range used {
		taken[u] = true
	}
	return taken, nil
}

// checkDefaults checks the fields of generated variants (input.price …)
// and reports whether they are fine.
func checkDefaults(p *problems, d VariantInput) bool {
	before := len(p.list)
	checkVariantFields(p, d, func(f string) []string { return path(f) })
	return len(p.list) == before
}

// checkSKU trims a SKU and checks its length and characters.
func checkSKU(p *problems, at []string, raw string) string {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		p.add(CodeInvalid, at, "SKU must not be empty (leave it out to generate one)")
	case len(s) > maxSKULen:
		p.add(CodeTooLong, at, "SKU is too long (at most %d bytes)", maxSKULen)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		p.add(CodeInvalid, at, "SKU contains control characters")
	}
	return s
}

// checkVariantFields checks a variant's amounts and texts.
func checkVariantFields(p *problems, d VariantInput, at func(string) []string) {
	money(p, at("price"), d.Price)
	money(p, at("compareAtPrice"), d.CompareAtPrice.Value)
	money(p, at("cost"), d.Cost.Value)
	if d.WeightGrams != nil && (*d.WeightGrams < 0 || *d.WeightGrams > 1_000_000_000) {
		p.add(CodeInvalid, at("weightGrams"), "weightGrams must be between 0 and 1000000000")
	}
	if d.Title != nil {
		text(p, at("title"), d.Title, 255)
	}
	if d.Barcode.Value != nil {
		text(p, at("barcode"), d.Barcode.Value, 64)
	}
	if d.Position != nil && (*d.Position < 0 || *d.Position > 1_000_000) {
		p.add(CodeInvalid, at("position"), "position must be between 0 and 1000000")
	}
	if d.lowStockThreshold != nil && *d.lowStockThreshold < 0 {
		p.add(CodeInvalid, at("lowStockThreshold"), "lowStockThreshold must not be negative")
	}
	for code, q := range d.inventory {
		if q < 0 || q > maxStock {
			p.add(CodeInvalid, at("inventory"), "stock of %q must be between 0 and %d", code, maxStock)
		}
	}
}

// applyVariantPlan writes a plan: deletes, then updates, then creates (so a
// SKU can move from a deleted variant to a new one). It returns the variant
// id of each planned item.
func applyVariantPlan(ctx context.Context, c *ent.Client, prod *ent.Product, plan *variantPlan) ([]uuid.UUID, error) {
	if err := deleteVariants(ctx, c, plan.deletes); err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(plan.items))
	var creates []*ent.ProductVariantCreate
	var createAt []int
	for i, it := range plan.items {
		if it.existing != nil {
			ids[i] = it.existing.ID
			u := c.ProductVariant.UpdateOne(it.existing)
			setVariantFields(u.Mutation(), it)
			if err := u.Exec(ctx); err != nil {
				return nil, err
			}
			continue
		}
		cr := c.ProductVariant.Create().SetProductID(prod.ID).SetCurrency(prod.Currency)
		if it.in.Price == nil {
			cr.SetPrice(plan.defaultPrice)
		}
		setVariantFields(cr.Mutation(), it)
		creates = append(creates, cr)
		createAt = append(createAt, i)
	}
	if len(creates) > 0 {
		made, err := c.ProductVariant.CreateBulk(creates...).Save(ctx)
		if err != nil {
			return nil, err
		}
		for j, v := range made {
			ids[createAt[j]] = v.ID
		}
	}
	return ids, nil
}

// setVariantFields copies a planned variant into a create or update.
func setVariantFields(m *ent.ProductVariantMutation, it plannedVariant) {
	m.SetSku(it.sku)
	m.SetTitle(it.title)
	m.SetPosition(it.position)
	if len(it.vals) > 0 {
		m.SetOptionValues(optionValuesToJSON(it.vals))
	} else {
		m.ClearOptionValues()
	}
	d := it.in
	if d.Price != nil {
		m.SetPrice(*d.Price)
	}
	setNullable(d.CompareAtPrice, m.SetCompareAtPrice, m.ClearCompareAtPrice)
	setNullable(d.Cost, m.SetCost, m.ClearCost)
	setNullable(trimmed(d.Barcode), m.SetBarcode, m.ClearBarcode)
	if d.WeightGrams != nil {
		m.SetWeightGrams(*d.WeightGrams)
	}
	if d.RequiresShipping != nil {
		m.SetRequiresShipping(*d.RequiresShipping)
	}
	if d.Taxable != nil {
		m.SetTaxable(*d.Taxable)
	}
	if d.TrackInventory != nil {
		m.SetTrackInventory(*d.TrackInventory)
	}
	if d.AllowBackorder != nil {
		m.SetAllowBackorder(*d.AllowBackorder)
	}
}

func trimmed(v Nullable[string]) Nullable[string] {
	if v.Value == nil {
		return v
	}
	s := strings.TrimSpace(*v.Value)
	if s == "" {
		return Null[string]()
	}
	return Val(s)
}

// VariantCreateInput is the input of CreateVariant.
type VariantCreateInput struct {
	ProductID uuid.UUID
	VariantInput
}

// CreateVariant adds a variant to a product. A value the product's option
// does not have yet is added to it.
func (s *Service) CreateVariant(ctx context.Context, in VariantCreateInput) (*ent.ProductVariant, *ent.Product, error) {
	var v *ent.ProductVariant
	var prod *ent.Product
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := s.lockProduct(ctx, c, in.ProductID)
		if err != nil {
			return notFoundAs(err, path("productId"), "product")
		}
		siblings, err := c.ProductVariant.Query().Where(productvariant.ProductID(cur.ID)).
			Order(ent.Asc(productvariant.FieldPosition), ent.Asc(productvariant.FieldID)).All(ctx)
		if err != nil {
			return err
		}
		p := &problems{}
		if len(siblings) >= MaxVariants {
			p.add(CodeTooMany, nil, "a product has at most %d variants", MaxVariants)
			return p.err()
		}
		opts := optionsFromJSON(cur.Options)
		vals, extended := s.checkVariantOptions(p, opts, in.OptionValues, siblings, uuid.Nil)
		checkVariantFields(p, in.VariantInput, func(f string) []string { return path(f) })
		if in.Price == nil {
			p.add(CodeRequired, path("price"), "price is required")
		}
		sku := ""
		if in.SKU != nil {
			sku = checkSKU(p, path("sku"), *in.SKU)
			if err := skuFree(ctx, c, p, sku, uuid.Nil); err != nil {
				return err
			}
		}
		if err := p.err(); err != nil {
			return err
		}
		if sku == "" {
			taken, err := skusWithPrefix(ctx, c, generatedSKU(cur.Slug, nil, nil))
			if err != nil {
				return err
			}
			sku = uniqueSlug(generatedSKU(cur.Slug, extended, vals), taken)
		}
		title := variantTitle(extended, vals)
		if in.Title != nil {
			title = strings.TrimSpace(*in.Title)
		}
		m := c.ProductVariant.Create().SetProductID(cur.ID).SetCurrency(cur.Currency)
		setVariantFields(m.Mutation(), plannedVariant{in: in.VariantInput, sku: sku, title: title, vals: vals, position: len(siblings)})
		if v, err = m.Save(ctx); err != nil {
			return err
		}
		if err := s.placeVariant(ctx, c, siblings, v, in.Position); err != nil {
			return err
		}
		if len(extended) > 0 {
			if err := c.Product.UpdateOne(cur).SetOptions(optionsToJSON(extended)).Exec(ctx); err != nil {
				return err
			}
		}
		if err := refreshProduct(ctx, c, cur.ID); err != nil {
			return err
		}
		if v, err = c.ProductVariant.Get(ctx, v.ID); err != nil {
			return err
		}
		prod, err = c.Product.Get(ctx, cur.ID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return v.Unwrap(), prod.Unwrap(), nil
}

// UpdateVariant changes a variant; an id of another store is NOT_FOUND.
func (s *Service) UpdateVariant(ctx context.Context, id uuid.UUID, in VariantInput) (*ent.ProductVariant, *ent.Product, error) {
	var v *ent.ProductVariant
	var prod *ent.Product
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := c.ProductVariant.Get(ctx, id)
		if err != nil {
			return notFoundAs(err, path("id"), "variant")
		}
		prodCur, err := s.lockProduct(ctx, c, cur.ProductID)
		if err != nil {
			return err
		}
		siblings, err := c.ProductVariant.Query().Where(productvariant.ProductID(cur.ProductID)).
			Order(ent.Asc(productvariant.FieldPosition), ent.Asc(productvariant.FieldID)).All(ctx)
		if err != nil {
			return err
		}
		p := &problems{}
		opts := optionsFromJSON(prodCur.Options)
		vals := optionValuesOf(cur.OptionValues)
		extended := opts
		if in.OptionValues != nil {
			vals, extended = s.checkVariantOptions(p, opts, in.OptionValues, siblings, cur.ID)
		}
		checkVariantFields(p, in, func(f string) []string { return path(f) })
		sku := cur.Sku
		if in.SKU != nil {
			sku = checkSKU(p, path("sku"), *in.SKU)
			if sku != cur.Sku {
				if err := skuFree(ctx, c, p, sku, cur.ID); err != nil {
					return err
				}
			}
		}
		if err := p.err(); err != nil {
			return err
		}
		title := cur.Title
		switch {
		case in.Title != nil:
			title = strings.TrimSpace(*in.Title)
		case in.OptionValues != nil && title == variantTitle(opts, optionValuesOf(cur.OptionValues)):
			title = variantTitle(extended, vals) // a default title follows the values
		}
		u := c.ProductVariant.UpdateOne(cur)
		setVariantFields(u.Mutation(), plannedVariant{in: in, sku: sku, title: title, vals: vals, position: cur.Position})
		if v, err = u.Save(ctx); err != nil {
			return err
		}
		if in.Position != nil {
			if err := s.placeVariant(ctx, c, siblings, v, in.Position); err != nil {
				return err
			}
		}
		if in.OptionValues != nil && len(extended) > 0 {
			if err := c.Product.UpdateOne(prodCur).SetOptions(optionsToJSON(extended)).Exec(ctx); err != nil {
				return err
			}
		}
		if err := refreshProduct(ctx, c, cur.ProductID); err != nil {
			return err
		}
		if v, err = c.ProductVariant.Get(ctx, id); err != nil {
			return err
		}
		prod, err = c.Product.Get(ctx, cur.ProductID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return v.Unwrap(), prod.Unwrap(), nil
}

// DeleteVariant deletes a variant with its stock; the product must keep at
// least one variant.
func (s *Service) DeleteVariant(ctx context.Context, id uuid.UUID) (*ent.Product, error) {
	var prod *ent.Product
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := c.ProductVariant.Get(ctx, id)
		if err != nil {
			return notFoundAs(err, path("id"), "variant")
		}
		if _, err := s.lockProduct(ctx, c, cur.ProductID); err != nil {
			return err
		}
		n, err := c.ProductVariant.Query().Where(productvariant.ProductID(cur.ProductID)).Count(ctx)
		if err != nil {
			return err
		}
		if n <= 1 {
			return fieldErr(CodeInvalid, path("id"), "a product keeps at least one variant: delete the product instead")
		}
		if err := deleteVariants(ctx, c, []uuid.UUID{id}); err != nil {
			return err
		}
		if err := refreshProduct(ctx, c, cur.ProductID); err != nil {
			return err
		}
		prod, err = c.Product.Query().Where(product.ID(cur.ProductID)).Only(ctx)
		return err
	})
	return done(prod, err)
}

// checkVariantOptions checks the option values of a single variant write
// (self is the variant being updated, uuid.Nil for a new one): one value per
// option, a combination no sibling has. New values extend the options,
// which it returns.
func (s *Service) checkVariantOptions(p *problems, opts []Option, raw map[string]any, siblings []*ent.ProductVariant, self uuid.UUID) (map[string]string, []Option) {
	vals := checkOptionValues(opts, raw, path("optionValues"), true, p)
	if vals == nil {
		return nil, opts
	}
	extended := make([]Option, len(opts))
	for i, o := range opts {
		extended[i] = Option{Name: o.Name, Values: append([]string(nil), o.Values...)}
		if v := vals[o.Name]; !contains(o.Values, v) {
			if len(o.Values) >= MaxOptionValues {
				p.add(CodeTooMany, path("optionValues", o.Name), "an option has at most %d values", MaxOptionValues)
			}
			extended[i].Values = append(extended[i].Values, v)
		}
	}
	if len(opts) > 0 {
		key := comboKey(opts, vals)
		for _, sib := range siblings {
			if sib.ID != self && comboKey(opts, optionValuesOf(sib.OptionValues)) == key {
				p.add(CodeTaken, path("optionValues"), "variant %s has these option values", sib.Sku)
			}
		}
	}
	return vals, extended
}

// skuFree reports TAKEN on input.sku when another variant of the store has sku.
func skuFree(ctx context.Context, c *ent.Client, p *problems, sku string, self uuid.UUID) error {
	if sku == "" {
		return nil
	}
	taken, err := c.ProductVariant.Query().Where(productvariant.Sku(sku), productvariant.IDNEQ(self)).Exist(ctx)
	if err != nil {
		return err
	}
	if taken {
		p.add(CodeTaken, path("sku"), "SKU %q is used by another variant", sku)
	}
	return nil
}

// placeVariant puts v at pos among siblings (the end when nil) and
// renumbers them 0, 1, 2 …
func (s *Service) placeVariant(ctx context.Context, c *ent.Client, siblings []*ent.ProductVariant, v *ent.ProductVariant, pos *int) error {
	ids := make([]uuid.UUID, 0, len(siblings))
	cur := map[uuid.UUID]int{}
	for _, sib := range siblings {
		ids = append(ids, sib.ID)
		cur[sib.ID] = sib.Position
	}
	cur[v.ID] = v.Position
	for i, id := range reorder(ids, v.ID, pos) {
		if cur[id] == i {
			continue
		}
		if err := c.ProductVariant.UpdateOneID(id).SetPosition(i).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

package checkout

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productcategory"
	"github.com/omnisphere/omnisphere/ent/shippingmethod"
	"github.com/omnisphere/omnisphere/schema/types"
)

// DiscountInput creates or changes a discount; nil fields stay (or take
// their default on create).
type DiscountInput struct {
	Code, Title          *string
	Kind                 *string
	Value, MinSubtotal   *int64
	UsageLimit           *int // 0 clears the limit
	OncePerCustomer      *bool
	Combinable, Active   *bool
	StartsAt, EndsAt     *time.Time
	ClearEndsAt          bool
	ProductIDs           []uuid.UUID
	CategoryIDs          []uuid.UUID
	SetProducts, SetCats bool
}

// SaveDiscount creates (id nil) or updates a discount of the store.
func (s *Service) SaveDiscount(ctx context.Context, id *uuid.UUID, in DiscountInput) (*ent.Discount, error) {
	p := &problems{}
	var code *string
	if in.Code != nil {
		c := strings.ToUpper(strings.TrimSpace(*in.Code))
		switch {
		case c == "":
			p.add(CodeRequired, path("input", "code"), "code is required")
		case len(c) > 64 || strings.ContainsAny(c, " \t\r\n\x00"):
			p.add(CodeInvalid, path("input", "code"), "code must be 1-64 characters without spaces")
		}
		code = &c
	} else if id == nil {
		p.add(CodeRequired, path("input", "code"), "code is required")
	}
	title := checkText(p, path("input", "title"), in.Title, 200)
	if in.Kind != nil && discount.KindValidator(discount.Kind(*in.Kind)) != nil {
		p.add(CodeInvalid, path("input", "kind"), "unknown kind")
	} else if in.Kind == nil && id == nil {
		p.add(CodeRequired, path("input", "kind"), "kind is required")
	}
	if in.Value != nil && (*in.Value < 0 || *in.Value > MaxDiscountValue) {
		p.add(CodeInvalid, path("input", "value"), "value must be between 0 and %d", int64(MaxDiscountValue))
	}
	if in.Kind != nil && *in.Kind == string(discount.KindPERCENTAGE) && in.Value != nil && *in.Value > 10_000 {
		p.add(CodeInvalid, path("input", "value"), "a percentage is at most 10000 basis points (100%%)")
	}
	if in.MinSubtotal != nil && (*in.MinSubtotal < 0 || *in.MinSubtotal > MaxDiscountValue) {
		p.add(CodeInvalid, path("input", "minSubtotalAmount"), "minSubtotalAmount must be between 0 and %d", int64(MaxDiscountValue))
	}
	if in.UsageLimit != nil && *in.UsageLimit < 0 {
		p.add(CodeInvalid, path("input", "usageLimit"), "usageLimit must not be negative")
	}
	if in.StartsAt != nil && in.EndsAt != nil && !in.EndsAt.After(*in.StartsAt) {
		p.add(CodeInvalid, path("input", "endsAt"), "endsAt must be after startsAt")
	}
	if len(in.ProductIDs) > 500 || len(in.CategoryIDs) > 500 {
		p.add(CodeTooMany, path("input"), "at most 500 products and 500 categories")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.Discount
	err := s.inStore(ctx, "discount save", func(ctx context.Context, c *ent.Client) error {
		p := &problems{}
		if code != nil {
			q := c.Discount.Query().Where(discount.Code(*code))
			if id != nil {
				q.Where(discount.IDNEQ(*id))
			}
			if taken, err := q.Exist(ctx); err != nil {
				return err
			} else if taken {
				p.add(CodeTaken, path("input", "code"), "another discount has the code %s", *code)
			}
		}
		if in.SetProducts && len(in.ProductIDs) > 0 {
			n, err := c.Product.Query().Where(productIDIn(in.ProductIDs)).Count(ctx)
			if err != nil {
				return err
			}
			if n != len(uniq(in.ProductIDs)) {
				p.add(CodeNotFound, path("input", "appliesToProductIds"), "some product ids are not of this store")
			}
		}
		if in.SetCats && len(in.CategoryIDs) > 0 {
			n, err := c.ProductCategory.Query().Where(categoryIDIn(in.CategoryIDs)).Count(ctx)
			if err != nil {
				return err
			}
			if n != len(uniq(in.CategoryIDs)) {
				p.add(CodeNotFound, path("input", "appliesToCategoryIds"), "some category ids are not of this store")
			}
		}
		if err := p.err(); err != nil {
			return err
		}
		var m *ent.DiscountMutation
		var save func() (*ent.Discount, error)
		if id == nil {
			cr := c.Discount.Create()
			m, save = cr.Mutation(), func() (*ent.Discount, error) { return cr.Save(ctx) }
		} else {
			cur, err := c.Discount.Get(ctx, *id)
			if ent.IsNotFound(err) {
				return fieldErr(CodeNotFound, path("id"), "no discount with this id")
			}
			if err != nil {
				return err
			}
			if in.Kind == nil && cur.Kind == discount.KindPERCENTAGE && in.Value != nil && *in.Value > 10_000 {
				return fieldErr(CodeInvalid, path("input", "value"), "a percentage is at most 10000 basis points (100%%)")
			}
			up := c.Discount.UpdateOne(cur)
			m, save = up.Mutation(), func() (*ent.Discount, error) { return up.Save(ctx) }
		}
		if code != nil {
			m.SetCode(*code)
		}
		if title != nil {
			m.SetTitle(*title)
		}
		if in.Kind != nil {
			m.SetKind(discount.Kind(*in.Kind))
		}
		if in.Value != nil {
			m.SetValue(*in.Value)
		}
		if in.MinSubtotal != nil {
			m.SetMinSubtotalAmount(*in.MinSubtotal)
		}
		if in.UsageLimit != nil {
			if *in.UsageLimit == 0 {
				m.ClearUsageLimit()
			} else {
				m.SetUsageLimit(*in.UsageLimit)
			}
		}
		if in.OncePerCustomer != nil {
			m.SetOncePerCustomer(*in.OncePerCustomer)
		}
		if in.Combinable != nil {
			m.SetCombinable(*in.Combinable)
		}
		if in.Active != nil {
			m.SetActive(*in.Active)
		}
		if in.StartsAt != nil {
			m.SetStartsAt(in.StartsAt.UTC())
		}
		if in.EndsAt != nil {
			m.SetEndsAt(in.EndsAt.UTC())
		} else if in.ClearEndsAt {
			m.ClearEndsAt()
		}
		if in.SetProducts {
			m.SetAppliesToProductIds(idStrings(in.ProductIDs))
		}
		if in.SetCats {
			m.SetAppliesToCategoryIds(idStrings(in.CategoryIDs))
		}
		d, err := save()
		if err != nil {
			return err
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// ShippingInput creates or changes a shipping method; nil fields stay.
type ShippingInput struct {
	Name, Code, Description       *string
	Price                         *int64
	MinSubtotal, MaxSubtotal      *int64
	FreeOver                      *int64
	ClearMin, ClearMax, ClearFree bool
	Countries                     []string
	SetCountries                  bool
	WeightBands                   []WeightBand
	SetBands                      bool
	DaysMin, DaysMax              *int
	Active                        *bool
	Position                      *int
}

// SaveShippingMethod creates (id nil) or updates a shipping method.
func (s *Service) SaveShippingMethod(ctx context.Context, id *uuid.UUID, in ShippingInput) (*ent.ShippingMethod, error) {
	p := &problems{}
	name := checkText(p, path("input", "name"), in.Name, 200)
	code := checkText(p, path("input", "code"), in.Code, 64)
	desc := checkText(p, path("input", "description"), in.Description, 1000)
	if id == nil && (name == nil || *name == "") {
		p.add(CodeRequired, path("input", "name"), "name is required")
	}
	if name != nil && *name == "" && id != nil {
		p.add(CodeRequired, path("input", "name"), "name must not be empty")
	}
	for f, v := range map[string]*int64{"price": in.Price, "minSubtotalAmount": in.MinSubtotal, "maxSubtotalAmount": in.MaxSubtotal, "freeOverAmount": in.FreeOver} {
		if v != nil && (*v < 0 || *v > MaxShippingPrice) {
			p.add(CodeInvalid, path("input", f), "%s must be between 0 and %d", f, int64(MaxShippingPrice))
		}
	}
	var countries []string
	for i, cc := range in.Countries {
		cc = strings.ToUpper(strings.TrimSpace(cc))
		if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			p.add(CodeInvalid, path("input", "countries", i), "not an ISO 3166-1 alpha-2 code")
		} else if !slices.Contains(countries, cc) {
			countries = append(countries, cc)
		}
	}
	var bands []types.WeightBand
	for i, b := range in.WeightBands {
		if b.MaxGrams <= 0 || b.Price < 0 || b.Price > MaxShippingPrice {
			p.add(CodeInvalid, path("input", "weightBands", i), "maxGrams must be positive and price between 0 and %d", int64(MaxShippingPrice))
		}
		bands = append(bands, types.WeightBand{MaxGrams: b.MaxGrams, Price: b.Price})
	}
	if len(bands) > 50 {
		p.add(CodeTooMany, path("input", "weightBands"), "at most 50 weight bands")
	}
	slices.SortStableFunc(bands, func(a, b types.WeightBand) int { return a.MaxGrams - b.MaxGrams })
	for _, v := range []*int{in.DaysMin, in.DaysMax} {
		if v != nil && (*v < 0 || *v > 365) {
			p.add(CodeInvalid, path("input", "estimatedDays"), "estimated days must be between 0 and 365")
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.ShippingMethod
	err := s.inStore(ctx, "shipping method save", func(ctx context.Context, c *ent.Client) error {
		var m *ent.ShippingMethodMutation
		var save func() (*ent.ShippingMethod, error)
		if id == nil {
			cr := c.ShippingMethod.Create()
			if code == nil || *code == "" {
				c := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(*name), " ", "_"))
				if len(c) > 64 {
					c = c[:64]
				}
				code = &c
			}
			m, save = cr.Mutation(), func() (*ent.ShippingMethod, error) { return cr.Save(ctx) }
		} else {
			cur, err := c.ShippingMethod.Get(ctx, *id)
			if ent.IsNotFound(err) {
				return fieldErr(CodeNotFound, path("id"), "no shipping method with this id")
			}
			if err != nil {
				return err
			}
			up := c.ShippingMethod.UpdateOne(cur)
			m, save = up.Mutation(), func() (*ent.ShippingMethod, error) { return up.Save(ctx) }
		}
		if code != nil && *code != "" {
			q := c.ShippingMethod.Query().Where(shippingmethod.Code(*code))
			if id != nil {
				q.Where(shippingmethod.IDNEQ(*id))
			}
			if taken, err := q.Exist(ctx); err != nil {
				return err
			} else if taken {
				return fieldErr(CodeTaken, path("input", "code"), "another shipping method has the code %s", *code)
			}
			m.SetCode(*code)
		}
		if name != nil {
			m.SetName(*name)
		}
		if desc != nil {
			m.SetDescription(*desc)
		}
		if in.Price != nil {
			m.SetPrice(*in.Price)
		}
		setOptional(m.SetMinSubtotalAmount, m.ClearMinSubtotalAmount, in.MinSubtotal, in.ClearMin)
		setOptional(m.SetMaxSubtotalAmount, m.ClearMaxSubtotalAmount, in.MaxSubtotal, in.ClearMax)
		setOptional(m.SetFreeOverAmount, m.ClearFreeOverAmount, in.FreeOver, in.ClearFree)
		if in.SetCountries {
			m.SetCountries(nonNil(countries))
		}
		if in.SetBands {
			m.SetWeightBands(nonNil(bands))
		}
		if in.DaysMin != nil {
			m.SetEstimatedDaysMin(*in.DaysMin)
		}
		if in.DaysMax != nil {
			m.SetEstimatedDaysMax(*in.DaysMax)
		}
		if in.Active != nil {
			m.SetActive(*in.Active)
		}
		if in.Position != nil {
			m.SetPosition(*in.Position)
		}
		sm, err := save()
		out = sm
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

func setOptional(set func(int64), clear func(), v *int64, clearIt bool) {
	switch {
	case v != nil:
		set(*v)
	case clearIt:
		clear()
	}
}

func idStrings(ids []uuid.UUID) []string {
	out := make([]string, 0, len(ids))
	for _, id := range uniq(ids) {
		out = append(out, id.String())
	}
	return out
}

func uniq(ids []uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func productIDIn(ids []uuid.UUID) predicate.Product { return product.IDIn(uniq(ids)...) }

func categoryIDIn(ids []uuid.UUID) predicate.ProductCategory {
	return productcategory.IDIn(uniq(ids)...)
}

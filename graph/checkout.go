package graph

import (
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/checkout"
)

// Conversions between the checkout GraphQL types and internal/checkout.

// cartModel turns a priced cart into its GraphQL shape.
func cartModel(c *checkout.Cart) *model.Cart {
	if c == nil {
		return nil
	}
	cur := c.Currency
	id, _ := uuid.Parse(c.Cart.Token)
	out := &model.Cart{
		ID: id, CreatedAt: c.Cart.CreatedAt, UpdatedAt: c.Cart.UpdatedAt,
		Email: nonEmpty(c.Cart.Email), Note: nonEmpty(c.Cart.Note),
		TotalQuantity:    c.TotalQuantity(),
		RequiresShipping: c.RequiresShipping,
		ShippingAddress:  addressModel(c.ShippingAddress),
		BillingAddress:   addressModel(c.BillingAddress),
		Cost: &model.CartCost{
			Subtotal: money(c.Pricing.Subtotal, cur), DiscountTotal: money(c.Pricing.DiscountTotal, cur),
			ShippingTotal: money(c.Pricing.ShippingTotal, cur), TaxTotal: money(c.Pricing.TaxTotal, cur),
			Total: money(c.Pricing.Total, cur), TaxesIncluded: c.TaxesIncluded,
		},
		Lines:                    make([]*model.CartLine, 0, len(c.Lines)),
		DiscountCodes:            make([]*model.CartDiscountCode, 0, len(c.Codes)),
		AvailableShippingMethods: make([]*model.CartShippingMethod, 0, len(c.Available)),
		Warnings:                 warningModels(c.Warnings),
	}
	for _, l := range c.Lines {
		out.Lines = append(out.Lines, &model.CartLine{
			ID: l.Item.ID, Quantity: l.Item.Quantity, Variant: l.Variant,
			Cost: &model.CartLineCost{
				UnitPrice: money(l.UnitPrice, cur), Subtotal: money(l.Price.Subtotal, cur),
				Discount: money(l.Price.Discount, cur), Total: money(l.Price.Subtotal-l.Price.Discount, cur),
			},
		})
	}
	for _, cv := range c.Codes {
		out.DiscountCodes = append(out.DiscountCodes, &model.CartDiscountCode{
			Code: cv.Code, Applicable: cv.Applicable, Reason: nonEmpty(cv.Reason), Amount: money(cv.Amount, cur)})
	}
	for _, o := range c.Available {
		out.AvailableShippingMethods = append(out.AvailableShippingMethods, shippingOption(o, cur))
	}
	if c.Shipping != nil {
		out.ShippingMethod = shippingOption(*c.Shipping, cur)
	}
	return out
}

func shippingOption(o checkout.ShippingOption, cur string) *model.CartShippingMethod {
	m := o.Method
	return &model.CartShippingMethod{ID: m.ID, Name: m.Name, Description: nonEmpty(m.Description),
		Price: money(o.Cost, cur), EstimatedDaysMin: m.EstimatedDaysMin, EstimatedDaysMax: m.EstimatedDaysMax}
}

func warningModels(ws []checkout.Warning) []*model.CartWarning {
	out := make([]*model.CartWarning, 0, len(ws))
	for _, w := range ws {
		out = append(out, &model.CartWarning{Code: model.CartWarningCode(w.Code), Message: w.Message, LineID: w.LineID})
	}
	return out
}

func addressModel(a *checkout.Address) *model.MailingAddress {
	if a == nil {
		return nil
	}
	return &model.MailingAddress{FirstName: nonEmpty(a.FirstName), LastName: nonEmpty(a.LastName),
		Company: nonEmpty(a.Company), Line1: a.Line1, Line2: nonEmpty(a.Line2), City: a.City,
		Province: nonEmpty(a.Province), PostalCode: nonEmpty(a.PostalCode), CountryCode: a.CountryCode,
		Phone: nonEmpty(a.Phone)}
}

func addressInput(a *model.MailingAddressInput) *checkout.Address {
	if a == nil {
		return nil
	}
	return &checkout.Address{FirstName: deref(a.FirstName), LastName: deref(a.LastName), Company: deref(a.Company),
		Line1: a.Line1, Line2: deref(a.Line2), City: a.City, Province: deref(a.Province),
		PostalCode: deref(a.PostalCode), CountryCode: a.CountryCode, Phone: deref(a.Phone)}
}

func lineInputs(ls []*model.CartLineInput) []checkout.LineInput {
	out := make([]checkout.LineInput, 0, len(ls))
	for _, l := range ls {
		out = append(out, checkout.LineInput{VariantID: l.VariantID, Quantity: l.Quantity})
	}
	return out
}

// cartPayload answers a cart mutation.
func cartPayload(c *checkout.Cart, warnings []checkout.Warning, err error) (*model.CartPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	if len(ues) > 0 {
		return &model.CartPayload{UserErrors: ues, Warnings: []*model.CartWarning{}}, nil
	}
	return &model.CartPayload{Cart: cartModel(c), Warnings: warningModels(warnings), UserErrors: ues}, nil
}

func discountInput(in model.DiscountInput) checkout.DiscountInput {
	out := checkout.DiscountInput{Code: in.Code, Title: in.Title, MinSubtotal: int64Ptr(in.MinSubtotalAmount),
		Value: int64Ptr(in.Value), OncePerCustomer: in.OncePerCustomer, Combinable: in.Combinable,
		Active: in.Active, StartsAt: in.StartsAt,
		ProductIDs: in.AppliesToProductIds, SetProducts: in.AppliesToProductIds != nil,
		CategoryIDs: in.AppliesToCategoryIds, SetCats: in.AppliesToCategoryIds != nil}
	if in.Kind != nil {
		k := string(*in.Kind)
		out.Kind = &k
	}
	if in.UsageLimit.IsSet() {
		zero := 0
		out.UsageLimit = &zero
		if v := in.UsageLimit.Value(); v != nil {
			out.UsageLimit = v
		}
	}
	if in.EndsAt.IsSet() {
		out.EndsAt, out.ClearEndsAt = in.EndsAt.Value(), in.EndsAt.Value() == nil
	}
	return out
}

func shippingInput(in model.ShippingMethodInput) checkout.ShippingInput {
	out := checkout.ShippingInput{Name: in.Name, Code: in.Code, Description: in.Description,
		Price: int64Ptr(in.Price), Countries: in.Countries, SetCountries: in.Countries != nil,
		SetBands: in.WeightBands != nil, DaysMin: in.EstimatedDaysMin, DaysMax: in.EstimatedDaysMax,
		Active: in.Active, Position: in.Position}
	out.MinSubtotal, out.ClearMin = omitInt64(in.MinSubtotalAmount)
	out.MaxSubtotal, out.ClearMax = omitInt64(in.MaxSubtotalAmount)
	out.FreeOver, out.ClearFree = omitInt64(in.FreeOverAmount)
	for _, b := range in.WeightBands {
		out.WeightBands = append(out.WeightBands, checkout.WeightBand{MaxGrams: b.MaxGrams, Price: int64(b.Price)})
	}
	return out
}

func omitInt64(o graphql.Omittable[*int]) (*int64, bool) {
	if !o.IsSet() {
		return nil, false
	}
	if o.Value() == nil {
		return nil, true
	}
	return int64Ptr(o.Value()), false
}

func int64Ptr(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func cancelReason(r *order.CancelReason) order.CancelReason {
	if r == nil {
		return order.CancelReasonSTAFF
	}
	return *r
}

// orderPayload answers an order mutation.
func orderPayload(o *ent.Order, err error) (*model.OrderPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	if len(ues) > 0 {
		return &model.OrderPayload{UserErrors: ues}, nil
	}
	return &model.OrderPayload{Order: o, UserErrors: ues}, nil
}

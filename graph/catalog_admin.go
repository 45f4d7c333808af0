package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/catalog"
)

// Conversions of the admin catalogue's GraphQL inputs to internal/catalog.

// omit turns an omittable nullable input field into a catalog.Nullable:
// left out keeps the stored value, null clears it.
func adminNullable[T any](o graphql.Omittable[*T]) catalog.Nullable[T] {
	if !o.IsSet() {
		return catalog.Nullable[T]{}
	}
	return catalog.Nullable[T]{Set: true, Value: o.Value()}
}

func adminNullableInt64(o graphql.Omittable[*int]) catalog.Nullable[int64] {
	if !o.IsSet() {
		return catalog.Nullable[int64]{}
	}
	return catalog.Nullable[int64]{Set: true, Value: adminInt64(o.Value())}
}

func adminNullableMap(o graphql.Omittable[map[string]any]) catalog.Nullable[map[string]any] {
	if !o.IsSet() {
		return catalog.Nullable[map[string]any]{}
	}
	if o.Value() == nil {
		return catalog.Null[map[string]any]()
	}
	return catalog.Val(o.Value())
}

func adminInt64(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func adminOptions(in []*model.ProductOptionInput) []catalog.Option {
	if in == nil {
		return nil
	}
	out := make([]catalog.Option, 0, len(in))
	for _, o := range in {
		out = append(out, catalog.Option{Name: o.Name, Values: o.Values})
	}
	return out
}

func adminVariants(in []*model.ProductVariantInput) []catalog.VariantInput {
	if in == nil {
		return nil
	}
	out := make([]catalog.VariantInput, 0, len(in))
	for _, v := range in {
		price := int64(v.Price)
		out = append(out, catalog.VariantInput{
			SKU: v.Sku, Title: v.Title, OptionValues: v.OptionValues, Price: &price,
			CompareAtPrice: catalog.Ptr(adminInt64(v.CompareAtPrice)), Cost: catalog.Ptr(adminInt64(v.Cost)),
			WeightGrams: v.WeightGrams, Barcode: catalog.Ptr(v.Barcode), Position: v.Position,
			RequiresShipping: v.RequiresShipping, Taxable: v.Taxable, TrackInventory: v.TrackInventory,
			AllowBackorder: v.AllowBackorder,
		})
	}
	return out
}

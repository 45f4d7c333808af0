package checkout

import (
	"math"
	"testing"
)

func TestShippingRate(t *testing.T) {
	flat := ShippingMethod{Name: "Flat", Price: 500, Active: true}
	with := func(edit func(*ShippingMethod)) ShippingMethod {
		m := flat
		edit(&m)
		return m
	}
	// Deliberately unsorted.
	banded := with(func(m *ShippingMethod) {
		m.WeightBands = []WeightBand{{MaxGrams: 5000, Price: 900}, {MaxGrams: 1000, Price: 500}, {MaxGrams: 2000, Price: 700}}
	})
	type args struct {
		subtotal, discounted int64
		weight               int
		country              string
	}
	cart := args{subtotal: 3000, discounted: 3000, weight: 800, country: "US"}
	for _, tc := range []struct {
		name    string
		m       ShippingMethod
		a       args
		cost    int64
		offered bool
	}{
		{"flat", flat, cart, 500, true},
		{"inactive", with(func(m *ShippingMethod) { m.Active = false }), cart, 0, false},
		{"negative price is 0", with(func(m *ShippingMethod) { m.Price = -1 }), cart, 0, true},
		{"price clamped", with(func(m *ShippingMethod) { m.Price = math.MaxInt64 }), cart, MaxShippingPrice, true},

		{"band: empty cart weighs 0", banded, args{weight: 0}, 500, true},
		{"band: negative weight is 0", banded, args{weight: -10}, 500, true},
		{"band: at the first boundary", banded, args{weight: 1000}, 500, true},
		{"band: just over it", banded, args{weight: 1001}, 700, true},
		{"band: at the last boundary", banded, args{weight: 5000}, 900, true},
		{"band: heavier than the last band", banded, args{weight: 5001}, 0, false},
		{"band: huge weight", banded, args{weight: math.MaxInt}, 0, false},
		{"bands ignore the flat price", with(func(m *ShippingMethod) { m.WeightBands = []WeightBand{{MaxGrams: 100, Price: 50}} }),
			args{weight: 1}, 50, true},

		{"free over: below", with(func(m *ShippingMethod) { m.FreeOverAmount = ptr[int64](5000) }), args{subtotal: 4999, discounted: 4999}, 500, true},
		{"free over: at", with(func(m *ShippingMethod) { m.FreeOverAmount = ptr[int64](5000) }), args{subtotal: 5000, discounted: 5000}, 0, true},
		{"free over: after discounts", with(func(m *ShippingMethod) { m.FreeOverAmount = ptr[int64](5000) }), args{subtotal: 6000, discounted: 4000}, 500, true},
		{"free over: zero is always free", with(func(m *ShippingMethod) { m.FreeOverAmount = ptr[int64](0) }), args{}, 0, true},
		{"free over a band", with(func(m *ShippingMethod) {
			m.WeightBands, m.FreeOverAmount = banded.WeightBands, ptr[int64](100)
		}), args{subtotal: 100, discounted: 100, weight: 3000}, 0, true},
		{"free over does not rescue a weight out of the bands", with(func(m *ShippingMethod) {
			m.WeightBands, m.FreeOverAmount = banded.WeightBands, ptr[int64](100)
		}), args{subtotal: 100, discounted: 100, weight: 9000}, 0, false},

		{"min: below", with(func(m *ShippingMethod) { m.MinSubtotal = ptr[int64](1000) }), args{subtotal: 999, discounted: 999}, 0, false},
		{"min: at", with(func(m *ShippingMethod) { m.MinSubtotal = ptr[int64](1000) }), args{subtotal: 1000, discounted: 1000}, 500, true},
		{"min: before discounts", with(func(m *ShippingMethod) { m.MinSubtotal = ptr[int64](1000) }), args{subtotal: 1000, discounted: 10}, 500, true},
		{"max: at", with(func(m *ShippingMethod) { m.MaxSubtotal = ptr[int64](5000) }), args{subtotal: 5000, discounted: 5000}, 500, true},
		{"max: above", with(func(m *ShippingMethod) { m.MaxSubtotal = ptr[int64](5000) }), args{subtotal: 5001, discounted: 4000}, 0, false},
		{"min and max", with(func(m *ShippingMethod) { m.MinSubtotal, m.MaxSubtotal = ptr[int64](10), ptr[int64](20) }), args{subtotal: 15}, 500, true},

		{"countries: listed", with(func(m *ShippingMethod) { m.Countries = []string{"us", "CA"} }), args{country: "US"}, 500, true},
		{"countries: case-insensitive", with(func(m *ShippingMethod) { m.Countries = []string{"us", "CA"} }), args{country: "ca"}, 500, true},
		{"countries: not listed", with(func(m *ShippingMethod) { m.Countries = []string{"us", "CA"} }), args{country: "FR"}, 0, false},
		{"countries: unknown country is offered", with(func(m *ShippingMethod) { m.Countries = []string{"us", "CA"} }), args{country: ""}, 500, true},
		{"countries: empty list is everywhere", flat, args{country: "FR"}, 500, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cost, offered := ShippingRate(tc.m, tc.a.subtotal, tc.a.discounted, tc.a.weight, tc.a.country)
			equal(t, "offered", offered, tc.offered)
			equal(t, "cost", cost, tc.cost)
		})
	}

	t.Run("bands are sorted on a copy", func(t *testing.T) {
		ShippingRate(banded, 0, 0, 1500, "")
		equal(t, "bands", banded.WeightBands, []WeightBand{{MaxGrams: 5000, Price: 900}, {MaxGrams: 1000, Price: 500}, {MaxGrams: 2000, Price: 700}})
	})
}

func TestPriceShipping(t *testing.T) {
	heavy := item("anvil", 1, 1000, 3)
	heavy.WeightGrams = 400 // 1200 g
	light := item("card", 2, 200, 2)
	light.WeightGrams = 10 // 20 g
	digital := Line{Key: "ebook", ProductID: id(3), UnitPrice: 900, Quantity: 1, WeightGrams: 5000}
	banded := &ShippingMethod{Active: true, WeightBands: []WeightBand{{MaxGrams: 1000, Price: 400}, {MaxGrams: 1220, Price: 600}}}
	for _, tc := range []struct {
		name        string
		lines       []Line
		discounts   []Discount
		method      *ShippingMethod
		country     string
		shipping    int64
		unavailable bool
		requires    bool
	}{
		{"no method", []Line{heavy}, nil, nil, "", 0, false, true},
		{"weight of the shipped lines times quantity", []Line{heavy, light, digital}, nil, banded, "", 600, false, true},
		{"over the last band", []Line{heavy, light, light}, nil, banded, "", 0, true, true},
		{"country not served", []Line{heavy}, nil, &ShippingMethod{Active: true, Price: 300, Countries: []string{"DE"}}, "fr", 0, true, true},
		{"country served", []Line{heavy}, nil, &ShippingMethod{Active: true, Price: 300, Countries: []string{"DE"}}, "de", 300, false, true},
		{"inactive method", []Line{heavy}, nil, &ShippingMethod{Price: 300}, "", 0, true, true},
		{"nothing to ship: no charge, not unavailable", []Line{digital}, nil, &ShippingMethod{Price: 300}, "", 0, false, false},
		{"free over, after discounts", []Line{heavy}, []Discount{valid(0, FixedAmount, 1)},
			&ShippingMethod{Active: true, Price: 300, FreeOverAmount: ptr[int64](3000)}, "", 300, false, true},
		{"free over reached", []Line{heavy}, nil, &ShippingMethod{Active: true, Price: 300, FreeOverAmount: ptr[int64](3000)}, "", 0, false, true},
		{"max subtotal before discounts", []Line{heavy}, []Discount{valid(0, FixedAmount, 1000)},
			&ShippingMethod{Active: true, Price: 300, MaxSubtotal: ptr[int64](2999)}, "", 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := price(t, Input{Lines: tc.lines, Discounts: tc.discounts, Shipping: tc.method, Country: tc.country, Tax: Tax{RateBps: 2000}})
			equal(t, "shipping", res.ShippingTotal, tc.shipping)
			equal(t, "unavailable", res.ShippingUnavailable, tc.unavailable)
			equal(t, "requires shipping", res.RequiresShipping, tc.requires)
		})
	}
}

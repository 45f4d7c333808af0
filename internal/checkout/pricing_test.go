package checkout

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// id is a readable fixed UUID.
func id(n byte) uuid.UUID { return uuid.UUID{0: 0xc0, 15: n} }

func ptr[T any](v T) *T { return &v }

// equal fails t when got and want differ.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// price runs Price and checks the Result invariants on the way.
func price(t *testing.T, in Input) Result {
	t.Helper()
	if in.Now.IsZero() {
		in.Now = now
	}
	res := Price(in)
	checkInvariants(t, in, res)
	return res
}

// item is a taxable, shipped line of product p.
func item(key string, p byte, unit int64, qty int) Line {
	return Line{Key: key, VariantID: id(100 + p), ProductID: id(p), UnitPrice: unit, Quantity: qty, Taxable: true, RequiresShipping: true}
}

// valid is an active, started, unlimited discount with no scope.
func valid(n byte, kind DiscountKind, value int64) Discount {
	return Discount{ID: id(200 + n), Code: "CODE" + string(rune('A'+n)), Kind: kind, Value: value, StartsAt: now.Add(-time.Hour), Active: true}
}

func TestPriceLines(t *testing.T) {
	res := price(t, Input{Lines: []Line{item("a", 1, 1999, 3), item("b", 2, 500, 1), item("c", 3, 0, 2)}})
	equal(t, "result", res, Result{
		Lines:            []LineResult{{Key: "a", Subtotal: 5997}, {Key: "b", Subtotal: 500}, {Key: "c", Subtotal: 0}},
		Subtotal:         6497,
		Total:            6497,
		RequiresShipping: true,
	})

	empty := price(t, Input{})
	equal(t, "empty cart", empty, Result{Lines: []LineResult{}})
}

func TestPriceRejections(t *testing.T) {
	cart := []Line{item("a", 1, 1000, 2)} // subtotal 2000
	for _, tc := range []struct {
		name   string
		edit   func(*Discount)
		lines  []Line
		reason RejectReason
	}{
		{"inactive", func(d *Discount) { d.Active = false }, cart, RejectInactive},
		{"not started", func(d *Discount) { d.StartsAt = now.Add(time.Second) }, cart, RejectNotStarted},
		{"starts now is valid", func(d *Discount) { d.StartsAt = now }, cart, ""},
		{"ends now is expired", func(d *Discount) { d.EndsAt = ptr(now) }, cart, RejectExpired},
		{"ended", func(d *Discount) { d.EndsAt = ptr(now.Add(-time.Hour)) }, cart, RejectExpired},
		{"ends after now is valid", func(d *Discount) { d.EndsAt = ptr(now.Add(time.Nanosecond)) }, cart, ""},
		{"usage limit reached", func(d *Discount) { d.UsageLimit, d.UsageCount = ptr(5), 5 }, cart, RejectUsageLimit},
		{"usage limit passed", func(d *Discount) { d.UsageLimit, d.UsageCount = ptr(5), 9 }, cart, RejectUsageLimit},
		{"usage limit zero", func(d *Discount) { d.UsageLimit = ptr(0) }, cart, RejectUsageLimit},
		{"one use left", func(d *Discount) { d.UsageLimit, d.UsageCount = ptr(5), 4 }, cart, ""},
		{"used by the buyer", func(d *Discount) { d.OncePerCustomer, d.UsedByBuyer = true, true }, cart, RejectAlreadyUsed},
		{"used by the buyer, not once per customer", func(d *Discount) { d.UsedByBuyer = true }, cart, ""},
		{"once per customer, first use", func(d *Discount) { d.OncePerCustomer = true }, cart, ""},
		{"minimum not met", func(d *Discount) { d.MinSubtotal = 2001 }, cart, RejectMinimum},
		{"minimum met exactly", func(d *Discount) { d.MinSubtotal = 2000 }, cart, ""},
		{"negative minimum is none", func(d *Discount) { d.MinSubtotal = -1 }, cart, ""},
		{"product not in cart", func(d *Discount) { d.ProductIDs = []uuid.UUID{id(9)} }, cart, RejectNotApplicable},
		{"category not in cart", func(d *Discount) { d.CategoryIDs = []uuid.UUID{id(9)} }, cart, RejectNotApplicable},
		{"only a free line in scope", func(d *Discount) { d.ProductIDs = []uuid.UUID{id(2)} },
			[]Line{item("a", 1, 1000, 2), item("gift", 2, 0, 1)}, RejectNotApplicable},
		{"empty cart", func(*Discount) {}, nil, RejectNotApplicable},
		{"unknown kind", func(d *Discount) { d.Kind = "BUY_X_GET_Y" }, cart, RejectNotApplicable},
		{"free shipping, nothing to ship", func(d *Discount) { d.Kind = FreeShipping },
			[]Line{{Key: "ebook", ProductID: id(1), UnitPrice: 900, Quantity: 1}}, RejectNotApplicable},
		{"free shipping, shipped line of quantity 0", func(d *Discount) { d.Kind = FreeShipping },
			[]Line{item("a", 1, 900, 0)}, RejectNotApplicable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := valid(0, FixedAmount, 100)
			tc.edit(&d)
			res := price(t, Input{Lines: tc.lines, Discounts: []Discount{d}})
			if tc.reason == "" {
				equal(t, "rejected", res.Rejected, nil)
				equal(t, "applied", len(res.Applied), 1)
				return
			}
			equal(t, "applied", res.Applied, nil)
			equal(t, "discount total", res.DiscountTotal, 0)
			equal(t, "total", res.Total, res.Subtotal)
			if len(res.Rejected) != 1 {
				t.Fatalf("rejected %+v", res.Rejected)
			}
			r := res.Rejected[0]
			equal(t, "rejection", Rejection{DiscountID: r.DiscountID, Code: r.Code, Reason: r.Reason}, Rejection{DiscountID: d.ID, Code: d.Code, Reason: tc.reason})
			if r.Message == "" {
				t.Error("no message")
			}
		})
	}
}

// TestPriceRejectionOrder starts from a discount that fails every check and
// fixes one at a time: each step reports the next reason of the documented
// order.
func TestPriceRejectionOrder(t *testing.T) {
	d := Discount{
		ID: id(1), Code: "BAD", Kind: FixedAmount, Value: 100,
		Active:          false,
		StartsAt:        now.Add(time.Hour),
		EndsAt:          ptr(now.Add(-time.Hour)),
		UsageLimit:      ptr(1),
		UsageCount:      1,
		OncePerCustomer: true, UsedByBuyer: true,
		MinSubtotal: 1_000_000,
		ProductIDs:  []uuid.UUID{id(9)},
	}
	first := valid(0, FixedAmount, 1) // applied first, not combinable
	fixes := []struct {
		want RejectReason
		fix  func()
	}{
		{RejectInactive, func() { d.Active = true }},
		{RejectNotStarted, func() { d.StartsAt = now.Add(-2 * time.Hour) }},
		{RejectExpired, func() { d.EndsAt = nil }},
		{RejectUsageLimit, func() { d.UsageLimit = nil }},
		{RejectAlreadyUsed, func() { d.UsedByBuyer = false }},
		{RejectMinimum, func() { d.MinSubtotal = 0 }},
		{RejectNotApplicable, func() { d.ProductIDs = nil }},
		{RejectNotCombinable, func() { first.Combinable, d.Combinable = true, true }},
	}
	for _, step := range fixes {
		res := price(t, Input{Lines: []Line{item("a", 1, 1000, 1)}, Discounts: []Discount{first, d}})
		if len(res.Rejected) != 1 || res.Rejected[0].Reason != step.want {
			t.Fatalf("want %s, got %+v", step.want, res.Rejected)
		}
		step.fix()
	}
	res := price(t, Input{Lines: []Line{item("a", 1, 1000, 1)}, Discounts: []Discount{first, d}})
	equal(t, "applied", res.Applied, []AppliedDiscount{{first.ID, first.Code, 1}, {d.ID, "BAD", 100}})
}

func TestPriceCombinable(t *testing.T) {
	lines := []Line{item("a", 1, 1000, 2)} // 2000
	a, b, c := valid(0, FixedAmount, 100), valid(1, Percentage, 1000), valid(2, FixedAmount, 50)
	comb := func(d Discount) Discount { d.Combinable = true; return d }
	inactive := comb(valid(3, FixedAmount, 500))
	inactive.Active = false
	for _, tc := range []struct {
		name      string
		discounts []Discount
		applied   []AppliedDiscount
		rejected  []RejectReason
		discount  int64
	}{
		{"one code per cart", []Discount{a, b}, []AppliedDiscount{{a.ID, a.Code, 100}}, []RejectReason{RejectNotCombinable}, 100},
		{"first valid applies even when not combinable", []Discount{a, comb(b)},
			[]AppliedDiscount{{a.ID, a.Code, 100}}, []RejectReason{RejectNotCombinable}, 100},
		{"later one not combinable", []Discount{comb(a), b},
			[]AppliedDiscount{{a.ID, a.Code, 100}}, []RejectReason{RejectNotCombinable}, 100},
		{"all combinable stack, percentage after fixed", []Discount{comb(a), comb(b), comb(c)},
			[]AppliedDiscount{{a.ID, a.Code, 100}, {b.ID, b.Code, 190}, {c.ID, c.Code, 50}}, nil, 340},
		{"order matters: percentage first", []Discount{comb(b), comb(a)},
			[]AppliedDiscount{{b.ID, b.Code, 200}, {a.ID, a.Code, 100}}, nil, 300},
		{"a rejected discount does not block", []Discount{inactive, a},
			[]AppliedDiscount{{a.ID, a.Code, 100}}, []RejectReason{RejectInactive}, 100},
		{"a combinable code blocked by a non-combinable one applied before", []Discount{comb(a), b, comb(c)},
			[]AppliedDiscount{{a.ID, a.Code, 100}, {c.ID, c.Code, 50}}, []RejectReason{RejectNotCombinable}, 150},
		{"same code twice", []Discount{comb(a), comb(a)},
			[]AppliedDiscount{{a.ID, a.Code, 100}}, []RejectReason{RejectNotCombinable}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := price(t, Input{Lines: lines, Discounts: tc.discounts})
			equal(t, "applied", res.Applied, tc.applied)
			var reasons []RejectReason
			for _, r := range res.Rejected {
				reasons = append(reasons, r.Reason)
			}
			equal(t, "rejected", reasons, tc.rejected)
			equal(t, "discount total", res.DiscountTotal, tc.discount)
			equal(t, "total", res.Total, 2000-tc.discount)
		})
	}
	t.Run("same code twice says so", func(t *testing.T) {
		res := price(t, Input{Lines: lines, Discounts: []Discount{comb(a), comb(a)}})
		equal(t, "message", res.Rejected[0].Message, msgAlreadyApplied)
	})
}

func TestPriceMerchandiseDiscounts(t *testing.T) {
	cat, parent, other := id(50), id(51), id(52)
	shirt := item("shirt", 1, 1000, 3) // 3000, category cat under parent
	shirt.CategoryIDs = []uuid.UUID{cat, parent}
	mug := item("mug", 2, 500, 2) // 1000, category other
	mug.CategoryIDs = []uuid.UUID{other}
	scoped := func(d Discount, products, categories []uuid.UUID) Discount {
		d.ProductIDs, d.CategoryIDs = products, categories
		return d
	}
	for _, tc := range []struct {
		name     string
		lines    []Line
		discount Discount
		amount   int64
		perLine  []int64
	}{
		{"percentage, exact", []Line{shirt, mug}, valid(0, Percentage, 1000), 400, []int64{300, 100}},
		{"percentage rounds down: 10% of 1999", []Line{item("a", 1, 1999, 1)}, valid(0, Percentage, 1000), 199, []int64{199}},
		{"percentage rounds down: 12.5% of 999", []Line{item("a", 1, 333, 3)}, valid(0, Percentage, 1250), 124, []int64{124}},
		{"percentage spread, largest remainder: 15% of 3x333", []Line{item("a", 1, 333, 1), item("b", 2, 333, 1), item("c", 3, 333, 1)},
			valid(0, Percentage, 1500), 149, []int64{50, 50, 49}},
		{"percentage 100%", []Line{shirt, mug}, valid(0, Percentage, 10000), 4000, []int64{3000, 1000}},
		{"percentage above 100% is 100%", []Line{shirt, mug}, valid(0, Percentage, 25000), 4000, []int64{3000, 1000}},
		{"percentage 0", []Line{shirt, mug}, valid(0, Percentage, 0), 0, []int64{0, 0}},
		{"negative percentage is 0", []Line{shirt, mug}, valid(0, Percentage, -500), 0, []int64{0, 0}},
		{"fixed, proportional", []Line{shirt, mug}, valid(0, FixedAmount, 100), 100, []int64{75, 25}},
		{"fixed capped at the cart", []Line{shirt, mug}, valid(0, FixedAmount, 5000), 4000, []int64{3000, 1000}},
		{"fixed, largest remainder, ties to the earlier line", []Line{item("a", 1, 100, 1), item("b", 2, 100, 1), item("c", 3, 100, 1)},
			valid(0, FixedAmount, 10), 10, []int64{4, 3, 3}},
		{"fixed, largest remainder goes to the largest fraction", []Line{item("a", 1, 200, 1), item("b", 2, 300, 1), item("c", 3, 500, 1)},
			valid(0, FixedAmount, 7), 7, []int64{1, 2, 4}},
		{"fixed, one minor unit over many lines", []Line{item("a", 1, 1, 1), item("b", 2, 1, 1)}, valid(0, FixedAmount, 1), 1, []int64{1, 0}},
		{"fixed skips a free line", []Line{item("gift", 3, 0, 1), item("a", 1, 100, 1)}, valid(0, FixedAmount, 30), 30, []int64{0, 30}},
		{"by product", []Line{shirt, mug}, scoped(valid(0, FixedAmount, 5000), []uuid.UUID{id(2)}, nil), 1000, []int64{0, 1000}},
		{"by category", []Line{shirt, mug}, scoped(valid(0, Percentage, 5000), nil, []uuid.UUID{cat}), 1500, []int64{1500, 0}},
		{"by ancestor category", []Line{shirt, mug}, scoped(valid(0, Percentage, 5000), nil, []uuid.UUID{parent}), 1500, []int64{1500, 0}},
		{"by product or category", []Line{shirt, mug}, scoped(valid(0, FixedAmount, 400), []uuid.UUID{id(2)}, []uuid.UUID{cat}), 400, []int64{300, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := price(t, Input{Lines: tc.lines, Discounts: []Discount{tc.discount}})
			equal(t, "applied", res.Applied, []AppliedDiscount{{tc.discount.ID, tc.discount.Code, tc.amount}})
			var perLine []int64
			for _, l := range res.Lines {
				perLine = append(perLine, l.Discount)
			}
			equal(t, "line discounts", perLine, tc.perLine)
			equal(t, "total", res.Total, res.Subtotal-tc.amount)
		})
	}

	t.Run("a second discount works on what the first left", func(t *testing.T) {
		first, second := valid(0, FixedAmount, 2000), valid(1, Percentage, 5000)
		first.Combinable, second.Combinable = true, true
		first.ProductIDs = []uuid.UUID{id(1)}
		res := price(t, Input{Lines: []Line{shirt, mug}, Discounts: []Discount{first, second}})
		// shirt 3000-2000 = 1000 and mug 1000 remain; 50% of 2000 = 1000, half each.
		equal(t, "line discounts", []int64{res.Lines[0].Discount, res.Lines[1].Discount}, []int64{2500, 500})
		equal(t, "applied", res.Applied, []AppliedDiscount{{first.ID, first.Code, 2000}, {second.ID, second.Code, 1000}})
	})
	t.Run("a discount on lines already free applies with 0", func(t *testing.T) {
		first, second := valid(0, Percentage, 10000), valid(1, FixedAmount, 300)
		first.Combinable, second.Combinable = true, true
		res := price(t, Input{Lines: []Line{shirt}, Discounts: []Discount{first, second}})
		equal(t, "applied", res.Applied, []AppliedDiscount{{first.ID, first.Code, 3000}, {second.ID, second.Code, 0}})
		equal(t, "total", res.Total, 0)
	})
}

func TestPriceFreeShipping(t *testing.T) {
	flat := &ShippingMethod{ID: id(70), Name: "Standard", Price: 500, Active: true}
	free := valid(0, FreeShipping, 0)
	lines := []Line{item("a", 1, 1000, 2)}
	for _, tc := range []struct {
		name        string
		method      *ShippingMethod
		discounts   []Discount
		applied     []int64
		shipping    int64
		unavailable bool
	}{
		{"saves the shipping cost", flat, []Discount{free}, []int64{500}, 0, false},
		{"no method chosen yet", nil, []Discount{free}, []int64{0}, 0, false},
		{"method already free over an amount", &ShippingMethod{Price: 500, FreeOverAmount: ptr[int64](2000), Active: true},
			[]Discount{free}, []int64{0}, 0, false},
		{"method not offered", &ShippingMethod{Price: 500}, []Discount{free}, []int64{0}, 0, true},
		{"two free shippings: the first gets the saving", flat,
			[]Discount{{ID: id(1), Kind: FreeShipping, Active: true, Combinable: true}, {ID: id(2), Kind: FreeShipping, Active: true, Combinable: true}},
			[]int64{500, 0}, 0, false},
		{"with a merchandise discount", flat,
			[]Discount{{ID: id(1), Kind: FixedAmount, Value: 100, Active: true, Combinable: true}, {ID: id(2), Kind: FreeShipping, Active: true, Combinable: true}},
			[]int64{100, 500}, 0, false},
		{"without it", flat, nil, nil, 500, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := price(t, Input{Lines: lines, Discounts: tc.discounts, Shipping: tc.method})
			var applied []int64
			for _, a := range res.Applied {
				applied = append(applied, a.Amount)
			}
			equal(t, "applied amounts", applied, tc.applied)
			equal(t, "shipping", res.ShippingTotal, tc.shipping)
			equal(t, "unavailable", res.ShippingUnavailable, tc.unavailable)
			equal(t, "rejected", res.Rejected, nil)
		})
	}
}

func TestPriceExample(t *testing.T) {
	tee := item("tee", 1, 2500, 2) // 5000
	tee.WeightGrams = 200
	book := item("book", 2, 1999, 1)
	book.WeightGrams = 700
	book.Taxable = false
	ebook := Line{Key: "ebook", ProductID: id(3), UnitPrice: 999, Quantity: 1, Taxable: true}
	summer := valid(0, Percentage, 1000)
	summer.ProductIDs = []uuid.UUID{id(1), id(3)}
	res := price(t, Input{
		Lines:     []Line{tee, book, ebook},
		Discounts: []Discount{summer},
		Shipping: &ShippingMethod{Name: "Post", Active: true, Countries: []string{"US"},
			WeightBands: []WeightBand{{MaxGrams: 1000, Price: 499}, {MaxGrams: 2000, Price: 899}}},
		Country: "us",
		Tax:     Tax{RateBps: 825},
	})
	// 10% of 5999 = 599.9 -> 599, spread 5000:999 -> 499.33 + 99.86 -> 499 + 100.
	// Weight 2*200 + 700 = 1100 -> second band. Tax 8.25%: tee 4501 -> 371.33 -> 371,
	// ebook 899 -> 74.17 -> 74, book not taxable.
	equal(t, "result", res, Result{
		Lines: []LineResult{
			{Key: "tee", Subtotal: 5000, Discount: 499, Tax: 371},
			{Key: "book", Subtotal: 1999},
			{Key: "ebook", Subtotal: 999, Discount: 100, Tax: 74},
		},
		Subtotal:         7998,
		DiscountTotal:    599,
		ShippingTotal:    899,
		TaxTotal:         445,
		Total:            7998 - 599 + 899 + 445,
		Applied:          []AppliedDiscount{{summer.ID, summer.Code, 599}},
		RequiresShipping: true,
	})
}

// TestPriceHostile feeds values far outside the documented bounds: Price
// must not panic, and clamps.
func TestPriceHostile(t *testing.T) {
	huge := Line{Key: "x", UnitPrice: math.MaxInt64, Quantity: math.MaxInt, WeightGrams: math.MaxInt, Taxable: true, RequiresShipping: true}
	neg := Line{Key: "n", UnitPrice: -100, Quantity: -3, WeightGrams: -5, Taxable: true, RequiresShipping: true}
	discounts := []Discount{
		{ID: id(1), Kind: FixedAmount, Value: math.MaxInt64, Active: true, Combinable: true, MinSubtotal: math.MaxInt64},
		{ID: id(2), Kind: FixedAmount, Value: math.MaxInt64, Active: true, Combinable: true},
		{ID: id(3), Kind: Percentage, Value: math.MaxInt64, Active: true, Combinable: true},
		{ID: id(4), Kind: FixedAmount, Value: math.MinInt64, Active: true, Combinable: true},
		{ID: id(5), Kind: FreeShipping, Active: true, Combinable: true, UsageLimit: ptr(math.MinInt)},
	}
	method := &ShippingMethod{Active: true, Price: math.MaxInt64, FreeOverAmount: ptr[int64](math.MinInt64),
		WeightBands: []WeightBand{{MaxGrams: math.MaxInt, Price: math.MaxInt64}, {MaxGrams: math.MinInt, Price: math.MinInt64}}}

	t.Run("clamped to the bounds", func(t *testing.T) {
		res := price(t, Input{Lines: []Line{huge, neg}, Discounts: discounts[1:2], Tax: Tax{RateBps: math.MaxInt}})
		max := MaxUnitPrice * MaxQuantity
		equal(t, "lines", res.Lines, []LineResult{{Key: "x", Subtotal: max, Discount: MaxDiscountValue, Tax: max - MaxDiscountValue}, {Key: "n"}})
	})
	t.Run("negative values are 0", func(t *testing.T) {
		res := price(t, Input{Lines: []Line{item("a", 1, 1000, 1)}, Discounts: discounts[3:4], Tax: Tax{RateBps: -825},
			Shipping: &ShippingMethod{Active: true, Price: -500}})
		equal(t, "totals", []int64{res.DiscountTotal, res.TaxTotal, res.ShippingTotal, res.Total}, []int64{0, 0, 0, 1000})
	})
	t.Run("more lines than the bounds: saturates, no panic", func(t *testing.T) {
		lines := make([]Line, 4*MaxLines)
		for i := range lines {
			lines[i] = huge
		}
		for _, inclusive := range []bool{false, true} {
			res := Price(Input{Lines: lines, Discounts: discounts, Shipping: method, Tax: Tax{RateBps: math.MaxInt, Inclusive: inclusive}, Now: now})
			if res.Subtotal != math.MaxInt64 || res.Total < 0 || res.DiscountTotal > res.Subtotal {
				t.Errorf("totals: %d %d %d", res.Subtotal, res.DiscountTotal, res.Total)
			}
			for _, l := range res.Lines {
				if l.Discount < 0 || l.Discount > l.Subtotal || l.Tax < 0 {
					t.Fatalf("line %+v", l)
				}
			}
		}
	})
	t.Run("the most the bounds allow is exact", func(t *testing.T) {
		lines := make([]Line, MaxLines)
		for i := range lines {
			lines[i] = Line{Key: "x", UnitPrice: MaxUnitPrice, Quantity: MaxQuantity, Taxable: true, RequiresShipping: true}
		}
		in := Input{Lines: lines, Shipping: &ShippingMethod{Active: true, Price: MaxShippingPrice}, Tax: Tax{RateBps: MaxRateBps}}
		res := price(t, in)
		equal(t, "total", res.Total, 2*MaxLines*MaxUnitPrice*MaxQuantity+MaxShippingPrice)
		in.Discounts = []Discount{{ID: id(1), Kind: Percentage, Value: 3333, Active: true}}
		res = price(t, in)
		equal(t, "discount", res.DiscountTotal, MaxLines*MaxUnitPrice*MaxQuantity/10000*3333)
	})
}

func TestMulDiv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		a, b, c    int64
		q, r, half int64
	}{
		{"exact", 1200, 10000, 12000, 1000, 0, 1000},
		{"remainder below half", 1999, 1000, 10000, 199, 9000, 200},
		{"half rounds up", 1000, 825, 10000, 82, 5000, 83},
		{"128-bit product", MaxLines * MaxUnitPrice * MaxQuantity, MaxRateBps - 1, MaxRateBps, 2_499_750_000_000_000_000, 0, 2_499_750_000_000_000_000},
		{"zero operand", 0, 5, 3, 0, 0, 0},
		{"negative operand", -5, 5, 3, 0, 0, 0},
		{"zero divisor", 5, 5, 0, 0, 0, 0},
		{"high half too large saturates", math.MaxInt64, math.MaxInt64, 1, math.MaxInt64, 0, math.MaxInt64},
		{"quotient above int64 saturates", math.MaxInt64, 4, 2, math.MaxInt64, 0, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, r := mulDiv(tc.a, tc.b, tc.c)
			equal(t, "q, r", []int64{q, r}, []int64{tc.q, tc.r})
			equal(t, "rounded half up", roundHalfUp(tc.a, tc.b, tc.c), tc.half)
		})
	}
}

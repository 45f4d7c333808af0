package checkout

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// FuzzPrice builds carts from the fuzzed bytes and checks that Price never
// panics, keeps the Result invariants, is deterministic and leaves its input
// alone. The first byte picks the mode: within the documented bounds, or
// hostile (raw int64 values: negative, huge), where Price clamps.
func FuzzPrice(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{1, 9, 0x80, 0, 0, 0, 0, 0, 0, 0x80, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(seedCart(0, 4, 3))
	f.Add(seedCart(0, 250, 5))
	f.Add(seedCart(1, 40, 5))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		res := Price(in)
		checkInvariants(t, in, res)
		if !reflect.DeepEqual(in, fuzzInput(data)) {
			t.Fatal("Price modified its input")
		}
		if again := Price(in); !reflect.DeepEqual(res, again) {
			t.Fatalf("Price is not deterministic:\n%+v\n%+v", res, again)
		}
		if len(data) == 0 || data[0]&1 == 0 { // within the bounds: the subtotal is exact
			var sub int64
			for _, l := range in.Lines {
				sub += l.UnitPrice * int64(l.Quantity)
			}
			if res.Subtotal != sub {
				t.Fatalf("Subtotal = %d, want %d", res.Subtotal, sub)
			}
		}
	})
}

// seedCart is a seed of the given mode with lines lines and discounts
// discounts, its other bytes a fixed pseudo-random sequence.
func seedCart(mode byte, lines, discounts int) []byte {
	b := []byte{mode, byte(lines), byte(discounts)}
	x := uint32(2463534242)
	for range 61 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b = append(b, byte(x))
	}
	return b
}

// fuzzBytes reads fuzz data cyclically, so that short inputs (quick to
// minimize) still make large carts; empty data reads as zeros.
type fuzzBytes struct {
	b []byte
	i int
}

func (r *fuzzBytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[r.i%len(r.b)]
	r.i++
	return c
}

func (r *fuzzBytes) bool() bool { return r.byte()&1 == 1 }

func (r *fuzzBytes) u64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(r.byte())
	}
	return v
}

// upTo is a value in [0, hi].
func (r *fuzzBytes) upTo(hi int64) int64 { return int64(r.u64() % uint64(hi+1)) }

// fuzzInput decodes an Input from data: data[0]&1 selects hostile values.
// Small ID sets make scopes match and discount IDs repeat.
func fuzzInput(data []byte) Input {
	r := &fuzzBytes{b: data}
	hostile := r.bool()
	amount := func(hi int64) int64 {
		if hostile {
			return int64(r.u64())
		}
		return r.upTo(hi)
	}
	small := func(n byte) uuid.UUID { return uuid.UUID{0: 1, 15: r.byte() % n} }
	now := time.Unix(1_750_000_000, 0).UTC()
	in := Input{Now: now}

	for range int(r.byte()) % (MaxLines + 1) {
		l := Line{
			Key:              string(rune('a' + r.byte()%26)),
			VariantID:        small(8),
			ProductID:        small(4),
			UnitPrice:        amount(MaxUnitPrice),
			Quantity:         int(amount(MaxQuantity)),
			WeightGrams:      int(amount(50_000)),
			Taxable:          r.bool(),
			RequiresShipping: r.bool(),
		}
		for range r.byte() % 3 {
			l.CategoryIDs = append(l.CategoryIDs, small(4))
		}
		in.Lines = append(in.Lines, l)
	}

	kinds := []DiscountKind{FixedAmount, Percentage, FreeShipping, "BOGUS"}
	for range r.byte() % 7 {
		kind := r.byte() % 4
		d := Discount{
			ID:              small(6),
			Kind:            kinds[kind],
			MinSubtotal:     amount(MaxUnitPrice),
			StartsAt:        now.Add(time.Duration(int8(r.byte())) * time.Hour),
			Active:          r.byte()%8 != 0,
			UsageCount:      int(r.byte() % 4),
			OncePerCustomer: r.bool(),
			UsedByBuyer:     r.bool(),
			Combinable:      r.bool(),
		}
		d.ID[1] = kind // a repeated ID is a repeated discount of the same kind
		d.Code = d.ID.String()[:8]
		if d.Kind == Percentage {
			d.Value = amount(MaxRateBps)
		} else {
			d.Value = amount(MaxDiscountValue)
		}
		if r.bool() {
			d.MinSubtotal = 0
		}
		if r.bool() {
			end := now.Add(time.Duration(int8(r.byte())) * time.Hour)
			d.EndsAt = &end
		}
		if r.bool() {
			limit := int(r.byte() % 4)
			d.UsageLimit = &limit
		}
		for range r.byte() % 3 {
			d.ProductIDs = append(d.ProductIDs, small(4))
		}
		for range r.byte() % 3 {
			d.CategoryIDs = append(d.CategoryIDs, small(4))
		}
		in.Discounts = append(in.Discounts, d)
	}

	if r.bool() {
		m := ShippingMethod{ID: small(2), Name: "fuzz", Price: amount(MaxShippingPrice), Active: r.byte()%8 != 0}
		opt := func() *int64 {
			if !r.bool() {
				return nil
			}
			v := amount(MaxUnitPrice)
			return &v
		}
		m.FreeOverAmount, m.MinSubtotal, m.MaxSubtotal = opt(), opt(), opt()
		countries := []string{"US", "ca", "fr"}
		for range r.byte() % 3 {
			m.Countries = append(m.Countries, countries[r.byte()%3])
		}
		for range r.byte() % 4 {
			m.WeightBands = append(m.WeightBands, WeightBand{MaxGrams: int(amount(1_000_000)), Price: amount(MaxShippingPrice)})
		}
		in.Shipping = &m
	}
	in.Country = []string{"", "us", "FR", "de"}[r.byte()%4]
	in.Tax = Tax{RateBps: int(amount(MaxRateBps)), Inclusive: r.bool()}
	return in
}

// checkInvariants fails t unless res keeps the invariants of the Result doc
// for in.
func checkInvariants(t *testing.T, in Input, res Result) {
	t.Helper()
	if len(res.Lines) != len(in.Lines) {
		t.Fatalf("%d result lines for %d lines", len(res.Lines), len(in.Lines))
	}
	var sub, disc, tax int64
	for i, l := range res.Lines {
		if l.Key != in.Lines[i].Key {
			t.Fatalf("line %d: Key %q, want %q", i, l.Key, in.Lines[i].Key)
		}
		if l.Subtotal < 0 || l.Discount < 0 || l.Discount > l.Subtotal || l.Tax < 0 {
			t.Fatalf("line %d: %+v", i, l)
		}
		if !in.Lines[i].Taxable && l.Tax != 0 {
			t.Fatalf("line %d: tax %d on a line that is not taxable", i, l.Tax)
		}
		sub += l.Subtotal
		disc += l.Discount
		tax += l.Tax
	}
	switch {
	case res.Subtotal != sub:
		t.Fatalf("Subtotal %d, lines sum to %d", res.Subtotal, sub)
	case res.DiscountTotal != disc:
		t.Fatalf("DiscountTotal %d, lines sum to %d", res.DiscountTotal, disc)
	case res.TaxTotal != tax:
		t.Fatalf("TaxTotal %d, lines sum to %d", res.TaxTotal, tax)
	case res.DiscountTotal < 0 || res.DiscountTotal > res.Subtotal:
		t.Fatalf("DiscountTotal %d outside [0, %d]", res.DiscountTotal, res.Subtotal)
	case res.ShippingTotal < 0 || res.TaxTotal < 0 || res.Total < 0:
		t.Fatalf("negative total: %+v", res)
	case res.ShippingTotal != 0 && (in.Shipping == nil || res.ShippingUnavailable):
		t.Fatalf("ShippingTotal %d without an offered method", res.ShippingTotal)
	case res.ShippingUnavailable && in.Shipping == nil:
		t.Fatal("ShippingUnavailable without a method")
	case len(res.Applied)+len(res.Rejected) != len(in.Discounts):
		t.Fatalf("%d applied + %d rejected for %d discounts", len(res.Applied), len(res.Rejected), len(in.Discounts))
	}
	want := res.Subtotal - res.DiscountTotal + res.ShippingTotal
	if !in.Tax.Inclusive {
		want += res.TaxTotal
	}
	if res.Total != want {
		t.Fatalf("Total %d, want %d: %+v", res.Total, want, res)
	}
	var merchandise int64
	for _, a := range res.Applied {
		if a.Amount < 0 {
			t.Fatalf("applied discount with a negative amount: %+v", a)
		}
		for _, d := range in.Discounts {
			if d.ID == a.DiscountID && d.Kind != FreeShipping {
				merchandise += a.Amount
				break
			}
		}
	}
	if merchandise != res.DiscountTotal {
		t.Fatalf("applied merchandise discounts sum to %d, DiscountTotal %d", merchandise, res.DiscountTotal)
	}
	for _, r := range res.Rejected {
		if r.Reason == "" || r.Message == "" {
			t.Fatalf("rejection without a reason or message: %+v", r)
		}
	}
}

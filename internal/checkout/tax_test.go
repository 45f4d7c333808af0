package checkout

import (
	"math"
	"testing"
)

func TestTaxAmount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tax    Tax
		amount int64
		want   int64
	}{
		{"8.25% of 1999 = 164.9175", Tax{RateBps: 825}, 1999, 165},
		{"8.25% of 1000 = 82.5, half up", Tax{RateBps: 825}, 1000, 83},
		{"8.25% of 1006 = 82.995", Tax{RateBps: 825}, 1006, 83},
		{"8.25% of 1005 = 82.9125", Tax{RateBps: 825}, 1005, 83},
		{"8.25% of 1003 = 82.7475", Tax{RateBps: 825}, 1003, 83},
		{"8.25% of 1001 = 82.5825", Tax{RateBps: 825}, 1001, 83},
		{"8.25% of 994 = 82.005", Tax{RateBps: 825}, 994, 82},
		{"10% of 5 = 0.5, half up", Tax{RateBps: 1000}, 5, 1},
		{"10% of 4 = 0.4", Tax{RateBps: 1000}, 4, 0},
		{"20% of 0", Tax{RateBps: 2000}, 0, 0},
		{"0%", Tax{}, 1999, 0},
		{"negative rate is 0", Tax{RateBps: -2000}, 1999, 0},
		{"100%", Tax{RateBps: MaxRateBps}, 1999, 1999},
		{"rate above 100% is 100%", Tax{RateBps: math.MaxInt}, 1999, 1999},
		{"at the bounds", Tax{RateBps: 9999}, MaxUnitPrice * MaxQuantity, MaxUnitPrice * MaxQuantity / 10000 * 9999},

		{"inclusive 20% of 1200: net 1000", Tax{RateBps: 2000, Inclusive: true}, 1200, 200},
		{"inclusive 20% of 1000: net 833.33", Tax{RateBps: 2000, Inclusive: true}, 1000, 167},
		{"inclusive 20% of 1: net 0.83 rounds to 1", Tax{RateBps: 2000, Inclusive: true}, 1, 0},
		{"inclusive 100% of 3: net 1.5, half up", Tax{RateBps: MaxRateBps, Inclusive: true}, 3, 1},
		{"inclusive 100% of 5: net 2.5, half up", Tax{RateBps: MaxRateBps, Inclusive: true}, 5, 2},
		{"inclusive 8.25% of 1999: net 1846.65", Tax{RateBps: 825, Inclusive: true}, 1999, 152},
		{"inclusive 0%", Tax{Inclusive: true}, 1999, 0},
		{"inclusive at the bounds", Tax{RateBps: MaxRateBps, Inclusive: true}, MaxUnitPrice * MaxQuantity, MaxUnitPrice * MaxQuantity / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "tax", tc.tax.amount(tc.amount), tc.want)
		})
	}
}

func TestPriceTax(t *testing.T) {
	shipped := &ShippingMethod{Active: true, Price: 1000}
	for _, tc := range []struct {
		name      string
		lines     []Line
		discounts []Discount
		tax       Tax
		lineTax   []int64
		total     int64
	}{
		{"exclusive: added to the total, shipping not taxed", []Line{item("a", 1, 1999, 1)}, nil,
			Tax{RateBps: 825}, []int64{165}, 1999 + 1000 + 165},
		{"inclusive: not added to the total", []Line{item("a", 1, 1200, 1)}, nil,
			Tax{RateBps: 2000, Inclusive: true}, []int64{200}, 1200 + 1000},
		{"rounded per line, not on the sum", []Line{item("a", 1, 5, 1), item("b", 2, 5, 1)}, nil,
			Tax{RateBps: 1000}, []int64{1, 1}, 10 + 1000 + 2},
		{"on the discounted amount", []Line{item("a", 1, 1000, 2)}, []Discount{valid(0, FixedAmount, 1)},
			Tax{RateBps: 825}, []int64{165}, 1999 + 1000 + 165},
		{"not on lines that are not taxable", []Line{item("a", 1, 1000, 1), {Key: "gift card", UnitPrice: 5000, Quantity: 1}}, nil,
			Tax{RateBps: 1000}, []int64{100, 0}, 6000 + 1000 + 100},
		{"nothing on a free line", []Line{item("a", 1, 1000, 1)}, []Discount{valid(0, Percentage, 10000)},
			Tax{RateBps: 1000}, []int64{0}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := price(t, Input{Lines: tc.lines, Discounts: tc.discounts, Shipping: shipped, Tax: tc.tax})
			var lineTax []int64
			for _, l := range res.Lines {
				lineTax = append(lineTax, l.Tax)
			}
			equal(t, "line taxes", lineTax, tc.lineTax)
			equal(t, "total", res.Total, tc.total)
		})
	}
}

package checkout

import (
	"cmp"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// WeightBand is one step of a weight-based shipping rate: a shipment whose
// total weight is at most MaxGrams costs Price.
type WeightBand struct {
	MaxGrams int
	Price    int64 // minor units, <= MaxShippingPrice
}

// ShippingMethod is a merchant's shipping option as the pricing engine sees
// it. Whether it is offered depends on the cart (see ShippingRate), so the
// storefront lists only the methods ShippingRate offers, and Price reports a
// chosen method that stopped being offered (ShippingUnavailable).
type ShippingMethod struct {
	ID   uuid.UUID
	Name string
	// Price is the flat price, used when WeightBands is empty.
	Price int64
	// FreeOverAmount makes shipping cost 0 when the merchandise subtotal
	// after discounts is >= *FreeOverAmount (nil: never free).
	FreeOverAmount *int64
	// MinSubtotal and MaxSubtotal bound, inclusively, the cart subtotal
	// before discounts for which the method is offered (nil: no bound).
	MinSubtotal, MaxSubtotal *int64
	// Countries lists the ISO alpha-2 destinations, compared
	// case-insensitively; empty means everywhere. While the buyer has not
	// given an address (country ""), a method with a country list is offered
	// all the same, so the cart can show an estimate; it is checked again
	// once the country is known.
	Countries []string
	// WeightBands, when set, price by the total weight of the lines that
	// require shipping: the price of the lightest band (by MaxGrams) whose
	// MaxGrams >= that weight. A cart heavier than the last band is not
	// offered this method. The bands need not be sorted.
	WeightBands []WeightBand
	Active      bool
}

// ShippingRate reports whether m is offered for a cart and what it costs:
// subtotal is the merchandise subtotal before discounts (checked against
// MinSubtotal and MaxSubtotal), discountedSubtotal the merchandise subtotal
// after discounts (checked against FreeOverAmount), weightGrams the total
// weight of the lines that require shipping, and country the destination
// ("" while unknown).
//
// A method is not offered when it is inactive, the subtotal is outside its
// bounds, the country is known and not in its list, or the weight is above
// its last band. The cost is the flat Price or the matching band's price,
// treated as 0 when negative and clamped to MaxShippingPrice, and 0 when
// discountedSubtotal reaches FreeOverAmount. It is not taxed. m is not
// modified.
func ShippingRate(m ShippingMethod, subtotal, discountedSubtotal int64, weightGrams int, country string) (cost int64, offered bool) {
	switch {
	case !m.Active,
		m.MinSubtotal != nil && subtotal < *m.MinSubtotal,
		m.MaxSubtotal != nil && subtotal > *m.MaxSubtotal,
		!shipsTo(m.Countries, country):
		return 0, false
	}
	cost = m.Price
	if len(m.WeightBands) > 0 {
		bands := slices.Clone(m.WeightBands)
		slices.SortStableFunc(bands, func(a, b WeightBand) int { return cmp.Compare(a.MaxGrams, b.MaxGrams) })
		weightGrams = max(weightGrams, 0)
		i := slices.IndexFunc(bands, func(b WeightBand) bool { return b.MaxGrams >= weightGrams })
		if i < 0 {
			return 0, false
		}
		cost = bands[i].Price
	}
	if m.FreeOverAmount != nil && discountedSubtotal >= *m.FreeOverAmount {
		return 0, true
	}
	return clamp(cost, 0, MaxShippingPrice), true
}

// shipsTo reports whether a method limited to countries ships to country;
// an unknown country ("") is accepted, see ShippingMethod.Countries.
func shipsTo(countries []string, country string) bool {
	country = strings.TrimSpace(country)
	if len(countries) == 0 || country == "" {
		return true
	}
	return slices.ContainsFunc(countries, func(c string) bool { return strings.EqualFold(strings.TrimSpace(c), country) })
}

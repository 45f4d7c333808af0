// Package checkout turns a buyer's cart into an order.
//
// Its pricing engine (Price, ShippingRate and the types they take) is a set
// of pure functions over int64 minor units (cents): no clock, no database,
// no float. The caller loads the cart, the discounts the buyer entered, the
// chosen shipping method and the tax rate, passes the current time in
// Input.Now, and gets back every figure the storefront shows and the order
// stores, so that the cart page, the payment amount and the order can never
// disagree.
//
// # Discounts
//
// Discounts are taken in the order the buyer entered them. Each one is
// validated in this order, and the first failed check is the one reported
// in Result.Rejected:
//
//  1. RejectInactive: Discount.Active is false.
//  2. RejectNotStarted: Now is before StartsAt (valid when StartsAt <= Now).
//  3. RejectExpired: EndsAt is set and Now >= *EndsAt.
//  4. RejectUsageLimit: UsageLimit is set and UsageCount >= *UsageLimit.
//  5. RejectAlreadyUsed: OncePerCustomer and UsedByBuyer are both true.
//  6. RejectMinimum: MinSubtotal > 0 and the cart subtotal before any
//     discount is below it.
//  7. RejectNotApplicable: a FIXED_AMOUNT or PERCENTAGE discount has no
//     eligible line (see below), or a FREE_SHIPPING discount meets a cart
//     where nothing requires shipping.
//  8. RejectNotCombinable: one code per cart unless configured. The first
//     valid discount always applies; a later one applies only when it and
//     every discount already applied are Combinable. A discount whose ID is
//     already applied is also rejected here (a code never stacks with
//     itself).
//
// A rejected discount never changes any total.
//
// A line is eligible for a discount when the discount lists neither products
// nor categories (the whole cart), or when the line's ProductID is in
// Discount.ProductIDs, or one of the line's CategoryIDs (its category and
// all its ancestors) is in Discount.CategoryIDs; in every case the line must
// also have a positive subtotal, since there is nothing to take off a free
// line.
//
// A PERCENTAGE discount takes Value basis points (1000 = 10%, capped at
// 10000 = 100%) of what remains of the eligible lines after the discounts
// applied before it, rounded down to the minor unit: the buyer never gets
// more than the advertised percentage. A FIXED_AMOUNT discount takes Value,
// capped at what remains of the eligible lines. Either amount is then spread
// over the eligible lines in proportion to what remains of each, with the
// largest-remainder method: every line first gets the floor of its exact
// share, and the minor units left over go one each to the lines with the
// largest dropped fractions (ties to the earlier line). The line discounts
// therefore add up exactly to the discount, and no line is discounted below
// zero. Because later discounts work on what earlier ones left, the order
// the buyer entered them in can change the total.
//
// A FREE_SHIPPING discount makes the shipping cost 0. Its AppliedDiscount
// Amount is the shipping cost it saved: 0 when no method is chosen yet, when
// the method is not offered, or when the method is already free for this
// cart (FreeOverAmount); it is applied all the same. When several
// FREE_SHIPPING discounts apply, the first one is credited with the saving
// and the others with 0.
//
// # Shipping and tax
//
// See ShippingRate for when a method is offered and what it costs. A cart in
// which nothing requires shipping (digital goods only) pays no shipping even
// when a method is chosen, and the method is not reported as unavailable; a
// line of quantity 0 ships nothing.
// Shipping is not taxed: tax applies to merchandise only.
//
// Tax is computed per line, on the line subtotal minus the line discount, for
// Taxable lines, and rounded half up to the minor unit (see Tax). TaxTotal is
// the sum of the line taxes, so the order's lines and its total agree.
//
// # Bounds
//
// Price is exact, with no overflow anywhere, when the caller keeps its input
// within these bounds, which its callers (cart and admin services) validate:
// UnitPrice <= MaxUnitPrice (1e12), Quantity <= MaxQuantity (10000), at most
// MaxLines (250) lines, Tax.RateBps <= MaxRateBps (10000, i.e. 100%),
// Discount.Value <= MaxDiscountValue (1e12), and shipping prices <=
// MaxShippingPrice (1e12). Every a*b/c is computed with a 128-bit
// intermediate (math/bits), so even at the bounds nothing overflows: the
// largest total is about 5e18, below the int64 maximum of 9.2e18.
//
// Input outside the bounds never makes Price panic, but its result is not a
// price anyone should charge: negative amounts, quantities, weights and
// rates are treated as 0, values above a bound are clamped to it, and sums
// over more lines than the bounds allow saturate at math.MaxInt64 instead of
// wrapping around.
package checkout

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Bounds within which Price is exact. Callers validate carts, discounts and
// tax rates against them; Price clamps anything beyond them (see the package
// comment) so that hostile input cannot overflow int64.
const (
	MaxUnitPrice     int64 = 1_000_000_000_000 // 1e12 minor units per unit
	MaxQuantity            = 10_000            // units per line
	MaxLines               = 250               // lines per cart
	MaxRateBps             = 10_000            // 100% tax
	MaxDiscountValue int64 = 1_000_000_000_000 // 1e12 minor units (FIXED_AMOUNT)
	MaxShippingPrice int64 = 1_000_000_000_000 // 1e12 minor units per shipment
)

// bpsDenominator is 100% in basis points.
const bpsDenominator = 10_000

// DiscountKind says how a discount takes money off the cart; it decides the
// meaning of Discount.Value.
type DiscountKind string

// The discount kinds Price understands. A discount of any other kind is
// treated as not applicable.
const (
	FixedAmount  DiscountKind = "FIXED_AMOUNT"  // Value: amount off in minor units, spread over eligible lines
	Percentage   DiscountKind = "PERCENTAGE"    // Value: basis points (1000 = 10%), of the eligible lines
	FreeShipping DiscountKind = "FREE_SHIPPING" // Value unused: the shipping cost becomes 0
)

// Line is one cart line as the pricing engine sees it: the caller copies in
// the variant's current price and the product facts that discounts, shipping
// and tax depend on, so that Price needs no database.
type Line struct {
	Key              string      // caller's id of the line (cart item id), echoed in LineResult
	VariantID        uuid.UUID   // the variant bought
	ProductID        uuid.UUID   // its product, matched against Discount.ProductIDs
	CategoryIDs      []uuid.UUID // the product's category and all its ancestors (may be empty)
	UnitPrice        int64       // minor units, <= MaxUnitPrice
	Quantity         int         // <= MaxQuantity
	WeightGrams      int         // per unit
	Taxable          bool        // whether Tax applies to this line
	RequiresShipping bool        // false for digital goods and services
}

// Discount is one code the buyer entered, with the facts needed to accept or
// reject it. Usage counts are passed in, not looked up, to keep Price pure;
// the caller re-checks them when it records the order.
type Discount struct {
	ID   uuid.UUID
	Code string
	Kind DiscountKind
	// Value is the amount off in minor units for FIXED_AMOUNT and basis
	// points for PERCENTAGE; FREE_SHIPPING ignores it.
	Value int64
	// MinSubtotal is the cart subtotal before discounts the cart must reach;
	// 0 means no minimum.
	MinSubtotal int64
	// The discount is valid when StartsAt <= Now < EndsAt; a nil EndsAt
	// never expires.
	StartsAt time.Time
	EndsAt   *time.Time
	Active   bool
	// UsageLimit caps the number of orders using the discount (nil: no cap);
	// it is rejected when UsageCount >= *UsageLimit.
	UsageLimit *int
	UsageCount int
	// OncePerCustomer discounts are rejected when UsedByBuyer is true.
	OncePerCustomer bool
	UsedByBuyer     bool
	// ProductIDs and CategoryIDs scope the discount: both empty means the
	// whole cart, otherwise a line is eligible when its product is listed or
	// one of its CategoryIDs is.
	ProductIDs  []uuid.UUID
	CategoryIDs []uuid.UUID
	// Combinable discounts may stack with other Combinable discounts.
	Combinable bool
}

// Input is everything Price needs: the cart, the discounts, the shipping
// choice, the tax rule and the time. Price does not modify it.
type Input struct {
	Lines     []Line
	Discounts []Discount      // in the order the buyer entered them
	Shipping  *ShippingMethod // nil: none chosen
	Country   string          // destination country (ISO alpha-2), "" unknown
	Tax       Tax
	Now       time.Time
}

// RejectReason is the stable code of a rejected discount, for the API's
// error codes; the message that goes with it is for people.
type RejectReason string

// The reasons a discount is rejected, in the order Price checks them.
const (
	RejectInactive      RejectReason = "DISCOUNT_INACTIVE"
	RejectNotStarted    RejectReason = "DISCOUNT_NOT_STARTED"
	RejectExpired       RejectReason = "DISCOUNT_EXPIRED"
	RejectUsageLimit    RejectReason = "DISCOUNT_USAGE_LIMIT_REACHED"
	RejectAlreadyUsed   RejectReason = "DISCOUNT_ALREADY_USED"
	RejectMinimum       RejectReason = "DISCOUNT_MINIMUM_NOT_MET"
	RejectNotApplicable RejectReason = "DISCOUNT_NOT_APPLICABLE" // no eligible line, or free shipping with nothing to ship
	RejectNotCombinable RejectReason = "DISCOUNT_NOT_COMBINABLE"
)

// Rejection reports a discount that did not apply, so the storefront can
// tell the buyer why instead of silently ignoring the code.
type Rejection struct {
	DiscountID uuid.UUID
	Code       string
	Reason     RejectReason
	Message    string // human readable, safe for shoppers (no internal detail)
}

// AppliedDiscount reports a discount that applied and what it was worth.
type AppliedDiscount struct {
	DiscountID uuid.UUID
	Code       string
	Amount     int64 // merchandise discount, or for FREE_SHIPPING the shipping saved
}

// LineResult is the price of one line, so the order can store per-line
// discounts and taxes (needed for refunds of part of an order).
type LineResult struct {
	Key      string // Line.Key
	Subtotal int64  // UnitPrice * Quantity
	Discount int64  // share of the merchandise discounts, <= Subtotal
	Tax      int64  // tax on Subtotal - Discount when Taxable, else 0
}

// Result is the priced cart. Its figures always satisfy:
//
//	0 <= DiscountTotal <= Subtotal, ShippingTotal >= 0, TaxTotal >= 0, Total >= 0
//	sum(Lines[i].Discount) == DiscountTotal, Lines[i].Discount <= Lines[i].Subtotal
//	sum(Lines[i].Tax) == TaxTotal
//	Total == Subtotal - DiscountTotal + ShippingTotal + (TaxTotal unless Tax.Inclusive)
//
// for any input within the bounds of the package comment.
type Result struct {
	Lines         []LineResult // same order as Input.Lines
	Subtotal      int64        // sum of UnitPrice*Quantity
	DiscountTotal int64        // merchandise discounts only, in [0, Subtotal]
	ShippingTotal int64        // after free-shipping discounts / FreeOverAmount; 0 when no method, method not offered or nothing to ship
	TaxTotal      int64        // sum of the line taxes
	Total         int64        // Subtotal - DiscountTotal + ShippingTotal + (TaxTotal when exclusive)
	Applied       []AppliedDiscount
	Rejected      []Rejection
	// ShippingUnavailable is set when Input.Shipping was set but the method
	// is not offered for this cart (inactive, subtotal bounds, country,
	// weight); the buyer must choose another one.
	ShippingUnavailable bool
	// RequiresShipping is set when some line with a positive quantity
	// requires shipping, i.e. the buyer must give an address and a method.
	RequiresShipping bool
}

// Price prices a cart: line subtotals, discounts (validated and applied in
// the buyer's order), shipping and tax, with the rules and rounding of the
// package comment. It is deterministic and pure: the same Input always gives
// the same Result, and Input is not modified. It never panics, whatever the
// input; results are exact for input within the documented bounds.
func Price(in Input) Result {
	res := Result{Lines: make([]LineResult, len(in.Lines))}

	// Lines: subtotals (each <= 1e16 after clamping), weight to ship.
	// remaining[i] is line i's subtotal minus its discounts so far.
	remaining := make([]int64, len(in.Lines))
	var weight int64 // grams, saturating
	for i, l := range in.Lines {
		qty := int64(clamp(l.Quantity, 0, MaxQuantity))
		sub := clamp(l.UnitPrice, 0, MaxUnitPrice) * qty
		res.Lines[i] = LineResult{Key: l.Key, Subtotal: sub}
		remaining[i] = sub
		res.Subtotal = addSat(res.Subtotal, sub)
		if l.RequiresShipping && qty > 0 {
			res.RequiresShipping = true
			weight = addSat(weight, mulSat(int64(max(l.WeightGrams, 0)), qty))
		}
	}

	// Discounts, in the buyer's order.
	freeShipping := -1 // index in res.Applied of the first FREE_SHIPPING discount
	allCombinable := true
	for _, d := range in.Discounts {
		eligible := eligibleLines(in.Lines, res.Lines, d)
		if reason, msg := validate(d, in, res, eligible, allCombinable); reason != "" {
			res.Rejected = append(res.Rejected, Rejection{DiscountID: d.ID, Code: d.Code, Reason: reason, Message: msg})
			continue
		}
		allCombinable = allCombinable && d.Combinable
		applied := AppliedDiscount{DiscountID: d.ID, Code: d.Code}
		switch d.Kind {
		case FreeShipping:
			if freeShipping < 0 {
				freeShipping = len(res.Applied)
			}
		case FixedAmount, Percentage:
			applied.Amount = applyDiscount(d, eligible, remaining, res.Lines)
		}
		res.Applied = append(res.Applied, applied)
	}
	for _, l := range res.Lines {
		res.DiscountTotal = addSat(res.DiscountTotal, l.Discount)
	}

	// Shipping, on the merchandise subtotal after discounts.
	if in.Shipping != nil && res.RequiresShipping {
		cost, offered := ShippingRate(*in.Shipping, res.Subtotal, res.Subtotal-res.DiscountTotal, int(min(weight, math.MaxInt)), in.Country)
		switch {
		case !offered:
			res.ShippingUnavailable = true
		case freeShipping >= 0:
			res.Applied[freeShipping].Amount = cost
		default:
			res.ShippingTotal = cost
		}
	}

	// Tax, per line on what the buyer pays for it.
	for i, l := range in.Lines {
		if l.Taxable {
			res.Lines[i].Tax = in.Tax.amount(remaining[i])
			res.TaxTotal = addSat(res.TaxTotal, res.Lines[i].Tax)
		}
	}

	res.Total = addSat(res.Subtotal-res.DiscountTotal, res.ShippingTotal)
	if !in.Tax.Inclusive {
		res.Total = addSat(res.Total, res.TaxTotal)
	}
	return res
}

// rejectMessages are the shopper-facing texts of each RejectReason.
var rejectMessages = map[RejectReason]string{
	RejectInactive:      "This discount code is not active.",
	RejectNotStarted:    "This discount code is not valid yet.",
	RejectExpired:       "This discount code has expired.",
	RejectUsageLimit:    "This discount code has reached its usage limit.",
	RejectAlreadyUsed:   "You have already used this discount code.",
	RejectMinimum:       "Your cart does not reach the minimum amount for this discount code.",
	RejectNotApplicable: "This discount code does not apply to the items in your cart.",
	RejectNotCombinable: "This discount code cannot be combined with the other discount codes in your cart.",
}

// Messages for the special cases of a reason.
const (
	msgNothingToShip  = "Nothing in your cart needs shipping, so free shipping does not apply."
	msgAlreadyApplied = "This discount code is already applied."
)

// validate runs the checks of the package comment in order and returns the
// first failed one with its message, or "" when d applies.
func validate(d Discount, in Input, res Result, eligible []int, allCombinable bool) (RejectReason, string) {
	reason := func(r RejectReason) (RejectReason, string) { return r, rejectMessages[r] }
	switch {
	case !d.Active:
		return reason(RejectInactive)
	case in.Now.Before(d.StartsAt):
		return reason(RejectNotStarted)
	case d.EndsAt != nil && !in.Now.Before(*d.EndsAt):
		return reason(RejectExpired)
	case d.UsageLimit != nil && d.UsageCount >= *d.UsageLimit:
		return reason(RejectUsageLimit)
	case d.OncePerCustomer && d.UsedByBuyer:
		return reason(RejectAlreadyUsed)
	case d.MinSubtotal > 0 && res.Subtotal < d.MinSubtotal:
		return reason(RejectMinimum)
	}
	switch d.Kind {
	case FreeShipping:
		if !res.RequiresShipping {
			return RejectNotApplicable, msgNothingToShip
		}
	case FixedAmount, Percentage:
		if len(eligible) == 0 {
			return reason(RejectNotApplicable)
		}
	default:
		return reason(RejectNotApplicable)
	}
	if len(res.Applied) == 0 {
		return "", ""
	}
	for _, a := range res.Applied {
		if a.DiscountID == d.ID {
			return RejectNotCombinable, msgAlreadyApplied
		}
	}
	if !d.Combinable || !allCombinable {
		return reason(RejectNotCombinable)
	}
	return "", ""
}

// eligibleLines returns the indexes of the lines d may discount: in its scope
// and with a positive subtotal.
func eligibleLines(lines []Line, priced []LineResult, d Discount) []int {
	whole := len(d.ProductIDs) == 0 && len(d.CategoryIDs) == 0
	var products, categories map[uuid.UUID]bool
	if !whole {
		products = make(map[uuid.UUID]bool, len(d.ProductIDs))
		for _, id := range d.ProductIDs {
			products[id] = true
		}
		categories = make(map[uuid.UUID]bool, len(d.CategoryIDs))
		for _, id := range d.CategoryIDs {
			categories[id] = true
		}
	}
	var idx []int
	for i, l := range lines {
		if priced[i].Subtotal <= 0 {
			continue
		}
		if whole || products[l.ProductID] || slices.ContainsFunc(l.CategoryIDs, func(c uuid.UUID) bool { return categories[c] }) {
			idx = append(idx, i)
		}
	}
	return idx
}

// applyDiscount computes the amount of a FIXED_AMOUNT or PERCENTAGE discount
// on what remains of the eligible lines, spreads it over them (updating
// remaining and the line discounts) and returns it.
func applyDiscount(d Discount, eligible []int, remaining []int64, lines []LineResult) int64 {
	var base int64
	for _, i := range eligible {
		base = addSat(base, remaining[i])
	}
	var amount int64
	if d.Kind == Percentage {
		amount, _ = mulDiv(base, clamp(d.Value, 0, bpsDenominator), bpsDenominator) // floor
	} else {
		amount = min(clamp(d.Value, 0, MaxDiscountValue), base)
	}
	for k, share := range spread(amount, base, eligible, remaining) {
		i := eligible[k]
		remaining[i] -= share
		lines[i].Discount += share
	}
	return amount
}

// spread divides amount (<= total) over the lines eligible[k] in proportion
// to remaining[eligible[k]], whose sum is total, by the largest-remainder
// method: shares sum to amount exactly and share k <= its remaining amount.
// A total of math.MaxInt64, which may be a saturated sum (only with more
// lines than MaxLines), falls back to filling the lines in order, which
// keeps both properties.
func spread(amount, total int64, eligible []int, remaining []int64) []int64 {
	shares := make([]int64, len(eligible))
	if amount <= 0 || total <= 0 {
		return shares
	}
	if total == math.MaxInt64 {
		left := amount
		for k, i := range eligible {
			shares[k] = min(left, remaining[i])
			left -= shares[k]
		}
		return shares
	}
	fracs := make([]int64, len(eligible))
	left := amount
	for k, i := range eligible {
		// amount <= total, so amount*remaining/total <= remaining.
		shares[k], fracs[k] = mulDiv(amount, remaining[i], total)
		left -= shares[k]
	}
	// The fractions sum to left*total and each is below total, so more than
	// left lines have a nonzero fraction: every +1 below goes to one of
	// them, whose share (amount < total here) is below its remaining amount.
	order := make([]int, len(eligible))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(fracs[b], fracs[a]) })
	for _, k := range order[:left] {
		shares[k]++
	}
	return shares
}

// mulDiv returns a*b/c and its remainder for a, b >= 0 and c > 0, through a
// 128-bit product so that a*b cannot overflow. A quotient that does not fit
// in int64 saturates at math.MaxInt64 (never the case within the bounds).
func mulDiv(a, b, c int64) (q, r int64) {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0, 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64, 0
	}
	uq, ur := bits.Div64(hi, lo, uint64(c))
	if uq > math.MaxInt64 {
		return math.MaxInt64, 0
	}
	return int64(uq), int64(ur)
}

// roundHalfUp returns a*b/c rounded half up, for a, b >= 0 and c > 0.
func roundHalfUp(a, b, c int64) int64 {
	q, r := mulDiv(a, b, c)
	if r > 0 && r >= c-r && q < math.MaxInt64 { // 2r >= c, without overflow
		q++
	}
	return q
}

// addSat adds two non-negative numbers, saturating at math.MaxInt64 instead
// of wrapping around.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// mulSat multiplies two non-negative numbers, saturating at math.MaxInt64
// instead of wrapping around.
func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// clamp bounds v to [lo, hi].
func clamp[T cmp.Ordered](v, lo, hi T) T {
	return min(max(v, lo), hi)
}

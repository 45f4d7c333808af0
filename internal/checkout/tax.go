package checkout

// Tax is the tax rule of the destination, as one rate for the whole cart.
// Price applies it per line, to the line subtotal minus the line discount of
// every Taxable line, and never to shipping.
//
// With exclusive tax (prices exclude tax, the US style) a line's tax is
// amount*RateBps/10000 and is added to the Total. With inclusive tax (prices
// include tax, the EU style) the tax is the part of the amount above its net
// value, amount - amount*10000/(10000+RateBps), and the Total does not add
// it. Both round half up to the minor unit: the exclusive tax itself, and for
// inclusive tax the net part (so 20% included in 1200 is 200, and 8.25% of
// 1999 is 164.9175, so 165).
type Tax struct {
	RateBps   int  // basis points (825 = 8.25%), <= MaxRateBps; negative is 0
	Inclusive bool // prices already include the tax
}

// amount returns the tax on amount minor units (amount >= 0), rounded half up
// as the Tax doc says.
func (t Tax) amount(amount int64) int64 {
	rate := int64(clamp(t.RateBps, 0, MaxRateBps))
	if amount <= 0 || rate == 0 {
		return 0
	}
	if !t.Inclusive {
		return roundHalfUp(amount, rate, bpsDenominator)
	}
	return amount - roundHalfUp(amount, bpsDenominator, bpsDenominator+rate)
}

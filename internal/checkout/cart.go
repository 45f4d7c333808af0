package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/cartitem"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/discountredemption"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productcategory"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/shippingmethod"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/ent/storefrontconfig"
	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Limits of a cart.
const (
	MaxCartLines     = 250
	MaxLineQuantity  = 10_000
	MaxDiscountCodes = 5
	cartLifetime     = 30 * 24 * time.Hour
)

// Address is a postal address of a cart or an order.
type Address struct {
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	Company     string `json:"company,omitempty"`
	Line1       string `json:"line1"`
	Line2       string `json:"line2,omitempty"`
	City        string `json:"city"`
	Province    string `json:"province,omitempty"`
	PostalCode  string `json:"postalCode,omitempty"`
	CountryCode string `json:"countryCode"`
	Phone       string `json:"phone,omitempty"`
}

// LineInput is a variant and a quantity to put in a cart.
type LineInput struct {
	VariantID uuid.UUID
	Quantity  int
}

// LineUpdate sets a cart line's quantity (0 removes it).
type LineUpdate struct {
	LineID   uuid.UUID
	Quantity int
}

// CreateCartInput is the input of CreateCart.
type CreateCartInput struct {
	Lines           []LineInput
	Email           *string
	DiscountCodes   []string
	ShippingAddress *Address
	Note            *string
	AnonymousID     *string
}

// BuyerIdentity is the input of UpdateBuyerIdentity; nil fields stay.
type BuyerIdentity struct {
	Email           *string
	ShippingAddress *Address
	BillingAddress  *Address
	Note            *string
}

// Warning codes of a cart (GraphQL CartWarningCode).
const (
	WarnPriceChanged        = "PRICE_CHANGED"
	WarnNotEnoughStock      = "NOT_ENOUGH_STOCK"
	WarnUnavailable         = "UNAVAILABLE"
	WarnShippingUnavailable = "SHIPPING_METHOD_UNAVAILABLE"
	WarnDiscount            = "DISCOUNT_NOT_APPLICABLE"
)

// Warning is a non-blocking notice about a cart.
type Warning struct {
	Code    string
	Message string
	LineID  *uuid.UUID
}

// CartLine is a priced line of a cart view.
type CartLine struct {
	Item *ent.CartItem
	// Variant is nil when the variant is no longer sold.
	Variant   *ent.ProductVariant
	UnitPrice int64
	Price     LineResult
}

// ShippingOption is a shipping method offered to a cart, with its cost.
type ShippingOption struct {
	Method *ent.ShippingMethod
	Cost   int64
}

// CodeView is a discount code on a cart and whether it applies.
type CodeView struct {
	Code       string
	Applicable bool
	Reason     string
	Amount     int64
}

// Cart is a cart priced at current prices: what the storefront shows.
type Cart struct {
	Cart             *ent.ShoppingCart
	Lines            []CartLine
	Pricing          Result
	Currency         string
	TaxesIncluded    bool
	Shipping         *ShippingOption
	Available        []ShippingOption
	Codes            []CodeView
	Warnings         []Warning
	RequiresShipping bool
	ShippingAddress  *Address
	BillingAddress   *Address

	// loaded for checkout
	discounts []*ent.Discount
	config    *ent.StorefrontConfig
	variants  map[uuid.UUID]*ent.ProductVariant
	available map[uuid.UUID]int
}

// TotalQuantity sums the lines' quantities.
func (c *Cart) TotalQuantity() int {
	n := 0
	for _, l := range c.Lines {
		n += l.Item.Quantity
	}
	return n
}

// newToken returns a cart's public id: a random (version 4) UUID, 122
// bits from crypto/rand, so that a cart's id cannot be guessed from
// another's (its primary key is time-ordered and never shown).
func newToken() string { return uuid.NewString() }

// buyer is what a cart operation needs of the storefront viewer.
type buyer struct {
	customerID *uuid.UUID
	staff      bool
}

func buyerOf(ctx context.Context) buyer {
	v := viewer.FromContext(ctx)
	b := buyer{staff: v.IsStaff()}
	if v.Kind == viewer.Customer && v.CustomerID != uuid.Nil {
		id := v.CustomerID
		b.customerID = &id
	}
	return b
}

// CreateCart starts a cart for the storefront viewer of ctx.
func (s *Service) CreateCart(ctx context.Context, in CreateCartInput) (*Cart, []Warning, error) {
	p := &problems{}
	email := checkEmail(p, path("input", "email"), in.Email)
	note := checkText(p, path("input", "note"), in.Note, 2000)
	anon := checkText(p, path("input", "anonymousId"), in.AnonymousID, 128)
	codes := normaliseCodes(p, path("input", "discountCodes"), in.DiscountCodes)
	ship := checkAddress(p, path("input", "shippingAddress"), in.ShippingAddress)
	checkLines(p, path("input", "lines"), in.Lines)
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	b := buyerOf(ctx)
	var out *Cart
	err := s.inStore(ctx, "cart create", func(ctx context.Context, c *ent.Client) error {
		cfg, err := storeConfig(ctx, c)
		if err != nil {
			return err
		}
		cr := c.ShoppingCart.Create().SetToken(newToken()).SetCurrency(cfg.Currency).
			SetDiscountCodes(codes).SetNillableCustomerID(b.customerID).
			SetExpiresAt(s.now().Add(cartLifetime))
		if email != nil {
			cr.SetEmail(*email)
		}
		if note != nil {
			cr.SetNote(*note)
		}
		if anon != nil {
			cr.SetAnonymousID(*anon)
		}
		if ship != nil {
			cr.SetShippingAddress(addressMap(ship))
		}
		cart, err := cr.Save(ctx)
		if err != nil {
			return err
		}
		if err := s.addLines(ctx, c, cart, in.Lines, path("input", "lines")); err != nil {
			return err
		}
		out, err = s.saveCart(ctx, c, cart.ID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, out.Warnings, nil
}

// Cart returns the cart with the given token, priced now. A guest cart
// read by a signed-in customer becomes theirs.
func (s *Service) Cart(ctx context.Context, token string) (*Cart, error) {
	b := buyerOf(ctx)
	var out *Cart
	err := s.inStore(ctx, "cart read", func(ctx context.Context, c *ent.Client) error {
		cart, err := cartByToken(ctx, c, token, b, false)
		if err != nil {
			return err
		}
		if b.customerID != nil && cart.CustomerID == nil && cart.Status == shoppingcart.StatusACTIVE {
			if err := c.ShoppingCart.UpdateOne(cart).SetCustomerID(*b.customerID).Exec(ctx); err != nil {
				return err
			}
		}
		out, err = s.loadCart(ctx, c, cart.ID)
		return err
	})
	return out, err
}

// ActiveCart returns the customer's most recently changed active cart, or
// nil.
func (s *Service) ActiveCart(ctx context.Context, customerID uuid.UUID) (*Cart, error) {
	var out *Cart
	err := s.inStore(ctx, "customer cart", func(ctx context.Context, c *ent.Client) error {
		cart, err := c.ShoppingCart.Query().
			Where(shoppingcart.CustomerID(customerID), shoppingcart.StatusIn(shoppingcart.StatusACTIVE, shoppingcart.StatusABANDONED)).
			Order(ent.Desc(shoppingcart.FieldUpdatedAt)).First(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = s.loadCart(ctx, c, cart.ID)
		return err
	})
	return out, err
}

// AddLines adds variants to a cart (a variant already in it gets more).
func (s *Service) AddLines(ctx context.Context, token string, lines []LineInput) (*Cart, []Warning, error) {
	p := &problems{}
	checkLines(p, path("lines"), lines)
	if len(lines) == 0 {
		p.add(CodeRequired, path("lines"), "give at least one line")
	}
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	return s.mutateCart(ctx, token, "cart lines add", func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error {
		return s.addLines(ctx, c, cart, lines, path("lines"))
	})
}

// UpdateLines sets the quantity of lines (0 removes).
func (s *Service) UpdateLines(ctx context.Context, token string, lines []LineUpdate) (*Cart, []Warning, error) {
	p := &problems{}
	for i, l := range lines {
		if l.Quantity < 0 || l.Quantity > MaxLineQuantity {
			p.add(CodeInvalid, path("lines", i, "quantity"), "quantity must be between 0 and %d", MaxLineQuantity)
		}
	}
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	return s.mutateCart(ctx, token, "cart lines update", func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error {
		items, err := cart.QueryItems().All(ctx)
		if err != nil {
			return err
		}
		byID := map[uuid.UUID]*ent.CartItem{}
		for _, it := range items {
			byID[it.ID] = it
		}
		p := &problems{}
		var add []LineInput
		for i, l := range lines {
			it := byID[l.LineID]
			if it == nil {
				p.add(CodeNotFound, path("lines", i, "id"), "no line with this id in the cart")
				continue
			}
			if l.Quantity == 0 {
				if err := c.CartItem.DeleteOne(it).Exec(ctx); err != nil {
					return err
				}
				continue
			}
			if l.Quantity > it.Quantity {
				add = append(add, LineInput{VariantID: it.VariantID, Quantity: l.Quantity - it.Quantity})
				continue
			}
			if err := c.CartItem.UpdateOne(it).SetQuantity(l.Quantity).Exec(ctx); err != nil {
				return err
			}
		}
		if err := p.err(); err != nil {
			return err
		}
		return s.addLines(ctx, c, cart, add, path("lines"))
	})
}

// RemoveLines removes lines from a cart.
func (s *Service) RemoveLines(ctx context.Context, token string, ids []uuid.UUID) (*Cart, []Warning, error) {
	return s.mutateCart(ctx, token, "cart lines remove", func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error {
		p := &problems{}
		for i, id := range ids {
			n, err := c.CartItem.Delete().Where(cartitem.ID(id), cartitem.CartID(cart.ID)).Exec(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				p.add(CodeNotFound, path("lineIds", i), "no line with this id in the cart")
			}
		}
		return p.err()
	})
}

// UpdateDiscountCodes replaces the cart's codes. A code no discount has is
// refused; a code that exists but does not apply now stays on the cart
// with a warning (it may apply once the cart changes), and checkout refuses
// it.
func (s *Service) UpdateDiscountCodes(ctx context.Context, token string, codes []string) (*Cart, []Warning, error) {
	p := &problems{}
	norm := normaliseCodes(p, path("discountCodes"), codes)
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	return s.mutateCart(ctx, token, "cart discount codes", func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error {
		if len(norm) > 0 {
			found, err := c.Discount.Query().Where(discount.CodeIn(norm...)).Select(discount.FieldCode).Strings(ctx)
			if err != nil {
				return err
			}
			p := &problems{}
			for i, code := range norm {
				if !slices.Contains(found, code) {
					p.add(CodeDiscountInvalid, path("discountCodes", i), "no discount with the code %s", code)
				}
			}
			if err := p.err(); err != nil {
				return err
			}
		}
		return c.ShoppingCart.UpdateOne(cart).SetDiscountCodes(norm).Exec(ctx)
	})
}

// UpdateBuyerIdentity sets the cart's email, addresses and note.
func (s *Service) UpdateBuyerIdentity(ctx context.Context, token string, in BuyerIdentity) (*Cart, []Warning, error) {
	p := &problems{}
	email := checkEmail(p, path("buyerIdentity", "email"), in.Email)
	note := checkText(p, path("buyerIdentity", "note"), in.Note, 2000)
	ship := checkAddress(p, path("buyerIdentity", "shippingAddress"), in.ShippingAddress)
	bill := checkAddress(p, path("buyerIdentity", "billingAddress"), in.BillingAddress)
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	return s.mutateCart(ctx, token, "cart buyer identity", func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error {
		// An update by id, not UpdateOne: that would read the row back,
		// and saveCart reads it anyway.
		u := c.ShoppingCart.Update().Where(shoppingcart.ID(cart.ID))
		if email != nil {
			u.SetEmail(*email)
		}
		if note != nil {
			u.SetNote(*note)
		}
		if ship != nil {
			u.SetShippingAddress(addressMap(ship))
		}
		if bill != nil {
			u.SetBillingAddress(addressMap(bill))
		}
		return u.Exec(ctx)
	})
}

// SelectShippingMethod chooses one of the methods offered to the cart. The
// cart is priced once, with the method: when the method is not offered
// for it, nothing is written (the transaction rolls back).
func (s *Service) SelectShippingMethod(ctx context.Context, token string, methodID uuid.UUID) (*Cart, []Warning, error) {
	notOffered := func() error {
		return fieldErr(CodeShippingRequired, path("shippingMethodId"), "this shipping method is not offered for the cart")
	}
	return s.mutateCart(ctx, token, "cart shipping method", func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error {
		// The method must exist before the cart refers to it (the foreign
		// key); whether it is offered is known once the cart is priced.
		ok, err := c.ShippingMethod.Query().Where(shippingmethod.ID(methodID), shippingmethod.Active(true)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return notOffered()
		}
		return c.ShoppingCart.Update().Where(shoppingcart.ID(cart.ID)).SetShippingMethodID(methodID).Exec(ctx)
	}, func(view *Cart) error {
		if view.Shipping == nil || view.Shipping.Method.ID != methodID {
			return notOffered()
		}
		return nil
	})
}

// mutateCart runs change on the locked, active cart of token and answers
// the cart priced after it, with its warnings. A check refusing the priced
// cart undoes the change.
func (s *Service) mutateCart(ctx context.Context, token, reason string, change func(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart) error,
	checks ...func(*Cart) error) (*Cart, []Warning, error) {
	b := buyerOf(ctx)
	var out *Cart
	err := s.inStore(ctx, reason, func(ctx context.Context, c *ent.Client) error {
		cart, err := cartByToken(ctx, c, token, b, true)
		if err != nil {
			return err
		}
		if cart.Status == shoppingcart.StatusCONVERTED {
			return fieldErr(CodeCartCompleted, path("cartId"), "this cart was already turned into an order")
		}
		if err := change(ctx, c, cart); err != nil {
			return err
		}
		if out, err = s.saveCart(ctx, c, cart.ID); err != nil {
			return err
		}
		for _, check := range checks {
			if err := check(out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, out.Warnings, nil
}

// saveCart prices the cart, stores its amounts and line prices, marks it
// active (a returning shopper revives an abandoned cart) and writes a
// cart.updated event.
func (s *Service) saveCart(ctx context.Context, c *ent.Client, id uuid.UUID) (*Cart, error) {
	view, err := s.loadCart(ctx, c, id)
	if err != nil {
		return nil, err
	}
	for _, l := range view.Lines {
		// Lines still sold take the current price; every line's stored
		// total follows its price.
		if l.Item.UnitPrice != l.UnitPrice || l.Item.LineTotalAmount != l.Price.Subtotal {
			if err := c.CartItem.UpdateOne(l.Item).SetUnitPrice(l.UnitPrice).SetLineTotalAmount(l.Price.Subtotal).Exec(ctx); err != nil {
				return nil, err
			}
		}
	}
	r := view.Pricing
	u := c.ShoppingCart.UpdateOneID(id).SetSubtotalAmount(r.Subtotal).SetDiscountAmount(r.DiscountTotal).
		SetShippingAmount(r.ShippingTotal).SetTaxAmount(r.TaxTotal).SetTotalAmount(r.Total).
		SetStatus(shoppingcart.StatusACTIVE).SetExpiresAt(s.now().Add(cartLifetime))
	if view.Shipping == nil && view.Cart.ShippingMethodID != nil {
		u.ClearShippingMethodID()
	}
	cart, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	view.Cart = cart
	if _, err := events.Write(ctx, c, cart.MerchantID, events.CartUpdated{CartState: cartState(view)}); err != nil {
		return nil, err
	}
	return view, nil
}

func cartState(v *Cart) events.CartState {
	return events.CartState{CartID: v.Cart.ID, CustomerID: v.Cart.CustomerID, Email: v.Cart.Email,
		ItemCount: v.TotalQuantity(), Currency: v.Currency, SubtotalAmount: v.Pricing.Subtotal, TotalAmount: v.Pricing.Total}
}

// cartByToken finds the cart the buyer may use: a customer's cart answers
// only that customer (and staff).
func cartByToken(ctx context.Context, c *ent.Client, token string, b buyer, lock bool) (*ent.ShoppingCart, error) {
	if token == "" || len(token) > 64 {
		return nil, fieldErr(CodeNotFound, path("cartId"), "no cart with this id")
	}
	q := c.ShoppingCart.Query().Where(shoppingcart.Token(token))
	if lock {
		q.Modify(forUpdate)
	}
	cart, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fieldErr(CodeNotFound, path("cartId"), "no cart with this id")
	}
	if err != nil {
		return nil, err
	}
	if cart.CustomerID != nil && !b.staff && (b.customerID == nil || *b.customerID != *cart.CustomerID) {
		return nil, fieldErr(CodeNotFound, path("cartId"), "no cart with this id")
	}
	return cart, nil
}

// forUpdate makes a query lock its rows on PostgreSQL.
func forUpdate(s *sql.Selector) {
	if s.Dialect() == "postgres" {
		s.ForUpdate()
	}
}

// addLines adds quantities of variants to a cart, checking that each
// variant is sold and that the cart's quantity is available.
func (s *Service) addLines(ctx context.Context, c *ent.Client, cart *ent.ShoppingCart, lines []LineInput, at []string) error {
	if len(lines) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(lines))
	for _, l := range lines {
		ids = append(ids, l.VariantID)
	}
	sold, err := soldVariants(ctx, c, s.now(), ids)
	if err != nil {
		return err
	}
	avail, err := availability(ctx, c, sold)
	if err != nil {
		return err
	}
	items, err := cart.QueryItems().All(ctx)
	if err != nil {
		return err
	}
	have := map[uuid.UUID]*ent.CartItem{}
	for _, it := range items {
		have[it.VariantID] = it
	}
	p := &problems{}
	lineCount := len(items)
	for i, l := range lines {
		v := sold[l.VariantID]
		if v == nil {
			p.add(CodeUnavailable, sub(at, i, "variantId"), "this variant is not sold")
			continue
		}
		want := l.Quantity
		it := have[v.ID]
		if it != nil {
			want += it.Quantity
		}
		if want > MaxLineQuantity {
			p.add(CodeInvalid, sub(at, i, "quantity"), "a line holds at most %d units", MaxLineQuantity)
			continue
		}
		if a, tracked := avail[v.ID]; tracked && want > a {
			p.add(CodeOutOfStock, sub(at, i, "quantity"), "only %d left in stock", max(a, 0))
			continue
		}
		if it != nil {
			if err := c.CartItem.UpdateOne(it).SetQuantity(want).SetUnitPrice(v.Price).
				SetLineTotalAmount(v.Price * int64(want)).Exec(ctx); err != nil {
				return err
			}
			it.Quantity = want
			continue
		}
		if lineCount++; lineCount > MaxCartLines {
			p.add(CodeTooMany, at, "a cart holds at most %d lines", MaxCartLines)
			break
		}
		it, err := c.CartItem.Create().SetCartID(cart.ID).SetVariantID(v.ID).SetQuantity(want).
			SetUnitPrice(v.Price).SetCurrency(v.Currency).SetLineTotalAmount(v.Price * int64(want)).Save(ctx)
		if err != nil {
			return err
		}
		have[v.ID] = it
	}
	return p.err()
}

// soldVariants loads the variants among ids that the storefront sells now:
// of an ACTIVE product whose published_at has passed. Others are absent.
func soldVariants(ctx context.Context, c *ent.Client, now time.Time, ids []uuid.UUID) (map[uuid.UUID]*ent.ProductVariant, error) {
	out := map[uuid.UUID]*ent.ProductVariant{}
	if len(ids) == 0 {
		return out, nil
	}
	vs, err := c.ProductVariant.Query().Where(productvariant.IDIn(ids...),
		productvariant.HasProductWith(product.StatusEQ(product.StatusACTIVE), product.PublishedAtLTE(now))).
		WithProduct().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkout: variants: %w", err)
	}
	for _, v := range vs {
		out[v.ID] = v
	}
	return out, nil
}

// availability returns the units available for sale of each variant that
// tracks inventory and allows no backorder (others are absent: unlimited),
// over the warehouses that fulfil online orders.
func availability(ctx context.Context, c *ent.Client, vs map[uuid.UUID]*ent.ProductVariant) (map[uuid.UUID]int, error) {
	var tracked []uuid.UUID
	for id, v := range vs {
		if v.TrackInventory && !v.AllowBackorder {
			tracked = append(tracked, id)
		}
	}
	out := make(map[uuid.UUID]int, len(tracked))
	if len(tracked) == 0 {
		return out, nil
	}
	var rows []struct {
		VariantID uuid.UUID `json:"variant_id"`
		OnHand    int       `json:"on_hand"`
		Reserved  int       `json:"reserved"`
	}
	err := c.InventoryLevel.Query().Where(inventorylevel.VariantIDIn(tracked...),
		inventorylevel.HasWarehouseWith(warehouse.Active(true), warehouse.FulfillsOnlineOrders(true))).
		GroupBy(inventorylevel.FieldVariantID).
		Aggregate(ent.As(ent.Sum(inventorylevel.FieldQuantityOnHand), "on_hand"),
			ent.As(ent.Sum(inventorylevel.FieldQuantityReserved), "reserved")).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("checkout: availability: %w", err)
	}
	for _, id := range tracked {
		out[id] = 0
	}
	for _, r := range rows {
		out[r.VariantID] = r.OnHand - r.Reserved
	}
	return out, nil
}

// storeConfig returns the store's storefront configuration (created with
// its defaults when missing).
func storeConfig(ctx context.Context, c *ent.Client) (*ent.StorefrontConfig, error) {
	cfg, err := c.StorefrontConfig.Query().Where(storefrontconfig.MerchantID(merchantOf(ctx))).Only(ctx)
	if ent.IsNotFound(err) {
		return c.StorefrontConfig.Create().Save(ctx)
	}
	return cfg, err
}

// loadCart reads a cart and prices it at current prices.
func (s *Service) loadCart(ctx context.Context, c *ent.Client, id uuid.UUID) (*Cart, error) {
	cart, err := c.ShoppingCart.Query().Where(shoppingcart.ID(id)).
		WithItems(func(q *ent.CartItemQuery) { q.Order(ent.Asc(cartitem.FieldCreatedAt), ent.Asc(cartitem.FieldID)) }).Only(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := storeConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	now := s.now()
	items := cart.Edges.Items
	ids := make([]uuid.UUID, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.VariantID)
	}
	sold, err := soldVariants(ctx, c, now, ids)
	if err != nil {
		return nil, err
	}
	avail, err := availability(ctx, c, sold)
	if err != nil {
		return nil, err
	}
	view := &Cart{Cart: cart, Currency: cfg.Currency, TaxesIncluded: cfg.PricesIncludeTax, config: cfg,
		variants: sold, available: avail}
	view.ShippingAddress = addressOf(cart.ShippingAddress)
	view.BillingAddress = addressOf(cart.BillingAddress)
	if view.BillingAddress == nil {
		view.BillingAddress = view.ShippingAddress
	}

	// Discounts, in the order the buyer entered them.
	byCode := map[string]*ent.Discount{}
	var categoryRules bool
	if len(cart.DiscountCodes) > 0 {
		ds, err := c.Discount.Query().Where(discount.CodeIn(cart.DiscountCodes...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			byCode[d.Code] = d
			categoryRules = categoryRules || len(d.AppliesToCategoryIds) > 0
		}
	}
	var ancestors map[uuid.UUID][]uuid.UUID
	if categoryRules {
		if ancestors, err = categoryAncestors(ctx, c); err != nil {
			return nil, err
		}
	}

	in := Input{Now: now, Tax: Tax{RateBps: cfg.TaxRateBps, Inclusive: cfg.PricesIncludeTax}}
	if view.ShippingAddress != nil {
		in.Country = view.ShippingAddress.CountryCode
	}
	var lineIdx []int // index in view.Lines of each pricing line
	for _, it := range items {
		l := CartLine{Item: it, UnitPrice: it.UnitPrice}
		v := sold[it.VariantID]
		if v == nil {
			id := it.ID
			view.Warnings = append(view.Warnings, Warning{Code: WarnUnavailable, LineID: &id, Message: "this item is no longer sold"})
			view.Lines = append(view.Lines, l)
			continue
		}
		l.Variant = v
		l.UnitPrice = v.Price
		if v.Price != it.UnitPrice {
			id := it.ID
			view.Warnings = append(view.Warnings, Warning{Code: WarnPriceChanged, LineID: &id,
				Message: fmt.Sprintf("the price changed from %d to %d", it.UnitPrice, v.Price)})
		}
		if a, tracked := avail[v.ID]; tracked && it.Quantity > a {
			id := it.ID
			view.Warnings = append(view.Warnings, Warning{Code: WarnNotEnoughStock, LineID: &id,
				Message: fmt.Sprintf("only %d left in stock", max(a, 0))})
		}
		pl := Line{Key: it.ID.String(), VariantID: v.ID, ProductID: v.ProductID, UnitPrice: v.Price,
			Quantity: it.Quantity, WeightGrams: v.WeightGrams, Taxable: v.Taxable, RequiresShipping: v.RequiresShipping}
		if p := v.Edges.Product; p != nil && p.CategoryID != nil {
			pl.CategoryIDs = append([]uuid.UUID{*p.CategoryID}, ancestors[*p.CategoryID]...)
		}
		in.Lines = append(in.Lines, pl)
		lineIdx = append(lineIdx, len(view.Lines))
		view.Lines = append(view.Lines, l)
	}
	used, err := usedByBuyer(ctx, c, byCode, cart)
	if err != nil {
		return nil, err
	}
	for _, code := range cart.DiscountCodes {
		d := byCode[code]
		if d == nil {
			continue
		}
		view.discounts = append(view.discounts, d)
		in.Discounts = append(in.Discounts, discountOf(d, used[d.ID]))
	}

	// Shipping: price once without a method to learn the discounted
	// subtotal, then offer the methods that fit.
	methods, err := c.ShippingMethod.Query().Where(shippingmethod.Active(true)).
		Order(ent.Asc(shippingmethod.FieldPosition), ent.Asc(shippingmethod.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	base := Price(in)
	view.RequiresShipping = base.RequiresShipping
	weight := 0
	for _, l := range in.Lines {
		if l.RequiresShipping {
			weight += l.WeightGrams * l.Quantity
		}
	}
	if base.RequiresShipping {
		for _, m := range methods {
			cost, ok := ShippingRate(shippingOf(m), base.Subtotal, base.Subtotal-base.DiscountTotal, weight, in.Country)
			if ok {
				view.Available = append(view.Available, ShippingOption{Method: m, Cost: cost})
			}
		}
	}
	if cart.ShippingMethodID != nil && base.RequiresShipping {
		for i := range view.Available {
			if view.Available[i].Method.ID == *cart.ShippingMethodID {
				m := shippingOf(view.Available[i].Method)
				in.Shipping = &m
				view.Shipping = &view.Available[i]
			}
		}
		if view.Shipping == nil {
			view.Warnings = append(view.Warnings, Warning{Code: WarnShippingUnavailable, Message: "the chosen shipping method is not offered for this cart any more"})
		}
	}
	view.Pricing = Price(in)
	for i, lr := range view.Pricing.Lines {
		view.Lines[lineIdx[i]].Price = lr
	}
	for i := range view.Lines {
		if view.Lines[i].Variant == nil {
			q := int64(view.Lines[i].Item.Quantity)
			view.Lines[i].Price = LineResult{Key: view.Lines[i].Item.ID.String(), Subtotal: view.Lines[i].UnitPrice * q}
		}
	}

	// Codes, with why each does or does not apply.
	rejected := map[uuid.UUID]Rejection{}
	for _, r := range view.Pricing.Rejected {
		if _, seen := rejected[r.DiscountID]; !seen {
			rejected[r.DiscountID] = r
		}
	}
	applied := map[uuid.UUID]int64{}
	for _, a := range view.Pricing.Applied {
		applied[a.DiscountID] += a.Amount
	}
	for _, code := range cart.DiscountCodes {
		d := byCode[code]
		cv := CodeView{Code: code}
		switch {
		case d == nil:
			cv.Reason = string(CodeDiscountInvalid)
		default:
			if r, bad := rejected[d.ID]; bad {
				cv.Reason = string(r.Reason)
			} else {
				cv.Applicable = true
				cv.Amount = applied[d.ID]
			}
		}
		if !cv.Applicable {
			view.Warnings = append(view.Warnings, Warning{Code: WarnDiscount, Message: fmt.Sprintf("the code %s does not apply: %s", code, cv.Reason)})
		}
		view.Codes = append(view.Codes, cv)
	}
	return view, nil
}

// usedByBuyer reports, for the once-per-customer discounts among ds,
// whether the cart's customer (or email) has redeemed them.
func usedByBuyer(ctx context.Context, c *ent.Client, ds map[string]*ent.Discount, cart *ent.ShoppingCart) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	var ids []uuid.UUID
	for _, d := range ds {
		if d.OncePerCustomer {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 || (cart.CustomerID == nil && cart.Email == "") {
		return out, nil
	}
	used, err := redeemedBy(ctx, c, ids, cart.CustomerID, cart.Email)
	if err != nil {
		return nil, err
	}
	for _, id := range used {
		out[id] = true
	}
	return out, nil
}

// redeemedBy returns which of the discounts the customer (or, for a guest,
// the email, in any case) has redeemed.
func redeemedBy(ctx context.Context, c *ent.Client, ids []uuid.UUID, customerID *uuid.UUID, email string) ([]uuid.UUID, error) {
	var who []predicate.DiscountRedemption
	if customerID != nil {
		who = append(who, discountredemption.CustomerID(*customerID))
	}
	if email != "" {
		who = append(who, discountredemption.EmailEqualFold(email))
	}
	if len(who) == 0 {
		return nil, nil
	}
	var rows []struct {
		DiscountID uuid.UUID `json:"discount_id"`
	}
	err := c.DiscountRedemption.Query().Where(discountredemption.DiscountIDIn(ids...), discountredemption.Or(who...)).
		Select(discountredemption.FieldDiscountID).Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.DiscountID)
	}
	return out, nil
}

// categoryAncestors maps each of the store's categories to its ancestors.
func categoryAncestors(ctx context.Context, c *ent.Client) (map[uuid.UUID][]uuid.UUID, error) {
	cats, err := c.ProductCategory.Query().Select(productcategory.FieldID, productcategory.FieldParentID).All(ctx)
	if err != nil {
		return nil, err
	}
	parent := map[uuid.UUID]*uuid.UUID{}
	for _, cat := range cats {
		parent[cat.ID] = cat.ParentID
	}
	out := map[uuid.UUID][]uuid.UUID{}
	for _, cat := range cats {
		var up []uuid.UUID
		for p, n := parent[cat.ID], 0; p != nil && n < 64; p, n = parent[*p], n+1 {
			up = append(up, *p)
		}
		out[cat.ID] = up
	}
	return out, nil
}

// discountOf turns a discount row into the pricing engine's Discount.
func discountOf(d *ent.Discount, usedByBuyer bool) Discount {
	out := Discount{ID: d.ID, Code: d.Code, Kind: DiscountKind(d.Kind), Value: d.Value,
		MinSubtotal: d.MinSubtotalAmount, StartsAt: d.StartsAt, EndsAt: d.EndsAt, Active: d.Active,
		UsageLimit: d.UsageLimit, UsageCount: d.UsageCount, OncePerCustomer: d.OncePerCustomer,
		UsedByBuyer: usedByBuyer, Combinable: d.Combinable}
	for _, s := range d.AppliesToProductIds {
		if id, err := uuid.Parse(s); err == nil {
			out.ProductIDs = append(out.ProductIDs, id)
		}
	}
	for _, s := range d.AppliesToCategoryIds {
		if id, err := uuid.Parse(s); err == nil {
			out.CategoryIDs = append(out.CategoryIDs, id)
		}
	}
	return out
}

// shippingOf turns a shipping method row into the pricing engine's.
func shippingOf(m *ent.ShippingMethod) ShippingMethod {
	out := ShippingMethod{ID: m.ID, Name: m.Name, Price: m.Price, FreeOverAmount: m.FreeOverAmount,
		MinSubtotal: m.MinSubtotalAmount, MaxSubtotal: m.MaxSubtotalAmount, Countries: m.Countries, Active: m.Active}
	for _, b := range m.WeightBands {
		out.WeightBands = append(out.WeightBands, WeightBand{MaxGrams: b.MaxGrams, Price: b.Price})
	}
	return out
}

// Input checks.

func checkLines(p *problems, at []string, lines []LineInput) {
	if len(lines) > MaxCartLines {
		p.add(CodeTooMany, at, "a cart holds at most %d lines", MaxCartLines)
		return
	}
	for i, l := range lines {
		if l.Quantity < 1 || l.Quantity > MaxLineQuantity {
			p.add(CodeInvalid, sub(at, i, "quantity"), "quantity must be between 1 and %d", MaxLineQuantity)
		}
	}
}

func checkEmail(p *problems, at []string, v *string) *string {
	if v == nil {
		return nil
	}
	s := strings.TrimSpace(*v)
	if s == "" {
		return &s
	}
	if len(s) > 254 {
		p.add(CodeTooLong, at, "the email is too long")
		return nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		p.add(CodeInvalid, at, "not a valid email address")
		return nil
	}
	return &s
}

func checkText(p *problems, at []string, v *string, maxLen int) *string {
	if v == nil {
		return nil
	}
	s := strings.TrimSpace(*v)
	if len(s) > maxLen {
		p.add(CodeTooLong, at, "%s is too long (at most %d bytes)", at[len(at)-1], maxLen)
		return nil
	}
	if strings.ContainsRune(s, 0) {
		p.add(CodeInvalid, at, "%s contains a NUL character", at[len(at)-1])
		return nil
	}
	return &s
}

func normaliseCodes(p *problems, at []string, codes []string) []string {
	out := []string{}
	if len(codes) > MaxDiscountCodes {
		p.add(CodeTooMany, at, "at most %d discount codes", MaxDiscountCodes)
		return out
	}
	for i, c := range codes {
		c = strings.ToUpper(strings.TrimSpace(c))
		switch {
		case c == "":
			p.add(CodeRequired, sub(at, i), "the code is empty")
		case len(c) > 64:
			p.add(CodeTooLong, sub(at, i), "the code is too long")
		case !slices.Contains(out, c):
			out = append(out, c)
		}
	}
	return out
}

func checkAddress(p *problems, at []string, a *Address) *Address {
	if a == nil {
		return nil
	}
	out := *a
	field := func(name string, v *string, maxLen int, required bool) {
		*v = strings.TrimSpace(*v)
		f := append(slices.Clone(at), name)
		switch {
		case required && *v == "":
			p.add(CodeRequired, f, "%s is required", name)
		case len(*v) > maxLen:
			p.add(CodeTooLong, f, "%s is too long (at most %d bytes)", name, maxLen)
		case strings.ContainsRune(*v, 0):
			p.add(CodeInvalid, f, "%s contains a NUL character", name)
		}
	}
	field("firstName", &out.FirstName, 100, false)
	field("lastName", &out.LastName, 100, false)
	field("company", &out.Company, 200, false)
	field("line1", &out.Line1, 255, true)
	field("line2", &out.Line2, 255, false)
	field("city", &out.City, 100, true)
	field("province", &out.Province, 100, false)
	field("postalCode", &out.PostalCode, 20, false)
	field("phone", &out.Phone, 32, false)
	out.CountryCode = strings.ToUpper(strings.TrimSpace(out.CountryCode))
	if len(out.CountryCode) != 2 || out.CountryCode[0] < 'A' || out.CountryCode[0] > 'Z' || out.CountryCode[1] < 'A' || out.CountryCode[1] > 'Z' {
		p.add(CodeInvalid, append(slices.Clone(at), "countryCode"), "countryCode must be an ISO 3166-1 alpha-2 code, e.g. US")
	}
	return &out
}

func addressMap(a *Address) map[string]any {
	raw, _ := json.Marshal(a)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func addressOf(m map[string]any) *Address {
	if len(m) == 0 {
		return nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	var a Address
	if json.Unmarshal(raw, &a) != nil || a.Line1 == "" {
		return nil
	}
	return &a
}

// clampInt converts an int64 amount for GraphQL's Int (64-bit in gqlgen).
func clampInt(v int64) int {
	if v > math.MaxInt {
		return math.MaxInt
	}
	return int(v)
}

package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderaddress"
	"github.com/omnisphere/omnisphere/ent/orderpayment"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/ent/storefrontconfig"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Provider is how the buyer pays.
type Provider string

// The payment providers.
const (
	Manual Provider = "MANUAL"
	Stripe Provider = "STRIPE"
)

// CompleteInput is the input of Complete.
type CompleteInput struct {
	CartToken      string
	Provider       Provider
	IdempotencyKey string
}

// Completed is checkout's answer: the order and its payment. ClientSecret
// is set for a Stripe payment (the browser confirms it with Stripe.js).
type Completed struct {
	Order        *ent.Order
	Payment      *ent.OrderPayment
	ClientSecret string
	// PaymentError is set when the order was placed but the provider could
	// not start the payment (Stripe unreachable): the buyer retries with the
	// same idempotency key, which tries again.
	PaymentError error
}

// Complete turns a cart into an order in one transaction: the stock taken
// with conditional updates under the products' locks (held as reserved
// until the order is paid, cancelled or its hold expires), each discount's
// redemption counted against its limits with a conditional update, the
// next order number of the store, order lines with a snapshot of what was
// sold, addresses, a PENDING payment and an order.created event. Any
// problem (a line out of stock, a code over its limit, no shipping method)
// is a user error and leaves nothing behind.
//
// The idempotency key makes retries safe: checkouts of one cart run one at
// a time (the cart's row lock), and a key that already made an
// order answers that order again, also after it was paid. The same key with
// another cart or provider answers IDEMPOTENCY_KEY_MISMATCH. A key binds
// only when an order was made: after a user error the cart can be fixed and
// the same key used again.
//
// A STRIPE order then gets its PaymentIntent (idempotency key derived from
// the order, so a retry never makes a second one), whose client secret is
// in the answer.
func (s *Service) Complete(ctx context.Context, in CompleteInput) (*Completed, error) {
	p := &problems{}
	key := strings.TrimSpace(in.IdempotencyKey)
	switch {
	case key == "":
		p.add(CodeRequired, path("input", "idempotencyKey"), "idempotencyKey is required")
	case len(key) > 255:
		p.add(CodeTooLong, path("input", "idempotencyKey"), "idempotencyKey is at most 255 characters")
	}
	if in.Provider != Manual && in.Provider != Stripe {
		p.add(CodeInvalid, path("input", "paymentProvider"), "unknown payment provider")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if s.Gate != nil {
		// A store that takes no new orders still answers a retry of an
		// order it made: a key that was used only replays.
		if err := s.Gate.CheckOrders(ctx, merchantOf(ctx)); err != nil {
			used, uerr := s.client.Order.Query().Where(order.IdempotencyKey(key)).
				Exist(viewer.ActAsStore(ctx, merchantOf(ctx), "checkout key lookup"))
			if uerr != nil || !used {
				return nil, err
			}
		}
	}
	sum := sha256.Sum256([]byte(in.CartToken + "\x00" + string(in.Provider)))
	fingerprint := hex.EncodeToString(sum[:])
	b := buyerOf(ctx)
	req := viewer.RequestFromContext(ctx)
	var out *Completed
	err := s.inStore(ctx, "checkout complete", func(ctx context.Context, c *ent.Client) error {
		out = nil
		merchant := merchantOf(ctx)
		// The same key again: answer what it made. Checked under the cart's
		// lock, which concurrent checkouts of that cart wait for, or when
		// the cart is not found (it may be gone since); a race between two
		// carts on one key ends at the unique index (merchant_id,
		// idempotency_key) and the retry answers here.
		replay := func() (bool, error) {
			prev, err := c.Order.Query().Where(order.IdempotencyKey(key)).Only(ctx)
			if ent.IsNotFound(err) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if prev.IdempotencyFingerprint != fingerprint {
				return false, fieldErr(CodeIdempotencyKey, path("input", "idempotencyKey"), "this idempotency key was used with another cart or payment provider")
			}
			pay, err := prev.QueryPayments().Order(ent.Asc(orderpayment.FieldCreatedAt)).First(ctx)
			if err != nil {
				return false, err
			}
			out = &Completed{Order: prev, Payment: pay}
			return true, nil
		}
		cart, err := cartByToken(ctx, c, in.CartToken, b, true)
		if err != nil {
			if _, user := IsUserError(err); user {
				if done, rerr := replay(); done || rerr != nil {
					return rerr
				}
			}
			return err
		}
		if done, err := replay(); done || err != nil {
			return err
		}
		if cart.Status == shoppingcart.StatusCONVERTED {
			return fieldErr(CodeCartCompleted, path("input", "cartId"), "this cart was already turned into an order")
		}
		view, err := s.loadCart(ctx, c, cart.ID)
		if err != nil {
			return err
		}
		if !view.config.GuestCheckout && b.customerID == nil && !b.staff {
			return fieldErr(CodeLoginRequired, path("input", "cartId"), "sign in to check out")
		}
		if err := readyForCheckout(view); err != nil {
			return err
		}
		var merchantAcct *ent.MerchantAccount
		if in.Provider == Stripe {
			merchantAcct, err = c.MerchantAccount.Query().Where(merchantaccount.ID(merchant)).Only(ctx)
			if err != nil {
				return err
			}
			if !s.gateway.Enabled() || merchantAcct.StripeAccountID == "" || !merchantAcct.ChargesEnabled {
				return fieldErr(CodePaymentsDisabled, path("input", "paymentProvider"), "this store does not take card payments yet")
			}
		}

		// Stock, under the products' locks.
		stock := make([]catalog.StockLine, len(view.Lines))
		for i, l := range view.Lines {
			stock[i] = catalog.StockLine{Variant: l.Variant, Quantity: l.Item.Quantity}
		}
		allocs, err := s.catalog.ReserveStock(ctx, c, stock)
		var short *catalog.ShortageError
		if errors.As(err, &short) {
			p := &problems{}
			for i, l := range view.Lines {
				if a, bad := short.Available[i]; bad {
					p.add(CodeOutOfStock, path("input", "cartId", "lines", l.Item.ID.String()),
						"%s: only %d left in stock", titleOf(l.Variant), max(a, 0))
				}
			}
			return p.err()
		}
		if err != nil {
			return err
		}

		// Discount redemptions, each counted under its own row lock.
		applied := map[uuid.UUID]int64{}
		for _, a := range view.Pricing.Applied {
			applied[a.DiscountID] += a.Amount
		}
		for _, d := range view.discounts {
			if _, ok := applied[d.ID]; !ok {
				continue
			}
			n, err := c.Discount.Update().Where(discount.ID(d.ID), discount.Active(true), underLimit).
				AddUsageCount(1).Save(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				return fieldErr(CodeDiscountLimit, path("input", "cartId", "discountCodes", d.Code), "the code %s has reached its usage limit", d.Code)
			}
			if d.OncePerCustomer {
				used, err := redeemedBy(ctx, c, []uuid.UUID{d.ID}, cart.CustomerID, cart.Email)
				if err != nil {
					return err
				}
				if len(used) > 0 {
					return fieldErr(CodeDiscountUsed, path("input", "cartId", "discountCodes", d.Code), "the code %s can be used once per customer", d.Code)
				}
			}
		}

		// The cart is converted (an update by id: UpdateOne would read the
		// row back) before the order number: from that lock on, only the
		// writes that need the order remain.
		if err := c.ShoppingCart.Update().Where(shoppingcart.ID(cart.ID)).SetStatus(shoppingcart.StatusCONVERTED).
			SetConvertedAt(s.now()).Exec(ctx); err != nil {
			return err
		}

		// The store's next order number, under its configuration row's lock
		// (taken last: it serialises the store's checkouts until commit).
		if _, err := c.StorefrontConfig.Update().Where(storefrontconfig.ID(view.config.ID)).AddNextOrderNumber(1).Save(ctx); err != nil {
			return err
		}
		next, err := c.StorefrontConfig.Query().Where(storefrontconfig.ID(view.config.ID)).Select(storefrontconfig.FieldNextOrderNumber).Int(ctx)
		if err != nil {
			return err
		}
		r := view.Pricing
		oc := c.Order.Create().SetOrderNumber(next - 1).SetNillableCustomerID(cart.CustomerID).SetCartID(cart.ID).
			SetEmail(cart.Email).SetCurrency(view.Currency).
			SetSubtotalAmount(r.Subtotal).SetDiscountAmount(r.DiscountTotal).SetShippingAmount(r.ShippingTotal).
			SetTaxAmount(r.TaxTotal).SetTotalAmount(r.Total).SetPaymentProvider(order.PaymentProvider(in.Provider)).
			SetIdempotencyKey(key).SetIdempotencyFingerprint(fingerprint).SetDiscountCodes(appliedCodes(view)).
			SetNote(cart.Note).SetIP(truncate(req.IP, 64)).SetUserAgent(truncate(req.UserAgent, 512)).
			SetPlacedAt(s.now())
		if view.Shipping != nil {
			oc.SetShippingMethodID(view.Shipping.Method.ID).SetShippingMethodName(view.Shipping.Method.Name)
		}
		hold := s.cfg.StockHold
		if in.Provider == Manual {
			hold = s.cfg.ManualStockHold
		}
		if hold > 0 {
			oc.SetStockHoldExpiresAt(s.now().Add(hold))
		}
		o, err := oc.Save(ctx)
		if err != nil {
			return err
		}
		items := make([]*ent.OrderItemCreate, 0, len(view.Lines))
		for i, l := range view.Lines {
			v := l.Variant
			title := "Item"
			if pr := v.Edges.Product; pr != nil {
				title = pr.Title
			}
			items = append(items, c.OrderItem.Create().SetOrderID(o.ID).SetVariantID(v.ID).SetProductID(v.ProductID).
				SetProductTitle(title).SetVariantTitle(v.Title).SetSku(v.Sku).SetRequiresShipping(v.RequiresShipping).
				SetQuantity(l.Item.Quantity).SetUnitPrice(l.UnitPrice).SetDiscountAmount(l.Price.Discount).
				SetTaxAmount(l.Price.Tax).SetLineTotalAmount(l.Price.Subtotal-l.Price.Discount).
				SetCurrency(view.Currency).SetAllocations(nonNil(allocs[i])))
		}
		if err := c.OrderItem.CreateBulk(items...).Exec(ctx); err != nil {
			return err
		}
		var addresses []*ent.OrderAddressCreate
		if a := view.ShippingAddress; a != nil && view.RequiresShipping {
			addresses = append(addresses, addressCreate(c, o.ID, orderaddress.KindSHIPPING, a))
		}
		if a := view.BillingAddress; a != nil {
			addresses = append(addresses, addressCreate(c, o.ID, orderaddress.KindBILLING, a))
		}
		if len(addresses) > 0 {
			if err := c.OrderAddress.CreateBulk(addresses...).Exec(ctx); err != nil {
				return err
			}
		}
		pc := c.OrderPayment.Create().SetOrderID(o.ID).SetProvider(orderpayment.Provider(in.Provider)).
			SetAmount(r.Total).SetCurrency(view.Currency)
		if merchantAcct != nil {
			pc.SetStripeAccountID(merchantAcct.StripeAccountID).
				SetApplicationFeeAmount(feeOf(r.Total, merchantAcct.ApplicationFeeBps))
		}
		pay, err := pc.Save(ctx)
		if err != nil {
			return err
		}
		for _, d := range view.discounts {
			amount, ok := applied[d.ID]
			if !ok {
				continue
			}
			if err := c.DiscountRedemption.Create().SetDiscountID(d.ID).SetOrderID(o.ID).
				SetNillableCustomerID(cart.CustomerID).SetEmail(cart.Email).SetCode(d.Code).
				SetAmount(amount).SetCurrency(view.Currency).Exec(ctx); err != nil {
				return err
			}
		}
		if _, err := events.Write(ctx, c, merchant, events.OrderCreated{OrderState: orderState(o), ItemCount: view.TotalQuantity()}); err != nil {
			return err
		}
		out = &Completed{Order: o, Payment: pay}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Order = out.Order.Unwrap()
	out.Payment = out.Payment.Unwrap()
	viewer.GrantOrder(ctx, out.Order.ID)
	if out.Payment.Provider == orderpayment.ProviderSTRIPE {
		pay, secret, err := s.startIntent(ctx, out.Order, out.Payment)
		if err != nil {
			out.PaymentError = err
		} else {
			out.Payment, out.ClientSecret = pay, secret
		}
	}
	return out, nil
}

// startIntent makes (or finds) the order's PaymentIntent and returns the
// payment with its intent id and the intent's client secret. Concurrent
// calls for one order in this process share one request; across processes
// the idempotency key derived from the order makes Stripe answer the same
// intent.
func (s *Service) startIntent(ctx context.Context, o *ent.Order, pay *ent.OrderPayment) (*ent.OrderPayment, string, error) {
	type result struct {
		pay    *ent.OrderPayment
		secret string
	}
	v, err, _ := s.intents.Do(pay.ID.String(), func() (any, error) {
		sctx := viewer.ActAsStore(ctx, o.MerchantID, "payment intent")
		cur, err := s.client.OrderPayment.Get(sctx, pay.ID)
		if err != nil {
			return nil, err
		}
		if cur.StripePaymentIntentID != nil {
			pi, err := s.gateway.PaymentIntent(sctx, *cur.StripePaymentIntentID)
			if err != nil {
				return nil, err
			}
			return result{cur, pi.ClientSecret}, nil
		}
		pi, err := s.gateway.CreatePaymentIntent(sctx, payment.PaymentIntentParams{
			OrderID: o.ID, MerchantID: o.MerchantID, Amount: cur.Amount, Currency: cur.Currency,
			Destination: cur.StripeAccountID, ApplicationFee: cur.ApplicationFeeAmount, Email: o.Email,
			IdempotencyKey: "omnisphere-order-" + o.ID.String() + "-intent",
		})
		if err != nil {
			return nil, err
		}
		// Only the first intent id sticks (another process may have stored
		// it: Stripe answered both with the same intent).
		if _, err := s.client.OrderPayment.Update().Where(orderpayment.ID(cur.ID), orderpayment.StripePaymentIntentIDIsNil()).
			SetStripePaymentIntentID(pi.ID).Save(sctx); err != nil {
			return nil, err
		}
		cur, err = s.client.OrderPayment.Get(sctx, pay.ID)
		if err != nil {
			return nil, err
		}
		return result{cur, pi.ClientSecret}, nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "payment intent failed", "order", o.ID, "err", err)
		return nil, "", err
	}
	r := v.(result)
	return r.pay, r.secret, nil
}

// readyForCheckout refuses a cart that cannot become an order as it is.
func readyForCheckout(v *Cart) error {
	p := &problems{}
	if len(v.Lines) == 0 {
		p.add(CodeCartEmpty, path("input", "cartId"), "the cart is empty")
	}
	for _, l := range v.Lines {
		if l.Variant == nil {
			p.add(CodeUnavailable, path("input", "cartId", "lines", l.Item.ID.String()), "an item in the cart is no longer sold")
		}
	}
	if v.Cart.Email == "" {
		p.add(CodeRequired, path("input", "cartId", "email"), "the buyer's email is required (cartBuyerIdentityUpdate)")
	}
	if v.RequiresShipping {
		if v.ShippingAddress == nil {
			p.add(CodeRequired, path("input", "cartId", "shippingAddress"), "a shipping address is required (cartBuyerIdentityUpdate)")
		}
		if v.Shipping == nil {
			p.add(CodeShippingRequired, path("input", "cartId", "shippingMethod"), "choose one of the cart's available shipping methods")
		}
	}
	for _, cv := range v.Codes {
		if cv.Applicable {
			continue
		}
		code := CodeDiscountInvalid
		switch RejectReason(cv.Reason) {
		case RejectUsageLimit:
			code = CodeDiscountLimit
		case RejectAlreadyUsed:
			code = CodeDiscountUsed
		case RejectMinimum:
			code = CodeDiscountMinimum
		case RejectNotCombinable:
			code = CodeDiscountCombinable
		}
		p.add(code, path("input", "cartId", "discountCodes", cv.Code), "the code %s does not apply (%s): remove it or change the cart", cv.Code, cv.Reason)
	}
	return p.err()
}

// underLimit is "usage_count < usage_limit, or no limit", compared in the
// row being updated (so a limit changed meanwhile counts).
func underLimit(s *sql.Selector) {
	s.Where(sql.Or(sql.IsNull(s.C(discount.FieldUsageLimit)),
		sql.ColumnsLT(s.C(discount.FieldUsageCount), s.C(discount.FieldUsageLimit))))
}

func appliedCodes(v *Cart) []string {
	out := []string{}
	for _, cv := range v.Codes {
		if cv.Applicable {
			out = append(out, cv.Code)
		}
	}
	return out
}

func titleOf(v *ent.ProductVariant) string {
	if v == nil {
		return "item"
	}
	t := v.Sku
	if p := v.Edges.Product; p != nil {
		t = p.Title
		if v.Title != "" {
			t += " (" + v.Title + ")"
		}
	}
	return t
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// feeOf is the platform's application fee: bps basis points of amount,
// rounded down.
func feeOf(amount int64, bps int) int64 {
	if bps <= 0 || amount <= 0 {
		return 0
	}
	q, _ := mulDiv(amount, int64(bps), 10_000)
	return min(q, amount)
}

func addressCreate(c *ent.Client, orderID uuid.UUID, kind orderaddress.Kind, a *Address) *ent.OrderAddressCreate {
	return c.OrderAddress.Create().SetOrderID(orderID).SetKind(kind).SetFirstName(a.FirstName).
		SetLastName(a.LastName).SetCompany(a.Company).SetLine1(a.Line1).SetLine2(a.Line2).SetCity(a.City).
		SetProvince(a.Province).SetPostalCode(a.PostalCode).SetCountryCode(a.CountryCode).SetPhone(a.Phone)
}

// orderState is what every order event carries.
func orderState(o *ent.Order) events.OrderState {
	return events.OrderState{OrderID: o.ID, OrderNumber: o.OrderNumber, CustomerID: o.CustomerID,
		Status: string(o.Status), FinancialStatus: string(o.FinancialStatus),
		FulfillmentStatus: string(o.FulfillmentStatus), Currency: o.Currency, TotalAmount: o.TotalAmount}
}

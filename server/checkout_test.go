package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// Carts, checkout and orders through the real GraphQL handler, on every
// backend (docs/checkout.md).

type checkoutEnv struct {
	*gqlEnv
	store    *ent.MerchantAccount
	staffV   viewer.Viewer
	other    *ent.MerchantAccount
	otherV   viewer.Viewer
	variant  *ent.ProductVariant
	product  *ent.Product
	main     *ent.Warehouse
	shipping string // a shipping method id
}

const cartFields = `id email totalQuantity requiresShipping
  lines { id quantity variant { id sku } cost { unitPrice { amount } subtotal { amount } discount { amount } total { amount } } }
  discountCodes { code applicable reason amount { amount } }
  shippingMethod { id name price { amount } }
  availableShippingMethods { id name price { amount } }
  cost { subtotal { amount currencyCode } discountTotal { amount } shippingTotal { amount } taxTotal { amount } total { amount } taxesIncluded }
  warnings { code message lineId }`

const userErrs = `userErrors { field message code }`

const completeMutation = `mutation($in: CheckoutCompleteInput!) { checkoutComplete(input: $in) {
  order { id orderNumber status financialStatus totalAmount email items { sku quantity unitPrice } }
  payment { id provider status amount { amount } clientSecret } ` + userErrs + ` } }`

// newCheckoutEnv makes a published store with one tracked variant (price
// 2500) holding stock units in its default warehouse, a flat shipping
// method (500) and a second store.
func newCheckoutEnv(t *testing.T, b dbtest.Backend, stock int, edit func(*server.Config)) *checkoutEnv {
	t.Helper()
	logs := &syncBuffer{}
	base := &gqlEnv{backend: b, logs: logs, s: newServer(t, b, server.NewLogger(logs, slog.LevelError), func(c *server.Config) {
		// Many shoppers behind one test client: no throttling here.
		c.RateLimitBucket, c.RateLimitRestore = 1_000_000, 1_000_000
		if edit != nil {
			edit(c)
		}
	})}
	e := &checkoutEnv{gqlEnv: base}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.s.DB.Client
	sys := viewer.SystemContext(ctx, "test seed")
	var err error
	e.store, err = c.MerchantAccount.Create().SetName("Shop").SetSlug("shop-" + uuid.NewString()[:8]).Save(sys)
	require.NoError(t, err)
	e.other, err = c.MerchantAccount.Create().SetName("Other").SetSlug("other-" + uuid.NewString()[:8]).Save(sys)
	require.NoError(t, err)
	e.staffV, e.otherV = e.staff(e.store), e.staff(e.other)
	for _, m := range []*ent.MerchantAccount{e.store, e.other} {
		_, err = c.StorefrontConfig.Create().SetMerchantID(m.ID).SetPublished(true).Save(sys)
		require.NoError(t, err)
	}
	sctx := viewer.NewContext(ctx, e.staffV)
	e.product, err = c.Product.Create().SetTitle("Tee").SetSlug("tee").SetStatus("ACTIVE").
		SetPublishedAt(time.Now().Add(-time.Hour)).Save(sctx)
	require.NoError(t, err)
	e.variant, err = c.ProductVariant.Create().SetProductID(e.product.ID).SetSku("TEE-1").SetTitle("M").
		SetPrice(2500).SetWeightGrams(200).Save(sctx)
	require.NoError(t, err)
	e.main, err = c.Warehouse.Create().SetName("Main").SetCode("MAIN").SetIsDefault(true).Save(sctx)
	require.NoError(t, err)
	_, err = c.InventoryLevel.Create().SetVariantID(e.variant.ID).SetWarehouseID(e.main.ID).SetQuantityOnHand(stock).Save(sctx)
	require.NoError(t, err)
	p := e.mutate(t, &e.staffV, "shippingMethodCreate", `mutation { shippingMethodCreate(input: {name: "Standard", price: 500, countries: ["US", "CA"]}) {
	  shippingMethod { id } `+userErrs+` } }`, nil)
	require.Empty(t, p.list("userErrors"))
	e.shipping = p.str("shippingMethod", "id")
	return e
}

func (e *checkoutEnv) visitor() *viewer.Viewer {
	return &viewer.Viewer{Kind: viewer.Anonymous, MerchantID: e.store.ID}
}

// newCustomer makes a customer of the store and returns its viewer.
func (e *checkoutEnv) newCustomer(t *testing.T, email string) *viewer.Viewer {
	t.Helper()
	c, err := e.s.DB.Client.Customer.Create().SetEmail(email).Save(viewer.NewContext(context.Background(), e.staffV))
	require.NoError(t, err)
	return &viewer.Viewer{Kind: viewer.Customer, MerchantID: e.store.ID, CustomerID: c.ID}
}

// readyCart makes a cart of qty units with an email, a US address and the
// shipping method, and returns its id.
func (e *checkoutEnv) readyCart(t *testing.T, v *viewer.Viewer, qty int, email string, codes ...string) string {
	t.Helper()
	p := e.mutate(t, v, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { id } `+userErrs+` } }`,
		map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variant.ID, "quantity": qty}},
			"email": email, "discountCodes": codes,
			"shippingAddress": map[string]any{"line1": "1 Main St", "city": "Springfield", "countryCode": "us"}}})
	require.Empty(t, p.list("userErrors"))
	id := p.str("cart", "id")
	p = e.mutate(t, v, "cartShippingMethodUpdate", `mutation($c: ID!, $m: ID!) { cartShippingMethodUpdate(cartId: $c, shippingMethodId: $m) { cart { id } `+userErrs+` } }`,
		map[string]any{"c": id, "m": e.shipping})
	require.Empty(t, p.list("userErrors"))
	return id
}

func (e *checkoutEnv) complete(t *testing.T, v *viewer.Viewer, cart, provider, key string) payload {
	t.Helper()
	return e.mutate(t, v, "checkoutComplete", completeMutation,
		map[string]any{"in": map[string]any{"cartId": cart, "paymentProvider": provider, "idempotencyKey": key}})
}

func (e *checkoutEnv) level(t *testing.T, w *ent.Warehouse) *ent.InventoryLevel {
	t.Helper()
	l, err := e.s.DB.Client.InventoryLevel.Query().Where(inventorylevel.VariantID(e.variant.ID), inventorylevel.WarehouseID(w.ID)).
		Only(viewer.NewContext(context.Background(), e.staffV))
	require.NoError(t, err)
	return l
}

func (e *checkoutEnv) orders(t *testing.T) []*ent.Order {
	t.Helper()
	os, err := e.s.DB.Client.Order.Query().All(viewer.NewContext(context.Background(), e.staffV))
	require.NoError(t, err)
	return os
}

func codesOf(p payload) []string {
	var out []string
	for _, ue := range p.list("userErrors") {
		out = append(out, ue.(map[string]any)["code"].(string))
	}
	return out
}

func TestCheckout(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testCheckout(t, b) })
	}
}

func testCheckout(t *testing.T, b dbtest.Backend) {
	e := newCheckoutEnv(t, b, 10, nil)
	guest := e.visitor()

	t.Run("a guest builds a cart, checks out with the manual provider, staff pay, fulfil, deliver and refund", func(t *testing.T) {
		p := e.mutate(t, &e.staffV, "discountCreate", `mutation { discountCreate(input: {code: "save10", kind: PERCENTAGE, value: 1000}) {
		  discount { id code } `+userErrs+` } }`, nil)
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "SAVE10", p.str("discount", "code"))

		p = e.mutate(t, guest, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { `+cartFields+` } warnings { code } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variant.ID, "quantity": 2}}}})
		require.Empty(t, p.list("userErrors"))
		cart := p.str("cart", "id")
		require.Equal(t, 5000, p.num("cart", "cost", "subtotal", "amount"))
		require.Len(t, p.list("cart", "availableShippingMethods"), 1, "offered before an address is known")

		p = e.mutate(t, guest, "cartBuyerIdentityUpdate", `mutation($c: ID!, $b: CartBuyerIdentityInput!) { cartBuyerIdentityUpdate(cartId: $c, buyerIdentity: $b) { cart { `+cartFields+` } `+userErrs+` } }`,
			map[string]any{"c": cart, "b": map[string]any{"email": "ann@example.com",
				"shippingAddress": map[string]any{"line1": "1 Main St", "city": "Paris", "countryCode": "FR"}}})
		require.Empty(t, p.list("userErrors"))
		require.Empty(t, p.list("cart", "availableShippingMethods"), "the method ships to US and CA only")

		p = e.mutate(t, guest, "cartBuyerIdentityUpdate", `mutation($c: ID!, $b: CartBuyerIdentityInput!) { cartBuyerIdentityUpdate(cartId: $c, buyerIdentity: $b) { cart { id } `+userErrs+` } }`,
			map[string]any{"c": cart, "b": map[string]any{"shippingAddress": map[string]any{"line1": "1 Main St", "city": "Austin", "countryCode": "US"}}})
		require.Empty(t, p.list("userErrors"))
		p = e.mutate(t, guest, "cartShippingMethodUpdate", `mutation($c: ID!, $m: ID!) { cartShippingMethodUpdate(cartId: $c, shippingMethodId: $m) { cart { `+cartFields+` } `+userErrs+` } }`,
			map[string]any{"c": cart, "m": e.shipping})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, 500, p.num("cart", "cost", "shippingTotal", "amount"))
		p = e.mutate(t, guest, "cartDiscountCodesUpdate", `mutation($c: ID!) { cartDiscountCodesUpdate(cartId: $c, discountCodes: ["save10"]) { cart { `+cartFields+` } `+userErrs+` } }`,
			map[string]any{"c": cart})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, 500, p.num("cart", "cost", "discountTotal", "amount"))
		require.Equal(t, 5000, p.num("cart", "cost", "total", "amount"), "5000 - 500 + 500 shipping")

		done := e.complete(t, guest, cart, "MANUAL", "key-flow")
		require.Empty(t, done.list("userErrors"))
		require.Equal(t, "PENDING", done.str("order", "status"))
		require.Equal(t, 5000, done.num("order", "totalAmount"))
		require.Equal(t, "TEE-1", done.str("order", "items", 0, "sku"), "the guest reads its order in the payload")
		orderID := done.str("order", "id")
		l := e.level(t, e.main)
		require.Equal(t, 10, l.QuantityOnHand)
		require.Equal(t, 2, l.QuantityReserved, "held until paid")

		r := e.query(t, guest, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": orderID})
		require.NotContains(t, string(r.Data), orderID, "another request of the guest cannot read the order")

		p = e.mutate(t, guest, "cartLinesAdd", `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) { cart { id } `+userErrs+` } }`,
			map[string]any{"c": cart, "l": []any{map[string]any{"variantId": e.variant.ID, "quantity": 1}}})
		require.Equal(t, []string{"CART_COMPLETED"}, codesOf(p))

		p = e.mutate(t, &e.staffV, "orderFulfill", `mutation($id: ID!) { orderFulfill(input: {id: $id, trackingNumber: "1Z"}) { order { status } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Equal(t, []string{"INVALID_STATE"}, codesOf(p), "an unpaid order is not fulfilled")
		p = e.mutate(t, &e.staffV, "orderMarkPaid", `mutation($id: ID!) { orderMarkPaid(id: $id) { order { status financialStatus } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "PAID", p.str("order", "status"))
		p = e.mutate(t, &e.staffV, "orderMarkPaid", `mutation($id: ID!) { orderMarkPaid(id: $id) { order { status } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Equal(t, []string{"INVALID_STATE"}, codesOf(p))
		p = e.mutate(t, &e.staffV, "orderFulfill", `mutation($id: ID!) { orderFulfill(input: {id: $id, trackingNumber: "1Z"}) { order { status fulfillmentStatus trackingNumber } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "FULFILLED", p.str("order", "status"))
		l = e.level(t, e.main)
		require.Equal(t, 8, l.QuantityOnHand)
		require.Equal(t, 0, l.QuantityReserved)
		p = e.mutate(t, &e.staffV, "orderMarkDelivered", `mutation($id: ID!) { orderMarkDelivered(id: $id) { order { status } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Equal(t, "DELIVERED", p.str("order", "status"))

		p = e.mutate(t, &e.staffV, "refundCreate", `mutation($id: ID!) { refundCreate(input: {orderId: $id, amount: 6000}) { refund { id } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Equal(t, []string{"REFUND_EXCEEDS_CAPTURED"}, codesOf(p))
		p = e.mutate(t, &e.staffV, "refundCreate", `mutation($id: ID!) { refundCreate(input: {orderId: $id, amount: 1000}) { refund { amount status } order { status refundedAmount } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "SUCCEEDED", p.str("refund", "status"))
		require.Equal(t, "PARTIALLY_REFUNDED", p.str("order", "status"))
		p = e.mutate(t, &e.staffV, "refundCreate", `mutation($id: ID!) { refundCreate(input: {orderId: $id, amount: 4000, restock: true}) { order { status refundedAmount } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "REFUNDED", p.str("order", "status"))
		require.Equal(t, 5000, p.num("order", "refundedAmount"))
		require.Equal(t, 10, e.level(t, e.main).QuantityOnHand, "restocked")

		n, err := e.s.DB.Client.OutboxEvent.Query().Where(outboxevent.AggregateID(orderID)).Count(viewer.NewContext(context.Background(), e.staffV))
		require.NoError(t, err)
		require.Equal(t, 5, n, "created, paid, fulfilled and two refunds, each in its own transaction")

		r = e.query(t, &e.otherV, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": orderID})
		require.NotContains(t, string(r.Data), orderID, "another store never sees the order")
	})

	t.Run("bad carts and checkouts answer userErrors with codes", func(t *testing.T) {
		p := e.mutate(t, guest, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variant.ID, "quantity": 0}}, "email": "nope"}})
		require.ElementsMatch(t, []string{"INVALID", "INVALID"}, codesOf(p))
		p = e.mutate(t, guest, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variant.ID, "quantity": 11}}}})
		require.Equal(t, []string{"OUT_OF_STOCK"}, codesOf(p))
		p = e.mutate(t, guest, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variantB(t), "quantity": 1}}}})
		require.Equal(t, []string{"UNAVAILABLE"}, codesOf(p), "another store's variant is not sold here")

		p = e.mutate(t, guest, "cartCreate", `mutation { cartCreate(input: {}) { cart { id } `+userErrs+` } }`, nil)
		empty := p.str("cart", "id")
		done := e.complete(t, guest, empty, "MANUAL", "key-empty")
		require.Contains(t, codesOf(done), "CART_EMPTY")
		require.Contains(t, codesOf(done), "REQUIRED")

		p = e.mutate(t, guest, "cartDiscountCodesUpdate", `mutation($c: ID!) { cartDiscountCodesUpdate(cartId: $c, discountCodes: ["NOPE"]) { cart { id } `+userErrs+` } }`,
			map[string]any{"c": empty})
		require.Equal(t, []string{"DISCOUNT_INVALID"}, codesOf(p))

		cart := e.readyCart(t, guest, 1, "bob@example.com")
		done = e.complete(t, guest, cart, "STRIPE", "key-stripe")
		require.Equal(t, []string{"PAYMENTS_NOT_ENABLED"}, codesOf(done), "no Stripe account")
		done = e.complete(t, guest, cart, "MANUAL", "key-x")
		require.Empty(t, done.list("userErrors"))
		again := e.complete(t, guest, cart, "MANUAL", "key-x")
		require.Equal(t, done, again, "the same key answers the same order")
		other := e.readyCart(t, guest, 1, "bob@example.com")
		mismatch := e.complete(t, guest, other, "MANUAL", "key-x")
		require.Equal(t, []string{"IDEMPOTENCY_KEY_MISMATCH"}, codesOf(mismatch))
		require.Nil(t, mismatch["order"])

		r := e.query(t, &e.otherV, `query($id: ID!) { cart(id: $id) { id } }`, map[string]any{"id": other})
		require.JSONEq(t, `{"cart": null}`, string(r.Data), "another store has no such cart")
		cust := e.newCustomer(t, "carol@example.com")
		r = e.query(t, cust, `query($id: ID!) { cart(id: $id) { id } }`, map[string]any{"id": other})
		require.Empty(t, r.Errors)
		r = e.query(t, guest, `query($id: ID!) { cart(id: $id) { id } }`, map[string]any{"id": other})
		require.JSONEq(t, `{"cart": null}`, string(r.Data), "a guest cart read by a customer became theirs")
	})

	t.Run("a customer's cart follows them; an idle cart with an email is abandoned once", func(t *testing.T) {
		cust := e.newCustomer(t, "dora@example.com")
		p := e.mutate(t, guest, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variant.ID, "quantity": 1}}, "email": "dora@example.com"}})
		require.Empty(t, p.list("userErrors"))
		cart := p.str("cart", "id")
		r := e.query(t, cust, `query($id: ID!) { cart(id: $id) { id } }`, map[string]any{"id": cart})
		require.Empty(t, r.Errors)
		r = e.query(t, cust, `{ customer { activeCart { id totalQuantity } } }`, nil)
		require.Empty(t, r.Errors, r.Body)
		require.JSONEq(t, fmt.Sprintf(`{"customer": {"activeCart": {"id": %q, "totalQuantity": 1}}}`, cart), string(r.Data))

		ctx := viewer.NewContext(context.Background(), e.staffV)
		abandoned := func() int {
			c, err := e.s.DB.Client.ShoppingCart.Query().Where(shoppingcart.Token(cart)).Only(ctx)
			require.NoError(t, err)
			return e.outbox(t, events.TopicCartAbandoned, c.ID.String())
		}
		e.s.Checkout.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		defer e.s.Checkout.SetClock(nil)
		n, err := e.s.Checkout.AbandonCarts(context.Background())
		require.NoError(t, err)
		require.Positive(t, n)
		require.Equal(t, 1, abandoned())
		_, err = e.s.Checkout.AbandonCarts(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, abandoned(), "one event per cart")

		// The shopper comes back: the cart is active again, never abandoned twice.
		e.s.Checkout.SetClock(nil)
		p = e.mutate(t, cust, "cartLinesAdd", `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) { cart { totalQuantity } `+userErrs+` } }`,
			map[string]any{"c": cart, "l": []any{map[string]any{"variantId": e.variant.ID, "quantity": 1}}})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, 2, p.num("cart", "totalQuantity"))
		e.s.Checkout.SetClock(func() time.Time { return time.Now().Add(4 * time.Hour) })
		_, err = e.s.Checkout.AbandonCarts(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, abandoned())
		p = e.mutate(t, guest, "cartLinesAdd", `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) { cart { id } `+userErrs+` } }`,
			map[string]any{"c": cart, "l": []any{map[string]any{"variantId": e.variant.ID, "quantity": 1}}})
		require.Equal(t, []string{"NOT_FOUND"}, codesOf(p), "the cart is the customer's now")
	})

	t.Run("customers see their own orders only", func(t *testing.T) {
		ann, bob := e.newCustomer(t, "ann.orders@example.com"), e.newCustomer(t, "bob.orders@example.com")
		done := e.complete(t, ann, e.readyCart(t, ann, 1, "ann.orders@example.com"), "MANUAL", "ann-1")
		require.Empty(t, done.list("userErrors"))
		id := done.str("order", "id")
		const mine = `{ customer { orders(first: 5) { edges { node { id orderNumber status } } } } }`
		r := e.query(t, ann, mine, nil)
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, string(r.Data), id)
		r = e.query(t, bob, mine, nil)
		require.Empty(t, r.Errors, r.Body)
		require.NotContains(t, string(r.Data), id)
		r = e.query(t, bob, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
		require.NotContains(t, string(r.Data), id, "another customer cannot read it by id")
		r = e.query(t, ann, `{ customer { orders(first: 5) { edges { node { id ip } } } } }`, nil)
		require.Contains(t, string(r.Data), id)
		require.Contains(t, r.codes(), "FORBIDDEN", "the buyer's IP is for staff")
	})

	t.Run("a payment hold that expires gives the stock back", func(t *testing.T) {
		before := e.level(t, e.main).QuantityReserved
		done := e.complete(t, guest, e.readyCart(t, guest, 3, "c@example.com"), "MANUAL", "key-hold")
		require.Empty(t, done.list("userErrors"))
		require.Equal(t, before+3, e.level(t, e.main).QuantityReserved)
		ctx := viewer.NewContext(context.Background(), e.staffV)
		_, err := e.s.DB.Client.Order.UpdateOneID(uuid.MustParse(done.str("order", "id"))).
			SetStockHoldExpiresAt(time.Now().Add(-time.Second)).Save(ctx)
		require.NoError(t, err)
		n, err := e.s.Checkout.ExpireHolds(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, before, e.level(t, e.main).QuantityReserved)
		o, err := e.s.DB.Client.Order.Get(ctx, uuid.MustParse(done.str("order", "id")))
		require.NoError(t, err)
		require.Equal(t, order.StatusCANCELLED, o.Status)
		n, err = e.s.Checkout.ExpireHolds(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "released once")
	})
}

// variantB returns a variant of the other store.
func (e *checkoutEnv) variantB(t *testing.T) uuid.UUID {
	t.Helper()
	ctx := viewer.NewContext(context.Background(), e.otherV)
	c := e.s.DB.Client
	p, err := c.Product.Create().SetTitle("Other").SetSlug("other-" + uuid.NewString()[:6]).SetStatus("ACTIVE").
		SetPublishedAt(time.Now().Add(-time.Hour)).Save(ctx)
	require.NoError(t, err)
	v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku("O-" + uuid.NewString()[:6]).SetPrice(100).
		SetTrackInventory(false).Save(ctx)
	require.NoError(t, err)
	return v.ID
}

func TestCheckoutConcurrency(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testCheckoutConcurrency(t, b) })
	}
}

// race runs n checkouts at once and returns their payloads.
func race(t *testing.T, n int, run func(i int) payload) []payload {
	t.Helper()
	out := make([]payload, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = run(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func count(ps []payload, code string) (ok, matched int) {
	for _, p := range ps {
		codes := codesOf(p)
		switch {
		case len(codes) == 0:
			ok++
		case len(codes) == 1 && codes[0] == code:
			matched++
		}
	}
	return ok, matched
}

func testCheckoutConcurrency(t *testing.T, b dbtest.Backend) {

	t.Run("40 checkouts of one unit at stock 10: 10 orders, 30 OUT_OF_STOCK", func(t *testing.T) {
		e := newCheckoutEnv(t, b, 10, nil)
		carts := make([]string, 40)
		for i := range carts {
			carts[i] = e.readyCart(t, e.visitor(), 1, fmt.Sprintf("s%d@example.com", i))
		}
		got := race(t, 40, func(i int) payload { return e.complete(t, e.visitor(), carts[i], "MANUAL", "k-"+carts[i]) })
		ok, out := count(got, "OUT_OF_STOCK")
		require.Equal(t, 10, ok)
		require.Equal(t, 30, out)
		l := e.level(t, e.main)
		require.Equal(t, 10, l.QuantityReserved)
		require.Equal(t, 0, l.QuantityOnHand-l.QuantityReserved)
		require.Len(t, e.orders(t), 10)
		numbers := map[int]bool{}
		for _, o := range e.orders(t) {
			numbers[o.OrderNumber] = true
		}
		require.Len(t, numbers, 10, "order numbers are unique")
	})

	t.Run("the same across two warehouses (5 + 5)", func(t *testing.T) {
		e := newCheckoutEnv(t, b, 5, nil)
		ctx := viewer.NewContext(context.Background(), e.staffV)
		second, err := e.s.DB.Client.Warehouse.Create().SetName("East").SetCode("EAST").Save(ctx)
		require.NoError(t, err)
		_, err = e.s.DB.Client.InventoryLevel.Create().SetVariantID(e.variant.ID).SetWarehouseID(second.ID).SetQuantityOnHand(5).Save(ctx)
		require.NoError(t, err)
		carts := make([]string, 40)
		for i := range carts {
			carts[i] = e.readyCart(t, e.visitor(), 1, fmt.Sprintf("w%d@example.com", i))
		}
		got := race(t, 40, func(i int) payload { return e.complete(t, e.visitor(), carts[i], "MANUAL", "k-"+carts[i]) })
		ok, out := count(got, "OUT_OF_STOCK")
		require.Equal(t, 10, ok)
		require.Equal(t, 30, out)
		require.Equal(t, 5, e.level(t, e.main).QuantityReserved)
		require.Equal(t, 5, e.level(t, second).QuantityReserved)
	})

	t.Run("a discount limited to 5 uses under 40 checkouts: 5 redemptions", func(t *testing.T) {
		e := newCheckoutEnv(t, b, 100, nil)
		p := e.mutate(t, &e.staffV, "discountCreate", `mutation { discountCreate(input: {code: "FIVE", kind: FIXED_AMOUNT, value: 100, usageLimit: 5}) { discount { id } `+userErrs+` } }`, nil)
		require.Empty(t, p.list("userErrors"))
		carts := make([]string, 40)
		for i := range carts {
			carts[i] = e.readyCart(t, e.visitor(), 1, fmt.Sprintf("d%d@example.com", i), "FIVE")
		}
		got := race(t, 40, func(i int) payload { return e.complete(t, e.visitor(), carts[i], "MANUAL", "k-"+carts[i]) })
		ok, limited := count(got, "DISCOUNT_USAGE_LIMIT_REACHED")
		require.Equal(t, 5, ok)
		require.Equal(t, 35, limited)
		d, err := e.s.DB.Client.Discount.Query().Where(discount.Code("FIVE")).Only(viewer.NewContext(context.Background(), e.staffV))
		require.NoError(t, err)
		require.Equal(t, 5, d.UsageCount)
		require.Equal(t, 5, d.QueryRedemptions().CountX(viewer.NewContext(context.Background(), e.staffV)))
		require.Equal(t, 5, e.level(t, e.main).QuantityReserved, "a refused checkout holds no stock")
	})

	t.Run("once per customer under 10 checkouts of one customer: 1 redemption", func(t *testing.T) {
		e := newCheckoutEnv(t, b, 100, nil)
		p := e.mutate(t, &e.staffV, "discountCreate", `mutation { discountCreate(input: {code: "ONCE", kind: PERCENTAGE, value: 500, oncePerCustomer: true}) { discount { id } `+userErrs+` } }`, nil)
		require.Empty(t, p.list("userErrors"))
		cust := e.newCustomer(t, "once@example.com")
		carts := make([]string, 10)
		for i := range carts {
			carts[i] = e.readyCart(t, cust, 1, "once@example.com", "ONCE")
		}
		got := race(t, 10, func(i int) payload { return e.complete(t, cust, carts[i], "MANUAL", "k-"+carts[i]) })
		ok, used := count(got, "DISCOUNT_ALREADY_USED")
		require.Equal(t, 1, ok)
		require.Equal(t, 9, used)
	})

	t.Run("40 checkouts with one idempotency key: one order, identical answers", func(t *testing.T) {
		e := newCheckoutEnv(t, b, 10, nil)
		cart := e.readyCart(t, e.visitor(), 1, "idem@example.com")
		got := race(t, 40, func(int) payload { return e.complete(t, e.visitor(), cart, "MANUAL", "same-key") })
		for _, p := range got {
			require.Empty(t, p.list("userErrors"))
			require.Equal(t, got[0], p)
		}
		require.Len(t, e.orders(t), 1)
		require.Equal(t, 1, e.level(t, e.main).QuantityReserved)
	})
}

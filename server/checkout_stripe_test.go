package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderpayment"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/ent/webhookevent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/payment/stripemock"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// Stripe payments end to end: checkout makes a PaymentIntent on
// stripe-mock, signed webhooks (webhook.GenerateTestSignedPayload) drive
// the order, refunds go through the Refund API (docs/payments.md).

const whsec = "whsec_test_secret"

// stripeCounter counts the requests that reach stripe-mock, by method and
// path.
type stripeCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *stripeCounter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[key]
}

func newStripeEnv(t *testing.T, b dbtest.Backend) (*checkoutEnv, *stripeCounter) {
	t.Helper()
	mock := stripemock.Start(t)
	target, err := url.Parse(mock)
	require.NoError(t, err)
	counter := &stripeCounter{seen: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counter.mu.Lock()
		counter.seen[r.Method+" "+r.URL.Path]++
		counter.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e := newCheckoutEnv(t, b, 10, func(c *server.Config) {
		c.StripeSecretKey, c.StripeWebhookSecret, c.StripeAPIURL = "sk_test_omnisphere", whsec, front.URL
		c.PublicURL = "https://shop.example.com"
	})
	sys := viewer.SystemContext(context.Background(), "test seed")
	_, err = e.s.DB.Client.MerchantAccount.UpdateOneID(e.store.ID).SetStripeAccountID("acct_" + strings.ReplaceAll(uuid.NewString()[:12], "-", "")).
		SetChargesEnabled(true).Save(sys)
	require.NoError(t, err)
	return e, counter
}

// deliver posts a signed event to /webhooks/stripe and returns the status.
func deliver(t *testing.T, h http.Handler, body []byte, signedAt time.Time, secret string) int {
	t.Helper()
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: signedAt}).Header
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sig)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// stripeEvent is an event of the pinned API version around object (an
// account.updated comes from the connected account).
func stripeEvent(typ string, object map[string]any) []byte {
	var account any
	if typ == "account.updated" {
		account = object["id"]
	}
	raw, _ := json.Marshal(map[string]any{"account": account,
		"id": "evt_" + strings.ReplaceAll(uuid.NewString(), "-", ""), "object": "event",
		"api_version": payment.APIVersion, "created": time.Now().Unix(), "livemode": false,
		"pending_webhooks": 1, "type": typ, "data": map[string]any{"object": object},
	})
	return raw
}

func intentObject(p *ent.OrderPayment, status string) map[string]any {
	obj := map[string]any{"id": *p.StripePaymentIntentID, "object": "payment_intent", "amount": p.Amount,
		"currency": strings.ToLower(p.Currency), "status": status,
		"metadata": map[string]any{"order_id": p.OrderID.String(), "merchant_id": p.MerchantID.String()}}
	if status == "succeeded" {
		obj["amount_received"] = p.Amount
		obj["latest_charge"] = "ch_" + strings.ReplaceAll(uuid.NewString()[:12], "-", "")
	} else {
		obj["last_payment_error"] = map[string]any{"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}
	}
	return obj
}

func (e *checkoutEnv) paymentOf(t *testing.T, orderID string) *ent.OrderPayment {
	t.Helper()
	p, err := e.s.DB.Client.OrderPayment.Query().Where(orderpayment.OrderID(uuid.MustParse(orderID))).
		Only(viewer.NewContext(context.Background(), e.staffV))
	require.NoError(t, err)
	return p
}

func (e *checkoutEnv) orderByID(t *testing.T, id string) *ent.Order {
	t.Helper()
	o, err := e.s.DB.Client.Order.Get(viewer.NewContext(context.Background(), e.staffV), uuid.MustParse(id))
	require.NoError(t, err)
	return o
}

func (e *checkoutEnv) outbox(t *testing.T, topic, aggregate string) int {
	t.Helper()
	n, err := e.s.DB.Client.OutboxEvent.Query().Where(outboxevent.Topic(topic), outboxevent.AggregateID(aggregate)).
		Count(viewer.NewContext(context.Background(), e.staffV))
	require.NoError(t, err)
	return n
}

func TestCheckoutStripe(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testCheckoutStripe(t, b) })
	}
}

func testCheckoutStripe(t *testing.T, b dbtest.Backend) {
	e, stripe := newStripeEnv(t, b)
	guest := e.visitor()
	h := e.s.Handler

	t.Run("40 concurrent checkouts with one key make one order and one PaymentIntent", func(t *testing.T) {
		cart := e.readyCart(t, guest, 1, "pay@example.com")
		got := race(t, 40, func(int) payload { return e.complete(t, guest, cart, "STRIPE", "stripe-key") })
		for _, p := range got {
			require.Empty(t, p.list("userErrors"))
			require.Equal(t, got[0]["order"], p["order"])
			require.Equal(t, got[0].str("payment", "id"), p.str("payment", "id"))
			require.NotEmpty(t, p.str("payment", "clientSecret"))
		}
		require.Equal(t, 1, stripe.get("POST /v1/payment_intents"), "one PaymentIntent")
		require.Len(t, e.orders(t), 1)
		pay := e.paymentOf(t, got[0].str("order", "id"))
		require.NotNil(t, pay.StripePaymentIntentID)
		require.Equal(t, int64(60), pay.ApplicationFeeAmount, "2% of 2500 + 500 shipping")
	})

	t.Run("a succeeded event delivered 5 times at once and 3 times later changes the order once", func(t *testing.T) {
		o := e.orders(t)[0]
		pay := e.paymentOf(t, o.ID.String())
		body := stripeEvent("payment_intent.succeeded", intentObject(pay, "succeeded"))
		var statuses sync.Map
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Add(1)
			go func() { defer wg.Done(); statuses.Store(i, deliver(t, h, body, time.Now(), whsec)) }()
		}
		wg.Wait()
		for i := range 3 {
			statuses.Store(5+i, deliver(t, h, body, time.Now(), whsec))
		}
		statuses.Range(func(_, v any) bool { require.Less(t, v.(int), 300); return true })
		got := e.orderByID(t, o.ID.String())
		require.Equal(t, order.StatusPAID, got.Status)
		require.Nil(t, got.StockHoldExpiresAt, "paid: the stock is held until fulfilment")
		require.Equal(t, 1, e.outbox(t, events.TopicOrderPaid, o.ID.String()), "one state change")
		require.Equal(t, orderpayment.StatusSUCCEEDED, e.paymentOf(t, o.ID.String()).Status)

		before := e.webhookCount(t)
		stale := stripeEvent("payment_intent.payment_failed", intentObject(pay, "requires_payment_method"))
		require.Less(t, deliver(t, h, stale, time.Now(), whsec), 300)
		require.Equal(t, order.StatusPAID, e.orderByID(t, o.ID.String()).Status, "a late failure of an earlier attempt changes nothing")

		for name, c := range map[string]struct {
			body   []byte
			at     time.Time
			secret string
		}{
			"a bad signature":       {stripeEvent("payment_intent.succeeded", intentObject(pay, "succeeded")), time.Now(), "whsec_wrong"},
			"a timestamp 301 s old": {stripeEvent("payment_intent.succeeded", intentObject(pay, "succeeded")), time.Now().Add(-301 * time.Second), whsec},
		} {
			require.Equal(t, http.StatusBadRequest, deliver(t, h, c.body, c.at, c.secret), name)
		}
		// A replayed body: signed once, then changed.
		sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec, Timestamp: time.Now()}).Header
		changed := bytes.Replace(body, []byte(`"succeeded"`), []byte(`"canceled" `), 1)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(changed))
		req.Header.Set("Stripe-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusBadRequest, rec.Code)
		require.Equal(t, before+1, e.webhookCount(t), "only the stale but signed event was stored")
	})

	t.Run("concurrent refunds never exceed what was captured", func(t *testing.T) {
		o := e.orders(t)[0]
		got := race(t, 8, func(int) payload {
			return e.mutate(t, &e.staffV, "refundCreate", `mutation($id: ID!) { refundCreate(input: {orderId: $id, amount: 1000}) { refund { status amount } `+userErrs+` } }`,
				map[string]any{"id": o.ID})
		})
		ok := 0
		for _, p := range got {
			switch codes := codesOf(p); {
			case len(codes) == 0:
				ok++
			default:
				// Over the amount left, or the order already fully refunded.
				require.Subset(t, []string{"REFUND_EXCEEDS_CAPTURED", "INVALID_STATE"}, codes)
			}
		}
		require.Equal(t, 3, ok, "3 x 1000 of 3000")
		got2 := e.orderByID(t, o.ID.String())
		require.Equal(t, int64(3000), got2.RefundedAmount)
		require.Equal(t, order.StatusREFUNDED, got2.Status)
		require.Equal(t, 3, stripe.get("POST /v1/refunds"))
	})

	t.Run("a payment that fails after the stock was held gives it back", func(t *testing.T) {
		before := e.level(t, e.main)
		done := e.complete(t, guest, e.readyCart(t, guest, 2, "fail@example.com"), "STRIPE", "fail-key")
		require.Empty(t, done.list("userErrors"))
		require.Equal(t, before.QuantityReserved+2, e.level(t, e.main).QuantityReserved)
		pay := e.paymentOf(t, done.str("order", "id"))
		require.Less(t, deliver(t, h, stripeEvent("payment_intent.payment_failed", intentObject(pay, "requires_payment_method")), time.Now(), whsec), 300)
		require.Equal(t, before.QuantityReserved, e.level(t, e.main).QuantityReserved)
		o := e.orderByID(t, done.str("order", "id"))
		require.Equal(t, order.StatusCANCELLED, o.Status)
		require.Equal(t, order.FinancialStatusFAILED, o.FinancialStatus)
		got := e.paymentOf(t, o.ID.String())
		require.Equal(t, orderpayment.StatusFAILED, got.Status)
		require.Equal(t, "card_declined:insufficient_funds", got.FailureCode)

		// The buyer retries the same intent with another card: it succeeds
		// after the cancellation, and the order takes its stock again.
		require.Less(t, deliver(t, h, stripeEvent("payment_intent.succeeded", intentObject(pay, "succeeded")), time.Now(), whsec), 300)
		o = e.orderByID(t, o.ID.String())
		require.Equal(t, order.StatusPAID, o.Status)
		require.Equal(t, before.QuantityReserved+2, e.level(t, e.main).QuantityReserved)
	})

	t.Run("account.updated decides whether the store takes payments; older events are skipped", func(t *testing.T) {
		sys := viewer.SystemContext(context.Background(), "test")
		m, err := e.s.DB.Client.MerchantAccount.Get(sys, e.store.ID)
		require.NoError(t, err)
		acct := map[string]any{"id": m.StripeAccountID, "object": "account", "charges_enabled": false, "payouts_enabled": false}
		newer := stripeEvent("account.updated", acct)
		require.Less(t, deliver(t, h, newer, time.Now(), whsec), 300)
		m, _ = e.s.DB.Client.MerchantAccount.Get(sys, e.store.ID)
		require.False(t, m.ChargesEnabled)
		done := e.complete(t, guest, e.readyCart(t, guest, 1, "x@example.com"), "STRIPE", "disabled-key")
		require.Equal(t, []string{"PAYMENTS_NOT_ENABLED"}, codesOf(done))

		var old map[string]any
		acct["charges_enabled"] = true
		require.NoError(t, json.Unmarshal(stripeEvent("account.updated", acct), &old))
		old["created"] = time.Now().Add(-time.Hour).Unix()
		raw, _ := json.Marshal(old)
		require.Less(t, deliver(t, h, raw, time.Now(), whsec), 300)
		m, _ = e.s.DB.Client.MerchantAccount.Get(sys, e.store.ID)
		require.False(t, m.ChargesEnabled, "an event older than the one applied is skipped")

		require.Less(t, deliver(t, h, stripeEvent("account.updated", acct), time.Now(), whsec), 300)
		m, _ = e.s.DB.Client.MerchantAccount.Get(sys, e.store.ID)
		require.True(t, m.ChargesEnabled)
	})

	t.Run("onboarding answers an account link", func(t *testing.T) {
		p := e.mutate(t, &e.otherV, "stripeConnectOnboard", `mutation { stripeConnectOnboard { url accountId `+userErrs+` } }`, nil)
		require.Empty(t, p.list("userErrors"))
		require.True(t, strings.HasPrefix(p.str("url"), "http"), p.str("url"))
		require.True(t, strings.HasPrefix(p.str("accountId"), "acct_"))
		require.Equal(t, 1, stripe.get("POST /v1/accounts"))
		p = e.mutate(t, &e.otherV, "stripeConnectOnboard", `mutation { stripeConnectOnboard { url accountId `+userErrs+` } }`, nil)
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, 1, stripe.get("POST /v1/accounts"), "the account is made once")
	})
}

func (e *checkoutEnv) webhookCount(t *testing.T) int {
	t.Helper()
	n, err := e.s.DB.Client.WebhookEvent.Query().Where(webhookevent.ProviderEQ(webhookevent.ProviderSTRIPE)).
		Count(viewer.SystemContext(context.Background(), "test"))
	require.NoError(t, err)
	return n
}

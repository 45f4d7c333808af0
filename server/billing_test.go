package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/billing"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/payment/stripemock"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// Merchant plans end to end (docs/billing.md): Stripe Billing calls on
// stripe-mock behind a recording proxy, signed subscription and invoice
// webhooks, limits and the blocking of a store whose payment failed.

// stripeCall is one request that reached stripe-mock.
type stripeCall struct {
	Method, Path, Key string
	Form              url.Values
}

type stripeCalls struct {
	mu    sync.Mutex
	calls []stripeCall
}

func (c *stripeCalls) take() []stripeCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// billingPlans are small limits so that the boundaries are cheap to reach.
var billingPlans = []billing.Plan{
	{Code: merchantaccount.PlanTRIAL, Name: "Trial", Currency: "USD", ApplicationFeeBps: 200,
		Limits: billing.Limits{Products: 3, APIKeys: 1}},
	{Code: merchantaccount.PlanSTARTER, Name: "Starter", MonthlyPrice: 2900, Currency: "USD", StripePriceID: "price_starter",
		ApplicationFeeBps: 150, Limits: billing.Limits{Products: 2, APIKeys: 1}},
	{Code: merchantaccount.PlanGROWTH, Name: "Growth", MonthlyPrice: 7900, Currency: "USD", StripePriceID: "price_growth",
		ApplicationFeeBps: 100},
	{Code: merchantaccount.PlanSCALE, Name: "Scale", MonthlyPrice: 29900, Currency: "USD", StripePriceID: "price_scale"},
}

func newBillingEnv(t *testing.T, b dbtest.Backend) (*checkoutEnv, *stripeCalls) {
	t.Helper()
	mock := stripemock.Start(t)
	target, err := url.Parse(mock)
	require.NoError(t, err)
	rec := &stripeCalls{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rec.mu.Lock()
		rec.calls = append(rec.calls, stripeCall{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key"), Form: r.PostForm})
		rec.mu.Unlock()
		body := strings.NewReader(r.PostForm.Encode())
		r.Body, r.ContentLength = io.NopCloser(body), int64(body.Len())
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e := newCheckoutEnv(t, b, 10, func(c *server.Config) {
		c.StripeSecretKey, c.StripeWebhookSecret, c.StripeAPIURL = "sk_test_omnisphere", whsec, front.URL
		c.PublicURL = "https://shop.example.com"
		c.BillingPlans = billingPlans
	})
	require.True(t, e.s.Billing.Enabled())
	// API keys name their creator: the staff viewer gets a real user.
	u, err := e.s.DB.Client.User.Create().SetMerchantID(e.store.ID).SetEmail("owner-" + uuid.NewString()[:8] + "@example.com").
		SetPasswordHash("x").Save(viewer.SystemContext(context.Background(), "test seed"))
	require.NoError(t, err)
	e.staffV.UserID = u.ID
	return e, rec
}

// subscriptionEvent is a signed-ready event about the store's subscription,
// created at the given time.
func subscriptionEvent(typ string, created time.Time, object map[string]any) []byte {
	raw, _ := json.Marshal(map[string]any{"id": "evt_" + strings.ReplaceAll(uuid.NewString(), "-", ""), "object": "event",
		"api_version": payment.APIVersion, "created": created.Unix(), "livemode": false, "pending_webhooks": 1,
		"type": typ, "data": map[string]any{"object": object}})
	return raw
}

func subscriptionObject(m *ent.MerchantAccount, status, price string, periodEnd time.Time) map[string]any {
	return map[string]any{"id": m.StripeSubscriptionID, "object": "subscription", "status": status,
		"customer": m.StripeCustomerID, "current_period_end": periodEnd.Unix(),
		"metadata": map[string]any{"merchant_id": m.ID.String()},
		"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "object": "subscription_item",
			"price": map[string]any{"id": price, "object": "price"}}}}}
}

func invoiceObject(m *ent.MerchantAccount) map[string]any {
	return map[string]any{"id": "in_" + uuid.NewString()[:8], "object": "invoice", "customer": m.StripeCustomerID,
		"subscription": m.StripeSubscriptionID}
}

func (e *checkoutEnv) merchant(t *testing.T) *ent.MerchantAccount {
	t.Helper()
	m, err := e.s.DB.Client.MerchantAccount.Get(viewer.SystemContext(context.Background(), "test"), e.store.ID)
	require.NoError(t, err)
	return m
}

func (e *checkoutEnv) audits(t *testing.T, action string) int {
	t.Helper()
	n, err := e.s.DB.Client.AuditLog.Query().Where(auditlog.MerchantID(e.store.ID), auditlog.Action(action)).
		Count(viewer.SystemContext(context.Background(), "test"))
	require.NoError(t, err)
	return n
}

func (e *checkoutEnv) newProduct(t *testing.T, title string) payload {
	t.Helper()
	return e.mutate(t, &e.staffV, "productCreate", `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { id } `+userErrs+` } }`,
		map[string]any{"in": map[string]any{"title": title}})
}

func (e *checkoutEnv) renameProduct(t *testing.T, title string) payload {
	t.Helper()
	return e.mutate(t, &e.staffV, "productUpdate", `mutation($in: ProductUpdateInput!) { productUpdate(input: $in) { product { id } `+userErrs+` } }`,
		map[string]any{"in": map[string]any{"id": e.product.ID.String(), "title": title}})
}

func TestBilling(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testBilling(t, b) })
	}
}

func testBilling(t *testing.T, b dbtest.Backend) {
	e, calls := newBillingEnv(t, b)
	ctx := context.Background()

	t.Run("merchantRegister starts a trial", func(t *testing.T) {
		r := e.query(t, nil, `mutation($in: MerchantRegisterInput!) { merchantRegister(input: $in) {
		  merchant { plan subscriptionStatus trialEndsAt } userErrors { code } } }`, map[string]any{"in": map[string]any{
			"email": "trial@example.com", "password": "correct horse battery", "fullName": "Owner",
			"storeName": "Trial", "storeSlug": "trial-" + uuid.NewString()[:8]}})
		require.Empty(t, r.Errors, r.Body)
		var out struct {
			MerchantRegister struct {
				Merchant struct {
					Plan, SubscriptionStatus string
					TrialEndsAt              time.Time
				}
			}
		}
		r.decode(t, &out)
		m := out.MerchantRegister.Merchant
		require.Equal(t, "TRIAL", m.Plan)
		require.Equal(t, "TRIALING", m.SubscriptionStatus)
		require.WithinDuration(t, time.Now().Add(14*24*time.Hour), m.TrialEndsAt, time.Minute)
	})

	t.Run("merchantPlans lists the configured plans", func(t *testing.T) {
		r := e.query(t, nil, `{ merchantPlans { code selectable monthlyPrice { amount } limits { products apiKeys staff } } }`, nil)
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, `{"code":"TRIAL","selectable":false,"monthlyPrice":{"amount":0},"limits":{"products":3,"apiKeys":1,"staff":null}}`)
		require.Contains(t, r.Body, `{"code":"STARTER","selectable":true,"monthlyPrice":{"amount":2900},"limits":{"products":2,"apiKeys":1,"staff":null}}`)
	})

	t.Run("limits at the boundary", func(t *testing.T) {
		// The store has one product: the trial allows 3. Eight creates at
		// once for the last place: exactly one passes.
		require.Empty(t, e.newProduct(t, "Second").list("userErrors"))
		ok, refused := count(race(t, 8, func(i int) payload { return e.newProduct(t, fmt.Sprintf("Racer %d", i)) }), "PLAN_LIMIT_REACHED")
		require.Equal(t, [2]int{1, 7}, [2]int{ok, refused})
		p := e.newProduct(t, "Fourth")
		require.Equal(t, []string{"PLAN_LIMIT_REACHED"}, codesOf(p))
		require.Contains(t, p.list("userErrors")[0].(map[string]any)["message"], "allows 3 products")

		keyQ := `mutation { apiKeyCreate(input: {name: "k", permissions: ["products:read"]}) { secret userErrors { code message } } }`
		r := e.query(t, &e.staffV, keyQ, nil)
		require.Empty(t, r.Errors, r.Body)
		require.NotContains(t, r.Body, "PLAN_LIMIT_REACHED")
		r = e.query(t, &e.staffV, keyQ, nil)
		require.Contains(t, r.Body, `"code":"PLAN_LIMIT_REACHED"`)

		u := e.query(t, &e.staffV, `{ me { merchant { billingEnabled billingBlock
		  usage { products { used limit } apiKeys { used limit } staff { used limit } campaignEmails { used limit } } } } }`, nil)
		require.Empty(t, u.Errors, u.Body)
		require.Contains(t, u.Body, `{"billingEnabled":true,"billingBlock":null,"usage":{"products":{"used":3,"limit":3},"apiKeys":{"used":1,"limit":1},"staff":{"used":1,"limit":null},"campaignEmails":{"used":0,"limit":null}}}`)
		r = e.query(t, &e.otherV, `query($id: ID!) { node(id: $id) { ... on MerchantAccount { usage { products { used } } } } }`,
			map[string]any{"id": e.store.ID.String()})
		require.NotContains(t, r.Body, `"used"`, "another store's staff read no usage")
	})

	t.Run("plan change calls Stripe with the plan's price and key", func(t *testing.T) {
		calls.take()
		changeQ := `mutation { merchantSubscriptionChange(input: {plan: STARTER}) { merchant { plan subscriptionStatus } clientSecret stripeStatus ` + userErrs + ` } }`
		p := e.mutate(t, &e.staffV, "merchantSubscriptionChange", changeQ, nil)
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "TRIAL", p.str("merchant", "plan"), "the plan moves when Stripe confirms")
		got := calls.take()
		require.Len(t, got, 2)
		require.Equal(t, "POST /v1/customers", got[0].Method+" "+got[0].Path)
		require.Equal(t, "omnisphere-customer-"+e.store.ID.String(), got[0].Key)
		require.Equal(t, "POST /v1/subscriptions", got[1].Method+" "+got[1].Path)
		require.Equal(t, "price_starter", got[1].Form.Get("items[0][price]"))
		require.Equal(t, "default_incomplete", got[1].Form.Get("payment_behavior"))
		require.Equal(t, "omnisphere-subscription-"+e.store.ID.String()+"-STARTER-new-0", got[1].Key)
		m := e.merchant(t)
		require.True(t, strings.HasPrefix(m.StripeCustomerID, "cus_"))
		require.True(t, strings.HasPrefix(m.StripeSubscriptionID, "sub_"))
		require.Equal(t, 1, e.audits(t, "billing.plan_change"))
		subID := e.merchant(t).StripeSubscriptionID

		// Growth and back: each request its own key, so Stripe replays none.
		for i, plan := range []string{"GROWTH", "STARTER", "GROWTH"} {
			p = e.mutate(t, &e.staffV, "merchantSubscriptionChange",
				`mutation($p: MerchantAccountPlan!) { merchantSubscriptionChange(input: {plan: $p}) { `+userErrs+` } }`, map[string]any{"p": plan})
			require.Empty(t, p.list("userErrors"))
			got = calls.take()
			require.Len(t, got, 2, "retrieve, then update")
			require.Equal(t, "POST /v1/subscriptions/"+subID, got[1].Method+" "+got[1].Path)
			require.Equal(t, "price_"+strings.ToLower(plan), got[1].Form.Get("items[0][price]"))
			require.Equal(t, fmt.Sprintf("omnisphere-subscription-%s-%s-%s-%d", e.store.ID, plan, subID, i+1), got[1].Key)
		}

		p = e.mutate(t, &e.staffV, "merchantSubscriptionChange",
			`mutation { merchantSubscriptionChange(input: {plan: TRIAL}) { `+userErrs+` } }`, nil)
		require.Equal(t, []string{"INVALID"}, codesOf(p))
	})

	t.Run("each webhook moves the status once", func(t *testing.T) {
		m := e.merchant(t)
		t0 := time.Now().Add(-time.Minute)
		active := subscriptionEvent("customer.subscription.updated", t0,
			subscriptionObject(m, "active", "price_starter", time.Now().Add(30*24*time.Hour)))
		for range 3 {
			require.Equal(t, http.StatusOK, deliver(t, e.s.Handler, active, time.Now(), whsec))
		}
		m = e.merchant(t)
		require.Equal(t, merchantaccount.SubscriptionStatusACTIVE, m.SubscriptionStatus)
		require.Equal(t, merchantaccount.PlanSTARTER, m.Plan)
		require.Equal(t, 150, m.ApplicationFeeBps)
		require.Equal(t, 1, e.audits(t, "billing.subscription"))

		// Starter allows 2 products; the store has 3: no more, nothing deleted.
		require.Equal(t, []string{"PLAN_LIMIT_REACHED"}, codesOf(e.newProduct(t, "Fifth")))
		require.Empty(t, e.renameProduct(t, "Tee 2").list("userErrors"))

		failed := subscriptionEvent("invoice.payment_failed", t0.Add(10*time.Second), invoiceObject(m))
		for range 2 {
			require.Equal(t, http.StatusOK, deliver(t, e.s.Handler, failed, time.Now(), whsec))
		}
		require.Equal(t, merchantaccount.SubscriptionStatusPAST_DUE, e.merchant(t).SubscriptionStatus)
		require.Equal(t, 1, e.audits(t, "billing.past_due"))

		// A stale event (made before the failure) changes nothing.
		stale := subscriptionEvent("invoice.paid", t0.Add(5*time.Second), invoiceObject(m))
		require.Equal(t, http.StatusOK, deliver(t, e.s.Handler, stale, time.Now(), whsec))
		require.Equal(t, merchantaccount.SubscriptionStatusPAST_DUE, e.merchant(t).SubscriptionStatus)
	})

	t.Run("past_due: grace, then admin writes refused, storefront keeps selling", func(t *testing.T) {
		require.Empty(t, e.renameProduct(t, "Tee 3").list("userErrors"), "within the grace period")
		e.s.Billing.SetClock(func() time.Time { return time.Now().Add(8 * 24 * time.Hour) })
		t.Cleanup(func() { e.s.Billing.SetClock(nil) })
		require.Equal(t, []string{"BILLING_PAST_DUE"}, codesOf(e.renameProduct(t, "Tee 4")))
		r := e.query(t, &e.staffV, `mutation { apiKeyCreate(input: {name: "k2", permissions: ["products:read"]}) { userErrors { code } } }`, nil)
		require.Contains(t, r.Body, "BILLING_PAST_DUE")
		p := e.mutate(t, &e.staffV, "shippingMethodCreate", `mutation { shippingMethodCreate(input: {name: "Express", price: 900, countries: ["US"]}) {
		  shippingMethod { id } `+userErrs+` } }`, nil)
		require.Equal(t, []string{"BILLING_PAST_DUE"}, codesOf(p), "settings changed through checkout's service are admin writes too")

		r = e.query(t, e.visitor(), `{ products(first: 10) { edges { node { title } } } }`, nil)
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, "Tee 3")
		done := e.complete(t, e.visitor(), e.readyCart(t, e.visitor(), 1, "buyer@example.com"), "MANUAL", "billing-past-due")
		require.Empty(t, done.list("userErrors"))
		require.NotEmpty(t, done.str("order", "id"))
		paidOrder := e.mutate(t, &e.staffV, "orderMarkPaid", `mutation($id: ID!) { orderMarkPaid(id: $id) { order { financialStatus } `+userErrs+` } }`,
			map[string]any{"id": done.str("order", "id")})
		require.Empty(t, paidOrder.list("userErrors"), "staff keep handling existing orders")
		require.Equal(t, "PAID", paidOrder.str("order", "financialStatus"))

		// Paid again: writes come back at once.
		m := e.merchant(t)
		paid := subscriptionEvent("invoice.paid", time.Now(), invoiceObject(m))
		require.Equal(t, http.StatusOK, deliver(t, e.s.Handler, paid, time.Now(), whsec))
		require.Equal(t, merchantaccount.SubscriptionStatusACTIVE, e.merchant(t).SubscriptionStatus)
		require.Empty(t, e.renameProduct(t, "Tee 5").list("userErrors"))
	})

	t.Run("cancel at period end, then no new orders", func(t *testing.T) {
		calls.take()
		p := e.mutate(t, &e.staffV, "merchantSubscriptionCancel",
			`mutation { merchantSubscriptionCancel(input: {confirm: true}) { merchant { subscriptionStatus } `+userErrs+` } }`, nil)
		require.Empty(t, p.list("userErrors"))
		got := calls.take()
		require.Len(t, got, 1)
		require.Equal(t, "true", got[0].Form.Get("cancel_at_period_end"))
		require.Equal(t, "omnisphere-subscription-cancel-"+e.merchant(t).StripeSubscriptionID+"-0", got[0].Key)

		m := e.merchant(t)
		end := time.Now().Add(time.Hour)
		deleted := subscriptionEvent("customer.subscription.deleted", time.Now(), subscriptionObject(m, "canceled", "price_starter", end))
		require.Equal(t, http.StatusOK, deliver(t, e.s.Handler, deleted, time.Now(), whsec))
		require.Equal(t, merchantaccount.SubscriptionStatusCANCELED, e.merchant(t).SubscriptionStatus)
		// Until the period ends the store still sells.
		first := e.readyCart(t, e.visitor(), 1, "buyer@example.com")
		done := e.complete(t, e.visitor(), first, "MANUAL", "billing-canceled-1")
		require.Empty(t, done.list("userErrors"))

		e.s.Billing.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		t.Cleanup(func() { e.s.Billing.SetClock(nil) })
		cart := e.readyCart(t, e.visitor(), 1, "buyer@example.com")
		done = e.complete(t, e.visitor(), cart, "MANUAL", "billing-canceled-2")
		require.Equal(t, []string{"BILLING_CANCELED"}, codesOf(done))
		retry := e.complete(t, e.visitor(), first, "MANUAL", "billing-canceled-1")
		require.Empty(t, retry.list("userErrors"), "a retry of an order made before still answers it")
		require.Equal(t, []string{"BILLING_CANCELED"}, codesOf(e.renameProduct(t, "Tee 6")))
		r := e.query(t, e.visitor(), `{ products(first: 10) { edges { node { title } } } }`, nil)
		require.Empty(t, r.Errors, r.Body)
		n, err := e.s.DB.Client.Product.Query().Count(viewer.NewContext(ctx, e.staffV))
		require.NoError(t, err)
		require.Equal(t, 3, n, "no data deleted")
	})

	t.Run("platform admin lists stores and sets a plan", func(t *testing.T) {
		admin := &viewer.Viewer{Kind: viewer.PlatformAdmin, UserID: uuid.New(), MerchantID: e.other.ID}
		r := e.query(t, admin, `{ platformMerchants(first: 100) { id plan subscriptionStatus usage { products { used limit } } } }`, nil)
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, e.store.ID.String())
		p := e.mutate(t, admin, "platformMerchantPlanSet", `mutation($in: PlatformMerchantPlanSetInput!) { platformMerchantPlanSet(input: $in) {
		  merchant { plan subscriptionStatus applicationFeeBps } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"merchantId": e.store.ID.String(), "plan": "GROWTH", "subscriptionStatus": "ACTIVE"}})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "GROWTH", p.str("merchant", "plan"))
		require.Equal(t, 100, p.num("merchant", "applicationFeeBps"))
		require.Equal(t, 1, e.audits(t, "billing.admin_set"))
		require.Empty(t, codesOf(e.newProduct(t, "Unlimited on Growth")))
		// The store keeps its Stripe subscription, now ACTIVE: Stripe bills
		// the plan the admin set.
		subID := e.merchant(t).StripeSubscriptionID
		moved := func(plan string, n int) {
			t.Helper()
			got := calls.take()
			require.Len(t, got, 2, "retrieve, then update")
			require.Equal(t, "POST /v1/subscriptions/"+subID, got[1].Method+" "+got[1].Path)
			require.Equal(t, "price_"+strings.ToLower(plan), got[1].Form.Get("items[0][price]"))
			require.Equal(t, fmt.Sprintf("omnisphere-subscription-admin-%s-%s-%s-%d", e.store.ID, plan, subID, n), got[1].Key)
		}
		moved("GROWTH", 0)

		set := func(plan string, status any) payload {
			return e.mutate(t, admin, "platformMerchantPlanSet", `mutation($in: PlatformMerchantPlanSetInput!) { platformMerchantPlanSet(input: $in) {
			  merchant { plan subscriptionStatus } `+userErrs+` } }`,
				map[string]any{"in": map[string]any{"merchantId": e.store.ID.String(), "plan": plan, "subscriptionStatus": status}})
		}
		p = set("SCALE", nil)
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "SCALE", p.str("merchant", "plan"))
		moved("SCALE", 1)
		require.Equal(t, []string{"INVALID"}, codesOf(set("TRIAL", nil)), "a live subscription cannot be comped away")
		require.Empty(t, calls.take())
		require.Equal(t, merchantaccount.PlanSCALE, e.merchant(t).Plan)
		// Ending it with the plan set: no Stripe call.
		p = set("TRIAL", "CANCELED")
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, "TRIAL", p.str("merchant", "plan"))
		require.Empty(t, calls.take())

		r = e.query(t, &e.staffV, `{ platformMerchants { id } }`, nil)
		require.Equal(t, []string{"FORBIDDEN"}, r.codes())
	})
}

// TestBillingOffByDefault: without Stripe prices every store is unlimited.
func TestBillingOffByDefault(t *testing.T) {
	e := newCheckoutEnv(t, dbtest.Backends()[0], 10, nil)
	require.False(t, e.s.Billing.Enabled())
	for _, title := range []string{"A", "B", "C", "D"} {
		require.Empty(t, e.newProduct(t, title).list("userErrors"))
	}
	p := e.mutate(t, &e.staffV, "merchantSubscriptionChange",
		`mutation { merchantSubscriptionChange(input: {plan: STARTER}) { `+userErrs+` } }`, nil)
	require.Equal(t, []string{"BILLING_DISABLED"}, codesOf(p))
	r := e.query(t, nil, `{ merchantPlans { code selectable } }`, nil)
	require.NotContains(t, r.Body, `"selectable":true`)
}

package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/billing"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/payment/stripemock"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// liveSub is one subscription over its own graphql-transport-ws connection.
type liveSub struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan wsMessage
	err  chan error // the read error that ended the connection
}

// subscribeWS connects to srv with the connection_init payload init and
// subscribes query. It fails the test unless the server acks the connection;
// what the subscription answers is read with next.
func subscribeWS(t *testing.T, srv *httptest.Server, init map[string]any, query string, vars map[string]any) *liveSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsDial(t, ctx, srv, "")
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	wsWrite(t, ctx, c, map[string]any{"type": "connection_init", "payload": init})
	m, err := wsRead(ctx, c)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m.Type, "payload %s", m.Payload)
	s := &liveSub{t: t, c: c, msgs: make(chan wsMessage, 4096), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				s.err <- err
				close(s.msgs)
				return
			}
			var m wsMessage
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "ping":
				_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			case "pong":
			default:
				s.msgs <- m
			}
		}
	}()
	wsWrite(t, ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	t.Cleanup(func() { c.CloseNow() })
	return s
}

// next returns the next message within d; ok is false on timeout or when
// the connection ended.
func (s *liveSub) next(d time.Duration) (wsMessage, bool) {
	select {
	case m, ok := <-s.msgs:
		return m, ok
	case <-time.After(d):
		return wsMessage{}, false
	}
}

// closed waits for the connection to end and returns its close status.
func (s *liveSub) closed(d time.Duration) websocket.StatusCode {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-s.msgs:
			if ok {
				require.NotEqual(s.t, "next", m.Type, "an event was delivered: %s", m.Payload)
				continue
			}
			return websocket.CloseStatus(<-s.err)
		case <-deadline:
			s.t.Fatal("the connection stayed open")
		}
	}
}

// emit commits msgs to merchant's outbox (the relay publishes them).
func emit(t *testing.T, s *server.Server, merchant uuid.UUID, msgs ...events.Message) {
	t.Helper()
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: merchant, UserID: uuid.New()})
	require.NoError(t, db.InTx(ctx, s.DB.Client, func(tx *ent.Client) error {
		for _, m := range msgs {
			if _, err := events.Write(ctx, tx, merchant, m); err != nil {
				return err
			}
		}
		return nil
	}))
}

func staffInit(r registered) map[string]any {
	return map[string]any{"authorization": "Bearer " + r.MerchantRegister.AccessToken}
}

func merchantOf(r registered) uuid.UUID { return uuid.MustParse(r.MerchantRegister.Merchant.ID) }

const alertsSub = `subscription { inventoryAlerts { eventId sku quantityAvailable threshold } }`

func lowStock(sku string) events.InventoryLow {
	return events.InventoryLow{VariantID: uuid.New(), ProductID: uuid.New(), SKU: sku, QuantityAvailable: 1, Threshold: 3}
}

// requireGraphQLError checks that m answers the subscription with an error
// of one of codes.
func requireGraphQLError(t *testing.T, m wsMessage, codes ...string) {
	t.Helper()
	switch m.Type {
	case "error":
	case "next":
		var p struct{ Errors []gqlError }
		require.NoError(t, json.Unmarshal(m.Payload, &p))
		require.NotEmpty(t, p.Errors, "payload %s", m.Payload)
	default:
		t.Fatalf("got %s: %s", m.Type, m.Payload)
	}
	for _, code := range codes {
		if strings.Contains(string(m.Payload), `"code":"`+code+`"`) {
			return
		}
	}
	t.Fatalf("none of %v in %s", codes, m.Payload)
}

// dataOf is the data member of a next message.
func dataOf(t *testing.T, m wsMessage) string {
	t.Helper()
	require.Equal(t, "next", m.Type, "payload %s", m.Payload)
	var p struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	return string(p.Data)
}

// eventSKU is the sku of an inventoryAlerts message.
func eventSKU(t *testing.T, m wsMessage) string {
	t.Helper()
	require.Equal(t, "next", m.Type, "payload %s", m.Payload)
	var p struct {
		Data struct{ InventoryAlerts struct{ SKU string } }
	}
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	return p.Data.InventoryAlerts.SKU
}

// TestSubscriptionsAcrossInstances: two servers sharing PostgreSQL and
// Redis. A mutation on A reaches a subscriber on B; another store's
// subscribers get none of it, nor any of 1,000 further events.
func TestSubscriptionsAcrossInstances(t *testing.T) {
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" || os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("needs TEST_DATABASE_URL and TEST_REDIS_URL")
	}
	// Bursts of 100 events arrive faster than a socket drains them: room
	// for all (the slow-client policy is TestLiveSlowClient's, in graph).
	a := newIDEnv(t, dbtest.Postgres, func(c *server.Config) { c.RedisURL, c.EventsSubscriberBuffer = redisURL, 2048 })
	b := &idEnv{s: newServer(t, dbtest.Postgres, nil, func(c *server.Config) {
		c.DatabaseURL, c.RedisURL, c.AutoMigrate = a.s.Config.DatabaseURL, redisURL, false
		c.EventsSubscriberBuffer = 2048
	})}
	srvA, srvB := httptest.NewServer(a.s.Handler), httptest.NewServer(b.s.Handler)
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	acme, bolt := a.register(t, "acme"), a.register(t, "bolt")

	onB := subscribeWS(t, srvB, staffInit(acme), alertsSub, nil)
	boltOnA := subscribeWS(t, srvA, staffInit(bolt), alertsSub, nil)
	boltOnB := subscribeWS(t, srvB, staffInit(bolt), alertsSub, nil)
	waitSubscribed(t, b.s, merchantOf(acme), 1)
	waitSubscribed(t, b.s, merchantOf(bolt), 1)
	waitSubscribed(t, a.s, merchantOf(bolt), 1)

	// The mutation on A: stock of a variant falls to its threshold.
	staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: merchantOf(acme), UserID: uuid.New()})
	c := a.s.DB.Client
	p, err := c.Product.Create().SetTitle("Lamp").SetSlug("lamp").Save(staff)
	require.NoError(t, err)
	v, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku("LAMP-1").SetPrice(100).Save(staff)
	require.NoError(t, err)
	wh, err := c.Warehouse.Create().SetName("W").SetCode("W").Save(staff)
	require.NoError(t, err)
	tok := bearer(acme.MerchantRegister.AccessToken)
	r := a.do(t, `mutation($in: InventoryLevelUpdateInput!) { inventoryLevelUpdate(input: $in) { userErrors { code } } }`,
		map[string]any{"in": map[string]any{"variantId": v.ID, "warehouseId": wh.ID, "lowStockThreshold": 3}}, tok...)
	require.Empty(t, r.Errors, r.Body)
	start := time.Now()
	r = a.do(t, `mutation($in: InventoryAdjustInput!) { inventoryAdjust(input: $in) { userErrors { code } } }`,
		map[string]any{"in": map[string]any{"variantId": v.ID, "warehouseId": wh.ID, "delta": 2, "reason": "RECEIVED"}}, tok...)
	require.Empty(t, r.Errors, r.Body)
	m, ok := onB.next(5 * time.Second)
	require.True(t, ok, "the alert reached B")
	require.Equal(t, "LAMP-1", eventSKU(t, m))
	t.Logf("mutation on A to subscriber on B: %s", time.Since(start))

	// 1,000 more events of acme; then one of bolt, as a sentinel: bolt's
	// subscribers see the sentinel first, acme's every acme event.
	const n = 1000
	for i := 0; i < n; i += 100 {
		batch := make([]events.Message, 100)
		for j := range batch {
			batch[j] = lowStock(fmt.Sprintf("A-%04d", i+j))
		}
		emit(t, a.s, merchantOf(acme), batch...)
	}
	emit(t, a.s, merchantOf(bolt), lowStock("BOLT-SENTINEL"))
	seen := map[string]bool{}
	for len(seen) < n {
		m, ok := onB.next(10 * time.Second)
		require.True(t, ok, "acme received %d of %d", len(seen), n)
		sku := eventSKU(t, m)
		require.True(t, strings.HasPrefix(sku, "A-"), sku)
		seen[sku] = true
	}
	for _, sub := range []*liveSub{boltOnA, boltOnB} {
		m, ok := sub.next(10 * time.Second)
		require.True(t, ok)
		require.Equal(t, "BOLT-SENTINEL", eventSKU(t, m), "bolt's first event is its own")
	}
}

// tokenExpiry reads the exp claim of a JWT.
func tokenExpiry(t *testing.T, tok string) time.Time {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c struct{ Exp int64 }
	require.NoError(t, json.Unmarshal(raw, &c))
	return time.Unix(c.Exp, 0)
}

// waitSubscribed waits until s holds want subscriptions of merchant.
func waitSubscribed(t *testing.T, s *server.Server, merchant uuid.UUID, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.Subscriptions.Open()[merchant] == want },
		5*time.Second, 5*time.Millisecond, "subscriptions of %s", merchant)
}

// TestSubscriptionCredentials: the credentials are checked again while
// events flow; expired or revoked ones stop delivery and close the socket
// with 4403.
func TestSubscriptionCredentials(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newIDEnv(t, b, func(c *server.Config) { c.AccessTokenTTL = 3 * time.Second })
			srv := httptest.NewServer(e.s.Handler)
			t.Cleanup(srv.Close)
			acme := e.register(t, "acme")
			m := merchantOf(acme)

			// An access token: delivered until it expires, then 4403.
			sub := subscribeWS(t, srv, staffInit(acme), alertsSub, nil)
			waitSubscribed(t, e.s, m, 1)
			emit(t, e.s, m, lowStock("BEFORE"))
			msg, ok := sub.next(5 * time.Second)
			require.True(t, ok)
			require.Equal(t, "BEFORE", eventSKU(t, msg))
			time.Sleep(time.Until(tokenExpiry(t, acme.MerchantRegister.AccessToken).Add(100 * time.Millisecond)))
			emit(t, e.s, m, lowStock("AFTER-EXPIRY"))
			require.Equal(t, websocket.StatusCode(4403), sub.closed(5*time.Second))

			// A secret key: delivered until revoked, then 4403.
			r := e.do(t, `mutation { login(input: {email: "acme@example.com", password: "correct horse battery"}) { accessToken } }`, nil)
			require.Empty(t, r.Errors, r.Body)
			var login struct{ Login struct{ AccessToken string } }
			r.decode(t, &login)
			staff := bearer(login.Login.AccessToken)
			r = e.do(t, `mutation { apiKeyCreate(input: {name: "dash", permissions: ["products:read"]}) { apiKey { id } secret } }`, nil, staff...)
			require.Empty(t, r.Errors, r.Body)
			var key struct {
				APIKeyCreate struct {
					APIKey struct{ ID string }
					Secret string
				}
			}
			r.decode(t, &key)
			ksub := subscribeWS(t, srv, map[string]any{"authorization": "Bearer " + key.APIKeyCreate.Secret}, alertsSub, nil)
			waitSubscribed(t, e.s, m, 1)
			emit(t, e.s, m, lowStock("KEY-1"))
			msg, ok = ksub.next(5 * time.Second)
			require.True(t, ok)
			require.Equal(t, "KEY-1", eventSKU(t, msg))
			r = e.do(t, `mutation($id: ID!) { apiKeyRevoke(input: {id: $id}) { userErrors { code } } }`,
				map[string]any{"id": key.APIKeyCreate.APIKey.ID}, staff...)
			require.Empty(t, r.Errors, r.Body)
			emit(t, e.s, m, lowStock("KEY-REVOKED"))
			require.Equal(t, websocket.StatusCode(4403), ksub.closed(5*time.Second))
			waitSubscribed(t, e.s, m, 0)

			// A key without the permission cannot subscribe at all.
			r = e.do(t, `mutation { apiKeyCreate(input: {name: "orders", permissions: ["orders:read"]}) { secret } }`, nil, staff...)
			require.Empty(t, r.Errors, r.Body)
			var other struct{ APIKeyCreate struct{ Secret string } }
			r.decode(t, &other)
			denied := subscribeWS(t, srv, map[string]any{"authorization": "Bearer " + other.APIKeyCreate.Secret}, alertsSub, nil)
			msg, ok = denied.next(5 * time.Second)
			require.True(t, ok)
			requireGraphQLError(t, msg, "FORBIDDEN")
		})
	}
}

// TestSubscriptionScopes: a customer follows their own orders only; the
// store's order feed is for staff; SSE works like the WebSocket.
func TestSubscriptionScopes(t *testing.T) {
	e := newIDEnv(t, dbtest.SQLite, nil)
	srv := httptest.NewServer(e.s.Handler)
	t.Cleanup(srv.Close)
	acme := e.register(t, "acme")
	e.publish(t, acme)
	m := merchantOf(acme)
	storeKey := acme.MerchantRegister.StorefrontKey
	customer := func(email string) (string, uuid.UUID) {
		r := e.do(t, `mutation($e: String!) { customerRegister(input: {email: $e, password: "customer password"}) { customerAccessToken customer { id } } }`,
			map[string]any{"e": email}, "X-Storefront-Key", storeKey)
		require.Empty(t, r.Errors, r.Body)
		var reg struct {
			CustomerRegister struct {
				CustomerAccessToken string
				Customer            struct{ ID string }
			}
		}
		r.decode(t, &reg)
		return reg.CustomerRegister.CustomerAccessToken, uuid.MustParse(reg.CustomerRegister.Customer.ID)
	}
	tokX, x := customer("x@example.com")
	_, y := customer("y@example.com")
	order := func(c uuid.UUID, n int) events.Message {
		return events.OrderPaid{OrderState: events.OrderState{OrderID: uuid.New(), OrderNumber: n, CustomerID: &c,
			Status: "OPEN", FinancialStatus: "PAID", FulfillmentStatus: "UNFULFILLED", Currency: "USD", TotalAmount: 1234}, Amount: 1234}
	}
	const mine = `subscription { myOrderUpdates { type orderNumber total { amount currencyCode } amount { amount } } }`
	sub := subscribeWS(t, srv, map[string]any{"authorization": "Bearer " + tokX, "storefrontKey": storeKey}, mine, nil)
	waitSubscribed(t, e.s, m, 1)
	emit(t, e.s, m, order(y, 1), order(x, 2))
	msg, ok := sub.next(5 * time.Second)
	require.True(t, ok)
	require.JSONEq(t, `{"myOrderUpdates":{"type":"PAID","orderNumber":2,"total":{"amount":1234,"currencyCode":"USD"},"amount":{"amount":1234}}}`, dataOf(t, msg))

	// The store's feed: not for customers, nor anonymous visitors.
	for _, init := range []map[string]any{
		{"authorization": "Bearer " + tokX, "storefrontKey": storeKey},
		{"storefrontKey": storeKey},
	} {
		s := subscribeWS(t, srv, init, `subscription { orderEvents { orderNumber } }`, nil)
		msg, ok := s.next(5 * time.Second)
		require.True(t, ok)
		requireGraphQLError(t, msg, "FORBIDDEN", "UNAUTHENTICATED")
	}

	// Server-sent events: staff follow the order feed over a POST.
	body := `{"query":"subscription { orderEvents { type orderNumber } }"}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+acme.MerchantRegister.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitSubscribed(t, e.s, m, 2)
	emit(t, e.s, m, order(y, 3))
	lines := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(5*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	var data string
	for lines.Scan() {
		if d, ok := strings.CutPrefix(lines.Text(), "data: "); ok && strings.Contains(d, "orderEvents") {
			data = dataOf(t, wsMessage{Type: "next", Payload: json.RawMessage(d)})
			break
		}
	}
	require.JSONEq(t, `{"orderEvents":{"type":"PAID","orderNumber":3}}`, data)
}

// TestSubscriptionLimitsAndCleanup: a store may hold at most
// SUBSCRIPTIONS_PER_MERCHANT open subscriptions; closing connections
// releases them and their goroutines.
func TestSubscriptionLimitsAndCleanup(t *testing.T) {
	e := newIDEnv(t, dbtest.SQLite, func(c *server.Config) { c.SubscriptionsPerMerchant = 3 })
	srv := httptest.NewServer(e.s.Handler)
	t.Cleanup(srv.Close)
	acme := e.register(t, "acme")
	m := merchantOf(acme)
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	var subs []*liveSub
	for range 3 {
		subs = append(subs, subscribeWS(t, srv, staffInit(acme), alertsSub, nil))
	}
	waitSubscribed(t, e.s, m, 3)
	over := subscribeWS(t, srv, staffInit(acme), alertsSub, nil)
	msg, ok := over.next(5 * time.Second)
	require.True(t, ok)
	requireGraphQLError(t, msg, "RATE_LIMITED")
	emit(t, e.s, m, lowStock("ALL"))
	for _, s := range subs {
		msg, ok := s.next(5 * time.Second)
		require.True(t, ok)
		require.Equal(t, "ALL", eventSKU(t, msg))
	}

	// Unsubscribe one, disconnect the others.
	ctx := context.Background()
	wsWrite(t, ctx, subs[0].c, map[string]any{"id": "1", "type": "complete"})
	waitSubscribed(t, e.s, m, 2)
	for _, s := range append(subs, over) {
		s.c.CloseNow()
	}
	waitSubscribed(t, e.s, m, 0)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseline+2 }, 5*time.Second, 20*time.Millisecond,
		"goroutines: %d, before the subscriptions %d", runtime.NumGoroutine(), baseline)
}

// TestSubscriptionPlanLimit: with billing on, a store holds at most its
// plan's live subscriptions; the one past the limit is refused with
// PLAN_LIMIT_REACHED, usage shows the open count, and closing one lets
// another open.
func TestSubscriptionPlanLimit(t *testing.T) {
	mock := stripemock.Start(t)
	e := newIDEnv(t, dbtest.SQLite, func(c *server.Config) {
		c.StripeSecretKey, c.StripeAPIURL = "sk_test_omnisphere", mock
		c.BillingPlans = []billing.Plan{
			{Code: merchantaccount.PlanTRIAL, Name: "Trial", Currency: "USD", Limits: billing.Limits{Subscriptions: 2}},
			{Code: merchantaccount.PlanSTARTER, Name: "Starter", MonthlyPrice: 2900, Currency: "USD", StripePriceID: "price_starter"},
		}
	})
	require.True(t, e.s.Billing.Enabled())
	srv := httptest.NewServer(e.s.Handler)
	t.Cleanup(srv.Close)
	acme, other := e.register(t, "acme"), e.register(t, "other")
	m := merchantOf(acme)

	first := subscribeWS(t, srv, staffInit(acme), alertsSub, nil)
	second := subscribeWS(t, srv, staffInit(acme), `subscription { orderEvents { eventId } }`, nil)
	waitSubscribed(t, e.s, m, 2)
	over := subscribeWS(t, srv, staffInit(acme), alertsSub, nil)
	msg, ok := over.next(5 * time.Second)
	require.True(t, ok)
	requireGraphQLError(t, msg, "PLAN_LIMIT_REACHED")
	// Another store's limit is its own.
	theirs := subscribeWS(t, srv, staffInit(other), alertsSub, nil)
	waitSubscribed(t, e.s, merchantOf(other), 1)

	usage := e.do(t, `{ me { merchant { usage { liveSubscriptions { used limit } } } } }`, nil, bearer(acme.MerchantRegister.AccessToken)...)
	require.Empty(t, usage.Errors, usage.Body)
	require.JSONEq(t, `{"me":{"merchant":{"usage":{"liveSubscriptions":{"used":2,"limit":2}}}}}`, string(usage.Data))

	first.c.CloseNow()
	waitSubscribed(t, e.s, m, 1)
	again := subscribeWS(t, srv, staffInit(acme), alertsSub, nil)
	waitSubscribed(t, e.s, m, 2)
	emit(t, e.s, m, lowStock("AGAIN"))
	msg, ok = again.next(5 * time.Second)
	require.True(t, ok)
	require.Equal(t, "AGAIN", eventSKU(t, msg))
	for _, s := range []*liveSub{second, over, theirs, again} {
		s.c.CloseNow()
	}
}

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer/mailpittest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

// The marketing engine end to end through GraphQL (docs/marketing.md):
// tracked events and identity stitching, profiles kept by orders, segments
// kept current by the durable path, templates, a campaign delivered to
// mailpit with working unsubscribe links, and the growth overview.
func TestMarketing(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testMarketing(t, b) })
	}
}

// asyncWait bounds the waits for what the durable path, the relay's
// retries and the background senders do after a request: generous, since
// CI runs every package at once under -race on two cores (the expected
// case takes well under a second).
const asyncWait = 60 * time.Second

const trackMutation = `mutation($in: TrackEventInput!) { trackEvent(input: $in) { eventId ` + userErrs + ` } }`

func testMarketing(t *testing.T, b dbtest.Backend) {
	smtp, api := mailpittest.Start(t)
	e := newCheckoutEnv(t, b, 100, func(c *server.Config) {
		c.SMTPURL = "smtp://" + smtp + "?tls=none"
		c.CampaignPoll = 100 * time.Millisecond
		c.PublicURL = "https://api.shop.test"
	})
	ctx := context.Background()
	sctx := viewer.NewContext(ctx, e.staffV)
	c := e.s.DB.Client
	track := func(v *viewer.Viewer, in map[string]any) payload {
		t.Helper()
		return e.mutate(t, v, "trackEvent", trackMutation, map[string]any{"in": in})
	}

	t.Run("trackEvent validates, deduplicates and stitches a visitor to the customer", func(t *testing.T) {
		bad := track(e.visitor(), map[string]any{"type": "Product Viewed", "anonymousId": "anon-1"})
		require.Equal(t, []string{"INVALID"}, codesOf(bad))
		require.Equal(t, []string{"REQUIRED"}, codesOf(track(e.visitor(), map[string]any{"type": "page_viewed"})))
		big := map[string]any{}
		for i := range 60 {
			big[fmt.Sprint("k", i)] = i
		}
		require.Equal(t, []string{"TOO_MANY"}, codesOf(track(e.visitor(), map[string]any{"type": "page_viewed", "anonymousId": "anon-1", "properties": big})))
		require.Equal(t, []string{"INVALID"}, codesOf(track(e.visitor(), map[string]any{"type": "page_viewed", "anonymousId": "anon-1",
			"customerId": uuid.NewString()})), "a visitor cannot speak for a customer")

		first := track(e.visitor(), map[string]any{"type": "product_viewed", "anonymousId": "anon-1", "messageId": "m-1",
			"properties": map[string]any{"category": "shoes"}})
		require.Empty(t, first.list("userErrors"))
		again := track(e.visitor(), map[string]any{"type": "product_viewed", "anonymousId": "anon-1", "messageId": "m-1"})
		require.Equal(t, first.str("eventId"), again.str("eventId"), "the same messageId is the same event")

		buyer := e.newCustomer(t, "ada@example.com")
		p := track(buyer, map[string]any{"type": "product_viewed", "anonymousId": "anon-1", "properties": map[string]any{"category": "shoes"}})
		require.Empty(t, p.list("userErrors"))
		n, err := c.CustomerEvent.Query().Where(customerevent.CustomerID(buyer.CustomerID)).Count(sctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "the visitor's earlier event is the customer's now")
		prof, err := c.Customer.Get(sctx, buyer.CustomerID)
		require.NoError(t, err)
		require.Equal(t, "anon-1", prof.AnonymousID)
		require.NotNil(t, prof.LastSeenAt)

		// Another store's staff see none of it.
		r := e.query(t, &e.otherV, `query($id: ID!) { customer(id: $id) { email } }`, map[string]any{"id": buyer.CustomerID})
		require.Equal(t, []string{"NOT_FOUND"}, r.codes())
		r = e.query(t, &e.staffV, `query($id: ID!) { customer(id: $id) { email } }`, map[string]any{"id": buyer.CustomerID})
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, "ada@example.com")
		r = e.query(t, buyer, `{ customer { email } }`, nil)
		require.Contains(t, r.Body, "ada@example.com")
		r = e.query(t, e.visitor(), `{ customer { email } }`, nil)
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes())
	})

	var segmentID string
	bobTotal := 0 // Bob's order, placed after the campaign
	t.Run("a segment is computed on create and kept current as events arrive", func(t *testing.T) {
		bad := e.mutate(t, &e.staffV, "segmentCreate", `mutation($in: SegmentInput!) { segmentCreate(input: $in) { segment { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"name": "Broken", "rules": map[string]any{"match": "all", "conditions": []any{
				map[string]any{"kind": "event", "event": "product_viewed", "count": map[string]any{"operator": "more_or_less", "value": 1}}}}}})
		require.NotEmpty(t, bad.list("userErrors"))
		require.Equal(t, "input", bad.list("userErrors")[0].(map[string]any)["field"].([]any)[0])

		p := e.mutate(t, &e.staffV, "segmentCreate", `mutation($in: SegmentInput!) { segmentCreate(input: $in) { segment { id memberCount kind } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"name": "Shoe lookers", "rules": map[string]any{"match": "all", "conditions": []any{
				map[string]any{"kind": "event", "event": "product_viewed", "filters": []any{map[string]any{"property": "category", "operator": "equals", "value": "shoes"}},
					"count": map[string]any{"operator": "at_least", "value": 2}}}}}})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, 1, p.num("segment", "memberCount"), "ada viewed shoes twice")
		segmentID = p.str("segment", "id")

		// A new customer crosses the threshold: the durable path adds them.
		bob := e.newCustomer(t, "bob@example.com")
		for range 2 {
			require.Empty(t, track(bob, map[string]any{"type": "product_viewed", "properties": map[string]any{"category": "shoes"}}).list("userErrors"))
		}
		require.Eventually(t, func() bool {
			n, _ := c.SegmentMember.Query().Where(segmentmember.SegmentID(uuid.MustParse(segmentID)), segmentmember.CustomerID(bob.CustomerID)).Count(sctx)
			return n == 1
		}, asyncWait, 50*time.Millisecond)
		r := e.query(t, &e.staffV, `query($id: ID!) { segmentMembers(segmentId: $id, first: 10) { totalCount edges { node { customer { email } } } } }`,
			map[string]any{"id": segmentID})
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, `"totalCount":2`)
		r = e.query(t, &e.otherV, `query($id: ID!) { segmentMembers(segmentId: $id, first: 10) { totalCount } }`, map[string]any{"id": segmentID})
		require.Equal(t, []string{"NOT_FOUND"}, r.codes())
	})

	t.Run("time-based segments are recomputed when due", func(t *testing.T) {
		p := e.mutate(t, &e.staffV, "segmentCreate", `mutation($in: SegmentInput!) { segmentCreate(input: $in) { segment { id memberCount } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"name": "Shoe lookers this week", "rules": map[string]any{"match": "all", "conditions": []any{
				map[string]any{"kind": "event", "event": "product_viewed", "within_days": 7}}}}})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, 2, p.num("segment", "memberCount"))
		id := uuid.MustParse(p.str("segment", "id"))
		n, err := e.s.Marketing.RefreshDue(ctx, time.Hour)
		require.NoError(t, err)
		require.Zero(t, n, "just evaluated: not due")
		e.s.Marketing.SetClock(func() time.Time { return time.Now().Add(8 * 24 * time.Hour) })
		t.Cleanup(func() { e.s.Marketing.SetClock(nil) })
		n, err = e.s.Marketing.RefreshDue(ctx, time.Hour)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 1)
		seg, err := c.CustomerSegment.Get(sctx, id)
		require.NoError(t, err)
		require.Zero(t, seg.MemberCount, "a week later nobody viewed shoes within 7 days")
		e.s.Marketing.SetClock(nil)
	})

	t.Run("templates are validated and previewed", func(t *testing.T) {
		bad := e.mutate(t, &e.staffV, "emailTemplateCreate", `mutation($in: EmailTemplateInput!) { emailTemplateCreate(input: $in) { template { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"name": "Bad", "subject": "Hi", "htmlBody": "<p>{{.Customer.Nmae}}</p>"}})
		require.Equal(t, []string{"TEMPLATE_UNKNOWN_VARIABLE"}, codesOf(bad))
		p := e.mutate(t, &e.staffV, "emailTemplatePreview", `mutation($in: EmailTemplatePreviewInput!) { emailTemplatePreview(input: $in) { subject html text `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"subject": "Hi {{.Customer.FirstName}}", "htmlBody": `<p>Hello {{.Customer.FirstName}} from {{.Store.Name}}</p><a href="{{.UnsubscribeURL}}">unsubscribe</a>`}})
		require.Empty(t, p.list("userErrors"))
		require.Contains(t, p.str("html"), "Shop")
		require.NotEmpty(t, p.str("text"))
	})

	t.Run("a campaign reaches exactly the subscribed members, once, with one-click unsubscribe", func(t *testing.T) {
		// Ada and Bob are members; Bob subscribes, Ada does not.
		bob, err := c.Customer.Query().Where(customer.Email("bob@example.com")).Only(sctx)
		require.NoError(t, err)
		require.NoError(t, c.Customer.UpdateOne(bob).SetFirstName("Bob").SetEmailConsent(customer.EmailConsentSUBSCRIBED).Exec(sctx))
		p := e.mutate(t, &e.staffV, "campaignCreate", `mutation($in: CampaignInput!) { campaignCreate(input: $in) { campaign { id status } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"name": "Shoe sale", "segmentId": segmentID, "subject": "Shoes for you, {{.Customer.FirstName}}",
				"htmlBody":  `<p>Hi {{.Customer.FirstName}}</p><a href="https://shop.test/shoes">Shop</a><a href="{{.UnsubscribeURL}}">unsubscribe</a>`,
				"fromEmail": "news@shop.test"}})
		require.Empty(t, p.list("userErrors"))
		id := p.str("campaign", "id")
		require.Equal(t, []string{"INVALID_STATE"}, codesOf(e.mutate(t, &e.staffV, "campaignResume",
			`mutation($id: ID!) { campaignResume(id: $id) { `+userErrs+` } }`, map[string]any{"id": id})))
		require.Equal(t, []string{"NOT_FOUND"}, e.query(t, &e.otherV, `mutation($id: ID!) { campaignSend(id: $id) { `+userErrs+` } }`,
			map[string]any{"id": id}).codes(), "another store's campaign does not exist for them")
		// The payload's campaign loads its edges after the transition's
		// transaction committed.
		p = e.mutate(t, &e.staffV, "campaignSend", `mutation($id: ID!) { campaignSend(id: $id) { campaign { status segment { id } } `+userErrs+` } }`, map[string]any{"id": id})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, segmentID, p.str("campaign", "segment", "id"))

		var msgs []mailpittest.Message
		require.Eventually(t, func() bool {
			row, err := c.EmailCampaign.Get(sctx, uuid.MustParse(id))
			return err == nil && row.Status == "SENT"
		}, asyncWait, 50*time.Millisecond)
		msgs, err = mailpittest.Messages(ctx, api)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, "bob@example.com", msgs[0].To[0].Address)
		require.Equal(t, "Shoes for you, Bob", msgs[0].Subject)
		h, err := mailpittest.Headers(ctx, api, msgs[0].ID)
		require.NoError(t, err)
		require.Equal(t, "List-Unsubscribe=One-Click", h.Get("List-Unsubscribe-Post"))
		unsub := regexp.MustCompile(`<(https://api\.shop\.test/t/u/[^>]+)>`).FindStringSubmatch(h.Get("List-Unsubscribe"))
		require.Len(t, unsub, 2, h.Get("List-Unsubscribe"))

		// The one-click unsubscribe (RFC 8058) through the server.
		path := strings.TrimPrefix(unsub[1], "https://api.shop.test")
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("List-Unsubscribe=One-Click"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.s.Handler.ServeHTTP(rec, req)
		require.Less(t, rec.Code, 300, rec.Body.String())
		bob, err = c.Customer.Get(sctx, bob.ID)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, bob.EmailConsent)

		// A tampered click link is refused, never redirected.
		send, err := c.EmailSend.Query().Where(emailsend.CampaignID(uuid.MustParse(id))).Only(sctx)
		require.NoError(t, err)
		click, err := e.s.Marketing.Mail.Keys.ClickURL("", send.TrackingToken, "https://shop.test/shoes", 0)
		require.NoError(t, err)
		rec = httptest.NewRecorder()
		e.s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, click, nil))
		require.Equal(t, http.StatusFound, rec.Code, rec.Body.String())
		require.Equal(t, "https://shop.test/shoes", rec.Header().Get("Location"))
		rec = httptest.NewRecorder()
		e.s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.Replace(click, "/t/c/", "/t/c/x", 1), nil))
		require.Equal(t, http.StatusBadRequest, rec.Code)
		require.Empty(t, rec.Header().Get("Location"))

		// Bob clicked, then buys: the order is the campaign's.
		bobV := &viewer.Viewer{Kind: viewer.Customer, MerchantID: e.store.ID, CustomerID: bob.ID}
		done := e.complete(t, bobV, e.readyCart(t, bobV, 1, "bob@example.com"), "MANUAL", "mkt-bob")
		require.Empty(t, done.list("userErrors"))
		require.Empty(t, e.mutate(t, &e.staffV, "orderMarkPaid", `mutation($id: ID!) { orderMarkPaid(id: $id) { `+userErrs+` } }`,
			map[string]any{"id": done.str("order", "id")}).list("userErrors"))
		r := e.query(t, &e.staffV, `query($id: ID!) { node(id: $id) { ... on EmailCampaign { sentCount uniqueClickedCount
		  attribution { revenue { amount } orders windowHours } } } }`, map[string]any{"id": id})
		require.Empty(t, r.Errors, r.Body)
		bobTotal = done.num("order", "totalAmount")
		require.Contains(t, r.Body, fmt.Sprintf(`"attribution":{"revenue":{"amount":%d},"orders":1,"windowHours":120}`, bobTotal))
		require.Contains(t, r.Body, `"sentCount":1,"uniqueClickedCount":1`)
	})

	t.Run("capture popups: targeting, single and double opt-in", func(t *testing.T) {
		const create = `mutation($in: PopupInput!) { popupCreate(input: $in) { popup { id status } ` + userErrs + ` } }`
		bad := e.mutate(t, &e.staffV, "popupCreate", create, map[string]any{"in": map[string]any{"name": "Bad", "includePaths": []any{"/products/../admin"}}})
		require.NotEmpty(t, codesOf(bad))
		p := e.mutate(t, &e.staffV, "popupCreate", create, map[string]any{"in": map[string]any{"name": "Welcome", "status": "ACTIVE",
			"title": "10% off", "includePaths": []any{"/products/*"}, "frequency": "ONCE_PER_SESSION"}})
		require.Empty(t, p.list("userErrors"))
		single := p.str("popup", "id")
		p = e.mutate(t, &e.staffV, "popupCreate", create, map[string]any{"in": map[string]any{"name": "Newsletter", "status": "ACTIVE",
			"title": "News", "doubleOptIn": true}})
		require.Empty(t, p.list("userErrors"))
		double := p.str("popup", "id")

		active := `query($p: String!) { activePopups(path: $p) { id title frequency doubleOptIn } }`
		r := e.query(t, e.visitor(), active, map[string]any{"p": "/products/tee?ref=x"})
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, single)
		require.Contains(t, r.Body, double)
		r = e.query(t, e.visitor(), active, map[string]any{"p": "/cart"})
		require.NotContains(t, r.Body, single, "targeted at product pages only")
		r = e.query(t, &viewer.Viewer{Kind: viewer.Anonymous, MerchantID: e.other.ID}, active, map[string]any{"p": "/products/tee"})
		require.NotContains(t, r.Body, single, "another store's storefront")

		require.Empty(t, e.mutate(t, e.visitor(), "popupImpression", `mutation($id: ID!) { popupImpression(popupId: $id) { `+userErrs+` } }`,
			map[string]any{"id": single}).list("userErrors"))
		submit := `mutation($in: PopupSubmitInput!) { popupSubmit(input: $in) { confirmationRequired discountCode ` + userErrs + ` } }`
		p = e.mutate(t, e.visitor(), "popupSubmit", submit, map[string]any{"in": map[string]any{"popupId": single, "email": "Pat@Example.com", "anonymousId": "anon-pat"}})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, false, p.get("confirmationRequired"))
		pat, err := c.Customer.Query().Where(customer.Email("pat@example.com")).Only(sctx)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, pat.EmailConsent)
		require.Equal(t, []string{"INVALID"}, codesOf(e.mutate(t, e.visitor(), "popupSubmit", submit,
			map[string]any{"in": map[string]any{"popupId": single, "email": "not-an-email"}})))

		require.NoError(t, mailpittest.DeleteAll(ctx, api))
		p = e.mutate(t, e.visitor(), "popupSubmit", submit, map[string]any{"in": map[string]any{"popupId": double, "email": "quinn@example.com"}})
		require.Empty(t, p.list("userErrors"))
		require.Equal(t, true, p.get("confirmationRequired"))
		quinn, err := c.Customer.Query().Where(customer.Email("quinn@example.com")).Only(sctx)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentPENDING, quinn.EmailConsent)
		var msgs []mailpittest.Message
		require.Eventually(t, func() bool { msgs, _ = mailpittest.Messages(ctx, api); return len(msgs) == 1 }, asyncWait, 50*time.Millisecond)
		require.Equal(t, "quinn@example.com", msgs[0].To[0].Address)
		body, err := mailpittest.Text(ctx, api, msgs[0].ID)
		require.NoError(t, err)
		link := regexp.MustCompile(`https://api\.shop\.test(/subscribe/confirm\?token=\S+)`).FindStringSubmatch(body)
		require.Len(t, link, 2, body)
		rec := httptest.NewRecorder()
		e.s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, link[1], nil))
		require.Equal(t, http.StatusOK, rec.Code)
		quinn, _ = c.Customer.Get(sctx, quinn.ID)
		require.Equal(t, customer.EmailConsentPENDING, quinn.EmailConsent, "following the link (GET) does not subscribe: scanners follow links")
		token := strings.SplitN(link[1], "token=", 2)[1]
		rec = httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/subscribe/confirm", strings.NewReader("token="+token))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		e.s.Handler.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		quinn, _ = c.Customer.Get(sctx, quinn.ID)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, quinn.EmailConsent)
		r = e.query(t, nil, `mutation($t: String!) { popupConfirm(token: $t) { confirmed `+userErrs+` } }`, map[string]any{"t": token + "x"})
		require.Contains(t, r.Body, `"confirmed":false`)
	})

	t.Run("workflows: welcome on registration, abandoned cart after its wait", func(t *testing.T) {
		tpl := e.mutate(t, &e.staffV, "emailTemplateCreate", `mutation($in: EmailTemplateInput!) { emailTemplateCreate(input: $in) { template { id } `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"name": "Welcome", "subject": "Welcome, {{.Customer.FirstName}}", "kind": "AUTOMATION",
				"htmlBody": `<p>Welcome to {{.Store.Name}}</p>{{range .Cart.Lines}}<p>{{.Title}} × {{.Quantity}}</p>{{end}}<a href="{{.UnsubscribeURL}}">unsubscribe</a>`}})
		require.Empty(t, tpl.list("userErrors"))
		tplID := tpl.str("template", "id")
		const create = `mutation($in: WorkflowInput!) { workflowCreate(input: $in) { workflow { id status } ` + userErrs + ` } }`
		bad := e.mutate(t, &e.staffV, "workflowCreate", create, map[string]any{"in": map[string]any{"name": "Bad",
			"trigger": map[string]any{"type": "CART_ABANDONED"}, "steps": []any{map[string]any{"kind": "WAIT", "waitSeconds": -5}}}})
		require.NotEmpty(t, bad.list("userErrors"))
		require.Equal(t, []any{"input", "steps", "0", "waitSeconds"}, bad.list("userErrors")[0].(map[string]any)["field"])

		activate := func(id string) {
			t.Helper()
			p := e.mutate(t, &e.staffV, "workflowActivate", `mutation($id: ID!) { workflowActivate(id: $id) { workflow { status } `+userErrs+` } }`,
				map[string]any{"id": id})
			require.Empty(t, p.list("userErrors"))
			require.Equal(t, "ACTIVE", p.str("workflow", "status"))
		}
		p := e.mutate(t, &e.staffV, "workflowCreate", create, map[string]any{"in": map[string]any{"name": "Welcome series",
			"trigger": map[string]any{"type": "CUSTOMER_CREATED"},
			"steps":   []any{map[string]any{"kind": "SEND_EMAIL", "templateId": tplID}, map[string]any{"kind": "ADD_TAG", "tag": "welcomed"}}}})
		require.Empty(t, p.list("userErrors"))
		activate(p.str("workflow", "id"))
		p = e.mutate(t, &e.staffV, "workflowCreate", create, map[string]any{"in": map[string]any{"name": "Abandoned cart",
			"trigger": map[string]any{"type": "CART_ABANDONED"},
			"steps": []any{
				map[string]any{"kind": "WAIT", "waitSeconds": 2},
				map[string]any{"kind": "CONDITION", "condition": map[string]any{"kind": "EVENT_SINCE_ENROLLMENT", "eventType": "order.created"},
					"yesNext": 3, "noNext": 2},
				map[string]any{"kind": "SEND_EMAIL", "templateId": tplID, "subject": "You left something behind"},
				map[string]any{"kind": "EXIT"}}}})
		require.Empty(t, p.list("userErrors"))
		activate(p.str("workflow", "id"))

		require.NoError(t, mailpittest.DeleteAll(ctx, api))
		r := e.query(t, e.visitor(), `mutation($in: CustomerRegisterInput!) { customerRegister(input: $in) { customer { id } userErrors { code } } }`,
			map[string]any{"in": map[string]any{"email": "wren@example.com", "password": "correct horse battery", "firstName": "Wren",
				"acceptsMarketing": true, "anonymousId": "anon-wren"}})
		require.Empty(t, r.Errors, r.Body)
		var msgs []mailpittest.Message
		require.Eventually(t, func() bool { msgs, _ = mailpittest.Messages(ctx, api); return len(msgs) == 1 }, asyncWait, 50*time.Millisecond)
		require.Equal(t, "Welcome, Wren", msgs[0].Subject)
		require.Equal(t, "wren@example.com", msgs[0].To[0].Address)
		require.Eventually(t, func() bool {
			w, err := c.Customer.Query().Where(customer.Email("wren@example.com")).Only(sctx)
			return err == nil && len(w.Tags) == 1 && w.Tags[0] == "welcomed"
		}, asyncWait, 50*time.Millisecond)

		// Wren leaves a cart; after its wait the reminder goes out, with the cart.
		wren, err := c.Customer.Query().Where(customer.Email("wren@example.com")).Only(sctx)
		require.NoError(t, err)
		e.readyCart(t, &viewer.Viewer{Kind: viewer.Customer, MerchantID: e.store.ID, CustomerID: wren.ID}, 3, "wren@example.com")
		e.s.Checkout.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		n, err := e.s.Checkout.AbandonCarts(ctx)
		e.s.Checkout.SetClock(nil)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 1)
		abandonedAt := time.Now()
		require.Eventually(t, func() bool { msgs, _ = mailpittest.Messages(ctx, api); return len(msgs) == 2 }, asyncWait, 50*time.Millisecond)
		require.GreaterOrEqual(t, time.Since(abandonedAt), 2*time.Second, "not before the wait")
		require.Equal(t, "You left something behind", msgs[0].Subject)
		body, err := mailpittest.Text(ctx, api, msgs[0].ID)
		require.NoError(t, err)
		require.Contains(t, body, "Tee × 3")
	})

	t.Run("a paid order updates the buyer's profile and the growth overview", func(t *testing.T) {
		cart := e.readyCart(t, e.visitor(), 2, "Guest@Example.com")
		done := e.complete(t, e.visitor(), cart, "MANUAL", "mkt-1")
		require.Empty(t, done.list("userErrors"))
		orderID := done.str("order", "id")
		total := done.num("order", "totalAmount")
		p := e.mutate(t, &e.staffV, "orderMarkPaid", `mutation($id: ID!) { orderMarkPaid(id: $id) { order { financialStatus } `+userErrs+` } }`,
			map[string]any{"id": orderID})
		require.Empty(t, p.list("userErrors"))
		guest, err := c.Customer.Query().Where(customer.Email("guest@example.com")).Only(sctx)
		require.NoError(t, err, "a guest's profile is made from the paid order")
		require.Equal(t, 1, guest.OrderCount)
		require.EqualValues(t, total, guest.LifetimeValueAmount)
		require.EqualValues(t, total, guest.AverageOrderValueAmount)
		require.NotNil(t, guest.FirstOrderAt)

		p = e.mutate(t, &e.staffV, "refundCreate", `mutation($in: RefundCreateInput!) { refundCreate(input: $in) { `+userErrs+` } }`,
			map[string]any{"in": map[string]any{"orderId": orderID, "amount": 1000}})
		require.Empty(t, p.list("userErrors"))
		guest, err = c.Customer.Get(sctx, guest.ID)
		require.NoError(t, err)
		require.EqualValues(t, total-1000, guest.LifetimeValueAmount)

		now := time.Now().UTC()
		r := e.query(t, &e.staffV, `query($from: Time!, $to: Time!) { growthOverview(from: $from, to: $to, timeZone: "UTC") {
		  revenue { amount currencyCode } orders newCustomers topProducts { title units } daily { date orders } } }`,
			map[string]any{"from": now.Add(-24 * time.Hour), "to": now.Add(time.Hour)})
		require.Empty(t, r.Errors, r.Body)
		require.Contains(t, r.Body, fmt.Sprintf(`"revenue":{"amount":%d,"currencyCode":"USD"},"orders":2,"newCustomers":2`, total-1000+bobTotal))
		require.Contains(t, r.Body, `{"title":"Tee","units":3}`)
		r = e.query(t, &e.otherV, `query($from: Time!, $to: Time!) { growthOverview(from: $from, to: $to) { orders } }`,
			map[string]any{"from": now.Add(-24 * time.Hour), "to": now.Add(time.Hour)})
		require.Contains(t, r.Body, `"orders":0`, "another store's overview counts its own orders only")
		r = e.query(t, &e.staffV, `query($from: Time!, $to: Time!) { growthOverview(from: $from, to: $to) { orders } }`,
			map[string]any{"from": now, "to": now.Add(-time.Hour)})
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes())
	})
}

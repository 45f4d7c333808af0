package tracking_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/emailclick"
	"github.com/omnisphere/omnisphere/ent/emailopen"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/tracking"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// store is one merchant's fixture: a subscribed customer, a campaign and
// two sends of it (to the customer, and to a guest address that matches a
// second customer by email).
type store struct {
	id              uuid.UUID
	staff           context.Context
	cust, guestCust *ent.Customer
	campaign        *ent.EmailCampaign
	send, guestSend *ent.EmailSend
	sentAt          time.Time
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newStore(t *testing.T, c *ent.Client, slug string) *store {
	t.Helper()
	ctx := context.Background()
	m, err := c.MerchantAccount.Create().SetName("Shop " + slug).SetSlug(slug).Save(viewer.SystemContext(ctx, "test seed"))
	require.NoError(t, err)
	s := &store{id: m.ID, staff: viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()})}
	s.sentAt = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	s.cust, err = c.Customer.Create().SetEmail("jane@" + slug + ".test").SetEmailConsent(customer.EmailConsentSUBSCRIBED).
		SetEmailConsentSource(customer.EmailConsentSourcePOPUP).Save(s.staff)
	require.NoError(t, err)
	s.guestCust, err = c.Customer.Create().SetEmail("guest@" + slug + ".test").SetEmailConsent(customer.EmailConsentPENDING).Save(s.staff)
	require.NoError(t, err)
	s.campaign, err = c.EmailCampaign.Create().SetName("Spring").SetSubject("Spring sale").SetStatus("SENT").Save(s.staff)
	require.NoError(t, err)
	mk := func(to string, cust *uuid.UUID, key string) *ent.EmailSend {
		send, err := c.EmailSend.Create().SetCampaignID(s.campaign.ID).SetNillableCustomerID(cust).SetToEmail(to).
			SetSubject("Spring sale").SetIdempotencyKey(key).SetTrackingToken(randomToken()).
			SetStatus("SENT").SetSentAt(s.sentAt).Save(s.staff)
		require.NoError(t, err)
		return send
	}
	s.send = mk(s.cust.Email, &s.cust.ID, "campaign:1:customer:1")
	s.guestSend = mk("Guest@"+slug+".test", nil, "campaign:1:guest")
	return s
}

func (s *store) reload(t *testing.T, c *ent.Client) (*ent.EmailSend, *ent.EmailCampaign) {
	t.Helper()
	send, err := c.EmailSend.Get(s.staff, s.send.ID)
	require.NoError(t, err)
	camp, err := c.EmailCampaign.Get(s.staff, s.campaign.ID)
	require.NoError(t, err)
	return send, camp
}

func outbox(t *testing.T, c *ent.Client, s *store, topic string) []*ent.OutboxEvent {
	t.Helper()
	rows, err := c.OutboxEvent.Query().Where(outboxevent.Topic(topic)).Order(outboxevent.ByID()).All(s.staff)
	require.NoError(t, err)
	return rows
}

const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"

func TestEntRecorder(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testEntRecorder(t, b) })
	}
}

func testEntRecorder(t *testing.T, b dbtest.Backend) {
	d := dbtest.Open(t, b)
	c := d.Client
	a := newStore(t, c, "a")
	other := newStore(t, c, "b")
	rec := tracking.NewEntRecorder(c, tracking.EntRecorderConfig{Log: quiet})
	ctx := context.Background() // a tracking request: no viewer at all
	later := a.sentAt.Add(30 * time.Minute)

	t.Run("unknown token", func(t *testing.T) {
		require.ErrorIs(t, rec.RecordOpen(ctx, tracking.Open{SendToken: "nope", At: later}), tracking.ErrUnknownSend)
		require.ErrorIs(t, rec.RecordClick(ctx, tracking.Click{SendToken: "nope", URL: "https://x.test/", At: later}), tracking.ErrUnknownSend)
		require.ErrorIs(t, rec.Unsubscribe(ctx, tracking.Unsubscribe{SendToken: "nope", At: later}), tracking.ErrUnknownSend)
		_, err := rec.Recipient(ctx, "nope")
		require.ErrorIs(t, err, tracking.ErrUnknownSend)
	})

	t.Run("opens", func(t *testing.T) {
		// A machine open (Apple MPP) first, then two human opens.
		require.NoError(t, rec.RecordOpen(ctx, tracking.Open{SendToken: a.send.TrackingToken, At: a.sentAt.Add(time.Minute), IP: "104.28.1.1", UserAgent: "Mozilla/5.0"}))
		send, camp := a.reload(t, c)
		require.Equal(t, 0, send.OpenCount)
		require.Nil(t, send.FirstOpenedAt)
		require.Equal(t, 0, camp.OpenedCount)
		require.Equal(t, 0, camp.UniqueOpenedCount)
		require.Empty(t, outbox(t, c, a, events.TopicEmailOpened), "machine opens are no events")

		require.NoError(t, rec.RecordOpen(ctx, tracking.Open{SendToken: a.send.TrackingToken, At: later, IP: "203.0.113.9", UserAgent: iphone}))
		require.NoError(t, rec.RecordOpen(ctx, tracking.Open{SendToken: a.send.TrackingToken, At: later.Add(time.Hour), IP: "203.0.113.9", UserAgent: iphone}))
		send, camp = a.reload(t, c)
		require.Equal(t, 2, send.OpenCount)
		require.NotNil(t, send.FirstOpenedAt)
		require.True(t, send.FirstOpenedAt.Equal(later), "first_opened_at is the first human open")
		require.Equal(t, 2, camp.OpenedCount)
		require.Equal(t, 1, camp.UniqueOpenedCount)

		rows, err := c.EmailOpen.Query().Where(emailopen.SendID(a.send.ID)).Order(emailopen.ByOpenedAt()).All(a.staff)
		require.NoError(t, err)
		require.Len(t, rows, 3)
		require.True(t, rows[0].IsMachineOpen)
		require.False(t, rows[1].IsMachineOpen)
		require.Equal(t, "203.0.113.9", rows[1].IP)
		require.Equal(t, iphone, rows[1].UserAgent)
		for _, r := range rows {
			require.Equal(t, a.id, r.MerchantID)
		}

		evs := outbox(t, c, a, events.TopicEmailOpened)
		require.Len(t, evs, 2)
		require.Equal(t, a.id, evs[0].MerchantID)
		require.Equal(t, a.send.ID.String(), evs[0].AggregateID)
		require.Equal(t, a.campaign.ID.String(), evs[0].Payload["campaignId"])
		require.Equal(t, a.cust.ID.String(), evs[0].Payload["customerId"])

		// An open within seconds of the send is a machine (scanner on delivery).
		require.NoError(t, rec.RecordOpen(ctx, tracking.Open{SendToken: a.guestSend.TrackingToken, At: a.sentAt.Add(time.Second), UserAgent: iphone}))
		gs, err := c.EmailSend.Get(a.staff, a.guestSend.ID)
		require.NoError(t, err)
		require.Equal(t, 0, gs.OpenCount)
	})

	t.Run("clicks", func(t *testing.T) {
		require.NoError(t, rec.RecordClick(ctx, tracking.Click{SendToken: a.send.TrackingToken, URL: "https://a.test/p/1", LinkIndex: 2, At: later, IP: "203.0.113.9", UserAgent: iphone}))
		require.NoError(t, rec.RecordClick(ctx, tracking.Click{SendToken: a.send.TrackingToken, URL: "https://a.test/p/2", LinkIndex: 3, At: later.Add(time.Minute)}))
		send, camp := a.reload(t, c)
		require.Equal(t, 2, send.ClickCount)
		require.NotNil(t, send.FirstClickedAt)
		require.True(t, send.FirstClickedAt.Equal(later))
		require.Equal(t, 2, camp.ClickedCount)
		require.Equal(t, 1, camp.UniqueClickedCount)
		rows, err := c.EmailClick.Query().Where(emailclick.SendID(a.send.ID)).Order(emailclick.ByClickedAt()).All(a.staff)
		require.NoError(t, err)
		require.Len(t, rows, 2)
		require.Equal(t, "https://a.test/p/1", rows[0].URL)
		require.Equal(t, 2, rows[0].LinkIndex)
		evs := outbox(t, c, a, events.TopicEmailClicked)
		require.Len(t, evs, 2)
		require.Equal(t, "https://a.test/p/2", evs[1].Payload["url"])
	})

	t.Run("unsubscribe", func(t *testing.T) {
		for range 2 { // repeated: counted once
			require.NoError(t, rec.Unsubscribe(ctx, tracking.Unsubscribe{SendToken: a.send.TrackingToken, Source: tracking.SourceOneClick, At: later, IP: "203.0.113.9", UserAgent: iphone}))
		}
		send, camp := a.reload(t, c)
		require.NotNil(t, send.UnsubscribedAt)
		require.Equal(t, 1, camp.UnsubscribedCount)
		cu, err := c.Customer.Get(a.staff, a.cust.ID)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, cu.EmailConsent)
		require.NotNil(t, cu.EmailUnsubscribedAt)
		require.True(t, cu.EmailUnsubscribedAt.Equal(later))
		require.Equal(t, "203.0.113.9", cu.EmailConsentIP)
		require.Empty(t, cu.EmailConsentSource)
		evs, err := c.CustomerEvent.Query().Where(customerevent.CustomerID(a.cust.ID), customerevent.Type(tracking.EventEmailUnsubscribed)).All(a.staff)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.Equal(t, tracking.SourceOneClick, evs[0].Properties["source"])
		require.Len(t, outbox(t, c, a, events.TopicCustomerEventTracked), 1)

		// A guest send finds the customer by address (case-insensitive);
		// PENDING becomes UNSUBSCRIBED.
		require.NoError(t, rec.Unsubscribe(ctx, tracking.Unsubscribe{SendToken: a.guestSend.TrackingToken, Source: tracking.SourceLink, At: later}))
		g, err := c.Customer.Get(a.staff, a.guestCust.ID)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, g.EmailConsent)
		_, camp = a.reload(t, c)
		require.Equal(t, 2, camp.UnsubscribedCount)
	})

	t.Run("bounced stays bounced", func(t *testing.T) {
		_, err := c.Customer.UpdateOneID(other.cust.ID).SetEmailConsent(customer.EmailConsentBOUNCED).Save(other.staff)
		require.NoError(t, err)
		require.NoError(t, rec.Unsubscribe(ctx, tracking.Unsubscribe{SendToken: other.send.TrackingToken, Source: tracking.SourceLink, At: later}))
		cu, err := c.Customer.Get(other.staff, other.cust.ID)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentBOUNCED, cu.EmailConsent)
		send, err := c.EmailSend.Get(other.staff, other.send.ID)
		require.NoError(t, err)
		require.NotNil(t, send.UnsubscribedAt, "the send still records it")
	})

	t.Run("the other store is untouched", func(t *testing.T) {
		send, camp := other.reload(t, c)
		require.Equal(t, 0, send.OpenCount)
		require.Equal(t, 0, send.ClickCount)
		require.Equal(t, 0, camp.OpenedCount)
		require.Equal(t, 0, camp.ClickedCount)
		n, err := c.EmailOpen.Query().Count(other.staff)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Empty(t, outbox(t, c, other, events.TopicEmailOpened))
		cu, err := c.Customer.Get(a.staff, a.cust.ID)
		require.NoError(t, err)
		require.Equal(t, a.id, cu.MerchantID)
	})

	t.Run("recipient", func(t *testing.T) {
		r, err := rec.Recipient(ctx, a.send.TrackingToken)
		require.NoError(t, err)
		require.Equal(t, tracking.Recipient{Email: a.cust.Email, StoreName: "Shop a"}, r)
	})
}

// TestHandlerOverTheDatabase follows a rewritten email's links through the
// HTTP handler into the database.
func TestHandlerOverTheDatabase(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			s := newStore(t, d.Client, "h")
			keys, err := tracking.NewKeys("k1", map[string][]byte{"k1": []byte(strings.Repeat("k", 32))})
			require.NoError(t, err)
			h := tracking.NewHandler(tracking.NewEntRecorder(d.Client, tracking.EntRecorderConfig{Log: quiet}), keys, quiet)
			srv := httptest.NewServer(h)
			defer srv.Close()

			unsub, err := keys.UnsubscribeURL(srv.URL, s.send.TrackingToken)
			require.NoError(t, err)
			body := keys.Rewrite(`<body><a href="https://h.test/sale">Sale</a><a href="`+unsub+`">Unsubscribe</a></body>`,
				s.send.TrackingToken, srv.URL, tracking.Options{TrackOpens: true, TrackClicks: true})

			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(u string) *http.Response {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("User-Agent", iphone)
				resp, err := client.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				return resp
			}
			links := hrefs(body)
			require.Len(t, links, 3) // the tracked link, the unsubscribe link, the pixel
			resp := get(links[0])
			require.Equal(t, http.StatusFound, resp.StatusCode)
			require.Equal(t, "https://h.test/sale", resp.Header.Get("Location"))
			require.Equal(t, unsub, links[1])
			require.Equal(t, http.StatusOK, get(links[2]).StatusCode)

			resp, err = client.PostForm(unsub, url.Values{"List-Unsubscribe": {"One-Click"}})
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)

			send, camp := s.reload(t, d.Client)
			require.Equal(t, 1, send.ClickCount)
			require.Equal(t, 1, send.OpenCount)
			require.NotNil(t, send.UnsubscribedAt)
			require.Equal(t, 1, camp.UniqueClickedCount)
			require.Equal(t, 1, camp.UniqueOpenedCount)
			require.Equal(t, 1, camp.UnsubscribedCount)
		})
	}
}

// hrefs returns the href and src values of body, in order.
func hrefs(body string) []string {
	var out []string
	for _, part := range strings.Split(body, `"`) {
		if strings.HasPrefix(part, "http") {
			out = append(out, strings.ReplaceAll(part, "&amp;", "&"))
		}
	}
	var links []string
	for _, l := range out {
		if !strings.HasPrefix(l, "https://h.test") { // the signed target sits inside the token only
			links = append(links, l)
		}
	}
	return links
}

// TestConcurrentOpensCountOneUniqueOpen: opens of one send racing on
// several connections count every open and one unique open.
func TestConcurrentOpensCountOneUniqueOpen(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			s := newStore(t, d.Client, "c")
			rec := tracking.NewEntRecorder(d.Client, tracking.EntRecorderConfig{Log: quiet})
			const n = 8
			errs := make(chan error, 2*n)
			for i := range n {
				go func() {
					errs <- rec.RecordOpen(context.Background(), tracking.Open{SendToken: s.send.TrackingToken,
						At: s.sentAt.Add(time.Duration(i+10) * time.Minute), UserAgent: iphone})
				}()
				go func() {
					errs <- rec.RecordClick(context.Background(), tracking.Click{SendToken: s.send.TrackingToken,
						URL: "https://c.test/", At: s.sentAt.Add(time.Duration(i+10) * time.Minute)})
				}()
			}
			for range 2 * n {
				require.NoError(t, <-errs)
			}
			send, camp := s.reload(t, d.Client)
			require.Equal(t, n, send.OpenCount)
			require.Equal(t, n, send.ClickCount)
			require.Equal(t, n, camp.OpenedCount)
			require.Equal(t, 1, camp.UniqueOpenedCount)
			require.Equal(t, n, camp.ClickedCount)
			require.Equal(t, 1, camp.UniqueClickedCount)
		})
	}
}

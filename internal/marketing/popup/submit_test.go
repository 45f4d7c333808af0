package popup_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		code     popup.Code
	}{
		{"jane@shop.test", "jane@shop.test", ""},
		{"  Jane.Doe+news@Shop.Test ", "jane.doe+news@shop.test", ""},
		{"", "", popup.CodeRequired},
		{"   ", "", popup.CodeRequired},
		{"jane", "", popup.CodeInvalid},
		{"jane@", "", popup.CodeInvalid},
		{"@shop.test", "", popup.CodeInvalid},
		{"jane@localhost", "", popup.CodeInvalid},
		{"jane@shop.", "", popup.CodeInvalid},
		{"jane@.test", "", popup.CodeInvalid},
		{"jane@@shop.test", "", popup.CodeInvalid},
		{"Jane <jane@shop.test>", "", popup.CodeInvalid},
		{"jane@shop.test (Jane)", "", popup.CodeInvalid},
		{"jane@shop.test, joe@shop.test", "", popup.CodeInvalid},
		{"ja ne@shop.test", "", popup.CodeInvalid},
		{"jane@shop.test\r\nBcc: x@y.test", "", popup.CodeInvalid},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".test", "", popup.CodeTooLong},
	} {
		got, err := popup.NormalizeEmail(tc.in)
		if tc.code == "" {
			require.NoError(t, err, tc.in)
			require.Equal(t, tc.want, got)
			continue
		}
		ue, ok := popup.IsUserError(err)
		require.True(t, ok, "%q: %v", tc.in, err)
		require.Equal(t, tc.code, ue.Errors[0].Code, tc.in)
		require.Equal(t, []string{"input", "email"}, ue.Errors[0].Field)
	}
}

func TestSubmit(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testSubmit(t, b) })
	}
}

// profileOf reads the store's customer of email.
func profileOf(t *testing.T, c *ent.Client, s *store, email string) *ent.Customer {
	t.Helper()
	cu, err := c.Customer.Query().Where(customer.Email(email)).Only(s.staff)
	require.NoError(t, err)
	return cu
}

func testSubmit(t *testing.T, b dbtest.Backend) {
	d := dbtest.Open(t, b)
	c := d.Client
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	now := clk.now()
	a := newStore(t, c, "a", now)
	other := newStore(t, c, "b", now)
	svc := newService(t, d, clk)
	visitor := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Anonymous, MerchantID: a.id})
	active := ptr(capturepopup.StatusACTIVE)

	single, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Single"), Status: active, DiscountCode: ptr("SAVE10"), SegmentID: &a.seg.ID})
	require.NoError(t, err)
	double, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Double"), Status: active, DoubleOptIn: ptr(true)})
	require.NoError(t, err)
	paused, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Paused"), Status: ptr(capturepopup.StatusPAUSED)})
	require.NoError(t, err)
	theirs, err := svc.Create(other.staff, other.id, popup.Input{Name: ptr("Theirs"), Status: active})
	require.NoError(t, err)

	submit := func(p *ent.CapturePopup, email string, mods ...func(*popup.SubmitInput)) (*popup.Result, error) {
		in := popup.SubmitInput{Email: email, IP: "203.0.113.7", UserAgent: "Mozilla/5.0", PagePath: "/products/x"}
		for _, m := range mods {
			m(&in)
		}
		return svc.Submit(visitor, a.id, p.ID, in)
	}
	count := func(topic string) int { return len(outbox(t, c, a, topic)) }

	t.Run("new profile, single opt-in", func(t *testing.T) {
		res, err := submit(single, " New@Shop.Test ", func(in *popup.SubmitInput) { in.FirstName = "Nina"; in.AnonymousID = "anon-1" })
		require.NoError(t, err)
		require.True(t, res.Created)
		require.False(t, res.ConfirmationRequired)
		require.Empty(t, res.ConfirmationToken)
		require.Equal(t, "SAVE10", res.DiscountCode)
		cu := res.Customer
		require.Equal(t, "new@shop.test", cu.Email)
		require.Equal(t, a.id, cu.MerchantID)
		require.Equal(t, customer.SourcePOPUP, cu.Source)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, cu.EmailConsent)
		require.Equal(t, customer.EmailOptInLevelSINGLE_OPT_IN, cu.EmailOptInLevel)
		require.Equal(t, customer.EmailConsentSourcePOPUP, cu.EmailConsentSource)
		require.Equal(t, "203.0.113.7", cu.EmailConsentIP)
		require.NotNil(t, cu.EmailConsentedAt)
		require.True(t, cu.EmailConsentedAt.Equal(now))
		require.Equal(t, "Nina", cu.FirstName)
		require.Equal(t, "anon-1", cu.AnonymousID)
		require.False(t, cu.EmailVerified)

		created := outbox(t, c, a, events.TopicCustomerCreated)
		require.Len(t, created, 1)
		require.Equal(t, cu.ID.String(), created[0].AggregateID)
		require.Equal(t, "POPUP", created[0].Payload["source"])
		require.Zero(t, count(events.TopicCustomerUpdated))
		// Segment membership, count and event.
		m, err := c.SegmentMember.Query().Where(segmentmember.SegmentID(a.seg.ID)).All(a.staff)
		require.NoError(t, err)
		require.Len(t, m, 1)
		require.Equal(t, segmentmember.SourceMANUAL, m[0].Source)
		seg, err := c.CustomerSegment.Get(a.staff, a.seg.ID)
		require.NoError(t, err)
		require.Equal(t, 1, seg.MemberCount)
		require.Equal(t, 1, count(events.TopicSegmentEntered))
		// Timeline event.
		ev, err := c.CustomerEvent.Query().Where(customerevent.CustomerID(cu.ID), customerevent.Type(popup.EventPopupSubmitted)).Only(a.staff)
		require.NoError(t, err)
		require.Equal(t, single.ID.String(), ev.Properties["popupId"])
		require.Equal(t, "/products/x", ev.PageURL)
		require.Equal(t, 1, count(events.TopicCustomerEventTracked))
		p, err := svc.Get(a.staff, a.id, single.ID)
		require.NoError(t, err)
		require.Equal(t, 1, p.SubmissionsCount)
	})

	t.Run("same email again updates", func(t *testing.T) {
		res, err := submit(single, "NEW@shop.test", func(in *popup.SubmitInput) { in.FirstName = "Other" })
		require.NoError(t, err)
		require.False(t, res.Created)
		require.Equal(t, "Nina", res.Customer.FirstName, "a popup never overwrites a name")
		require.Equal(t, 1, count(events.TopicCustomerCreated))
		require.Zero(t, count(events.TopicCustomerUpdated), "nothing changed")
		n, err := c.Customer.Query().Where(customer.Email("new@shop.test")).Count(a.staff)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		seg, err := c.CustomerSegment.Get(a.staff, a.seg.ID)
		require.NoError(t, err)
		require.Equal(t, 1, seg.MemberCount, "already a member")
		require.Equal(t, 1, count(events.TopicSegmentEntered))
		p, err := svc.Get(a.staff, a.id, single.ID)
		require.NoError(t, err)
		require.Equal(t, 2, p.SubmissionsCount)
	})

	t.Run("checkout guest becomes subscribed", func(t *testing.T) {
		guest, err := c.Customer.Create().SetEmail("guest@shop.test").SetSource(customer.SourceCHECKOUT).Save(a.staff)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, guest.EmailConsent)
		before := count(events.TopicCustomerUpdated)
		res, err := submit(single, "guest@shop.test", func(in *popup.SubmitInput) { in.FirstName = "Gus" })
		require.NoError(t, err)
		require.False(t, res.Created)
		require.Equal(t, guest.ID, res.Customer.ID)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, res.Customer.EmailConsent)
		require.Equal(t, customer.SourceCHECKOUT, res.Customer.Source, "the profile's origin is kept")
		require.Equal(t, "Gus", res.Customer.FirstName, "an empty name is filled in")
		up := outbox(t, c, a, events.TopicCustomerUpdated)
		require.Len(t, up, before+1)
		require.Equal(t, []any{"email_consent", "first_name"}, up[len(up)-1].Payload["changed"])
	})

	t.Run("opted out profiles need a confirmation", func(t *testing.T) {
		for _, tc := range []struct {
			email   string
			consent customer.EmailConsent
		}{
			{"left@shop.test", customer.EmailConsentUNSUBSCRIBED},
			{"bounced@shop.test", customer.EmailConsentBOUNCED},
			{"complained@shop.test", customer.EmailConsentCOMPLAINED},
		} {
			_, err := c.Customer.Create().SetEmail(tc.email).SetEmailConsent(tc.consent).
				SetEmailUnsubscribedAt(now.Add(-24 * time.Hour)).Save(a.staff)
			require.NoError(t, err)
			res, err := submit(single, tc.email)
			require.NoError(t, err)
			require.True(t, res.ConfirmationRequired, tc.email)
			require.NotEmpty(t, res.ConfirmationToken)
			require.Equal(t, tc.consent, res.Customer.EmailConsent, "%s: unchanged until confirmed", tc.email)
			require.Equal(t, tc.consent, profileOf(t, c, a, tc.email).EmailConsent)

			cu, err := svc.Confirm(context.Background(), res.ConfirmationToken)
			require.NoError(t, err)
			require.Equal(t, customer.EmailConsentSUBSCRIBED, cu.EmailConsent)
			require.Equal(t, customer.EmailOptInLevelCONFIRMED_OPT_IN, cu.EmailOptInLevel)
			require.True(t, cu.EmailVerified)
		}
	})

	t.Run("erased profile untouched", func(t *testing.T) {
		_, err := c.Customer.Create().SetEmail("erased@shop.test").SetStatus(customer.StatusDELETED).Save(a.staff)
		require.NoError(t, err)
		res, err := submit(double, "erased@shop.test")
		require.NoError(t, err)
		require.False(t, res.ConfirmationRequired)
		erased := profileOf(t, c, a, "erased@shop.test")
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, erased.EmailConsent)
		n, err := c.CustomerEvent.Query().Where(customerevent.CustomerID(erased.ID)).Count(a.staff)
		require.NoError(t, err)
		require.Zero(t, n, "no timeline for an erased profile")
	})

	t.Run("refusals", func(t *testing.T) {
		subs := func() int {
			p, err := svc.Get(a.staff, a.id, single.ID)
			require.NoError(t, err)
			return p.SubmissionsCount
		}
		before := subs()
		_, err := submit(single, "not-an-email")
		require.Equal(t, []string{"input.email:INVALID"}, codes(t, err))
		_, err = submit(single, "ok@shop.test", func(in *popup.SubmitInput) { in.FirstName = strings.Repeat("f", 101) })
		require.Equal(t, []string{"input.firstName:TOO_LONG"}, codes(t, err))
		_, err = submit(single, "ok@shop.test", func(in *popup.SubmitInput) { in.AnonymousID = strings.Repeat("x", 65) })
		require.Equal(t, []string{"input.anonymousId:TOO_LONG"}, codes(t, err))
		_, err = submit(paused, "ok@shop.test")
		require.Equal(t, []string{"input.popupId:UNAVAILABLE"}, codes(t, err))
		_, err = submit(theirs, "ok@shop.test")
		require.ErrorIs(t, err, popup.ErrNotFound, "another store's popup is not found")
		_, err = svc.Submit(visitor, a.id, uuid.New(), popup.SubmitInput{Email: "ok@shop.test"})
		require.ErrorIs(t, err, popup.ErrNotFound)
		_, err = svc.Submit(visitor, other.id, theirs.ID, popup.SubmitInput{Email: "ok@shop.test"})
		require.ErrorIs(t, err, viewer.ErrCrossTenant)
		require.Equal(t, before, subs())
		n, err := c.Customer.Query().Where(customer.Email("ok@shop.test")).Count(a.staff)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = c.Customer.Query().Count(other.staff)
		require.NoError(t, err)
		require.Zero(t, n, "nothing reached the other store")

		// An ended window.
		ending, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Ending"), Status: active, EndsAt: ptr(now.Add(time.Minute))})
		require.NoError(t, err)
		clk.add(time.Minute)
		_, err = submit(ending, "ok@shop.test")
		require.Equal(t, []string{"input.popupId:UNAVAILABLE"}, codes(t, err))
	})

	t.Run("offer withdrawn after creation", func(t *testing.T) {
		_, err := c.Discount.Update().SetActive(false).Save(a.staff)
		require.NoError(t, err)
		res, err := submit(single, "late@shop.test")
		require.NoError(t, err)
		require.Empty(t, res.DiscountCode, "an unusable code is not revealed")
		require.Equal(t, customer.EmailConsentSUBSCRIBED, res.Customer.EmailConsent)
	})

	t.Run("same email in another store is another profile", func(t *testing.T) {
		res, err := svc.Submit(other.staff, other.id, theirs.ID, popup.SubmitInput{Email: "new@shop.test"})
		require.NoError(t, err)
		require.True(t, res.Created)
		require.Equal(t, other.id, res.Customer.MerchantID)
		require.NotEqual(t, profileOf(t, c, a, "new@shop.test").ID, res.Customer.ID)
	})
}

func TestDoubleOptIn(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testDoubleOptIn(t, b) })
	}
}

func testDoubleOptIn(t *testing.T, b dbtest.Backend) {
	d := dbtest.Open(t, b)
	c := d.Client
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	now := clk.now()
	a := newStore(t, c, "a", now)
	other := newStore(t, c, "b", now)
	svc := newService(t, d, clk)
	visitor := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Anonymous, MerchantID: a.id})
	active := ptr(capturepopup.StatusACTIVE)
	double, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Double"), Status: active, DoubleOptIn: ptr(true), DiscountCode: ptr("SAVE10")})
	require.NoError(t, err)
	single, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Single"), Status: active})
	require.NoError(t, err)
	submit := func(p *ent.CapturePopup, email string) *popup.Result {
		t.Helper()
		res, err := svc.Submit(visitor, a.id, p.ID, popup.SubmitInput{Email: email, IP: "198.51.100.1"})
		require.NoError(t, err)
		return res
	}
	invalid := func(err error) { t.Helper(); require.Equal(t, []string{"input.token:INVALID"}, codes(t, err)) }

	res := submit(double, "dbl@shop.test")
	require.True(t, res.Created)
	require.True(t, res.ConfirmationRequired)
	require.NotEmpty(t, res.ConfirmationToken)
	require.True(t, res.ConfirmationExpiresAt.Equal(now.Add(24*time.Hour)))
	require.Equal(t, "SAVE10", res.DiscountCode)
	require.Equal(t, customer.EmailConsentPENDING, res.Customer.EmailConsent)
	require.Equal(t, customer.EmailConsentSourcePOPUP, res.Customer.EmailConsentSource)
	require.Equal(t, "198.51.100.1", res.Customer.EmailConsentIP)
	require.Nil(t, res.Customer.EmailConsentedAt)
	tok := res.ConfirmationToken

	t.Run("tampered and foreign tokens", func(t *testing.T) {
		body, sig, _ := strings.Cut(tok, ".")
		tampered := []byte(body)
		tampered[10] ^= 1
		if tampered[10] == '.' || tampered[10] == '/' || tampered[10] == '+' {
			tampered[10] = 'A'
		}
		_, err := svc.Confirm(context.Background(), string(tampered)+"."+sig)
		invalid(err)
		_, err = svc.Confirm(context.Background(), tok[:len(tok)-2])
		invalid(err)
		_, err = svc.Confirm(context.Background(), "")
		invalid(err)
		otherKey, err := popup.New(c, d.Dialect, popup.Config{TokenKey: []byte(strings.Repeat("x", 32))})
		require.NoError(t, err)
		_, err = otherKey.Confirm(context.Background(), tok)
		invalid(err)
		// A viewer of another store cannot redeem it.
		_, err = svc.Confirm(other.staff, tok)
		invalid(err)
		require.Equal(t, customer.EmailConsentPENDING, profileOf(t, c, a, "dbl@shop.test").EmailConsent)
	})

	t.Run("resubmitting while pending", func(t *testing.T) {
		again := submit(double, "dbl@shop.test")
		require.False(t, again.Created)
		require.True(t, again.ConfirmationRequired, "a fresh token to send again")
		require.Equal(t, customer.EmailConsentPENDING, again.Customer.EmailConsent)
	})

	t.Run("confirm", func(t *testing.T) {
		before := len(outbox(t, c, a, events.TopicCustomerUpdated))
		clk.add(time.Hour)
		cu, err := svc.Confirm(context.Background(), tok)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, cu.EmailConsent)
		require.Equal(t, customer.EmailOptInLevelCONFIRMED_OPT_IN, cu.EmailOptInLevel)
		require.True(t, cu.EmailVerified)
		require.True(t, cu.EmailConsentedAt.Equal(now.Add(time.Hour)))
		require.Equal(t, "198.51.100.1", cu.EmailConsentIP, "the IP of the submission stays as proof")
		up := outbox(t, c, a, events.TopicCustomerUpdated)
		require.Len(t, up, before+1)
		require.Equal(t, []any{"email_consent", "email_opt_in_level", "email_verified"}, up[len(up)-1].Payload["changed"])
		// Twice is harmless and writes nothing.
		_, err = svc.Confirm(context.Background(), tok)
		require.NoError(t, err)
		require.Len(t, outbox(t, c, a, events.TopicCustomerUpdated), before+1)
		// A subscribed customer needs no confirmation from a double opt-in popup.
		res := submit(double, "dbl@shop.test")
		require.False(t, res.ConfirmationRequired)
	})

	t.Run("expired", func(t *testing.T) {
		res := submit(double, "late@shop.test")
		clk.add(24 * time.Hour)
		_, err := svc.Confirm(context.Background(), res.ConfirmationToken)
		require.Equal(t, []string{"input.token:TOKEN_EXPIRED"}, codes(t, err))
		require.Equal(t, customer.EmailConsentPENDING, profileOf(t, c, a, "late@shop.test").EmailConsent)
	})

	t.Run("superseded by an unsubscribe", func(t *testing.T) {
		res := submit(double, "fickle@shop.test")
		clk.add(time.Minute)
		cu, err := svc.Confirm(context.Background(), res.ConfirmationToken)
		require.NoError(t, err)
		clk.add(time.Minute)
		_, err = c.Customer.UpdateOne(cu).SetEmailConsent(customer.EmailConsentUNSUBSCRIBED).SetEmailUnsubscribedAt(clk.now()).Save(a.staff)
		require.NoError(t, err)
		_, err = svc.Confirm(context.Background(), res.ConfirmationToken)
		invalid(err)
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, profileOf(t, c, a, "fickle@shop.test").EmailConsent)
		// A single opt-in popup does not subscribe them either: a new token.
		again := submit(single, "fickle@shop.test")
		require.True(t, again.ConfirmationRequired)
		require.Equal(t, customer.EmailConsentUNSUBSCRIBED, again.Customer.EmailConsent)
		clk.add(time.Second)
		cu, err = svc.Confirm(context.Background(), again.ConfirmationToken)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, cu.EmailConsent)
	})

	t.Run("pending then single opt-in", func(t *testing.T) {
		submit(double, "switch@shop.test")
		res := submit(single, "switch@shop.test")
		require.False(t, res.ConfirmationRequired)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, res.Customer.EmailConsent)
		require.Equal(t, customer.EmailOptInLevelSINGLE_OPT_IN, res.Customer.EmailOptInLevel)
	})

	t.Run("key rotation", func(t *testing.T) {
		res := submit(double, "rotate@shop.test")
		rotated, err := popup.New(c, d.Dialect, popup.Config{TokenKey: []byte(strings.Repeat("n", 32)), OldTokenKeys: [][]byte{testKey}})
		require.NoError(t, err)
		rotated.SetClock(clk.now)
		cu, err := rotated.Confirm(context.Background(), res.ConfirmationToken)
		require.NoError(t, err)
		require.Equal(t, customer.EmailConsentSUBSCRIBED, cu.EmailConsent)
	})

	_, err = popup.New(c, d.Dialect, popup.Config{TokenKey: []byte("short")})
	require.Error(t, err)
}

// TestConcurrentSubmits: racing first submissions of one email make one
// profile and one customer.created, and every submission counts.
func TestConcurrentSubmits(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			var d *db.DB
			if b == dbtest.Postgres {
				d = dbtest.OpenPool(t, 12) // room for every submitter at once
			} else {
				d = dbtest.Open(t, b)
			}
			c := d.Client
			clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			a := newStore(t, c, "a", clk.now())
			svc := newService(t, d, clk)
			p, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Race"), Status: ptr(capturepopup.StatusACTIVE), SegmentID: &a.seg.ID})
			require.NoError(t, err)
			visitor := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Anonymous, MerchantID: a.id})
			const n = 12
			for round := range 3 {
				email := fmt.Sprintf("race%d@shop.test", round)
				var wg sync.WaitGroup
				start := make(chan struct{})
				results := make(chan *popup.Result, n)
				errs := make(chan error, n)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						e := email
						if i%2 == 1 {
							e = strings.ToUpper(email)
						}
						res, err := svc.Submit(visitor, a.id, p.ID, popup.SubmitInput{Email: e})
						if err != nil {
							errs <- err
							return
						}
						results <- res
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				close(results)
				for err := range errs {
					require.NoError(t, err)
				}
				created := 0
				ids := map[uuid.UUID]bool{}
				for r := range results {
					ids[r.Customer.ID] = true
					if r.Created {
						created++
					}
				}
				require.Equal(t, 1, created, "one submission created the profile")
				require.Len(t, ids, 1, "every submission saw the same profile")
				cnt, err := c.Customer.Query().Where(customer.Email(email)).Count(a.staff)
				require.NoError(t, err)
				require.Equal(t, 1, cnt)
			}
			require.Len(t, outbox(t, c, a, events.TopicCustomerCreated), 3)
			require.Len(t, outbox(t, c, a, events.TopicSegmentEntered), 3)
			got, err := svc.Get(a.staff, a.id, p.ID)
			require.NoError(t, err)
			require.Equal(t, 3*n, got.SubmissionsCount)
			seg, err := c.CustomerSegment.Get(a.staff, a.seg.ID)
			require.NoError(t, err)
			require.Equal(t, 3, seg.MemberCount)
		})
	}
}

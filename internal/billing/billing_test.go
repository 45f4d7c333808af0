package billing

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

func TestNext(t *testing.T) {
	sub := func(s string) Signal { return Signal{Kind: "subscription", StripeStatus: s} }
	for _, tc := range []struct {
		name string
		cur  Status
		sig  Signal
		want Status
	}{
		{"trial becomes active when paid", Trialing, sub("active"), Active},
		{"an unpaid first subscription keeps the trial", Trialing, sub("incomplete"), Trialing},
		{"an expired first subscription keeps the trial", Trialing, sub("incomplete_expired"), Trialing},
		{"incomplete after the trial", Canceled, sub("incomplete"), Incomplete},
		{"incomplete_expired after the trial ends it", Incomplete, sub("incomplete_expired"), Canceled},
		{"stripe past_due", Active, sub("past_due"), PastDue},
		{"stripe unpaid", PastDue, sub("unpaid"), Unpaid},
		{"stripe paused counts as unpaid", Trialing, sub("paused"), Unpaid},
		{"stripe canceled", Active, sub("canceled"), Canceled},
		{"stripe trialing", Trialing, sub("trialing"), Trialing},
		{"unknown stripe status changes nothing", Active, sub("weird"), Active},
		{"deleted cancels", Active, Signal{Kind: "deleted"}, Canceled},
		{"deleted cancels a past_due store", PastDue, Signal{Kind: "deleted"}, Canceled},
		{"invoice paid reactivates past_due", PastDue, Signal{Kind: "invoice_paid"}, Active},
		{"invoice paid activates incomplete", Incomplete, Signal{Kind: "invoice_paid"}, Active},
		{"invoice paid repeated stays active", Active, Signal{Kind: "invoice_paid"}, Active},
		{"invoice paid does not revive canceled", Canceled, Signal{Kind: "invoice_paid"}, Canceled},
		{"invoice failed makes active past_due", Active, Signal{Kind: "invoice_failed"}, PastDue},
		{"invoice failed repeated stays past_due", PastDue, Signal{Kind: "invoice_failed"}, PastDue},
		{"invoice failed during trial changes nothing", Trialing, Signal{Kind: "invoice_failed"}, Trialing},
		{"invoice failed on canceled changes nothing", Canceled, Signal{Kind: "invoice_failed"}, Canceled},
		{"invoice failed on unpaid changes nothing", Unpaid, Signal{Kind: "invoice_failed"}, Unpaid},
		{"unknown kind changes nothing", PastDue, Signal{Kind: "other"}, PastDue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Next(tc.cur, tc.sig))
			// Applying the same signal again is a no-op (idempotence).
			require.Equal(t, tc.want, Next(tc.want, tc.sig))
		})
	}
}

func TestAccess(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	grace := 7 * 24 * time.Hour
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tc := range []struct {
		name          string
		st            State
		writes, order Code // "" = allowed
	}{
		{"active", State{Status: Active}, "", ""},
		{"trial running", State{Status: Trialing, TrialEndsAt: at(time.Hour)}, "", ""},
		{"trial without end", State{Status: Trialing}, "", ""},
		{"trial ended within grace", State{Status: Trialing, TrialEndsAt: at(-6 * 24 * time.Hour)}, "", ""},
		{"trial ended past grace", State{Status: Trialing, TrialEndsAt: at(-8 * 24 * time.Hour)}, CodePastDue, ""},
		{"past_due within grace", State{Status: PastDue, Since: now.Add(-grace + time.Second)}, "", ""},
		{"past_due at the grace boundary", State{Status: PastDue, Since: now.Add(-grace)}, "", ""},
		{"past_due past grace", State{Status: PastDue, Since: now.Add(-grace - time.Second)}, CodePastDue, ""},
		{"incomplete past grace", State{Status: Incomplete, Since: now.Add(-grace - time.Hour)}, CodePastDue, ""},
		{"unpaid", State{Status: Unpaid}, CodePastDue, ""},
		{"canceled before period end", State{Status: Canceled, CurrentPeriodEnd: at(time.Minute)}, "", ""},
		{"canceled after period end", State{Status: Canceled, CurrentPeriodEnd: at(-time.Minute)}, CodeCanceled, CodeCanceled},
		{"canceled without period", State{Status: Canceled}, CodeCanceled, CodeCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w, o Code
			if e := tc.st.WritesAllowed(now, grace); e != nil {
				w = e.Code
			}
			if e := tc.st.OrdersAllowed(now); e != nil {
				o = e.Code
			}
			require.Equal(t, tc.writes, w)
			require.Equal(t, tc.order, o)
		})
	}
}

func TestParsePlans(t *testing.T) {
	plans, err := ParsePlans("", map[merchantaccount.Plan]string{merchantaccount.PlanSTARTER: "price_s"})
	require.NoError(t, err)
	require.Len(t, plans, 4)
	require.Equal(t, "price_s", plans[1].StripePriceID)
	require.Empty(t, plans[2].StripePriceID)

	plans, err = ParsePlans(`[{"code":"GROWTH","monthlyPrice":100,"stripePriceId":"price_g","limits":{"products":5}}]`, nil)
	require.NoError(t, err)
	require.Len(t, plans, 2, "a TRIAL plan is added")
	require.Equal(t, merchantaccount.PlanTRIAL, plans[0].Code)
	require.Equal(t, "GROWTH", plans[1].Name)
	require.Equal(t, 5, plans[1].Limits.Products)

	for name, raw := range map[string]string{
		"unknown code":  `[{"code":"GOLD"}]`,
		"twice":         `[{"code":"SCALE"},{"code":"SCALE"}]`,
		"negative":      `[{"code":"SCALE","limits":{"products":-1}}]`,
		"fee":           `[{"code":"SCALE","applicationFeeBps":10001}]`,
		"bad price":     `[{"code":"SCALE","stripePriceId":"prod_1"}]`,
		"unknown field": `[{"code":"SCALE","colour":"red"}]`,
		"not json":      `{`,
	} {
		_, err := ParsePlans(raw, nil)
		require.Error(t, err, name)
	}
}

// fakeGateway is an enabled Stripe that is never called.
type fakeGateway struct{}

func (fakeGateway) Enabled() bool { return true }
func (fakeGateway) EnsureCustomer(context.Context, uuid.UUID, string, string, string) (string, error) {
	return "cus_1", nil
}
func (fakeGateway) SetSubscription(context.Context, payment.SubscriptionParams) (payment.Subscription, error) {
	return payment.Subscription{ID: "sub_1"}, nil
}
func (fakeGateway) CancelSubscription(context.Context, string, string) (payment.Subscription, error) {
	return payment.Subscription{ID: "sub_1"}, nil
}

func TestEnabled(t *testing.T) {
	priced := []Plan{{Code: merchantaccount.PlanTRIAL}, {Code: merchantaccount.PlanSTARTER, StripePriceID: "price_s"}}
	require.True(t, New(nil, fakeGateway{}, Config{Plans: priced}, nil).Enabled())
	require.False(t, New(nil, nil, Config{Plans: priced}, nil).Enabled(), "no Stripe")
	require.False(t, New(nil, fakeGateway{}, Config{}, nil).Enabled(), "default plans have no prices")
	require.False(t, New(nil, fakeGateway{}, Config{Plans: priced[:1]}, nil).Enabled(), "no paid plan")
}

func TestAllowEmails(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			ctx := context.Background()
			plans := []Plan{{Code: merchantaccount.PlanTRIAL, Limits: Limits{CampaignEmails: 3}},
				{Code: merchantaccount.PlanSTARTER, StripePriceID: "price_s"}}
			s := New(d.Client, fakeGateway{}, Config{Plans: plans}, nil)
			sys := viewer.SystemContext(ctx, "test seed")
			m, err := d.Client.MerchantAccount.Create().SetName("M").SetSlug("m-" + uuid.NewString()[:8]).Save(sys)
			require.NoError(t, err)
			require.NoError(t, s.AllowEmails(ctx, m.ID, 3), "the limit passes")
			e, ok := IsUserError(s.AllowEmails(ctx, m.ID, 4))
			require.True(t, ok, "limit+1 is refused")
			require.Equal(t, CodePlanLimitReached, e.Code)
			require.Contains(t, e.Message, "allows 3 campaign emails")

			sctx := viewer.ActAsStore(ctx, m.ID, "test seed")
			c, err := d.Client.Customer.Create().SetEmail("a@example.com").Save(sctx)
			require.NoError(t, err)
			_, err = d.Client.EmailSend.Create().SetCustomerID(c.ID).SetToEmail("a@example.com").
				SetSubject("Sale").SetIdempotencyKey("send-1").SetTrackingToken("tok-1").SetKind(emailsend.KindCAMPAIGN).Save(sctx)
			require.NoError(t, err)
			require.NoError(t, s.AllowEmails(ctx, m.ID, 2))
			require.Error(t, s.AllowEmails(ctx, m.ID, 3))
			u, err := s.Usage(ctx, m.ID)
			require.NoError(t, err)
			require.Equal(t, 1, u.CampaignEmails)

			// Next month the count starts again.
			s.SetClock(func() time.Time { return time.Now().AddDate(0, 1, 0) })
			require.NoError(t, s.AllowEmails(ctx, m.ID, 3))

			off := New(d.Client, nil, Config{Plans: plans}, nil)
			require.NoError(t, off.AllowEmails(ctx, m.ID, 1_000_000), "billing off: unlimited")
			require.NoError(t, off.AllowSubscription(ctx, m.ID, 1_000_000))
		})
	}
}

func TestAllowSubscription(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLite)
	ctx := context.Background()
	plans := []Plan{{Code: merchantaccount.PlanTRIAL, Limits: Limits{Subscriptions: 2}},
		{Code: merchantaccount.PlanSTARTER, StripePriceID: "price_s"}}
	s := New(d.Client, fakeGateway{}, Config{Plans: plans}, nil)
	m, err := d.Client.MerchantAccount.Create().SetName("M").SetSlug("m").Save(viewer.SystemContext(ctx, "test seed"))
	require.NoError(t, err)
	require.NoError(t, s.AllowSubscription(ctx, m.ID, 1), "the second passes")
	e, ok := IsUserError(s.AllowSubscription(ctx, m.ID, 2))
	require.True(t, ok, "the third is refused")
	require.Equal(t, CodePlanLimitReached, e.Code)
}

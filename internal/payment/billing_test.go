package payment

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/omnisphere/omnisphere/internal/payment/stripemock"
)

func TestBillingCalls(t *testing.T) {
	rec := newRecorder(t, stripemock.Start(t))
	s := newClient(t, rec.URL)
	ctx := context.Background()
	mid := uuid.New()

	cus, err := s.EnsureCustomer(ctx, mid, "", "owner@example.com", "Shop")
	require.NoError(t, err)
	require.NotEmpty(t, cus)
	reqs := rec.take()
	require.Len(t, reqs, 1)
	require.Equal(t, "/v1/customers", reqs[0].Path)
	require.Equal(t, "omnisphere-customer-"+mid.String(), reqs[0].Header.Get("Idempotency-Key"))
	require.Equal(t, mid.String(), reqs[0].Form.Get("metadata[merchant_id]"))

	again, err := s.EnsureCustomer(ctx, mid, "cus_known", "", "")
	require.NoError(t, err)
	require.Equal(t, "cus_known", again)
	require.Empty(t, rec.take(), "a known customer needs no call")

	sub, err := s.SetSubscription(ctx, SubscriptionParams{MerchantID: mid, Plan: "STARTER", PriceID: "price_starter",
		CustomerID: "cus_1", IdempotencyKey: "k-new"})
	require.NoError(t, err)
	require.NotEmpty(t, sub.ID)
	reqs = rec.take()
	require.Len(t, reqs, 1)
	require.Equal(t, "/v1/subscriptions", reqs[0].Path)
	require.Equal(t, "k-new", reqs[0].Header.Get("Idempotency-Key"))
	require.Equal(t, "price_starter", reqs[0].Form.Get("items[0][price]"))
	require.Equal(t, "default_incomplete", reqs[0].Form.Get("payment_behavior"))
	require.Equal(t, "latest_invoice.payment_intent", reqs[0].Form.Get("expand[0]"))
	require.Equal(t, "STARTER", reqs[0].Form.Get("metadata[plan]"))

	_, err = s.SetSubscription(ctx, SubscriptionParams{MerchantID: mid, Plan: "GROWTH", PriceID: "price_growth",
		CustomerID: "cus_1", SubscriptionID: "sub_1", IdempotencyKey: "k-change"})
	require.NoError(t, err)
	reqs = rec.take()
	require.Len(t, reqs, 2)
	require.Equal(t, "GET", reqs[0].Method)
	require.Equal(t, "/v1/subscriptions/sub_1", reqs[1].Path)
	require.Equal(t, "k-change", reqs[1].Header.Get("Idempotency-Key"))
	require.Equal(t, "price_growth", reqs[1].Form.Get("items[0][price]"))
	require.NotEmpty(t, reqs[1].Form.Get("items[0][id]"))
	require.Equal(t, "false", reqs[1].Form.Get("cancel_at_period_end"))

	_, err = s.CancelSubscription(ctx, "sub_1", "omnisphere-subscription-cancel-sub_1-0")
	require.NoError(t, err)
	reqs = rec.take()
	require.Len(t, reqs, 1)
	require.Equal(t, "true", reqs[0].Form.Get("cancel_at_period_end"))
	require.Equal(t, "omnisphere-subscription-cancel-sub_1-0", reqs[0].Header.Get("Idempotency-Key"))

	_, err = s.SetSubscription(ctx, SubscriptionParams{MerchantID: mid, PriceID: "prod_x", CustomerID: "cus_1", IdempotencyKey: "k"})
	require.ErrorIs(t, err, ErrInvalidParams)
	_, err = s.SetSubscription(ctx, SubscriptionParams{MerchantID: mid, PriceID: "price_x", CustomerID: "cus_1"})
	require.ErrorIs(t, err, ErrInvalidParams)
	_, err = s.CancelSubscription(ctx, "x", "k")
	require.ErrorIs(t, err, ErrInvalidParams)
	_, err = s.CancelSubscription(ctx, "sub_1", "")
	require.ErrorIs(t, err, ErrInvalidParams)
	require.Empty(t, rec.take())

	var off *Stripe
	_, err = off.SetSubscription(ctx, SubscriptionParams{})
	require.ErrorIs(t, err, ErrDisabled)
	_, err = off.EnsureCustomer(ctx, mid, "", "", "")
	require.ErrorIs(t, err, ErrDisabled)
	_, err = off.CancelSubscription(ctx, "sub_1", "k")
	require.ErrorIs(t, err, ErrDisabled)
}

func TestSubscriptionClientSecret(t *testing.T) {
	sub := subscriptionOf(&stripe.Subscription{ID: "sub_1", Status: "incomplete",
		LatestInvoice: &stripe.Invoice{PaymentIntent: &stripe.PaymentIntent{ClientSecret: "pi_1_secret", Status: "requires_payment_method"}}})
	require.Equal(t, "pi_1_secret", sub.ClientSecret)
	sub = subscriptionOf(&stripe.Subscription{ID: "sub_1", Status: "active",
		LatestInvoice: &stripe.Invoice{PaymentIntent: &stripe.PaymentIntent{ClientSecret: "pi_1_secret", Status: "succeeded"}}})
	require.Empty(t, sub.ClientSecret, "nothing to confirm")
}

func TestRoute(t *testing.T) {
	var got []string
	h := func(name string) EventHandler {
		return EventHandlerFunc(func(_ context.Context, ev stripe.Event) error {
			got = append(got, name+":"+string(ev.Type))
			return nil
		})
	}
	r := Route(map[string]EventHandler{"invoice.": h("billing"), "customer.subscription.": h("billing"),
		"invoice.payment_failed": h("special")}, h("checkout"))
	for _, typ := range []string{"invoice.paid", "invoice.payment_failed", "customer.subscription.updated", "payment_intent.succeeded", "customer.created"} {
		require.NoError(t, r.HandleStripeEvent(context.Background(), stripe.Event{Type: stripe.EventType(typ)}))
	}
	require.Equal(t, []string{"billing:invoice.paid", "special:invoice.payment_failed", "billing:customer.subscription.updated",
		"checkout:payment_intent.succeeded", "checkout:customer.created"}, got)
}

package payment

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
)

// This file is the Stripe Billing half of the client: the platform's own
// customers (merchants) and their plan subscriptions. Unlike Connect calls,
// these objects live on the platform account.

// Subscription is the part of a Stripe subscription billing keeps.
type Subscription struct {
	ID         string
	CustomerID string
	// Status is Stripe's status (incomplete, trialing, active, past_due,
	// canceled, unpaid, incomplete_expired, paused). Informative only: the
	// merchant's status changes when the webhook says so.
	Status string
	// PriceID is the price of the subscription's first item.
	PriceID string
	// ClientSecret is the client secret of the latest invoice's
	// PaymentIntent, when one waits for confirmation (a new or changed
	// subscription with payment_behavior default_incomplete); empty
	// otherwise. A secret of the merchant: never log or store it.
	ClientSecret      string
	CurrentPeriodEnd  time.Time
	CancelAtPeriodEnd bool
}

// SubscriptionParams describes the subscription a merchant wants.
type SubscriptionParams struct {
	MerchantID uuid.UUID
	// Plan is the plan's code, kept in the subscription's metadata.
	Plan string
	// PriceID is the Stripe price of the plan (price_…).
	PriceID string
	// CustomerID is the merchant's customer (cus_…), from EnsureCustomer.
	CustomerID string
	// SubscriptionID is the merchant's current subscription (sub_…), empty
	// for a first subscription.
	SubscriptionID string
	// IdempotencyKey is required: the same key returns the same
	// subscription for 24 hours. Make it from the merchant, the plan and the
	// current subscription.
	IdempotencyKey string
}

// EnsureCustomer returns the merchant's platform customer: customerID when
// it is already known, else a new customer (idempotency key
// omnisphere-customer-<merchant>, metadata merchant_id). Store the id:
// Stripe keeps idempotency keys for 24 hours only.
func (s *Stripe) EnsureCustomer(ctx context.Context, merchantID uuid.UUID, customerID, email, name string) (string, error) {
	const op = "ensure customer"
	if s == nil {
		return "", ErrDisabled
	}
	if merchantID == uuid.Nil {
		return "", fmt.Errorf("payment: %s: %w: no merchant", op, ErrInvalidParams)
	}
	if customerID != "" {
		return customerID, nil
	}
	cp := &stripe.CustomerParams{
		Params:   params(ctx, "omnisphere-customer-"+merchantID.String()),
		Metadata: map[string]string{"merchant_id": merchantID.String()},
	}
	if email != "" {
		cp.Email = stripe.String(email)
	}
	if name != "" {
		cp.Name = stripe.String(name)
	}
	c, err := s.api.Customers.New(cp)
	if err != nil {
		return "", wrapErr(ctx, op, err)
	}
	return c.ID, nil
}

// SetSubscription creates the merchant's subscription to p.PriceID or, when
// p.SubscriptionID is set, moves its item to that price (prorated, and no
// longer cancelling at the period end). Both use payment_behavior
// default_incomplete, so the answer carries the client secret of the
// invoice's PaymentIntent when the merchant must confirm a payment.
func (s *Stripe) SetSubscription(ctx context.Context, p SubscriptionParams) (Subscription, error) {
	const op = "set subscription"
	if s == nil {
		return Subscription{}, ErrDisabled
	}
	switch {
	case p.MerchantID == uuid.Nil:
		return Subscription{}, fmt.Errorf("payment: %s: %w: no merchant", op, ErrInvalidParams)
	case !strings.HasPrefix(p.PriceID, "price_"):
		return Subscription{}, fmt.Errorf("payment: %s: %w: %q is not a price id", op, ErrInvalidParams, p.PriceID)
	case !strings.HasPrefix(p.CustomerID, "cus_"):
		return Subscription{}, fmt.Errorf("payment: %s: %w: %q is not a customer id", op, ErrInvalidParams, p.CustomerID)
	case p.SubscriptionID != "" && !strings.HasPrefix(p.SubscriptionID, "sub_"):
		return Subscription{}, fmt.Errorf("payment: %s: %w: %q is not a subscription id", op, ErrInvalidParams, p.SubscriptionID)
	}
	if err := checkKey(op, p.IdempotencyKey); err != nil {
		return Subscription{}, err
	}
	meta := map[string]string{"merchant_id": p.MerchantID.String(), "plan": p.Plan}
	if p.SubscriptionID == "" {
		sp := &stripe.SubscriptionParams{
			Params:          params(ctx, p.IdempotencyKey),
			Customer:        stripe.String(p.CustomerID),
			Items:           []*stripe.SubscriptionItemsParams{{Price: stripe.String(p.PriceID)}},
			PaymentBehavior: stripe.String("default_incomplete"),
			PaymentSettings: &stripe.SubscriptionPaymentSettingsParams{
				SaveDefaultPaymentMethod: stripe.String("on_subscription"),
			},
			Metadata: meta,
		}
		sp.AddExpand("latest_invoice.payment_intent")
		sub, err := s.api.Subscriptions.New(sp)
		if err != nil {
			return Subscription{}, wrapErr(ctx, op, err)
		}
		return subscriptionOf(sub), nil
	}
	cur, err := s.api.Subscriptions.Get(p.SubscriptionID, &stripe.SubscriptionParams{Params: params(ctx, "")})
	if err != nil {
		return Subscription{}, wrapErr(ctx, op, err)
	}
	item := &stripe.SubscriptionItemsParams{Price: stripe.String(p.PriceID)}
	if cur.Items != nil && len(cur.Items.Data) > 0 {
		item.ID = stripe.String(cur.Items.Data[0].ID)
	}
	sp := &stripe.SubscriptionParams{
		Params:            params(ctx, p.IdempotencyKey),
		Items:             []*stripe.SubscriptionItemsParams{item},
		PaymentBehavior:   stripe.String("default_incomplete"),
		ProrationBehavior: stripe.String("create_prorations"),
		CancelAtPeriodEnd: stripe.Bool(false),
		Metadata:          meta,
	}
	sp.AddExpand("latest_invoice.payment_intent")
	sub, err := s.api.Subscriptions.Update(p.SubscriptionID, sp)
	if err != nil {
		return Subscription{}, wrapErr(ctx, op, err)
	}
	return subscriptionOf(sub), nil
}

// CancelSubscription asks Stripe to end the subscription at the end of the
// paid period (cancel_at_period_end); customer.subscription.deleted follows
// then. idempotencyKey is required (a store may cancel, resume and cancel
// again within a day: make it from the subscription and the attempt).
func (s *Stripe) CancelSubscription(ctx context.Context, subscriptionID, idempotencyKey string) (Subscription, error) {
	const op = "cancel subscription"
	if s == nil {
		return Subscription{}, ErrDisabled
	}
	if !strings.HasPrefix(subscriptionID, "sub_") {
		return Subscription{}, fmt.Errorf("payment: %s: %w: %q is not a subscription id", op, ErrInvalidParams, subscriptionID)
	}
	if err := checkKey(op, idempotencyKey); err != nil {
		return Subscription{}, err
	}
	sub, err := s.api.Subscriptions.Update(subscriptionID, &stripe.SubscriptionParams{
		Params:            params(ctx, idempotencyKey),
		CancelAtPeriodEnd: stripe.Bool(true),
	})
	if err != nil {
		return Subscription{}, wrapErr(ctx, op, err)
	}
	return subscriptionOf(sub), nil
}

func subscriptionOf(sub *stripe.Subscription) Subscription {
	out := Subscription{ID: sub.ID, Status: string(sub.Status), CancelAtPeriodEnd: sub.CancelAtPeriodEnd}
	if sub.Customer != nil {
		out.CustomerID = sub.Customer.ID
	}
	if sub.CurrentPeriodEnd > 0 {
		out.CurrentPeriodEnd = time.Unix(sub.CurrentPeriodEnd, 0).UTC()
	}
	if sub.Items != nil && len(sub.Items.Data) > 0 && sub.Items.Data[0].Price != nil {
		out.PriceID = sub.Items.Data[0].Price.ID
	}
	if inv := sub.LatestInvoice; inv != nil && inv.PaymentIntent != nil {
		switch inv.PaymentIntent.Status {
		case stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusRequiresConfirmation,
			stripe.PaymentIntentStatusRequiresAction, "":
			out.ClientSecret = inv.PaymentIntent.ClientSecret
		}
	}
	return out
}

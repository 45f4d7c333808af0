package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/webhookevent"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// HandleStripeEvent applies a customer.subscription.created/updated/deleted,
// invoice.paid or invoice.payment_failed event to the merchant it belongs
// to (metadata merchant_id, else the Stripe customer). It is idempotent (a
// repeated event finds nothing to change and writes nothing) and safe out of
// order: an event older than one already applied to the merchant is
// skipped. Each change is audited (billing.subscription, or
// billing.past_due when the store becomes PAST_DUE or INCOMPLETE).
func (s *Service) HandleStripeEvent(ctx context.Context, ev stripe.Event) error {
	if ev.Data == nil {
		return fmt.Errorf("%w: event without data", payment.ErrIgnore)
	}
	var (
		sig        Signal
		subID      string
		customerID string
		meta       map[string]string
		priceID    string
		periodEnd  int64
		trialEnd   int64
	)
	switch ev.Type {
	case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
		var sub stripe.Subscription
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return fmt.Errorf("%w: subscription: %v", payment.ErrIgnore, err)
		}
		sig = Signal{Kind: "subscription", StripeStatus: string(sub.Status)}
		if ev.Type == "customer.subscription.deleted" {
			sig = Signal{Kind: "deleted"}
		}
		subID, meta, periodEnd, trialEnd = sub.ID, sub.Metadata, sub.CurrentPeriodEnd, sub.TrialEnd
		if sub.Customer != nil {
			customerID = sub.Customer.ID
		}
		if sub.Items != nil && len(sub.Items.Data) > 0 && sub.Items.Data[0].Price != nil {
			priceID = sub.Items.Data[0].Price.ID
		}
	case "invoice.paid", "invoice.payment_failed":
		var inv stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return fmt.Errorf("%w: invoice: %v", payment.ErrIgnore, err)
		}
		if inv.Subscription == nil || inv.Subscription.ID == "" {
			return fmt.Errorf("%w: invoice %s belongs to no subscription", payment.ErrIgnore, inv.ID)
		}
		sig = Signal{Kind: "invoice_paid"}
		if ev.Type == "invoice.payment_failed" {
			sig = Signal{Kind: "invoice_failed"}
		}
		subID = inv.Subscription.ID
		if inv.Customer != nil {
			customerID = inv.Customer.ID
		}
		if inv.SubscriptionDetails != nil {
			meta = inv.SubscriptionDetails.Metadata
		}
	default:
		return fmt.Errorf("%w: %s is not handled", payment.ErrIgnore, ev.Type)
	}
	m, err := s.merchantOfEvent(ctx, meta["merchant_id"], customerID)
	if err != nil {
		return err
	}
	payment.RecordMerchant(ctx, m.ID)
	if m.StripeSubscriptionID != "" && m.StripeSubscriptionID != subID && ev.Type != "customer.subscription.created" {
		return fmt.Errorf("%w: %s is not the store's current subscription (%s)", payment.ErrIgnore, subID, m.StripeSubscriptionID)
	}
	if newer, err := s.newerApplied(ctx, m.ID, ev); err != nil {
		return err
	} else if newer {
		return nil // an event Stripe made later was applied: this one is stale
	}
	err = s.inStore(ctx, m.ID, "stripe subscription event", func(ctx context.Context, c *ent.Client) error {
		cur, err := c.MerchantAccount.Get(ctx, m.ID)
		if err != nil {
			return err
		}
		to := Next(cur.SubscriptionStatus, sig)
		upd := c.MerchantAccount.UpdateOneID(cur.ID)
		note := map[string]any{"event_id": ev.ID, "event_type": string(ev.Type), "subscription": subID}
		changed := false
		if to != cur.SubscriptionStatus {
			upd.SetSubscriptionStatus(to)
			note["from_status"], note["to_status"] = string(cur.SubscriptionStatus), string(to)
			changed = true
		}
		if p, ok := s.byPrice[priceID]; ok && sig.Kind == "subscription" && to != Trialing && p.Code != cur.Plan {
			upd.SetPlan(p.Code).SetApplicationFeeBps(p.ApplicationFeeBps)
			note["from_plan"], note["to_plan"] = string(cur.Plan), string(p.Code)
			changed = true
		}
		if subID != cur.StripeSubscriptionID {
			upd.SetStripeSubscriptionID(subID)
			changed = true
		}
		if customerID != "" && customerID != cur.StripeCustomerID {
			upd.SetStripeCustomerID(customerID)
			changed = true
		}
		if periodEnd > 0 && !sameTime(cur.CurrentPeriodEnd, periodEnd) {
			upd.SetCurrentPeriodEnd(time.Unix(periodEnd, 0).UTC())
			note["current_period_end"] = time.Unix(periodEnd, 0).UTC().Format(time.RFC3339)
			changed = true
		}
		if trialEnd > 0 && sig.StripeStatus == "trialing" && !sameTime(cur.TrialEndsAt, trialEnd) {
			upd.SetTrialEndsAt(time.Unix(trialEnd, 0).UTC())
			changed = true
		}
		if !changed {
			return nil
		}
		if err := upd.Exec(ctx); err != nil {
			return err
		}
		action := actionSubscription
		if to != cur.SubscriptionStatus && (to == PastDue || to == Incomplete) {
			action = actionPastDue
		}
		return audit(ctx, c, m.ID, viewer.Viewer{}, action, note)
	})
	if err != nil {
		return fmt.Errorf("billing: %s: %w", ev.Type, err)
	}
	return nil
}

func sameTime(t *time.Time, unix int64) bool { return t != nil && t.Unix() == unix }

// merchantOfEvent finds the store of an event: metadata merchant_id (set on
// every subscription we create), else the Stripe customer. ctx is the
// intake's system context.
func (s *Service) merchantOfEvent(ctx context.Context, merchantID, customerID string) (*ent.MerchantAccount, error) {
	if id, err := uuid.Parse(merchantID); err == nil {
		m, err := s.client.MerchantAccount.Get(ctx, id)
		if err == nil {
			return m, nil
		}
		if !ent.IsNotFound(err) {
			return nil, err
		}
	}
	if customerID == "" {
		return nil, fmt.Errorf("%w: no merchant_id and no customer", payment.ErrIgnore)
	}
	m, err := s.client.MerchantAccount.Query().Where(merchantaccount.StripeCustomerID(customerID)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, fmt.Errorf("%w: no store has the customer %s", payment.ErrIgnore, customerID)
	}
	return m, err
}

// newerApplied reports whether a billing event of the store that Stripe
// created after ev was already processed.
func (s *Service) newerApplied(ctx context.Context, mid uuid.UUID, ev stripe.Event) (bool, error) {
	done, err := s.client.WebhookEvent.Query().Where(webhookevent.MerchantID(mid),
		webhookevent.StatusEQ(webhookevent.StatusPROCESSED), webhookevent.EventIDNEQ(ev.ID),
		webhookevent.Or(webhookevent.TypeHasPrefix("customer.subscription."), webhookevent.TypeHasPrefix("invoice."))).All(ctx)
	if err != nil {
		return false, fmt.Errorf("billing: applied events: %w", err)
	}
	for _, d := range done {
		if payment.StoredCreated(d.Payload) > ev.Created {
			return true, nil
		}
	}
	return false, nil
}

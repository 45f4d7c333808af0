package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Changed is the outcome of a plan change.
type Changed struct {
	Merchant *ent.MerchantAccount
	// ClientSecret is the client secret of the PaymentIntent the merchant
	// confirms with Stripe.js (stripe.confirmPayment) when the change needs
	// a payment now; empty when none is due. Never log or store it.
	ClientSecret string
	// StripeStatus is the subscription's status in Stripe's answer
	// (informative: the merchant's status follows the webhooks).
	StripeStatus string
}

// Change subscribes the viewer's store to plan, or moves its subscription
// to plan: the Stripe customer is created once, then the subscription is
// created or its item moved to the plan's price, with the idempotency key
// omnisphere-subscription-<merchant>-<plan>-<current subscription or
// "new">-<number of earlier changes>. Plan and status change when Stripe's
// webhooks say so.
func (s *Service) Change(ctx context.Context, code merchantaccount.Plan) (*Changed, error) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return nil, viewer.ErrNoTenant
	}
	if !s.Enabled() {
		return nil, userErr(CodeDisabled, nil, "plans are not billed on this server (Stripe and plan prices are not configured): every store is unlimited")
	}
	p, ok := s.byCode[code]
	if !ok || !p.Paid() {
		return nil, userErr(CodeInvalid, []string{"input", "plan"}, "%s is not a plan that can be chosen", code)
	}
	mid := v.MerchantID
	sctx := viewer.ActAsStore(ctx, mid, "billing plan change")
	m, err := s.client.MerchantAccount.Get(sctx, mid)
	if err != nil {
		return nil, fmt.Errorf("billing: change: %w", err)
	}
	cus, err := s.gw.EnsureCustomer(sctx, mid, m.StripeCustomerID, m.ContactEmail, m.Name)
	if err != nil {
		return nil, stripeErr(err)
	}
	cur := m.StripeSubscriptionID
	if m.SubscriptionStatus == Canceled {
		cur = "" // an ended subscription cannot be changed: start a new one
	}
	seq, err := s.requests(sctx, mid, actionChange)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("omnisphere-subscription-%s-%s-%s-%d", mid, code, orNew(cur), seq)
	sub, err := s.gw.SetSubscription(sctx, payment.SubscriptionParams{MerchantID: mid, Plan: string(code),
		PriceID: p.StripePriceID, CustomerID: cus, SubscriptionID: cur, IdempotencyKey: key})
	if err != nil {
		return nil, stripeErr(err)
	}
	err = s.inStore(ctx, mid, "billing plan change", func(ctx context.Context, c *ent.Client) error {
		upd := c.MerchantAccount.UpdateOneID(mid).SetStripeCustomerID(cus)
		if sub.ID != "" {
			upd.SetStripeSubscriptionID(sub.ID)
		}
		if m, err = upd.Save(ctx); err != nil {
			return err
		}
		return audit(ctx, c, mid, v, actionChange, map[string]any{"plan": string(code), "subscription": sub.ID,
			"stripe_status": sub.Status})
	})
	if err != nil {
		return nil, fmt.Errorf("billing: change: %w", err)
	}
	return &Changed{Merchant: m, ClientSecret: sub.ClientSecret, StripeStatus: sub.Status}, nil
}

// requests counts the store's completed requests of one kind (their audit
// entries). It makes idempotency keys: a retry of a request whose outcome
// was not recorded reuses its key, the next request gets a new one, so that
// going back and forth between plans within Stripe's 24 hours of key
// memory is not answered from a replay.
func (s *Service) requests(ctx context.Context, mid uuid.UUID, action string) (int, error) {
	n, err := s.client.AuditLog.Query().Where(auditlog.MerchantID(mid), auditlog.Action(action)).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("billing: %s requests: %w", action, err)
	}
	return n, nil
}

func orNew(id string) string {
	if id == "" {
		return "new"
	}
	return id
}

// Cancel asks Stripe to end the viewer's store's subscription at the end of
// the paid period. The store keeps its plan until then
// (customer.subscription.deleted makes it CANCELED); nothing is deleted.
func (s *Service) Cancel(ctx context.Context) (*ent.MerchantAccount, error) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return nil, viewer.ErrNoTenant
	}
	if !s.Enabled() {
		return nil, userErr(CodeDisabled, nil, "plans are not billed on this server")
	}
	mid := v.MerchantID
	sctx := viewer.ActAsStore(ctx, mid, "billing cancel")
	m, err := s.client.MerchantAccount.Get(sctx, mid)
	if err != nil {
		return nil, fmt.Errorf("billing: cancel: %w", err)
	}
	if m.StripeSubscriptionID == "" || m.SubscriptionStatus == Canceled {
		return nil, userErr(CodeInvalid, nil, "the store has no subscription to cancel")
	}
	seq, err := s.requests(sctx, mid, actionCancel)
	if err != nil {
		return nil, err
	}
	sub, err := s.gw.CancelSubscription(sctx, m.StripeSubscriptionID, fmt.Sprintf("omnisphere-subscription-cancel-%s-%d", m.StripeSubscriptionID, seq))
	if err != nil {
		return nil, stripeErr(err)
	}
	err = s.inStore(ctx, mid, "billing cancel", func(ctx context.Context, c *ent.Client) error {
		return audit(ctx, c, mid, v, actionCancel, map[string]any{"subscription": m.StripeSubscriptionID,
			"cancel_at_period_end": sub.CancelAtPeriodEnd})
	})
	if err != nil {
		return nil, fmt.Errorf("billing: cancel: %w", err)
	}
	return m, nil
}

func stripeErr(err error) error {
	var pe *payment.Error
	if errors.As(err, &pe) || errors.Is(err, payment.ErrUnavailable) {
		return userErr(CodePaymentFailed, nil, "Stripe could not change the subscription: %v", err)
	}
	return fmt.Errorf("billing: %w", err)
}

// Merchants lists stores for a platform admin, newest first: at most limit
// (1-100) from offset.
func (s *Service) Merchants(ctx context.Context, limit, offset int) ([]*ent.MerchantAccount, error) {
	if viewer.FromContext(ctx).Kind != viewer.PlatformAdmin {
		return nil, viewer.ErrStaffOnly
	}
	limit = min(max(limit, 1), 100)
	sys := viewer.SystemContext(ctx, "platform admin merchant list")
	return s.client.MerchantAccount.Query().Order(ent.Desc(merchantaccount.FieldCreatedAt), ent.Asc(merchantaccount.FieldID)).
		Limit(limit).Offset(max(offset, 0)).All(sys)
}

// SetPlan lets a platform admin put store mid on a plan (and status, when
// not nil): a comped plan, or a correction. It sets the plan's application
// fee and is audited. A store that pays through a live Stripe subscription
// has that subscription moved to the plan's price first (idempotency key
// omnisphere-subscription-admin-<merchant>-<plan>-<subscription>-<n>), so
// that Stripe bills what the store is on and its next webhook agrees; such
// a store cannot be put on a plan without a price (cancel its subscription
// first). A store without one is set here only.
func (s *Service) SetPlan(ctx context.Context, mid uuid.UUID, code merchantaccount.Plan, status *Status) (*ent.MerchantAccount, error) {
	v := viewer.FromContext(ctx)
	if v.Kind != viewer.PlatformAdmin {
		return nil, viewer.ErrStaffOnly
	}
	p, ok := s.byCode[code]
	if !ok {
		return nil, userErr(CodeInvalid, []string{"input", "plan"}, "%s is not a configured plan", code)
	}
	if err := s.moveSubscription(ctx, mid, p, status); err != nil {
		return nil, err
	}
	var m *ent.MerchantAccount
	err := s.inStore(ctx, mid, "platform admin plan", func(ctx context.Context, c *ent.Client) error {
		old, err := c.MerchantAccount.Get(ctx, mid)
		if ent.IsNotFound(err) {
			return userErr(CodeInvalid, []string{"input", "merchantId"}, "no store with this id")
		} else if err != nil {
			return err
		}
		upd := c.MerchantAccount.UpdateOneID(mid).SetPlan(code).SetApplicationFeeBps(p.ApplicationFeeBps)
		to := old.SubscriptionStatus
		if status != nil {
			to = *status
			upd.SetSubscriptionStatus(to)
		}
		if m, err = upd.Save(ctx); err != nil {
			return err
		}
		action := actionAdminSet
		meta := map[string]any{"from_plan": string(old.Plan), "to_plan": string(code),
			"from_status": string(old.SubscriptionStatus), "to_status": string(to)}
		if err := audit(ctx, c, mid, v, action, meta); err != nil {
			return err
		}
		if to != old.SubscriptionStatus && (to == PastDue || to == Incomplete) {
			return audit(ctx, c, mid, v, actionPastDue, meta)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// moveSubscription moves store mid's live Stripe subscription, if it has
// one, to plan p for SetPlan. status is the status SetPlan sets (nil: kept).
func (s *Service) moveSubscription(ctx context.Context, mid uuid.UUID, p Plan, status *Status) error {
	if !s.Enabled() {
		return nil
	}
	sctx := viewer.ActAsStore(ctx, mid, "platform admin plan")
	m, err := s.client.MerchantAccount.Get(sctx, mid)
	if ent.IsNotFound(err) {
		return userErr(CodeInvalid, []string{"input", "merchantId"}, "no store with this id")
	} else if err != nil {
		return fmt.Errorf("billing: set plan: %w", err)
	}
	to := m.SubscriptionStatus
	if status != nil {
		to = *status
	}
	if m.StripeSubscriptionID == "" || to == Canceled {
		return nil
	}
	if !p.Paid() {
		return userErr(CodeInvalid, []string{"input", "plan"},
			"the store pays for its plan through a Stripe subscription: choose a paid plan (the subscription moves to its price) or cancel the subscription first")
	}
	seq, err := s.requests(sctx, mid, actionAdminSet)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("omnisphere-subscription-admin-%s-%s-%s-%d", mid, p.Code, m.StripeSubscriptionID, seq)
	_, err = s.gw.SetSubscription(sctx, payment.SubscriptionParams{MerchantID: mid, Plan: string(p.Code),
		PriceID: p.StripePriceID, CustomerID: m.StripeCustomerID, SubscriptionID: m.StripeSubscriptionID, IdempotencyKey: key})
	if err != nil {
		return stripeErr(err)
	}
	return nil
}

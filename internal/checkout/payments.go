package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderpayment"
	"github.com/omnisphere/omnisphere/ent/refund"
	"github.com/omnisphere/omnisphere/ent/webhookevent"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// HandleStripeEvent applies one verified Stripe event (the webhook intake
// of internal/payment calls it once per event id, on the system path). Each
// kind of event converges the order to Stripe's state whatever the order
// of delivery: a succeeded payment is final (a late payment_failed changes
// nothing), a payment that succeeds on an order cancelled meanwhile takes
// its stock again or is refunded, refunds are booked up to the charge's
// amount_refunded, and an account.updated older than the last one applied
// is skipped.
func (s *Service) HandleStripeEvent(ctx context.Context, ev stripe.Event) error {
	if ev.Data == nil {
		return fmt.Errorf("%w: event without data", payment.ErrIgnore)
	}
	switch ev.Type {
	case "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return fmt.Errorf("%w: payment intent: %v", payment.ErrIgnore, err)
		}
		return s.onIntent(ctx, string(ev.Type), &pi)
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return fmt.Errorf("%w: charge: %v", payment.ErrIgnore, err)
		}
		return s.onChargeRefunded(ctx, &ch)
	case "charge.dispute.created":
		var d stripe.Dispute
		if err := json.Unmarshal(ev.Data.Raw, &d); err != nil {
			return fmt.Errorf("%w: dispute: %v", payment.ErrIgnore, err)
		}
		return s.onDispute(ctx, &d)
	case "account.updated":
		var a stripe.Account
		if err := json.Unmarshal(ev.Data.Raw, &a); err != nil {
			return fmt.Errorf("%w: account: %v", payment.ErrIgnore, err)
		}
		return s.onAccount(ctx, ev, &a)
	}
	return fmt.Errorf("%w: %s is not handled", payment.ErrIgnore, ev.Type)
}

// paymentOfIntent finds the payment of a PaymentIntent: by its id, or (when
// the webhook beat checkout's recording of the id) by the order and store
// in its metadata. ctx is the system context of the intake.
func (s *Service) paymentOfIntent(ctx context.Context, pi *stripe.PaymentIntent) (*ent.OrderPayment, error) {
	if pi == nil || pi.ID == "" {
		return nil, fmt.Errorf("%w: no payment intent", payment.ErrIgnore)
	}
	pay, err := s.client.OrderPayment.Query().Where(orderpayment.StripePaymentIntentID(pi.ID)).Only(ctx)
	if err == nil {
		return pay, nil
	}
	if !ent.IsNotFound(err) {
		return nil, err
	}
	oid, err1 := uuid.Parse(pi.Metadata["order_id"])
	mid, err2 := uuid.Parse(pi.Metadata["merchant_id"])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: payment intent %s is not one of ours", payment.ErrIgnore, pi.ID)
	}
	pay, err = s.client.OrderPayment.Query().Where(orderpayment.OrderID(oid), orderpayment.MerchantID(mid),
		orderpayment.ProviderEQ(orderpayment.ProviderSTRIPE)).Order(ent.Asc(orderpayment.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, fmt.Errorf("%w: no order %s for payment intent %s", payment.ErrIgnore, oid, pi.ID)
	}
	return pay, err
}

func (s *Service) onIntent(ctx context.Context, typ string, pi *stripe.PaymentIntent) error {
	found, err := s.paymentOfIntent(ctx, pi)
	if err != nil {
		return err
	}
	payment.RecordMerchant(ctx, found.MerchantID)
	sctx := viewer.ActAsStore(ctx, found.MerchantID, "stripe payment intent event")
	var refundOrder uuid.UUID
	err = s.inStore(sctx, "stripe payment intent event", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, found.OrderID)
		if err != nil {
			return err
		}
		pay, err := c.OrderPayment.Get(ctx, found.ID)
		if err != nil {
			return err
		}
		if pay.StripePaymentIntentID == nil {
			if pay, err = c.OrderPayment.UpdateOne(pay).SetStripePaymentIntentID(pi.ID).Save(ctx); err != nil {
				return err
			}
		}
		switch typ {
		case "payment_intent.succeeded":
			if pi.AmountReceived != 0 && pi.AmountReceived != pay.Amount || pi.AmountReceived == 0 && pi.Amount != pay.Amount {
				return fmt.Errorf("%w: payment intent %s received %d, the order is %d", payment.ErrIgnore, pi.ID, max(pi.AmountReceived, pi.Amount), pay.Amount)
			}
			charge := ""
			if pi.LatestCharge != nil {
				charge = pi.LatestCharge.ID
			}
			if _, err := s.markPaid(ctx, c, o, pay, charge); err != nil {
				return err
			}
			refundOrder = o.ID
			return nil
		default:
			if pay.Status == orderpayment.StatusSUCCEEDED || pay.Status == orderpayment.StatusREFUNDED {
				return nil // final: a late failure of an earlier attempt changes nothing
			}
			status := orderpayment.StatusFAILED
			if typ == "payment_intent.canceled" {
				status = orderpayment.StatusCANCELLED
			}
			u := c.OrderPayment.UpdateOne(pay).SetStatus(status)
			if e := pi.LastPaymentError; e != nil {
				u.SetFailureCode(truncate(string(e.Code)+declineSuffix(e), 100)).SetFailureMessage(truncate(e.Msg, 1000))
			}
			if err := u.Exec(ctx); err != nil {
				return err
			}
			if o.Status != order.StatusPENDING {
				return nil
			}
			_, err := s.cancel(ctx, c, o, order.CancelReasonDECLINED, true, status)
			return err
		}
	})
	if err != nil {
		return err
	}
	if refundOrder != uuid.Nil {
		s.sendPendingRefunds(sctx, refundOrder)
	}
	return nil
}

func declineSuffix(e *stripe.Error) string {
	if e.DeclineCode != "" {
		return ":" + string(e.DeclineCode)
	}
	return ""
}

// sendPendingRefunds sends the order's refunds still PENDING without a
// Stripe id (written in a transaction that could not call Stripe).
func (s *Service) sendPendingRefunds(ctx context.Context, orderID uuid.UUID) {
	ids, err := s.client.Refund.Query().Where(refund.OrderID(orderID), refund.StatusEQ(refund.StatusPENDING),
		refund.StripeRefundIDIsNil()).IDs(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "pending refunds", "order", orderID, "err", err)
		return
	}
	for _, id := range ids {
		if _, err := s.sendRefund(ctx, id); err != nil {
			s.log.WarnContext(ctx, "send refund", "refund", id, "err", err)
		}
	}
}

// onChargeRefunded books what Stripe refunded on a charge: the store's
// pending refunds first (in the order they were made), then whatever is
// left as a refund made outside the platform (the Stripe dashboard).
func (s *Service) onChargeRefunded(ctx context.Context, ch *stripe.Charge) error {
	if ch.PaymentIntent == nil {
		return fmt.Errorf("%w: charge %s has no payment intent", payment.ErrIgnore, ch.ID)
	}
	found, err := s.paymentOfIntent(ctx, ch.PaymentIntent)
	if err != nil {
		return err
	}
	payment.RecordMerchant(ctx, found.MerchantID)
	sctx := viewer.ActAsStore(ctx, found.MerchantID, "stripe charge refunded")
	return s.inStore(sctx, "stripe charge refunded", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, found.OrderID)
		if err != nil {
			return err
		}
		pay, err := c.OrderPayment.Get(ctx, found.ID)
		if err != nil {
			return err
		}
		missing := min(ch.AmountRefunded, pay.Amount) - pay.RefundedAmount
		if missing <= 0 {
			return nil
		}
		pending, err := c.Refund.Query().Where(refund.PaymentID(pay.ID), refund.StatusEQ(refund.StatusPENDING)).
			Order(ent.Asc(refund.FieldCreatedAt)).All(ctx)
		if err != nil {
			return err
		}
		for _, r := range pending {
			if r.Amount > missing {
				break
			}
			r, err := c.Refund.UpdateOne(r).SetStatus(refund.StatusSUCCEEDED).SetProcessedAt(s.now()).Save(ctx)
			if err != nil {
				return err
			}
			if err := s.refunded(ctx, c, o, r); err != nil {
				return err
			}
			missing -= r.Amount
			if o, err = c.Order.Get(ctx, o.ID); err != nil {
				return err
			}
		}
		if missing <= 0 {
			return nil
		}
		r, err := c.Refund.Create().SetOrderID(o.ID).SetPaymentID(pay.ID).SetAmount(missing).SetCurrency(pay.Currency).
			SetReason("refunded in Stripe").SetStatus(refund.StatusSUCCEEDED).SetProcessedAt(s.now()).Save(ctx)
		if err != nil {
			return err
		}
		return s.refunded(ctx, c, o, r)
	})
}

// onDispute records a dispute on the order (metadata "dispute") for staff.
func (s *Service) onDispute(ctx context.Context, d *stripe.Dispute) error {
	pi := d.PaymentIntent
	if pi == nil && d.Charge != nil {
		pi = d.Charge.PaymentIntent
	}
	found, err := s.paymentOfIntent(ctx, pi)
	if err != nil {
		return err
	}
	payment.RecordMerchant(ctx, found.MerchantID)
	sctx := viewer.ActAsStore(ctx, found.MerchantID, "stripe dispute")
	return s.inStore(sctx, "stripe dispute", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, found.OrderID)
		if err != nil {
			return err
		}
		meta := o.Metadata
		if meta == nil {
			meta = map[string]any{}
		}
		meta["dispute"] = map[string]any{"id": d.ID, "amount": d.Amount, "reason": string(d.Reason),
			"status": string(d.Status), "createdAt": s.now().Format(time.RFC3339)}
		s.log.WarnContext(ctx, "payment disputed", "order", o.ID, "dispute", d.ID, "reason", d.Reason)
		return c.Order.UpdateOne(o).SetMetadata(meta).Exec(ctx)
	})
}

// onAccount records whether a connected account can take charges. An
// event older than one already applied to the account is skipped.
func (s *Service) onAccount(ctx context.Context, ev stripe.Event, a *stripe.Account) error {
	id := a.ID
	if id == "" {
		id = ev.Account
	}
	m, err := s.client.MerchantAccount.Query().Where(merchantaccount.StripeAccountID(id)).First(ctx)
	if ent.IsNotFound(err) {
		return fmt.Errorf("%w: no store has the account %s", payment.ErrIgnore, id)
	}
	if err != nil {
		return err
	}
	payment.RecordMerchant(ctx, m.ID)
	applied, err := s.client.WebhookEvent.Query().Where(webhookevent.TypeEQ("account.updated"),
		webhookevent.Or(webhookevent.AccountID(id), webhookevent.AccountID("")),
		webhookevent.StatusEQ(webhookevent.StatusPROCESSED), webhookevent.EventIDNEQ(ev.ID)).All(ctx)
	if err != nil {
		return err
	}
	for _, n := range applied {
		data, _ := n.Payload["data"].(map[string]any)
		obj, _ := data["object"].(map[string]any)
		if obj["id"] == id && payment.StoredCreated(n.Payload) > ev.Created {
			return nil
		}
	}
	sctx := viewer.ActAsStore(ctx, m.ID, "stripe account updated")
	return s.client.MerchantAccount.UpdateOneID(m.ID).SetChargesEnabled(a.ChargesEnabled).
		SetPayoutsEnabled(a.PayoutsEnabled).Exec(sctx)
}

// Onboard starts or continues the store's Stripe Connect onboarding: the
// connected account is created once, and a fresh account link returned.
func (s *Service) Onboard(ctx context.Context) (url, accountID string, err error) {
	if !s.gateway.Enabled() {
		return "", "", fieldErr(CodePaymentsDisabled, nil, "card payments are not configured on this server (STRIPE_SECRET_KEY)")
	}
	mid := merchantOf(ctx)
	sctx := viewer.ActAsStore(ctx, mid, "stripe onboarding")
	m, err := s.client.MerchantAccount.Get(sctx, mid)
	if err != nil {
		return "", "", err
	}
	accountID = m.StripeAccountID
	if accountID == "" {
		accountID, err = s.gateway.CreateConnectedAccount(sctx, mid, m.ContactEmail, m.Country)
		if err != nil {
			return "", "", fieldErr(CodePaymentFailed, nil, "Stripe could not create the account: %v", err)
		}
		n, err := s.client.MerchantAccount.Update().Where(merchantaccount.ID(mid),
			merchantaccount.Or(merchantaccount.StripeAccountIDIsNil(), merchantaccount.StripeAccountID(""))).
			SetStripeAccountID(accountID).Save(sctx)
		if err != nil {
			return "", "", err
		}
		if n == 0 { // another onboarding stored one first (the same, by idempotency key)
			if m, err = s.client.MerchantAccount.Get(sctx, mid); err != nil {
				return "", "", err
			}
			accountID = m.StripeAccountID
		}
	}
	url, err = s.gateway.AccountLink(sctx, accountID)
	if err != nil {
		return "", "", fieldErr(CodePaymentFailed, nil, "Stripe could not make the onboarding link: %v", err)
	}
	return url, accountID, nil
}

// PaymentsEnabled reports whether the store can take card payments.
func PaymentsEnabled(m *ent.MerchantAccount) bool {
	return m.StripeAccountID != "" && m.ChargesEnabled
}

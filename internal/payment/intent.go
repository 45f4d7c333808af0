package payment

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
)

// PaymentIntentParams describes the destination charge of one order: the
// buyer pays the platform, Stripe transfers Amount minus ApplicationFee to
// the merchant's connected account.
type PaymentIntentParams struct {
	OrderID    uuid.UUID
	MerchantID uuid.UUID
	// Amount is the order total in the currency's minor unit (cents).
	Amount int64
	// Currency is an ISO 4217 code, any case ("usd").
	Currency string
	// Destination is the merchant's connected account (acct_…).
	Destination string
	// ApplicationFee is the platform's fee, in minor units, kept from the
	// transfer (0 for none); at most Amount.
	ApplicationFee int64
	// Email, when set, is where Stripe sends the receipt.
	Email string
	// IdempotencyKey is required: the same key returns the same intent for
	// 24 hours, so a retried checkout never makes a second one. Make it from
	// the order (and the attempt, if an order may be paid again).
	IdempotencyKey string
}

// PaymentIntent is the part of a Stripe PaymentIntent the storefront needs.
type PaymentIntent struct {
	ID string
	// ClientSecret lets the buyer's browser confirm the intent with
	// Stripe.js. It is a secret of that buyer: never log or store it.
	ClientSecret string
	// Status is Stripe's status (requires_payment_method, succeeded, …). It
	// is informative only: the webhook decides that an order is paid.
	Status string
}

// CreatePaymentIntent creates the destination charge of an order, with
// automatic payment methods and metadata order_id and merchant_id (which the
// webhook handler uses to find the order).
func (s *Stripe) CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (PaymentIntent, error) {
	const op = "create payment intent"
	if s == nil {
		return PaymentIntent{}, ErrDisabled
	}
	if err := p.check(op); err != nil {
		return PaymentIntent{}, err
	}
	sp := &stripe.PaymentIntentParams{
		Params:   params(ctx, p.IdempotencyKey),
		Amount:   stripe.Int64(p.Amount),
		Currency: stripe.String(strings.ToLower(p.Currency)),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripe.Bool(true),
		},
		TransferData: &stripe.PaymentIntentTransferDataParams{
			Destination: stripe.String(p.Destination),
		},
		Metadata: map[string]string{
			"order_id":    p.OrderID.String(),
			"merchant_id": p.MerchantID.String(),
		},
	}
	if p.ApplicationFee > 0 {
		sp.ApplicationFeeAmount = stripe.Int64(p.ApplicationFee)
	}
	if p.Email != "" {
		sp.ReceiptEmail = stripe.String(p.Email)
	}
	pi, err := s.api.PaymentIntents.New(sp)
	if err != nil {
		return PaymentIntent{}, wrapErr(ctx, op, err)
	}
	return intentOf(pi), nil
}

func (p PaymentIntentParams) check(op string) error {
	var problem string
	switch {
	case p.OrderID == uuid.Nil:
		problem = "no order"
	case p.MerchantID == uuid.Nil:
		problem = "no merchant"
	case p.Amount <= 0:
		problem = "amount must be positive"
	case len(p.Currency) != 3:
		problem = fmt.Sprintf("currency %q is not an ISO 4217 code", p.Currency)
	case !strings.HasPrefix(p.Destination, "acct_"):
		problem = fmt.Sprintf("destination %q is not an account id", p.Destination)
	case p.ApplicationFee < 0 || p.ApplicationFee > p.Amount:
		problem = "application fee must be between 0 and the amount"
	default:
		return checkKey(op, p.IdempotencyKey)
	}
	return fmt.Errorf("payment: %s: %w: %s", op, ErrInvalidParams, problem)
}

// PaymentIntent retrieves an intent, e.g. to hand its client secret to a
// buyer who reloads the payment page.
func (s *Stripe) PaymentIntent(ctx context.Context, id string) (PaymentIntent, error) {
	const op = "retrieve payment intent"
	if s == nil {
		return PaymentIntent{}, ErrDisabled
	}
	if !strings.HasPrefix(id, "pi_") {
		return PaymentIntent{}, fmt.Errorf("payment: %s: %w: %q is not a payment intent id", op, ErrInvalidParams, id)
	}
	pi, err := s.api.PaymentIntents.Get(id, &stripe.PaymentIntentParams{Params: params(ctx, "")})
	if err != nil {
		return PaymentIntent{}, wrapErr(ctx, op, err)
	}
	return intentOf(pi), nil
}

func intentOf(pi *stripe.PaymentIntent) PaymentIntent {
	return PaymentIntent{ID: pi.ID, ClientSecret: pi.ClientSecret, Status: string(pi.Status)}
}

// RefundParams describes a refund of a destination charge.
type RefundParams struct {
	PaymentIntentID string
	// Amount in minor units; 0 refunds what remains of the charge.
	Amount int64
	// IdempotencyKey is required (make it from the refund's own row).
	IdempotencyKey string
	// Metadata is copied onto the Stripe refund (e.g. refund_id, order_id).
	Metadata map[string]string
}

// Refund is the part of a Stripe refund the caller keeps.
type Refund struct {
	ID string
	// Status is pending, requires_action, succeeded, failed or canceled;
	// refund.updated / charge.refund.updated events report changes.
	Status string
}

// CreateRefund refunds (part of) a destination charge. It reverses the
// transfer to the merchant in proportion (reverse_transfer) and gives back
// the same share of the platform's application fee (refund_application_fee),
// so that the merchant and the platform each return what they received.
func (s *Stripe) CreateRefund(ctx context.Context, p RefundParams) (Refund, error) {
	const op = "create refund"
	if s == nil {
		return Refund{}, ErrDisabled
	}
	switch {
	case !strings.HasPrefix(p.PaymentIntentID, "pi_"):
		return Refund{}, fmt.Errorf("payment: %s: %w: %q is not a payment intent id", op, ErrInvalidParams, p.PaymentIntentID)
	case p.Amount < 0:
		return Refund{}, fmt.Errorf("payment: %s: %w: negative amount", op, ErrInvalidParams)
	}
	if err := checkKey(op, p.IdempotencyKey); err != nil {
		return Refund{}, err
	}
	sp := &stripe.RefundParams{
		Params:               params(ctx, p.IdempotencyKey),
		PaymentIntent:        stripe.String(p.PaymentIntentID),
		RefundApplicationFee: stripe.Bool(true),
		ReverseTransfer:      stripe.Bool(true),
	}
	if p.Amount > 0 {
		sp.Amount = stripe.Int64(p.Amount)
	}
	if len(p.Metadata) > 0 {
		sp.Metadata = make(map[string]string, len(p.Metadata))
		for k, v := range p.Metadata {
			sp.Metadata[k] = v
		}
	}
	r, err := s.api.Refunds.New(sp)
	if err != nil {
		return Refund{}, wrapErr(ctx, op, err)
	}
	return Refund{ID: r.ID, Status: string(r.Status)}, nil
}

package checkout

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderpayment"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/refund"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/schema/types"
)

// Action is something that changes an order's status.
type Action string

// The order actions.
const (
	ActPay           Action = "pay"
	ActFulfil        Action = "fulfil"
	ActDeliver       Action = "deliver"
	ActCancel        Action = "cancel"
	ActRefundPartial Action = "refund_partial"
	ActRefundFull    Action = "refund_full"
)

// transitions is the order lifecycle, in one place: pending → paid →
// fulfilled → delivered; cancelled before fulfilment; partially or fully
// refunded once paid. What is not listed is refused.
var transitions = map[order.Status]map[Action]order.Status{
	order.StatusPENDING: {ActPay: order.StatusPAID, ActCancel: order.StatusCANCELLED},
	order.StatusPAID: {ActFulfil: order.StatusFULFILLED, ActCancel: order.StatusCANCELLED,
		ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
	order.StatusFULFILLED: {ActDeliver: order.StatusDELIVERED,
		ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
	order.StatusDELIVERED: {ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
	order.StatusPARTIALLY_REFUNDED: {ActFulfil: order.StatusPARTIALLY_REFUNDED, ActDeliver: order.StatusPARTIALLY_REFUNDED,
		ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
	order.StatusCANCELLED: {},
	order.StatusREFUNDED:  {},
}

// Next returns the status an order in status from moves to by a, or an
// INVALID_STATE user error.
func Next(from order.Status, a Action) (order.Status, error) {
	to, ok := transitions[from][a]
	if !ok {
		return from, fieldErr(CodeInvalidState, path("id"), "a %s order cannot be %s", strings.ToLower(string(from)), pastTense(a))
	}
	return to, nil
}

func pastTense(a Action) string {
	switch a {
	case ActPay:
		return "marked paid"
	case ActFulfil:
		return "fulfilled"
	case ActDeliver:
		return "marked delivered"
	case ActCancel:
		return "cancelled"
	default:
		return "refunded"
	}
}

// lockOrder loads an order of ctx's store with its row lock.
func lockOrder(ctx context.Context, c *ent.Client, id uuid.UUID) (*ent.Order, error) {
	o, err := c.Order.Query().Where(order.ID(id)).Modify(forUpdate).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fieldErr(CodeNotFound, path("id"), "no order with this id")
	}
	return o, err
}

// moves returns the stock the order's lines still hold or shipped.
func moves(items []*ent.OrderItem) []catalog.StockMove {
	out := make([]catalog.StockMove, 0, len(items))
	for _, it := range items {
		if it.VariantID == nil || it.ProductID == nil {
			continue
		}
		out = append(out, catalog.StockMove{VariantID: *it.VariantID, ProductID: *it.ProductID, Allocations: it.Allocations})
	}
	return out
}

// MarkPaid records the payment of a MANUAL order (staff).
func (s *Service) MarkPaid(ctx context.Context, id uuid.UUID) (*ent.Order, error) {
	var out *ent.Order
	err := s.inStore(ctx, "order mark paid", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, id)
		if err != nil {
			return err
		}
		if o.PaymentProvider != order.PaymentProviderMANUAL {
			return fieldErr(CodeInvalidState, path("id"), "a Stripe order is marked paid by Stripe's confirmation")
		}
		pay, err := o.QueryPayments().Order(ent.Asc(orderpayment.FieldCreatedAt)).First(ctx)
		if err != nil {
			return err
		}
		if o.Status != order.StatusPENDING {
			_, err := Next(o.Status, ActPay)
			return err
		}
		out, err = s.markPaid(ctx, c, o, pay, "")
		return err
	})
	return unwrapOrder(out, err)
}

// markPaid is the one "the payment succeeded" of both providers: the
// payment SUCCEEDED, the order PAID with its stock hold made permanent, and
// an order.paid event. Calling it again changes nothing. The caller holds
// the order's lock.
func (s *Service) markPaid(ctx context.Context, c *ent.Client, o *ent.Order, pay *ent.OrderPayment, chargeID string) (*ent.Order, error) {
	if pay.Status == orderpayment.StatusSUCCEEDED {
		return o, nil
	}
	pu := c.OrderPayment.UpdateOne(pay).SetStatus(orderpayment.StatusSUCCEEDED).SetCapturedAt(s.now())
	if chargeID != "" {
		pu.SetStripeChargeID(chargeID)
	}
	if err := pu.Exec(ctx); err != nil {
		return nil, err
	}
	if o.Status == order.StatusCANCELLED {
		// Paid after it was cancelled (a hold expired, an earlier attempt
		// failed): take the stock again, or give the money back.
		o, err := s.paidAfterCancel(ctx, c, o, pay)
		if err != nil {
			return nil, err
		}
		return o, s.syncProfile(ctx, c, o)
	}
	to, err := Next(o.Status, ActPay)
	if err != nil {
		return nil, err
	}
	o, err = c.Order.UpdateOne(o).SetStatus(to).SetFinancialStatus(order.FinancialStatusPAID).
		SetPaidAt(s.now()).ClearStockHoldExpiresAt().Save(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := events.Write(ctx, c, o.MerchantID, events.OrderPaid{OrderState: orderState(o), PaymentID: pay.ID, Amount: pay.Amount}); err != nil {
		return nil, err
	}
	return o, s.syncProfile(ctx, c, o)
}

// paidAfterCancel handles a payment that succeeded on an order already
// cancelled with its stock released: the stock is reserved again when it
// is still there (the order is PAID), else the order stays cancelled and is
// refunded in full (refund written here, sent to Stripe after commit by
// the caller through sendPendingRefunds).
func (s *Service) paidAfterCancel(ctx context.Context, c *ent.Client, o *ent.Order, pay *ent.OrderPayment) (*ent.Order, error) {
	items, err := o.QueryItems().All(ctx)
	if err != nil {
		return nil, err
	}
	if o.StockReleased {
		ids := make([]uuid.UUID, 0, len(items))
		for _, it := range items {
			if it.VariantID != nil {
				ids = append(ids, *it.VariantID)
			}
		}
		vs, err := c.ProductVariant.Query().Where(productvariant.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, err
		}
		byID := map[uuid.UUID]*ent.ProductVariant{}
		for _, v := range vs {
			byID[v.ID] = v
		}
		var lines []catalog.StockLine
		var which []*ent.OrderItem
		for _, it := range items {
			if it.VariantID != nil && byID[*it.VariantID] != nil {
				lines = append(lines, catalog.StockLine{Variant: byID[*it.VariantID], Quantity: it.Quantity})
				which = append(which, it)
			}
		}
		allocs, err := s.catalog.ReserveStock(ctx, c, lines)
		var short *catalog.ShortageError
		if errors.As(err, &short) || len(which) < len(items) {
			return s.refundCancelled(ctx, c, o, pay)
		}
		if err != nil {
			return nil, err
		}
		for i, it := range which {
			if err := c.OrderItem.UpdateOne(it).SetAllocations(nonNil(allocs[i])).Exec(ctx); err != nil {
				return nil, err
			}
		}
	}
	o, err = c.Order.UpdateOne(o).SetStatus(order.StatusPAID).SetFinancialStatus(order.FinancialStatusPAID).
		SetPaidAt(s.now()).ClearCancelledAt().ClearCancelReason().SetStockReleased(false).ClearStockHoldExpiresAt().Save(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := events.Write(ctx, c, o.MerchantID, events.OrderPaid{OrderState: orderState(o), PaymentID: pay.ID, Amount: pay.Amount}); err != nil {
		return nil, err
	}
	return o, s.syncProfile(ctx, c, o)
}

// refundCancelled writes a full refund of a cancelled order whose payment
// succeeded late and whose stock is gone.
func (s *Service) refundCancelled(ctx context.Context, c *ent.Client, o *ent.Order, pay *ent.OrderPayment) (*ent.Order, error) {
	o, err := c.Order.UpdateOne(o).SetFinancialStatus(order.FinancialStatusPAID).SetPaidAt(s.now()).
		SetCancelReason(order.CancelReasonINVENTORY).Save(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Refund.Create().SetOrderID(o.ID).SetPaymentID(pay.ID).SetAmount(pay.Amount).
		SetCurrency(pay.Currency).SetReason("paid after the order was cancelled; stock no longer available").Save(ctx); err != nil {
		return nil, err
	}
	return o, nil
}

// FulfilInput is the input of Fulfil.
type FulfilInput struct {
	OrderID        uuid.UUID
	TrackingNumber *string
	TrackingURL    *string
	Carrier        *string
}

// Fulfil ships an order's units: they leave the warehouses they were
// reserved in.
func (s *Service) Fulfil(ctx context.Context, in FulfilInput) (*ent.Order, error) {
	p := &problems{}
	num := checkText(p, path("input", "trackingNumber"), in.TrackingNumber, 255)
	url := checkText(p, path("input", "trackingUrl"), in.TrackingURL, 2048)
	carrier := checkText(p, path("input", "carrier"), in.Carrier, 100)
	if url != nil && *url != "" && !strings.HasPrefix(*url, "https://") && !strings.HasPrefix(*url, "http://") {
		p.add(CodeInvalid, path("input", "trackingUrl"), "trackingUrl must be an http(s) URL")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.Order
	err := s.inStore(ctx, "order fulfil", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, in.OrderID)
		if err != nil {
			return err
		}
		if o.FulfillmentStatus == order.FulfillmentStatusFULFILLED {
			return fieldErr(CodeInvalidState, path("input", "id"), "the order is already fulfilled")
		}
		to, err := Next(o.Status, ActFulfil)
		if err != nil {
			return err
		}
		items, err := o.QueryItems().All(ctx)
		if err != nil {
			return err
		}
		var ship []catalog.StockMove
		for _, it := range items {
			left := it.Quantity - it.FulfilledQuantity - it.RefundedQuantity
			if left <= 0 {
				continue
			}
			if it.VariantID != nil && it.ProductID != nil {
				ship = append(ship, catalog.StockMove{VariantID: *it.VariantID, ProductID: *it.ProductID, Allocations: take(it.Allocations, left)})
			}
			if err := c.OrderItem.UpdateOne(it).SetFulfilledQuantity(it.FulfilledQuantity + left).Exec(ctx); err != nil {
				return err
			}
		}
		if err := s.catalog.ShipStock(ctx, c, ship); err != nil {
			return err
		}
		u := c.Order.UpdateOne(o).SetStatus(to).SetFulfillmentStatus(order.FulfillmentStatusFULFILLED).SetFulfilledAt(s.now())
		if num != nil {
			u.SetTrackingNumber(*num)
		}
		if url != nil {
			u.SetTrackingURL(*url)
		}
		if carrier != nil && *carrier != "" {
			meta := o.Metadata
			if meta == nil {
				meta = map[string]any{}
			}
			meta["carrier"] = *carrier
			u.SetMetadata(meta)
		}
		if o, err = u.Save(ctx); err != nil {
			return err
		}
		if _, err := events.Write(ctx, c, o.MerchantID, events.OrderFulfilled{OrderState: orderState(o),
			TrackingNumber: o.TrackingNumber, TrackingURL: o.TrackingURL}); err != nil {
			return err
		}
		out = o
		return nil
	})
	return unwrapOrder(out, err)
}

// take returns the first n units of allocations.
func take(allocs []types.Allocation, n int) []types.Allocation {
	var out []types.Allocation
	for _, a := range allocs {
		if n <= 0 {
			break
		}
		q := min(a.Quantity, n)
		out = append(out, types.Allocation{WarehouseID: a.WarehouseID, Quantity: q})
		n -= q
	}
	return out
}

// MarkDelivered records that a fulfilled order reached the buyer.
func (s *Service) MarkDelivered(ctx context.Context, id uuid.UUID) (*ent.Order, error) {
	var out *ent.Order
	err := s.inStore(ctx, "order delivered", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, id)
		if err != nil {
			return err
		}
		if o.FulfillmentStatus != order.FulfillmentStatusFULFILLED || o.DeliveredAt != nil {
			return fieldErr(CodeInvalidState, path("id"), "only a fulfilled, undelivered order can be marked delivered")
		}
		to, err := Next(o.Status, ActDeliver)
		if err != nil {
			return err
		}
		out, err = c.Order.UpdateOne(o).SetStatus(to).SetDeliveredAt(s.now()).Save(ctx)
		return err
	})
	return unwrapOrder(out, err)
}

// CancelInput is the input of Cancel.
type CancelInput struct {
	OrderID uuid.UUID
	Reason  order.CancelReason
	// Restock gives the held stock back to sale (default true in GraphQL).
	Restock bool
}

// Cancel cancels an unfulfilled order: its held stock is released (when
// Restock), a pending payment cancelled, and a paid order refunded in full
// through its provider.
func (s *Service) Cancel(ctx context.Context, in CancelInput) (*ent.Order, error) {
	if in.Reason == "" {
		in.Reason = order.CancelReasonSTAFF
	}
	if err := order.CancelReasonValidator(in.Reason); err != nil {
		return nil, fieldErr(CodeInvalid, path("input", "reason"), "unknown cancel reason")
	}
	var out *ent.Order
	var refunds []uuid.UUID
	err := s.inStore(ctx, "order cancel", func(ctx context.Context, c *ent.Client) error {
		refunds = nil
		o, err := lockOrder(ctx, c, in.OrderID)
		if err != nil {
			return err
		}
		if o.FulfillmentStatus != order.FulfillmentStatusUNFULFILLED {
			return fieldErr(CodeInvalidState, path("input", "id"), "a fulfilled order cannot be cancelled: refund it")
		}
		if _, err := Next(o.Status, ActCancel); err != nil {
			return err
		}
		wasPaid := o.Status == order.StatusPAID
		o, err = s.cancel(ctx, c, o, in.Reason, in.Restock, orderpayment.StatusCANCELLED)
		if err != nil {
			return err
		}
		if wasPaid {
			r, err := s.writeRefund(ctx, c, o, nil, 0, "order cancelled", false)
			if err != nil {
				return err
			}
			refunds = append(refunds, r.ID)
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range refunds {
		if _, err := s.sendRefund(ctx, id); err != nil {
			s.log.WarnContext(ctx, "refund of a cancelled order failed", "order", out.ID, "err", err)
		}
	}
	return s.order(ctx, out.ID)
}

// cancel is the one cancellation: the order CANCELLED, its stock released
// (once), a payment that has not succeeded set to payStatus, an
// order.cancelled event. The caller holds the order's lock.
func (s *Service) cancel(ctx context.Context, c *ent.Client, o *ent.Order, reason order.CancelReason, release bool, payStatus orderpayment.Status) (*ent.Order, error) {
	if release && !o.StockReleased {
		items, err := o.QueryItems().All(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.catalog.ReleaseStock(ctx, c, moves(items)); err != nil {
			return nil, err
		}
	}
	if _, err := c.OrderPayment.Update().Where(orderpayment.OrderID(o.ID),
		orderpayment.StatusIn(orderpayment.StatusPENDING, orderpayment.StatusREQUIRES_ACTION)).
		SetStatus(payStatus).Save(ctx); err != nil {
		return nil, err
	}
	u := c.Order.UpdateOne(o).SetStatus(order.StatusCANCELLED).SetCancelledAt(s.now()).
		SetCancelReason(reason).ClearStockHoldExpiresAt().SetStockReleased(release || o.StockReleased)
	if o.FinancialStatus == order.FinancialStatusPENDING || o.FinancialStatus == order.FinancialStatusAUTHORIZED {
		if payStatus == orderpayment.StatusFAILED {
			u.SetFinancialStatus(order.FinancialStatusFAILED)
		} else {
			u.SetFinancialStatus(order.FinancialStatusVOIDED)
		}
	}
	o, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := events.Write(ctx, c, o.MerchantID, events.OrderCancelled{OrderState: orderState(o), Reason: string(reason)}); err != nil {
		return nil, err
	}
	return o, nil
}

// RefundInput is the input of Refund.
type RefundInput struct {
	OrderID uuid.UUID
	Amount  int64
	Restock bool
	Reason  *string
	// By is the staff user who refunds (audit), if any.
	By *uuid.UUID
}

// Refund returns money of a paid order through its provider. The amount is
// reserved against what was captured under the order's lock (pending
// refunds count), so concurrent refunds never exceed it; the provider is
// called after commit with the refund's id as idempotency key. Restock
// puts the order's units back: shipped ones on hand, held ones back to
// sale.
func (s *Service) Refund(ctx context.Context, in RefundInput) (*ent.Refund, *ent.Order, error) {
	p := &problems{}
	reason := checkText(p, path("input", "reason"), in.Reason, 500)
	if in.Amount <= 0 {
		p.add(CodeInvalid, path("input", "amount"), "amount must be positive")
	}
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	var r *ent.Refund
	err := s.inStore(ctx, "refund create", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, in.OrderID)
		if err != nil {
			return fieldErr(CodeNotFound, path("input", "orderId"), "no order with this id")
		}
		switch o.Status {
		case order.StatusPAID, order.StatusFULFILLED, order.StatusDELIVERED, order.StatusPARTIALLY_REFUNDED:
		default:
			return fieldErr(CodeInvalidState, path("input", "orderId"), "a %s order cannot be refunded", strings.ToLower(string(o.Status)))
		}
		text := ""
		if reason != nil {
			text = *reason
		}
		r, err = s.writeRefund(ctx, c, o, in.By, in.Amount, text, in.Restock)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	r, err = s.sendRefund(ctx, r.ID)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.order(ctx, in.OrderID)
	return r, o, err
}

// writeRefund reserves a refund of amount (0: all that is left) of the
// order's succeeded payment, as a PENDING refund row. The caller holds the
// order's lock and sends it after commit (sendRefund).
func (s *Service) writeRefund(ctx context.Context, c *ent.Client, o *ent.Order, by *uuid.UUID, amount int64, reason string, restock bool) (*ent.Refund, error) {
	pay, err := c.OrderPayment.Query().Where(orderpayment.OrderID(o.ID), orderpayment.StatusIn(orderpayment.StatusSUCCEEDED, orderpayment.StatusREFUNDED)).
		Order(ent.Asc(orderpayment.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, fieldErr(CodeInvalidState, path("input", "orderId"), "the order has no captured payment")
	}
	if err != nil {
		return nil, err
	}
	var held []struct {
		Sum int64 `json:"sum"`
	}
	if err := c.Refund.Query().Where(refund.PaymentID(pay.ID), refund.StatusIn(refund.StatusPENDING, refund.StatusSUCCEEDED)).
		Aggregate(ent.As(ent.Sum(refund.FieldAmount), "sum")).Scan(ctx, &held); err != nil {
		return nil, err
	}
	var taken int64
	if len(held) > 0 {
		taken = held[0].Sum
	}
	left := pay.Amount - taken
	if amount == 0 {
		amount = left
	}
	if amount > left || left <= 0 {
		return nil, fieldErr(CodeRefundTooLarge, path("input", "amount"), "at most %d can still be refunded", max(left, 0))
	}
	rc := c.Refund.Create().SetOrderID(o.ID).SetPaymentID(pay.ID).SetAmount(amount).SetCurrency(pay.Currency).
		SetReason(reason).SetRestock(restock).SetNillableCreatedByID(by)
	r, err := rc.Save(ctx)
	if err != nil {
		return nil, err
	}
	if restock {
		if err := s.restockOrder(ctx, c, o); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// restockOrder puts every unit of the order not yet refunded back: shipped
// units on hand, held units back to sale.
func (s *Service) restockOrder(ctx context.Context, c *ent.Client, o *ent.Order) error {
	items, err := o.QueryItems().All(ctx)
	if err != nil {
		return err
	}
	var shipped, held []catalog.StockMove
	for _, it := range items {
		left := it.Quantity - it.RefundedQuantity
		if left <= 0 || it.VariantID == nil || it.ProductID == nil {
			continue
		}
		sent := min(it.FulfilledQuantity, left)
		if sent > 0 {
			shipped = append(shipped, catalog.StockMove{VariantID: *it.VariantID, ProductID: *it.ProductID, Allocations: take(it.Allocations, sent)})
		}
		if rest := left - sent; rest > 0 && !o.StockReleased {
			held = append(held, catalog.StockMove{VariantID: *it.VariantID, ProductID: *it.ProductID, Allocations: skip(it.Allocations, sent, rest)})
		}
		if err := c.OrderItem.UpdateOne(it).SetRefundedQuantity(it.Quantity).Exec(ctx); err != nil {
			return err
		}
	}
	if err := s.catalog.RestockShipped(ctx, c, shipped); err != nil {
		return err
	}
	return s.catalog.ReleaseStock(ctx, c, held)
}

// skip returns n units of allocations after the first from.
func skip(allocs []types.Allocation, from, n int) []types.Allocation {
	var out []types.Allocation
	for _, a := range allocs {
		q := a.Quantity
		if from > 0 {
			d := min(from, q)
			q -= d
			from -= d
		}
		if q <= 0 || n <= 0 {
			continue
		}
		q = min(q, n)
		out = append(out, types.Allocation{WarehouseID: a.WarehouseID, Quantity: q})
		n -= q
	}
	return out
}

// sendRefund sends a PENDING refund to its provider and records the
// outcome: MANUAL refunds succeed at once (the money goes back outside the
// platform); Stripe refunds use the refund's id as idempotency key, so a
// retry never refunds twice.
func (s *Service) sendRefund(ctx context.Context, id uuid.UUID) (*ent.Refund, error) {
	mid, _ := viewer.MerchantFromContext(ctx)
	sctx := viewer.ActAsStore(ctx, mid, "refund send")
	r, err := s.client.Refund.Query().Where(refund.ID(id)).WithPayment().Only(sctx)
	if err != nil {
		return nil, err
	}
	if r.Status != refund.StatusPENDING {
		return r, nil
	}
	pay := r.Edges.Payment
	status, stripeID, failure := refund.StatusSUCCEEDED, "", ""
	if pay.Provider == orderpayment.ProviderSTRIPE {
		if pay.StripePaymentIntentID == nil {
			status, failure = refund.StatusFAILED, "the payment has no Stripe PaymentIntent"
		} else {
			res, err := s.gateway.CreateRefund(sctx, payment.RefundParams{PaymentIntentID: *pay.StripePaymentIntentID,
				Amount: r.Amount, IdempotencyKey: "omnisphere-refund-" + r.ID.String(),
				Metadata: map[string]string{"refund_id": r.ID.String(), "order_id": r.OrderID.String(), "merchant_id": r.MerchantID.String()}})
			switch {
			case err != nil && errors.Is(err, payment.ErrUnavailable):
				// Unknown outcome: stays PENDING; the same key is safe to retry.
				return nil, fmt.Errorf("%w: %v", errRefundPending, err)
			case err != nil:
				status, failure = refund.StatusFAILED, err.Error()
			default:
				stripeID = res.ID
				switch res.Status {
				case "succeeded":
				case "failed", "canceled":
					status, failure = refund.StatusFAILED, "Stripe answered "+res.Status
				default:
					status = refund.StatusPENDING // refund.updated settles it
				}
			}
		}
	}
	err = s.inStore(sctx, "refund result", func(ctx context.Context, c *ent.Client) error {
		o, err := lockOrder(ctx, c, r.OrderID)
		if err != nil {
			return err
		}
		cur, err := c.Refund.Query().Where(refund.ID(r.ID)).Only(ctx)
		if err != nil || cur.Status != refund.StatusPENDING {
			r = cur
			return err
		}
		u := c.Refund.UpdateOne(cur).SetStatus(status)
		if stripeID != "" {
			u.SetStripeRefundID(stripeID)
		}
		if failure != "" {
			u.SetFailureReason(truncate(failure, 500))
		}
		if status != refund.StatusPENDING {
			u.SetProcessedAt(s.now())
		}
		if r, err = u.Save(ctx); err != nil {
			return err
		}
		if status == refund.StatusSUCCEEDED {
			return s.refunded(ctx, c, o, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.Unwrap(), nil
}

var errRefundPending = errors.New("checkout: refund sent, outcome unknown; it stays pending")

// refunded books a succeeded refund on its payment and order and moves the
// order to (partially) refunded. The caller holds the order's lock.
func (s *Service) refunded(ctx context.Context, c *ent.Client, o *ent.Order, r *ent.Refund) error {
	pay, err := c.OrderPayment.Get(ctx, r.PaymentID)
	if err != nil {
		return err
	}
	total := pay.RefundedAmount + r.Amount
	pu := c.OrderPayment.UpdateOne(pay).SetRefundedAmount(total)
	if total >= pay.Amount {
		pu.SetStatus(orderpayment.StatusREFUNDED)
	}
	if err := pu.Exec(ctx); err != nil {
		return err
	}
	full := o.RefundedAmount+r.Amount >= o.TotalAmount
	u := c.Order.UpdateOne(o).SetRefundedAmount(o.RefundedAmount + r.Amount)
	if full {
		u.SetFinancialStatus(order.FinancialStatusREFUNDED)
	} else {
		u.SetFinancialStatus(order.FinancialStatusPARTIALLY_REFUNDED)
	}
	if o.Status != order.StatusCANCELLED {
		a := ActRefundPartial
		if full {
			a = ActRefundFull
		}
		to, err := Next(o.Status, a)
		if err != nil {
			return err
		}
		u.SetStatus(to)
	}
	o, err = u.Save(ctx)
	if err != nil {
		return err
	}
	if _, err = events.Write(ctx, c, o.MerchantID, events.OrderRefunded{OrderState: orderState(o), RefundID: r.ID, Amount: r.Amount}); err != nil {
		return err
	}
	return s.syncProfile(ctx, c, o)
}

// order reads an order of ctx's store for the caller (after commit).
func (s *Service) order(ctx context.Context, id uuid.UUID) (*ent.Order, error) {
	mid, _ := viewer.MerchantFromContext(ctx)
	return s.client.Order.Get(viewer.ActAsStore(ctx, mid, "order read"), id)
}

func unwrapOrder(o *ent.Order, err error) (*ent.Order, error) {
	if err != nil {
		return nil, err
	}
	return o.Unwrap(), nil
}

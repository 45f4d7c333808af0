package checkout

import (
	"context"
	"time"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderpayment"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// sweepBatch bounds the rows one sweep handles per kind.
const sweepBatch = 200

// Run sweeps every SweepInterval until ctx ends: expired stock holds and
// abandoned carts. Several processes may run it: every change is a
// conditional update under the row's lock, so each hold is released and
// each cart abandoned once.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if _, err := s.ExpireHolds(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "checkout: expire holds", "err", err)
		}
		if _, err := s.AbandonCarts(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "checkout: abandon carts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExpireHolds cancels the pending orders whose stock hold has expired
// (their payment never succeeded) and releases their stock. It returns how
// many it cancelled.
func (s *Service) ExpireHolds(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx, "checkout: expire stock holds of every store")
	due, err := s.client.Order.Query().Where(order.StatusEQ(order.StatusPENDING), order.StockHoldExpiresAtLT(s.now())).
		Limit(sweepBatch).Select(order.FieldID, order.FieldMerchantID).All(sys)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range due {
		sctx := viewer.ActAsStore(ctx, d.MerchantID, "expire stock hold")
		err := s.inStore(sctx, "expire stock hold", func(ctx context.Context, c *ent.Client) error {
			o, err := lockOrder(ctx, c, d.ID)
			if err != nil {
				return err
			}
			if o.Status != order.StatusPENDING || o.StockHoldExpiresAt == nil || !o.StockHoldExpiresAt.Before(s.now()) {
				return nil // paid or cancelled meanwhile
			}
			if _, err := s.cancel(ctx, c, o, order.CancelReasonOTHER, true, orderpayment.StatusCANCELLED); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// AbandonCarts marks ABANDONED the active carts with an email that have
// seen no change for AbandonAfter, each with one cart.abandoned event (the
// durable path: abandoned-cart workflows start from it). A cart abandoned
// once never is again, also after its shopper came back.
func (s *Service) AbandonCarts(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx, "checkout: find abandoned carts of every store")
	cutoff := s.now().Add(-s.cfg.AbandonAfter)
	due, err := s.client.ShoppingCart.Query().Where(shoppingcart.StatusEQ(shoppingcart.StatusACTIVE),
		shoppingcart.UpdatedAtLT(cutoff), shoppingcart.EmailNEQ(""), shoppingcart.AbandonedAtIsNil()).
		Limit(sweepBatch).Select(shoppingcart.FieldID, shoppingcart.FieldMerchantID).All(sys)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range due {
		sctx := viewer.ActAsStore(ctx, d.MerchantID, "abandon cart")
		err := s.inStore(sctx, "abandon cart", func(ctx context.Context, c *ent.Client) error {
			now := s.now()
			changed, err := c.ShoppingCart.Update().Where(shoppingcart.ID(d.ID), shoppingcart.StatusEQ(shoppingcart.StatusACTIVE),
				shoppingcart.UpdatedAtLT(cutoff), shoppingcart.AbandonedAtIsNil()).
				SetStatus(shoppingcart.StatusABANDONED).SetAbandonedAt(now).Save(ctx)
			if err != nil || changed == 0 {
				return err
			}
			view, err := s.loadCart(ctx, c, d.ID)
			if err != nil {
				return err
			}
			if _, err := events.Write(ctx, c, d.MerchantID, events.CartAbandoned{CartState: cartState(view), AbandonedAt: now}); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

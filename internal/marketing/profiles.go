package marketing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The customer profile (CDP): one row of customers per (store, email),
// created by a sign-up, a guest order, a popup or the admin, whose order
// statistics (order_count, lifetime_value_amount, average_order_value_amount,
// first_order_at, last_order_at) follow the store's orders.
//
// The statistics are recomputed from the orders, not incremented: SyncOrder
// runs in the transaction that marks an order paid or books a refund, so the
// profile changes exactly when the order does, and a repeated or reordered
// call converges on the same numbers.
//
// Which orders count: the paid ones (paid_at set), net of their refunds,
// placed by the customer's account (orders.customer_id) or as a guest with
// the profile's email (customer_id empty, same email). A guest order is not
// attached to an account (orders.customer_id stays empty): an account with
// the same email may not have proved it owns it, so it never sees those
// orders; only the statistics count them.

// SyncOrder makes the profile of order o's buyer exist (a guest's is created
// from the order's email, source CHECKOUT, consent untouched) and recomputes
// its statistics, in c's transaction. It is checkout's ProfileSync.
func (s *Service) SyncOrder(ctx context.Context, c *ent.Client, o *ent.Order) error {
	var id uuid.UUID
	switch {
	case o.CustomerID != nil:
		id = *o.CustomerID
	case o.Email != "":
		p, _, err := EnsureProfile(ctx, c, o.MerchantID, o.Email, customer.SourceCHECKOUT)
		if err != nil {
			return err
		}
		id = p.ID
	default:
		return nil
	}
	return RecomputeStats(ctx, c, o.MerchantID, id)
}

// EnsureProfile returns store mid's profile of email, creating it (with
// source, and a customer.created event in c's transaction) when there is
// none. created reports whether it did.
func EnsureProfile(ctx context.Context, c *ent.Client, mid uuid.UUID, email string, source customer.Source) (p *ent.Customer, created bool, err error) {
	email = strings.ToLower(strings.TrimSpace(email))
	sctx := viewer.ActAsStore(ctx, mid, "customer profile")
	p, err = c.Customer.Query().Where(customer.MerchantID(mid), customer.Email(email)).Only(sctx)
	if err == nil {
		return p, false, nil
	}
	if !ent.IsNotFound(err) {
		return nil, false, fmt.Errorf("marketing: profile: %w", err)
	}
	// Two writers may create the same profile at once: the unique
	// (merchant_id, email) index lets one win, the other reads its row.
	_, err = c.Customer.Create().SetMerchantID(mid).SetEmail(email).SetSource(source).
		OnConflictColumns(customer.FieldMerchantID, customer.FieldEmail).DoNothing().ID(sctx)
	created = err == nil
	if err != nil && !isNoRows(err) {
		return nil, false, fmt.Errorf("marketing: create profile: %w", err)
	}
	p, err = c.Customer.Query().Where(customer.MerchantID(mid), customer.Email(email)).Only(sctx)
	if err != nil {
		return nil, false, fmt.Errorf("marketing: profile: %w", err)
	}
	if !created {
		return p, false, nil
	}
	if _, err := events.Write(sctx, c, mid, events.CustomerCreated{CustomerID: p.ID, Email: email, Source: string(source)}); err != nil {
		return nil, false, err
	}
	return p, true, nil
}

func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || ent.IsNotFound(err)
}

// RecomputeStats sets the order statistics of customer id of store mid from
// its paid orders, in c's transaction.
func RecomputeStats(ctx context.Context, c *ent.Client, mid, id uuid.UUID) error {
	sctx := viewer.ActAsStore(ctx, mid, "customer statistics")
	p, err := c.Customer.Get(sctx, id)
	if err != nil {
		return fmt.Errorf("marketing: statistics: %w", err)
	}
	mine := order.And(order.MerchantID(mid), order.PaidAtNotNil(),
		order.Or(order.CustomerID(id), order.And(order.CustomerIDIsNil(), order.EmailEqualFold(p.Email))))
	var agg []struct {
		Count    int   `json:"count"`
		Total    int64 `json:"sum_total"`
		Refunded int64 `json:"sum_refunded"`
	}
	err = c.Order.Query().Where(mine).Aggregate(
		ent.As(ent.Count(), "count"),
		ent.As(ent.Sum(order.FieldTotalAmount), "sum_total"),
		ent.As(ent.Sum(order.FieldRefundedAmount), "sum_refunded"),
	).Scan(sctx, &agg)
	if err != nil {
		return fmt.Errorf("marketing: statistics: %w", err)
	}
	upd := c.Customer.UpdateOneID(id)
	if len(agg) == 0 || agg[0].Count == 0 {
		upd.SetOrderCount(0).SetLifetimeValueAmount(0).SetAverageOrderValueAmount(0).ClearFirstOrderAt().ClearLastOrderAt()
		return upd.Exec(sctx)
	}
	a := agg[0]
	ltv := a.Total - a.Refunded
	first, err := c.Order.Query().Where(mine).Order(ent.Asc(order.FieldPlacedAt)).Select(order.FieldPlacedAt).First(sctx)
	if err != nil {
		return fmt.Errorf("marketing: statistics: %w", err)
	}
	last, err := c.Order.Query().Where(mine).Order(ent.Desc(order.FieldPlacedAt)).Select(order.FieldPlacedAt, order.FieldCurrency).First(sctx)
	if err != nil {
		return fmt.Errorf("marketing: statistics: %w", err)
	}
	return upd.SetOrderCount(a.Count).SetLifetimeValueAmount(ltv).SetAverageOrderValueAmount(halfUp(ltv, a.Count)).
		SetFirstOrderAt(first.PlacedAt).SetLastOrderAt(last.PlacedAt).SetCurrency(last.Currency).Exec(sctx)
}

// halfUp is sum/n rounded half away from zero.
func halfUp(sum int64, n int) int64 {
	if n == 0 {
		return 0
	}
	q, r := sum/int64(n), sum%int64(n)
	if r < 0 {
		r = -r
	}
	if 2*r >= int64(n) {
		if sum < 0 {
			q--
		} else {
			q++
		}
	}
	return q
}

package marketing

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// DefaultAttributionWindow is how long after a recipient's first click a
// paid order of theirs counts as the campaign's.
const DefaultAttributionWindow = 5 * 24 * time.Hour

// Attribution is the revenue a campaign's clicks brought.
type Attribution struct {
	// Revenue is the paid orders' totals net of their refunds, in minor
	// units of Currency (orders in another currency are left out).
	Revenue  int64
	Currency string
	// Orders counts those orders.
	Orders int
}

// AttributedRevenue is campaign c's revenue attributed to clicks: the orders
// paid by a recipient (their account, or a guest order with their email)
// within window after their first click in it (last-click windows of other
// campaigns are not deducted: each campaign reports its own window).
func (s *Service) AttributedRevenue(ctx context.Context, c *ent.EmailCampaign, window time.Duration) (Attribution, error) {
	if window <= 0 {
		window = DefaultAttributionWindow
	}
	sctx := viewer.ActAsStore(ctx, c.MerchantID, "campaign attribution")
	st, err := s.store(sctx, c.MerchantID)
	if err != nil {
		return Attribution{}, err
	}
	out := Attribution{Currency: st.Currency}
	sends, err := s.client.EmailSend.Query().Where(emailsend.CampaignID(c.ID), emailsend.FirstClickedAtNotNil()).
		Select(emailsend.FieldCustomerID, emailsend.FieldToEmail, emailsend.FieldFirstClickedAt).All(sctx)
	if err != nil || len(sends) == 0 {
		return out, err
	}
	byCustomer := map[uuid.UUID]time.Time{}
	byEmail := map[string]time.Time{}
	var ids []uuid.UUID
	var emails []string
	from, to := *sends[0].FirstClickedAt, *sends[0].FirstClickedAt
	for _, sd := range sends {
		at := *sd.FirstClickedAt
		from, to = minTime(from, at), maxTime(to, at)
		if sd.CustomerID != nil {
			byCustomer[*sd.CustomerID] = at
			ids = append(ids, *sd.CustomerID)
		}
		e := strings.ToLower(sd.ToEmail)
		byEmail[e] = at
		emails = append(emails, e)
	}
	orders, err := s.client.Order.Query().Where(order.MerchantID(c.MerchantID), order.PaidAtNotNil(),
		order.PaidAtGTE(from), order.PaidAtLT(to.Add(window)), order.Currency(st.Currency),
		order.Or(order.CustomerIDIn(ids...), order.And(order.CustomerIDIsNil(), order.EmailIn(emails...)))).
		Select(order.FieldCustomerID, order.FieldEmail, order.FieldPaidAt, order.FieldTotalAmount, order.FieldRefundedAmount).All(sctx)
	if err != nil {
		return out, err
	}
	for _, o := range orders {
		clicked, ok := time.Time{}, false
		if o.CustomerID != nil {
			clicked, ok = byCustomer[*o.CustomerID]
		} else {
			clicked, ok = byEmail[strings.ToLower(o.Email)]
		}
		if !ok || o.PaidAt.Before(clicked) || !o.PaidAt.Before(clicked.Add(window)) {
			continue
		}
		out.Revenue += o.TotalAmount - o.RefundedAmount
		out.Orders++
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

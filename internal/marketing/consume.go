package marketing

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// A payload that does not decode is dropped (nil): delivering it again
// cannot help.

// ReevaluateFor is the durable consumer that keeps the dynamic segments current as a customer's events
// arrive: the customer the event is about is evaluated again against every
// dynamic segment of its store (segment.entered events for the segments
// they join).
func (s *Service) ReevaluateFor(ctx context.Context, e events.Event) error {
	id, err := s.customerOf(ctx, e)
	if err != nil || id == uuid.Nil {
		return err
	}
	_, _, err = s.Segments.ReevaluateCustomer(viewer.ActAsStore(ctx, e.MerchantID, "segment re-evaluation"), e.MerchantID, id)
	if ent.IsNotFound(err) {
		return nil // the customer was erased meanwhile
	}
	return err
}

// customerOf is the customer profile an event is about, or uuid.Nil.
func (s *Service) customerOf(ctx context.Context, e events.Event) (uuid.UUID, error) {
	switch e.Topic {
	case events.TopicCustomerEventTracked:
		m, err := events.Decode[events.CustomerEventTracked](e)
		if err != nil || m.CustomerID == nil {
			return uuid.Nil, nil
		}
		return *m.CustomerID, nil
	case events.TopicCustomerCreated:
		m, _ := events.Decode[events.CustomerCreated](e)
		return m.CustomerID, nil
	case events.TopicCustomerUpdated:
		m, _ := events.Decode[events.CustomerUpdated](e)
		return m.CustomerID, nil
	case events.TopicOrderPaid, events.TopicOrderRefunded, events.TopicOrderCreated:
		var m events.OrderState // every order event carries it
		if err := json.Unmarshal(e.Payload, &m); err != nil {
			return uuid.Nil, nil
		}
		if m.CustomerID != nil {
			return *m.CustomerID, nil
		}
		sctx := viewer.ActAsStore(ctx, e.MerchantID, "segment re-evaluation")
		o, err := s.client.Order.Get(sctx, m.OrderID)
		if ent.IsNotFound(err) || (err == nil && o.Email == "") {
			return uuid.Nil, nil
		} else if err != nil {
			return uuid.Nil, err
		}
		id, err := s.client.Customer.Query().Where(customer.MerchantID(e.MerchantID), customer.Email(o.Email)).FirstID(sctx)
		if ent.IsNotFound(err) {
			return uuid.Nil, nil
		}
		return id, err
	}
	return uuid.Nil, nil
}

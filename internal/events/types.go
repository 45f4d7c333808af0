package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Message is a typed domain event: Write stores it as the payload of an
// outbox row, and Decode reads it back from an Event.
type Message interface {
	// Topic names the event type; Event.Topic carries it.
	Topic() string
	// Aggregate is the entity the event is about. Events of one aggregate
	// are delivered in the order they were written.
	Aggregate() Aggregate
}

// Aggregate names the entity an event belongs to (an order, a cart, a
// customer, …): the unit of ordering.
type Aggregate struct {
	// Type is the entity's kind, e.g. "order".
	Type string
	// ID is the entity's id.
	ID string
}

// The topics. A topic is part of the outbox rows, the Redis messages and the
// subscription filters: never rename one.
const (
	TopicOrderCreated         = "order.created"
	TopicOrderPaid            = "order.paid"
	TopicOrderFulfilled       = "order.fulfilled"
	TopicOrderCancelled       = "order.cancelled"
	TopicOrderRefunded        = "order.refunded"
	TopicCartUpdated          = "cart.updated"
	TopicCartAbandoned        = "cart.abandoned"
	TopicCustomerCreated      = "customer.created"
	TopicCustomerUpdated      = "customer.updated"
	TopicCustomerEventTracked = "customer.event"
	TopicInventoryLow         = "inventory.low"
	TopicEmailOpened          = "email.opened"
	TopicEmailClicked         = "email.clicked"
	TopicCampaignProgress     = "campaign.progress"
	TopicSegmentEntered       = "segment.entered"
)

// OrderTopics are the topics of an order's lifecycle (orderEvents,
// myOrderUpdates).
var OrderTopics = []string{TopicOrderCreated, TopicOrderPaid, TopicOrderFulfilled, TopicOrderCancelled, TopicOrderRefunded}

// Topics returns every topic, for validation and documentation.
func Topics() []string {
	return append(append([]string(nil), OrderTopics...),
		TopicCartUpdated, TopicCartAbandoned, TopicCustomerCreated, TopicCustomerUpdated,
		TopicCustomerEventTracked, TopicInventoryLow, TopicEmailOpened, TopicEmailClicked,
		TopicCampaignProgress, TopicSegmentEntered)
}

// The aggregate types.
const (
	AggregateOrder          = "order"
	AggregateCart           = "shopping_cart"
	AggregateCustomer       = "customer"
	AggregateVisitor        = "visitor" // an anonymous storefront visitor
	AggregateVariant        = "product_variant"
	AggregateEmailSend      = "email_send"
	AggregateEmailCampaign  = "email_campaign"
	maxAggregateFieldLength = 100 // the outbox columns' limit
)

// OrderState is the part of an order every order event carries, so that a
// subscriber can show the order without a query. Amounts are in minor units
// of Currency.
type OrderState struct {
	OrderID           uuid.UUID  `json:"orderId"`
	OrderNumber       int        `json:"orderNumber"`
	CustomerID        *uuid.UUID `json:"customerId,omitempty"`
	Status            string     `json:"status"`
	FinancialStatus   string     `json:"financialStatus"`
	FulfillmentStatus string     `json:"fulfillmentStatus"`
	Currency          string     `json:"currency"`
	TotalAmount       int64      `json:"totalAmount"`
}

// Aggregate implements Message for every order event.
func (o OrderState) Aggregate() Aggregate {
	return Aggregate{Type: AggregateOrder, ID: o.OrderID.String()}
}

// OrderCreated: an order was placed.
type OrderCreated struct {
	OrderState
	ItemCount int `json:"itemCount"`
}

// Topic implements Message.
func (OrderCreated) Topic() string { return TopicOrderCreated }

// OrderPaid: an order's payment succeeded.
type OrderPaid struct {
	OrderState
	PaymentID uuid.UUID `json:"paymentId"`
	Amount    int64     `json:"amount"`
}

// Topic implements Message.
func (OrderPaid) Topic() string { return TopicOrderPaid }

// OrderFulfilled: an order (or part of it) was shipped.
type OrderFulfilled struct {
	OrderState
	TrackingNumber string `json:"trackingNumber,omitempty"`
	TrackingURL    string `json:"trackingUrl,omitempty"`
}

// Topic implements Message.
func (OrderFulfilled) Topic() string { return TopicOrderFulfilled }

// OrderCancelled: an order was cancelled.
type OrderCancelled struct {
	OrderState
	Reason string `json:"reason,omitempty"`
}

// Topic implements Message.
func (OrderCancelled) Topic() string { return TopicOrderCancelled }

// OrderRefunded: money went back to the buyer, in full or in part.
type OrderRefunded struct {
	OrderState
	RefundID uuid.UUID `json:"refundId"`
	Amount   int64     `json:"amount"`
}

// Topic implements Message.
func (OrderRefunded) Topic() string { return TopicOrderRefunded }

// CartState is what every cart event carries.
type CartState struct {
	CartID         uuid.UUID  `json:"cartId"`
	CustomerID     *uuid.UUID `json:"customerId,omitempty"`
	Email          string     `json:"email,omitempty"`
	ItemCount      int        `json:"itemCount"`
	Currency       string     `json:"currency"`
	SubtotalAmount int64      `json:"subtotalAmount"`
	TotalAmount    int64      `json:"totalAmount"`
}

// Aggregate implements Message for every cart event.
func (c CartState) Aggregate() Aggregate {
	return Aggregate{Type: AggregateCart, ID: c.CartID.String()}
}

// CartUpdated: lines, quantities or amounts of a cart changed.
type CartUpdated struct {
	CartState
}

// Topic implements Message.
func (CartUpdated) Topic() string { return TopicCartUpdated }

// CartAbandoned: an active cart saw no activity for the abandonment delay
// (what abandoned-cart workflows start from).
type CartAbandoned struct {
	CartState
	AbandonedAt time.Time `json:"abandonedAt"`
}

// Topic implements Message.
func (CartAbandoned) Topic() string { return TopicCartAbandoned }

// CustomerCreated: a customer record was created (sign-up, checkout,
// import, popup capture).
type CustomerCreated struct {
	CustomerID uuid.UUID `json:"customerId"`
	Email      string    `json:"email"`
	Source     string    `json:"source,omitempty"`
}

// Topic implements Message.
func (CustomerCreated) Topic() string { return TopicCustomerCreated }

// Aggregate implements Message.
func (c CustomerCreated) Aggregate() Aggregate {
	return Aggregate{Type: AggregateCustomer, ID: c.CustomerID.String()}
}

// CustomerUpdated: fields of a customer changed (Changed names them).
type CustomerUpdated struct {
	CustomerID uuid.UUID `json:"customerId"`
	Changed    []string  `json:"changed,omitempty"`
}

// Topic implements Message.
func (CustomerUpdated) Topic() string { return TopicCustomerUpdated }

// Aggregate implements Message.
func (c CustomerUpdated) Aggregate() Aggregate {
	return Aggregate{Type: AggregateCustomer, ID: c.CustomerID.String()}
}

// CustomerEventTracked: a storefront or server event (page viewed, product
// viewed, added to cart, …) was recorded for a customer or an anonymous
// visitor. Its aggregate is the customer, or the visitor when there is none.
type CustomerEventTracked struct {
	EventID     uuid.UUID      `json:"eventId"`
	CustomerID  *uuid.UUID     `json:"customerId,omitempty"`
	AnonymousID string         `json:"anonymousId,omitempty"`
	Type        string         `json:"type"`
	Properties  map[string]any `json:"properties,omitempty"`
	ValueAmount *int64         `json:"valueAmount,omitempty"`
	Currency    string         `json:"currency,omitempty"`
	OccurredAt  time.Time      `json:"occurredAt"`
}

// Topic implements Message.
func (CustomerEventTracked) Topic() string { return TopicCustomerEventTracked }

// Aggregate implements Message.
func (c CustomerEventTracked) Aggregate() Aggregate {
	if c.CustomerID != nil {
		return Aggregate{Type: AggregateCustomer, ID: c.CustomerID.String()}
	}
	return Aggregate{Type: AggregateVisitor, ID: c.AnonymousID}
}

// InventoryLow: a variant's available stock (on hand − reserved, over its
// warehouses) fell to or below its low-stock threshold.
type InventoryLow struct {
	VariantID         uuid.UUID `json:"variantId"`
	ProductID         uuid.UUID `json:"productId"`
	SKU               string    `json:"sku"`
	QuantityAvailable int       `json:"quantityAvailable"`
	QuantityOnHand    int       `json:"quantityOnHand"`
	Threshold         int       `json:"threshold"`
}

// Topic implements Message.
func (InventoryLow) Topic() string { return TopicInventoryLow }

// Aggregate implements Message.
func (i InventoryLow) Aggregate() Aggregate {
	return Aggregate{Type: AggregateVariant, ID: i.VariantID.String()}
}

// EmailOpened: a recipient opened an email (the tracking pixel loaded).
type EmailOpened struct {
	SendID     uuid.UUID  `json:"sendId"`
	CampaignID *uuid.UUID `json:"campaignId,omitempty"`
	CustomerID *uuid.UUID `json:"customerId,omitempty"`
	OpenedAt   time.Time  `json:"openedAt"`
}

// Topic implements Message.
func (EmailOpened) Topic() string { return TopicEmailOpened }

// Aggregate implements Message.
func (e EmailOpened) Aggregate() Aggregate {
	return Aggregate{Type: AggregateEmailSend, ID: e.SendID.String()}
}

// EmailClicked: a recipient followed a tracked link of an email.
type EmailClicked struct {
	SendID     uuid.UUID  `json:"sendId"`
	CampaignID *uuid.UUID `json:"campaignId,omitempty"`
	CustomerID *uuid.UUID `json:"customerId,omitempty"`
	URL        string     `json:"url"`
	ClickedAt  time.Time  `json:"clickedAt"`
}

// Topic implements Message.
func (EmailClicked) Topic() string { return TopicEmailClicked }

// Aggregate implements Message.
func (e EmailClicked) Aggregate() Aggregate {
	return Aggregate{Type: AggregateEmailSend, ID: e.SendID.String()}
}

// CampaignProgress: the counters of a campaign while it sends (what
// campaignProgress(campaignId) shows).
type CampaignProgress struct {
	CampaignID uuid.UUID `json:"campaignId"`
	Status     string    `json:"status"`
	Recipients int       `json:"recipients"`
	Sent       int       `json:"sent"`
	Failed     int       `json:"failed"`
	Opened     int       `json:"opened"`
	Clicked    int       `json:"clicked"`
}

// Topic implements Message.
func (CampaignProgress) Topic() string { return TopicCampaignProgress }

// Aggregate implements Message.
func (c CampaignProgress) Aggregate() Aggregate {
	return Aggregate{Type: AggregateEmailCampaign, ID: c.CampaignID.String()}
}

// SegmentEntered: a customer started matching a DYNAMIC segment's rules
// (full refresh or re-evaluation of the customer) and was added to it; what
// "segment entered" workflow triggers start from. Its aggregate is the
// customer, so a customer's segment and profile events stay in order.
type SegmentEntered struct {
	SegmentID  uuid.UUID `json:"segmentId"`
	CustomerID uuid.UUID `json:"customerId"`
	EnteredAt  time.Time `json:"enteredAt"`
}

// Topic implements Message.
func (SegmentEntered) Topic() string { return TopicSegmentEntered }

// Aggregate implements Message.
func (s SegmentEntered) Aggregate() Aggregate {
	return Aggregate{Type: AggregateCustomer, ID: s.CustomerID.String()}
}

// Decode reads the typed event out of e. It fails when e's topic is not
// T's, so a consumer cannot read an event as the wrong type.
func Decode[T Message](e Event) (T, error) {
	var m T
	if e.Topic != m.Topic() {
		return m, fmt.Errorf("events: decode %s as %T (topic %s)", e.Topic, m, m.Topic())
	}
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		return m, fmt.Errorf("events: decode %s: %w", e.Topic, err)
	}
	return m, nil
}

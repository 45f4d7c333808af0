package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/automationworkflow"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/workflowenrollment"
	"github.com/omnisphere/omnisphere/ent/workflowstep"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
)

// topicTriggers maps an event topic to the trigger type it starts.
var topicTriggers = map[string]automationworkflow.TriggerType{
	events.TopicCustomerCreated:      automationworkflow.TriggerTypeCUSTOMER_CREATED,
	events.TopicOrderCreated:         automationworkflow.TriggerTypeORDER_PLACED,
	events.TopicOrderPaid:            automationworkflow.TriggerTypeORDER_PAID,
	events.TopicOrderFulfilled:       automationworkflow.TriggerTypeORDER_FULFILLED,
	events.TopicCartAbandoned:        automationworkflow.TriggerTypeCART_ABANDONED,
	events.TopicCustomerEventTracked: automationworkflow.TriggerTypeEVENT_TRACKED,
	events.TopicSegmentEntered:       automationworkflow.TriggerTypeSEGMENT_ENTERED,
}

// Topics returns the event topics HandleEvent reacts to.
func Topics() []string {
	out := make([]string, 0, len(topicTriggers))
	for t := range topicTriggers {
		out = append(out, t)
	}
	return out
}

// trigger is what one event says for the workflows it may start.
type trigger struct {
	customerID uuid.UUID
	email      string // to resolve (or create) the profile when customerID is nil
	orderID    uuid.UUID
	context    map[string]any
	// tracked is the customer event of an EVENT_TRACKED trigger.
	tracked *segment.Event
	// segmentID is the segment of a SEGMENT_ENTERED trigger.
	segmentID uuid.UUID
}

// HandleEvent is the durable-path handler of ConsumerGroup: for each ACTIVE
// workflow of the event's store whose trigger matches, it enrols the
// event's customer (resolved from the customer id, else from the cart's or
// order's email, creating a CHECKOUT profile for a guest with consent
// untouched). The unique (workflow, customer, trigger_event_id) index makes
// a redelivered event enrol once; allow_reentry and the cooldown decide
// whether a customer enrolled before is enrolled again. An error has the
// event delivered again (enrolments already made are kept and skipped).
func (s *Service) HandleEvent(ctx context.Context, e events.Event) error {
	tt, ok := topicTriggers[e.Topic]
	if !ok || e.MerchantID == uuid.Nil {
		return nil
	}
	ctx, err := storeContext(ctx, e.MerchantID, "workflow trigger")
	if err != nil {
		return err
	}
	wfs, err := s.db.Client.AutomationWorkflow.Query().Where(automationworkflow.StatusEQ(automationworkflow.StatusACTIVE),
		automationworkflow.TriggerTypeEQ(tt)).Order(automationworkflow.ByID()).All(ctx)
	if err != nil || len(wfs) == 0 {
		return err
	}
	tr, err := s.decodeTrigger(ctx, e)
	if err != nil || tr == nil {
		return err
	}
	var matching []*ent.AutomationWorkflow
	for _, w := range wfs {
		if matches(w, tr) {
			matching = append(matching, w)
		}
	}
	if len(matching) == 0 {
		return nil
	}
	if tr.customerID == uuid.Nil {
		if tr.customerID, err = s.profileByEmail(ctx, e.MerchantID, tr.email); err != nil || tr.customerID == uuid.Nil {
			return err
		}
	}
	cu, err := s.db.Client.Customer.Get(ctx, tr.customerID)
	if ent.IsNotFound(err) {
		return nil // erased meanwhile
	}
	if err != nil {
		return err
	}
	if cu.Status == customer.StatusDELETED {
		return nil
	}
	enrolled := false
	var errs []error
	for _, w := range matching {
		ok, err := s.enrol(ctx, w, cu.ID, e.ID.String(), tr.context)
		if err != nil {
			errs = append(errs, fmt.Errorf("workflow %s: %w", w.ID, err))
		}
		enrolled = enrolled || ok
	}
	if enrolled {
		s.Kick()
	}
	return errors.Join(errs...)
}

// decodeTrigger reads the customer and the context of e; nil when e names
// no one to enrol (an anonymous event, a cart without an email).
func (s *Service) decodeTrigger(ctx context.Context, e events.Event) (*trigger, error) {
	tr := &trigger{context: map[string]any{"topic": e.Topic, "eventId": e.ID.String()}}
	orderState := func(o events.OrderState) error {
		tr.orderID = o.OrderID
		tr.context["orderId"] = o.OrderID.String()
		tr.context["orderNumber"] = o.OrderNumber
		if o.CustomerID != nil {
			tr.customerID = *o.CustomerID
			return nil
		}
		ord, err := s.db.Client.Order.Get(ctx, o.OrderID)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if ord.CustomerID != nil {
			tr.customerID = *ord.CustomerID
		}
		if ord.CartID != nil {
			tr.context["cartId"] = ord.CartID.String()
		}
		tr.email = ord.Email
		return nil
	}
	var err error
	switch e.Topic {
	case events.TopicCustomerCreated:
		m, derr := events.Decode[events.CustomerCreated](e)
		if derr != nil {
			return nil, nil // a malformed event is not retried
		}
		tr.customerID = m.CustomerID
	case events.TopicOrderCreated:
		m, derr := events.Decode[events.OrderCreated](e)
		if derr != nil {
			return nil, nil
		}
		err = orderState(m.OrderState)
	case events.TopicOrderPaid:
		m, derr := events.Decode[events.OrderPaid](e)
		if derr != nil {
			return nil, nil
		}
		err = orderState(m.OrderState)
	case events.TopicOrderFulfilled:
		m, derr := events.Decode[events.OrderFulfilled](e)
		if derr != nil {
			return nil, nil
		}
		err = orderState(m.OrderState)
	case events.TopicCartAbandoned:
		m, derr := events.Decode[events.CartAbandoned](e)
		if derr != nil {
			return nil, nil
		}
		tr.context["cartId"] = m.CartID.String()
		tr.context["cartTotalAmount"] = m.TotalAmount
		tr.context["currency"] = m.Currency
		if m.CustomerID != nil {
			tr.customerID = *m.CustomerID
		} else if tr.email = m.Email; tr.email == "" {
			cart, cerr := s.db.Client.ShoppingCart.Get(ctx, m.CartID)
			if cerr != nil && !ent.IsNotFound(cerr) {
				return nil, cerr
			}
			if cart != nil {
				if cart.CustomerID != nil {
					tr.customerID = *cart.CustomerID
				}
				tr.email = cart.Email
			}
		}
	case events.TopicCustomerEventTracked:
		m, derr := events.Decode[events.CustomerEventTracked](e)
		if derr != nil || m.CustomerID == nil {
			return nil, nil // anonymous visitors are not enrolled
		}
		tr.customerID = *m.CustomerID
		tr.tracked = &segment.Event{Type: m.Type, Properties: m.Properties, OccurredAt: m.OccurredAt}
		tr.context["eventType"] = m.Type
		if len(m.Properties) > 0 {
			tr.context["properties"] = m.Properties
		}
	case events.TopicSegmentEntered:
		m, derr := events.Decode[events.SegmentEntered](e)
		if derr != nil {
			return nil, nil
		}
		tr.customerID = m.CustomerID
		tr.segmentID = m.SegmentID
		tr.context["segmentId"] = m.SegmentID.String()
	}
	if err != nil {
		return nil, err
	}
	if tr.customerID == uuid.Nil && strings.TrimSpace(tr.email) == "" {
		return nil, nil
	}
	return tr, nil
}

// matches reports whether workflow w's trigger configuration accepts tr.
func matches(w *ent.AutomationWorkflow, tr *trigger) bool {
	switch w.TriggerType {
	case automationworkflow.TriggerTypeEVENT_TRACKED:
		if tr.tracked == nil {
			return false
		}
		et, _ := w.TriggerConfig["eventType"].(string)
		if et == "" || et != tr.tracked.Type {
			return false
		}
		return eventMatches(et, anyFilters(w.TriggerConfig["filters"]), *tr.tracked)
	case automationworkflow.TriggerTypeSEGMENT_ENTERED:
		id, _ := w.TriggerConfig["segmentId"].(string)
		return id != "" && id == tr.segmentID.String()
	}
	return true
}

// eventMatches applies property filters (segment rule language) to one
// event.
func eventMatches(eventType string, filters []map[string]any, ev segment.Event) bool {
	r, errs := segment.ParseMap(eventRuleMap(eventType, filters))
	if len(errs) > 0 {
		return false
	}
	at := ev.OccurredAt
	if at.IsZero() {
		at = time.Now()
	}
	return segment.Evaluate(r, segment.Subject{Now: at, Customer: &ent.Customer{Status: customer.StatusACTIVE}, Events: []segment.Event{ev}})
}

// anyFilters reads stored filters back ([]any of maps).
func anyFilters(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// profileByEmail returns the store's customer with email, creating a
// CHECKOUT profile (consent left at its default) with a customer.created
// event when there is none.
func (s *Service) profileByEmail(ctx context.Context, merchantID uuid.UUID, email string) (uuid.UUID, error) {
	email = normalizeEmail(email)
	if email == "" || len(email) > 254 || !strings.Contains(email, "@") {
		return uuid.Nil, nil
	}
	for attempt := 0; attempt < 3; attempt++ {
		id, err := s.db.Client.Customer.Query().Where(customer.Email(email)).OnlyID(ctx)
		if err == nil {
			return id, nil
		}
		if !ent.IsNotFound(err) {
			return uuid.Nil, err
		}
		err = db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
			c, err := tx.Customer.Create().SetMerchantID(merchantID).SetEmail(email).SetSource(customer.SourceCHECKOUT).Save(ctx)
			if err != nil {
				return err
			}
			id = c.ID
			_, err = events.Write(ctx, tx, merchantID, events.CustomerCreated{CustomerID: c.ID, Email: email, Source: string(customer.SourceCHECKOUT)})
			return err
		})
		if err == nil {
			return id, nil
		}
		if !db.LostRace(err) {
			return uuid.Nil, err
		}
	}
	return uuid.Nil, fmt.Errorf("workflow: profile for %s: lost the race three times", email)
}

// errSkip rolls back an enrolment that is not to happen.
var errSkip = errors.New("workflow: not enrolled")

// enrol enrols customerID in w for the trigger event triggerID, unless it
// was enrolled for that event already or the re-entry rules refuse it. It
// reports whether it enrolled.
func (s *Service) enrol(ctx context.Context, w *ent.AutomationWorkflow, customerID uuid.UUID, triggerID string, data map[string]any) (bool, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		skipped := false
		skip := func(err error, no bool) error {
			if err != nil {
				return err
			}
			if no {
				skipped = true
				return errSkip
			}
			return nil
		}
		err = db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
			// The counter update comes first: it locks the workflow's row,
			// so the checks below see every enrolment committed before.
			n, err := tx.AutomationWorkflow.Update().Where(automationworkflow.ID(w.ID), automationworkflow.StatusEQ(automationworkflow.StatusACTIVE)).
				AddEnrolledCount(1).Save(ctx)
			if err := skip(err, n == 0); err != nil {
				return err // paused meanwhile
			}
			mine := tx.WorkflowEnrollment.Query().Where(workflowenrollment.WorkflowID(w.ID), workflowenrollment.CustomerID(customerID))
			dup, err := mine.Clone().Where(workflowenrollment.TriggerEventID(triggerID)).Exist(ctx)
			if err := skip(err, dup); err != nil {
				return err
			}
			now := s.now()
			var refuse []*ent.WorkflowEnrollmentQuery
			if !w.AllowReentry {
				refuse = append(refuse, mine.Clone())
			} else {
				refuse = append(refuse, mine.Clone().Where(workflowenrollment.StatusIn(workflowenrollment.StatusACTIVE, workflowenrollment.StatusWAITING)))
				if w.ReentryCooldownSeconds > 0 {
					since := now.Add(-time.Duration(w.ReentryCooldownSeconds) * time.Second)
					refuse = append(refuse, mine.Clone().Where(workflowenrollment.EnrolledAtGT(since)))
				}
			}
			for _, q := range refuse {
				no, err := q.Exist(ctx)
				if err := skip(err, no); err != nil {
					return err
				}
			}
			first, err := tx.WorkflowStep.Query().Where(workflowstep.WorkflowID(w.ID), workflowstep.Position(0)).OnlyID(ctx)
			if err != nil {
				return fmt.Errorf("entry step: %w", err)
			}
			return tx.WorkflowEnrollment.Create().SetMerchantID(w.MerchantID).SetWorkflowID(w.ID).SetCustomerID(customerID).
				SetCurrentStepID(first).SetStatus(workflowenrollment.StatusACTIVE).SetNextRunAt(now).SetEnrolledAt(now).
				SetTriggerEventID(triggerID).SetContext(data).Exec(ctx)
		})
		if skipped {
			return false, nil
		}
		if err == nil {
			return true, nil
		}
		if !db.LostRace(err) || ctx.Err() != nil {
			return false, err
		}
	}
	return false, err
}

package workflow

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/automationworkflow"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/emailtemplate"
	"github.com/omnisphere/omnisphere/ent/workflowstep"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
)

// TriggerType is what enrols a customer; the values are those of
// automation_workflows.trigger_type.
type TriggerType string

// The triggers, each with the event topic it reacts to.
const (
	TriggerCustomerCreated TriggerType = "CUSTOMER_CREATED" // customer.created
	TriggerOrderPlaced     TriggerType = "ORDER_PLACED"     // order.created
	TriggerOrderPaid       TriggerType = "ORDER_PAID"       // order.paid
	TriggerOrderFulfilled  TriggerType = "ORDER_FULFILLED"  // order.fulfilled
	TriggerCartAbandoned   TriggerType = "CART_ABANDONED"   // cart.abandoned
	TriggerEventTracked    TriggerType = "EVENT_TRACKED"    // customer.event, with an event type and property filters
	TriggerSegmentEntered  TriggerType = "SEGMENT_ENTERED"  // segment.entered, of one segment
	// TriggerSegmentExited is in the schema's enum but no event announces
	// a customer leaving a segment yet: Create refuses it (UNSUPPORTED).
	TriggerSegmentExited TriggerType = "SEGMENT_EXITED"
)

// Trigger is a workflow's entry condition.
type Trigger struct {
	Type TriggerType
	// EventType is the customer event type an EVENT_TRACKED trigger
	// reacts to (e.g. "product_viewed").
	EventType string
	// Filters are property filters the tracked event must satisfy, in the
	// segment rule language's event-filter form (docs/segments.md):
	// {"property": "category", "operator": "equals", "value": "shoes"}.
	// EVENT_TRACKED only; at most 5.
	Filters []map[string]any
	// SegmentID is the segment a SEGMENT_ENTERED trigger watches.
	SegmentID *uuid.UUID
}

// StepKind is what a step does; the values are those of
// workflow_steps.kind (SET_ATTRIBUTE excepted, see docs/workflows.md).
type StepKind string

// The step kinds.
const (
	StepSendEmail    StepKind = "SEND_EMAIL"
	StepWait         StepKind = "WAIT"
	StepCondition    StepKind = "CONDITION"
	StepAddTag       StepKind = "ADD_TAG"
	StepRemoveTag    StepKind = "REMOVE_TAG"
	StepSetAttribute StepKind = "SET_ATTRIBUTE"
	StepExit         StepKind = "EXIT"
	// StepWebhook is in the schema's enum but not run by this engine:
	// Create refuses it (UNSUPPORTED).
	StepWebhook StepKind = "WEBHOOK"
)

// ConditionKind is what a CONDITION step tests.
type ConditionKind string

// The condition kinds.
const (
	// ConditionInSegment: the customer is a member of SegmentID.
	ConditionInSegment ConditionKind = "IN_SEGMENT"
	// ConditionProfile: the customer matches Rule, a rule of the segment
	// rule language (profile fields, attributes, tags, consent, orders,
	// event counts), evaluated at the moment the step runs.
	ConditionProfile ConditionKind = "PROFILE"
	// ConditionEventSinceEnrollment: an event of EventType happened since
	// the customer was enrolled. "order.created" and "order.paid" read the
	// orders: an order of the enrollment's cart (any time; "cart
	// converted"), or of the customer (by id or email) placed (paid) since
	// the enrollment. Any other type reads the customer's customer_events
	// since the enrollment, with Filters.
	ConditionEventSinceEnrollment ConditionKind = "EVENT_SINCE_ENROLLMENT"
)

// The event types ConditionEventSinceEnrollment reads from the orders.
const (
	EventOrderCreated = "order.created"
	EventOrderPaid    = "order.paid"
)

// ConditionInput is the test of a CONDITION step.
type ConditionInput struct {
	Kind      ConditionKind
	SegmentID *uuid.UUID       // IN_SEGMENT
	Rule      map[string]any   // PROFILE
	EventType string           // EVENT_SINCE_ENROLLMENT
	Filters   []map[string]any // EVENT_SINCE_ENROLLMENT, customer events only
}

// StepInput is one step of a workflow definition. Its position is its index
// in Input.Steps; position 0 is the entry step.
type StepInput struct {
	Kind StepKind
	// Name is a label for the workflow builder (optional, ≤ 200).
	Name string
	// TemplateID and Subject: SEND_EMAIL. Subject, when set, overrides the
	// template's subject line.
	TemplateID *uuid.UUID
	Subject    string
	// WaitSeconds: WAIT, 1 s to 366 days.
	WaitSeconds int
	// Condition, YesNext and NoNext: CONDITION. YesNext and NoNext are the
	// positions the run goes to when the condition holds or not; nil means
	// the next position (or the end after the last step).
	Condition *ConditionInput
	YesNext   *int
	NoNext    *int
	// Tag: ADD_TAG and REMOVE_TAG (1–64 characters).
	Tag string
	// Attribute and Value: SET_ATTRIBUTE; a nil Value removes the attribute.
	Attribute string
	Value     any
	// Next is the position after this step (every kind but CONDITION and
	// EXIT); nil means the next position. Jumps go forward only, so a run
	// always ends.
	Next *int
}

// Input defines a workflow.
type Input struct {
	Name        string
	Description string
	Trigger     Trigger
	Steps       []StepInput
	// AllowReentry lets a customer be enrolled again after an earlier run
	// ended; ReentryCooldown is then the least time between two of their
	// enrollments (whole seconds).
	AllowReentry    bool
	ReentryCooldown time.Duration
}

// Limits of a definition.
const (
	MaxSteps       = 50
	MaxWaitSeconds = 366 * 24 * 3600
	maxTagLength   = 64
	maxValueLength = 1000
)

var (
	attributePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,63}$`)
	eventPattern     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,99}$`)
)

// Create validates in and stores it as a DRAFT workflow of merchantID with
// its steps, in one transaction. Problems the caller can fix come back as
// an *Error listing every one of them, with paths like ["input", "steps",
// "2", "waitSeconds"].
func (s *Service) Create(ctx context.Context, merchantID uuid.UUID, in Input) (*ent.AutomationWorkflow, error) {
	ctx, err := storeContext(ctx, merchantID, "workflow definition")
	if err != nil {
		return nil, err
	}
	p := &problems{}
	def := validate(p, in)
	if err := s.checkReferences(ctx, p, in); err != nil {
		return nil, err
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.AutomationWorkflow
	err = db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		w, err := tx.AutomationWorkflow.Create().SetMerchantID(merchantID).SetName(strings.TrimSpace(in.Name)).
			SetDescription(in.Description).SetTriggerType(automationworkflow.TriggerType(in.Trigger.Type)).
			SetTriggerConfig(def.trigger).SetAllowReentry(in.AllowReentry).
			SetReentryCooldownSeconds(int(in.ReentryCooldown / time.Second)).Save(ctx)
		if err != nil {
			return err
		}
		creates := make([]*ent.WorkflowStepCreate, len(def.steps))
		for i, st := range def.steps {
			c := tx.WorkflowStep.Create().SetMerchantID(merchantID).SetWorkflowID(w.ID).SetPosition(i).
				SetName(in.Steps[i].Name).SetKind(workflowstep.Kind(in.Steps[i].Kind)).
				SetNillableTemplateID(st.templateID).SetWaitSeconds(st.waitSeconds).SetNillableNextPosition(st.next)
			if st.config != nil {
				c.SetConfig(st.config)
			}
			if st.branches != nil {
				c.SetBranches(st.branches)
			}
			creates[i] = c
		}
		if _, err := tx.WorkflowStep.CreateBulk(creates...).Save(ctx); err != nil {
			return err
		}
		out = w.Unwrap()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workflow: create: %w", err)
	}
	return out, nil
}

// definition is a validated Input in its stored form.
type definition struct {
	trigger map[string]any
	steps   []storedStep
}

type storedStep struct {
	templateID  *uuid.UUID
	waitSeconds int
	next        *int
	config      map[string]any
	branches    map[string]any
}

// validate checks everything of in that needs no database.
func validate(p *problems, in Input) definition {
	root := []string{"input"}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		p.add(CodeRequired, sub(root, "name"), "Give the workflow a name.")
	case utf8.RuneCountInString(name) > 200:
		p.add(CodeTooLong, sub(root, "name"), "The name is longer than 200 characters.")
	}
	if utf8.RuneCountInString(in.Description) > 2000 {
		p.add(CodeTooLong, sub(root, "description"), "The description is longer than 2000 characters.")
	}
	if in.ReentryCooldown < 0 || in.ReentryCooldown > MaxWaitSeconds*time.Second {
		p.add(CodeInvalid, sub(root, "reentryCooldown"), "The re-entry cooldown must be between 0 and 366 days.")
	} else if in.ReentryCooldown > 0 && !in.AllowReentry {
		p.add(CodeInvalid, sub(root, "reentryCooldown"), "A re-entry cooldown needs allowReentry.")
	}
	def := definition{trigger: validateTrigger(p, sub(root, "trigger"), in.Trigger)}
	steps := sub(root, "steps")
	switch {
	case len(in.Steps) == 0:
		p.add(CodeRequired, steps, "A workflow needs at least one step.")
	case len(in.Steps) > MaxSteps:
		p.add(CodeTooMany, steps, "A workflow has at most %d steps.", MaxSteps)
		return def
	}
	def.steps = make([]storedStep, len(in.Steps))
	for i, st := range in.Steps {
		def.steps[i] = validateStep(p, sub(steps, i), i, len(in.Steps), st)
	}
	return def
}

func validateTrigger(p *problems, at []string, t Trigger) map[string]any {
	switch t.Type {
	case TriggerCustomerCreated, TriggerOrderPlaced, TriggerOrderPaid, TriggerOrderFulfilled, TriggerCartAbandoned:
		if t.EventType != "" || len(t.Filters) > 0 || t.SegmentID != nil {
			p.add(CodeInvalid, at, "A %s trigger takes no event type, filters or segment.", t.Type)
		}
		return nil
	case TriggerEventTracked:
		if t.SegmentID != nil {
			p.add(CodeInvalid, sub(at, "segmentId"), "An EVENT_TRACKED trigger takes no segment.")
		}
		if _, ok := eventRule(p, at, t.EventType, t.Filters); !ok {
			return nil
		}
		cfg := map[string]any{"eventType": t.EventType}
		if len(t.Filters) > 0 {
			cfg["filters"] = t.Filters
		}
		return toMap(cfg)
	case TriggerSegmentEntered:
		if t.EventType != "" || len(t.Filters) > 0 {
			p.add(CodeInvalid, at, "A SEGMENT_ENTERED trigger takes no event type or filters.")
		}
		if t.SegmentID == nil {
			p.add(CodeRequired, sub(at, "segmentId"), "Choose the segment whose new members are enrolled.")
			return nil
		}
		return map[string]any{"segmentId": t.SegmentID.String()}
	case TriggerSegmentExited:
		p.add(CodeUnsupported, sub(at, "type"), "SEGMENT_EXITED triggers are not supported yet.")
	case "":
		p.add(CodeRequired, sub(at, "type"), "Choose what starts the workflow.")
	default:
		p.add(CodeInvalid, sub(at, "type"), "Unknown trigger type %q.", t.Type)
	}
	return nil
}

// eventRule validates an event type with property filters and returns them
// as a segment rule of one event condition: what matches a tracked event.
// Problems are reported under at (eventType, filters.N.…).
func eventRule(p *problems, at []string, eventType string, filters []map[string]any) (*segment.Rule, bool) {
	switch {
	case eventType == "":
		p.add(CodeRequired, sub(at, "eventType"), "Choose the event type.")
		return nil, false
	case !eventPattern.MatchString(eventType):
		p.add(CodeInvalid, sub(at, "eventType"), "An event type is 1–100 letters, digits, '_', '.', ':' or '-'.")
		return nil, false
	}
	r, errs := segment.ParseMap(eventRuleMap(eventType, filters))
	for _, fe := range errs {
		f := fe.Field
		if len(f) >= 2 && f[0] == "conditions" {
			f = f[2:]
		}
		if len(f) > 0 && f[0] == "event" {
			f = append([]string{"eventType"}, f[1:]...)
		}
		p.add(Code(fe.Code), sub(at, f), "%s", fe.Message)
	}
	return r, len(errs) == 0
}

func eventRuleMap(eventType string, filters []map[string]any) map[string]any {
	cond := map[string]any{"kind": "event", "event": eventType}
	if len(filters) > 0 {
		fs := make([]any, len(filters))
		for i, f := range filters {
			fs[i] = f
		}
		cond["filters"] = fs
	}
	return map[string]any{"match": "all", "conditions": []any{cond}}
}

// setAttributeStored reports whether workflow_steps.kind accepts
// SET_ATTRIBUTE (the schema's enum lacks it as of this writing).
func setAttributeStored() bool {
	return workflowstep.KindValidator(workflowstep.Kind(StepSetAttribute)) == nil
}

func validateStep(p *problems, at []string, pos, n int, st StepInput) storedStep {
	out := storedStep{}
	if utf8.RuneCountInString(st.Name) > 200 {
		p.add(CodeTooLong, sub(at, "name"), "The step name is longer than 200 characters.")
	}
	target := func(field string, v *int) *int {
		if v == nil {
			return nil
		}
		if *v <= pos || *v >= n {
			if pos+1 >= n {
				p.add(CodeInvalid, sub(at, field), "The last step cannot jump: leave %s empty to end the run, or add an EXIT step.", field)
			} else {
				p.add(CodeInvalid, sub(at, field), "%s must be the position of a later step (%d to %d).", field, pos+1, n-1)
			}
			return nil
		}
		x := *v
		return &x
	}
	only := func(kinds string, fields map[string]bool) {
		for f, set := range fields {
			if set {
				p.add(CodeInvalid, sub(at, f), "%s is not used by a %s step (only %s).", f, st.Kind, kinds)
			}
		}
	}
	switch st.Kind {
	case StepSendEmail:
		only("SEND_EMAIL", map[string]bool{"waitSeconds": st.WaitSeconds != 0, "condition": st.Condition != nil,
			"tag": st.Tag != "", "attribute": st.Attribute != "", "yesNext": st.YesNext != nil, "noNext": st.NoNext != nil})
		if st.TemplateID == nil {
			p.add(CodeRequired, sub(at, "templateId"), "Choose the email template to send.")
		}
		out.templateID = st.TemplateID
		if st.Subject != "" {
			if utf8.RuneCountInString(st.Subject) > 500 || strings.ContainsAny(st.Subject, "\r\n") {
				p.add(CodeInvalid, sub(at, "subject"), "The subject is one line of at most 500 characters.")
			}
			out.config = map[string]any{"subject": st.Subject}
		}
		out.next = target("next", st.Next)
	case StepWait:
		only("WAIT", map[string]bool{"templateId": st.TemplateID != nil, "condition": st.Condition != nil,
			"tag": st.Tag != "", "attribute": st.Attribute != "", "yesNext": st.YesNext != nil, "noNext": st.NoNext != nil})
		if st.WaitSeconds < 1 || st.WaitSeconds > MaxWaitSeconds {
			p.add(CodeInvalid, sub(at, "waitSeconds"), "A wait lasts from 1 second to 366 days (%d seconds).", MaxWaitSeconds)
		}
		out.waitSeconds = max(st.WaitSeconds, 0)
		out.next = target("next", st.Next)
	case StepCondition:
		only("CONDITION", map[string]bool{"templateId": st.TemplateID != nil, "waitSeconds": st.WaitSeconds != 0,
			"tag": st.Tag != "", "attribute": st.Attribute != "", "next": st.Next != nil})
		if st.Condition == nil {
			p.add(CodeRequired, sub(at, "condition"), "Say what the condition tests.")
		} else if c := validateCondition(p, sub(at, "condition"), *st.Condition); c != nil {
			out.config = map[string]any{"condition": c}
		}
		yes, no := target("yesNext", st.YesNext), target("noNext", st.NoNext)
		out.branches = map[string]any{}
		if yes != nil {
			out.branches["true"] = *yes
		}
		if no != nil {
			out.branches["false"] = *no
		}
	case StepAddTag, StepRemoveTag:
		only(string(st.Kind), map[string]bool{"templateId": st.TemplateID != nil, "waitSeconds": st.WaitSeconds != 0,
			"condition": st.Condition != nil, "attribute": st.Attribute != "", "yesNext": st.YesNext != nil, "noNext": st.NoNext != nil})
		tag := strings.TrimSpace(st.Tag)
		switch {
		case tag == "":
			p.add(CodeRequired, sub(at, "tag"), "Give the tag.")
		case utf8.RuneCountInString(tag) > maxTagLength:
			p.add(CodeTooLong, sub(at, "tag"), "A tag is at most %d characters.", maxTagLength)
		}
		out.config = map[string]any{"tag": tag}
		out.next = target("next", st.Next)
	case StepSetAttribute:
		only("SET_ATTRIBUTE", map[string]bool{"templateId": st.TemplateID != nil, "waitSeconds": st.WaitSeconds != 0,
			"condition": st.Condition != nil, "tag": st.Tag != "", "yesNext": st.YesNext != nil, "noNext": st.NoNext != nil})
		if !setAttributeStored() {
			p.add(CodeUnsupported, sub(at, "kind"), "SET_ATTRIBUTE steps are not supported by this database schema yet.")
		}
		if !attributePattern.MatchString(st.Attribute) {
			p.add(CodeInvalid, sub(at, "attribute"), "An attribute key is 1–64 letters, digits, '_', '.', ':' or '-'.")
		}
		switch v := st.Value.(type) {
		case nil, bool, float64, float32, int, int64, int32:
		case string:
			if utf8.RuneCountInString(v) > maxValueLength {
				p.add(CodeTooLong, sub(at, "value"), "The value is longer than %d characters.", maxValueLength)
			}
		default:
			p.add(CodeInvalid, sub(at, "value"), "The value must be a string, a number, a boolean or null.")
		}
		out.config = toMap(map[string]any{"attribute": st.Attribute, "value": st.Value})
		out.next = target("next", st.Next)
	case StepExit:
		only("EXIT", map[string]bool{"templateId": st.TemplateID != nil, "waitSeconds": st.WaitSeconds != 0,
			"condition": st.Condition != nil, "tag": st.Tag != "", "attribute": st.Attribute != "",
			"yesNext": st.YesNext != nil, "noNext": st.NoNext != nil, "next": st.Next != nil})
	case StepWebhook:
		p.add(CodeUnsupported, sub(at, "kind"), "WEBHOOK steps are not supported yet.")
	case "":
		p.add(CodeRequired, sub(at, "kind"), "Choose what the step does.")
	default:
		p.add(CodeInvalid, sub(at, "kind"), "Unknown step kind %q.", st.Kind)
	}
	return out
}

func validateCondition(p *problems, at []string, c ConditionInput) map[string]any {
	switch c.Kind {
	case ConditionInSegment:
		if c.SegmentID == nil {
			p.add(CodeRequired, sub(at, "segmentId"), "Choose the segment.")
			return nil
		}
		return map[string]any{"kind": string(c.Kind), "segmentId": c.SegmentID.String()}
	case ConditionProfile:
		if c.Rule == nil {
			p.add(CodeRequired, sub(at, "rule"), "Give the rule the customer must match.")
			return nil
		}
		_, errs := segment.ParseMap(c.Rule)
		for _, fe := range errs {
			p.add(Code(fe.Code), sub(at, "rule", fe.Field), "%s", fe.Message)
		}
		if len(errs) > 0 {
			return nil
		}
		return toMap(map[string]any{"kind": string(c.Kind), "rule": c.Rule})
	case ConditionEventSinceEnrollment:
		if (c.EventType == EventOrderCreated || c.EventType == EventOrderPaid) && len(c.Filters) > 0 {
			p.add(CodeInvalid, sub(at, "filters"), "Order conditions (%s) take no property filters.", c.EventType)
			return nil
		}
		if _, ok := eventRule(p, at, c.EventType, c.Filters); !ok {
			return nil
		}
		m := map[string]any{"kind": string(c.Kind), "eventType": c.EventType}
		if len(c.Filters) > 0 {
			m["filters"] = c.Filters
		}
		return toMap(m)
	case "":
		p.add(CodeRequired, sub(at, "kind"), "Choose what the condition tests.")
	default:
		p.add(CodeInvalid, sub(at, "kind"), "Unknown condition kind %q.", c.Kind)
	}
	return nil
}

// checkReferences checks that the templates and segments in exist in the
// store (NOT_FOUND otherwise; archived templates are refused).
func (s *Service) checkReferences(ctx context.Context, p *problems, in Input) error {
	c := s.db.Client
	segmentExists := func(at []string, id *uuid.UUID) error {
		if id == nil {
			return nil
		}
		ok, err := c.CustomerSegment.Query().Where(customersegment.ID(*id)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			p.add(CodeNotFound, at, "No segment has this id.")
		}
		return nil
	}
	if in.Trigger.Type == TriggerSegmentEntered {
		if err := segmentExists(path("input", "trigger", "segmentId"), in.Trigger.SegmentID); err != nil {
			return err
		}
	}
	for i, st := range in.Steps {
		switch {
		case st.Kind == StepSendEmail && st.TemplateID != nil:
			t, err := c.EmailTemplate.Query().Where(emailtemplate.ID(*st.TemplateID)).Only(ctx)
			switch {
			case ent.IsNotFound(err):
				p.add(CodeNotFound, path("input", "steps", i, "templateId"), "No email template has this id.")
			case err != nil:
				return err
			case t.Archived:
				p.add(CodeInvalid, path("input", "steps", i, "templateId"), "The template %q is archived.", t.Name)
			}
		case st.Kind == StepCondition && st.Condition != nil && st.Condition.Kind == ConditionInSegment:
			if err := segmentExists(path("input", "steps", i, "condition", "segmentId"), st.Condition.SegmentID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Activate makes a DRAFT or PAUSED workflow ACTIVE: it enrols customers
// from now on, and its waiting enrollments resume (those whose wait ended
// while it was paused run at once).
func (s *Service) Activate(ctx context.Context, merchantID, id uuid.UUID) (*ent.AutomationWorkflow, error) {
	return s.transition(ctx, merchantID, id, automationworkflow.StatusACTIVE,
		[]automationworkflow.Status{automationworkflow.StatusDRAFT, automationworkflow.StatusPAUSED})
}

// Pause stops an ACTIVE workflow: no new enrollments, and its enrollments
// hold where they are until it is activated again.
func (s *Service) Pause(ctx context.Context, merchantID, id uuid.UUID) (*ent.AutomationWorkflow, error) {
	return s.transition(ctx, merchantID, id, automationworkflow.StatusPAUSED,
		[]automationworkflow.Status{automationworkflow.StatusACTIVE})
}

func (s *Service) transition(ctx context.Context, merchantID, id uuid.UUID, to automationworkflow.Status, from []automationworkflow.Status) (*ent.AutomationWorkflow, error) {
	ctx, err := storeContext(ctx, merchantID, "workflow status")
	if err != nil {
		return nil, err
	}
	var out *ent.AutomationWorkflow
	err = db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		u := tx.AutomationWorkflow.Update().Where(automationworkflow.ID(id), automationworkflow.StatusIn(from...)).SetStatus(to)
		if to == automationworkflow.StatusACTIVE {
			u.SetActivatedAt(s.now())
		}
		n, err := u.Save(ctx)
		if err != nil {
			return err
		}
		w, err := tx.AutomationWorkflow.Get(ctx, id)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if n == 0 {
			verb := map[automationworkflow.Status]string{automationworkflow.StatusACTIVE: "activated", automationworkflow.StatusPAUSED: "paused"}[to]
			return fieldErr(CodeInvalidState, path("input", "id"), "A %s workflow cannot be %s.", strings.ToLower(string(w.Status)), verb)
		}
		out = w.Unwrap()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if to == automationworkflow.StatusACTIVE {
		s.Kick()
	}
	return out, nil
}

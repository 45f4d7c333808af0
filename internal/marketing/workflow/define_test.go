package workflow

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/dbtest"
)

// valid is a definition every case below breaks in one place.
func valid() Input {
	tmpl := uuid.New()
	return Input{
		Name:    "Flow",
		Trigger: Trigger{Type: TriggerEventTracked, EventType: "product_viewed", Filters: []map[string]any{{"property": "price", "operator": "greater_than", "value": 50}}},
		Steps: []StepInput{
			{Kind: StepWait, WaitSeconds: 60},
			{Kind: StepCondition, Condition: &ConditionInput{Kind: ConditionEventSinceEnrollment, EventType: EventOrderPaid}, YesNext: ptr(3)},
			{Kind: StepSendEmail, TemplateID: &tmpl},
			{Kind: StepAddTag, Tag: "seen"},
			{Kind: StepExit},
		},
	}
}

func TestValidate(t *testing.T) {
	type want struct {
		field string
		code  Code
	}
	cases := []struct {
		name   string
		change func(in *Input)
		want   []want
	}{
		{"valid", func(*Input) {}, nil},
		{"no name", func(in *Input) { in.Name = "  " }, []want{{"input.name", CodeRequired}}},
		{"long name", func(in *Input) { in.Name = strings.Repeat("n", 201) }, []want{{"input.name", CodeTooLong}}},
		{"long description", func(in *Input) { in.Description = strings.Repeat("d", 2001) }, []want{{"input.description", CodeTooLong}}},
		{"cooldown without re-entry", func(in *Input) { in.ReentryCooldown = 3600e9 }, []want{{"input.reentryCooldown", CodeInvalid}}},
		{"negative cooldown", func(in *Input) { in.AllowReentry, in.ReentryCooldown = true, -1 }, []want{{"input.reentryCooldown", CodeInvalid}}},
		{"no trigger", func(in *Input) { in.Trigger = Trigger{} }, []want{{"input.trigger.type", CodeRequired}}},
		{"unknown trigger", func(in *Input) { in.Trigger = Trigger{Type: "ORDER_SHIPPED"} }, []want{{"input.trigger.type", CodeInvalid}}},
		{"segment exited", func(in *Input) { in.Trigger = Trigger{Type: TriggerSegmentExited} }, []want{{"input.trigger.type", CodeUnsupported}}},
		{"no event type", func(in *Input) { in.Trigger.EventType = "" }, []want{{"input.trigger.eventType", CodeRequired}}},
		{"bad event type", func(in *Input) { in.Trigger.EventType = "has space" }, []want{{"input.trigger.eventType", CodeInvalid}}},
		{"bad filter operator", func(in *Input) { in.Trigger.Filters[0]["operator"] = "bigger" }, []want{{"input.trigger.filters.0.operator", CodeInvalid}}},
		{"filter without property", func(in *Input) { delete(in.Trigger.Filters[0], "property") }, []want{{"input.trigger.filters.0.property", CodeRequired}}},
		{"segment trigger without segment", func(in *Input) { in.Trigger = Trigger{Type: TriggerSegmentEntered} }, []want{{"input.trigger.segmentId", CodeRequired}}},
		{"cart trigger with filters", func(in *Input) { in.Trigger = Trigger{Type: TriggerCartAbandoned, EventType: "x"} }, []want{{"input.trigger", CodeInvalid}}},
		{"no steps", func(in *Input) { in.Steps = nil }, []want{{"input.steps", CodeRequired}}},
		{"too many steps", func(in *Input) { in.Steps = make([]StepInput, MaxSteps+1) }, []want{{"input.steps", CodeTooMany}}},
		{"no kind", func(in *Input) { in.Steps[4].Kind = "" }, []want{{"input.steps.4.kind", CodeRequired}}},
		{"unknown kind", func(in *Input) { in.Steps[4].Kind = "SMS" }, []want{{"input.steps.4.kind", CodeInvalid}}},
		{"webhook", func(in *Input) { in.Steps[4].Kind = StepWebhook }, []want{{"input.steps.4.kind", CodeUnsupported}}},
		{"zero wait", func(in *Input) { in.Steps[0].WaitSeconds = 0 }, []want{{"input.steps.0.waitSeconds", CodeInvalid}}},
		{"wait too long", func(in *Input) { in.Steps[0].WaitSeconds = MaxWaitSeconds + 1 }, []want{{"input.steps.0.waitSeconds", CodeInvalid}}},
		{"wait with a tag", func(in *Input) { in.Steps[0].Tag = "x" }, []want{{"input.steps.0.tag", CodeInvalid}}},
		{"email without template", func(in *Input) { in.Steps[2].TemplateID = nil }, []want{{"input.steps.2.templateId", CodeRequired}}},
		{"two-line subject", func(in *Input) { in.Steps[2].Subject = "a\nb" }, []want{{"input.steps.2.subject", CodeInvalid}}},
		{"condition without test", func(in *Input) { in.Steps[1].Condition = nil }, []want{{"input.steps.1.condition", CodeRequired}}},
		{"condition kind", func(in *Input) { in.Steps[1].Condition.Kind = "RANDOM" }, []want{{"input.steps.1.condition.kind", CodeInvalid}}},
		{"segment condition without segment", func(in *Input) { in.Steps[1].Condition = &ConditionInput{Kind: ConditionInSegment} }, []want{{"input.steps.1.condition.segmentId", CodeRequired}}},
		{"profile rule", func(in *Input) {
			in.Steps[1].Condition = &ConditionInput{Kind: ConditionProfile, Rule: map[string]any{"match": "all",
				"conditions": []any{map[string]any{"kind": "tag", "operator": "equals", "value": "vip"}}}}
		}, []want{{"input.steps.1.condition.rule.conditions.0.operator", CodeInvalid}}},
		{"order condition with filters", func(in *Input) {
			in.Steps[1].Condition.Filters = []map[string]any{{"property": "a", "operator": "exists"}}
		}, []want{{"input.steps.1.condition.filters", CodeInvalid}}},
		{"event condition filter", func(in *Input) {
			in.Steps[1].Condition = &ConditionInput{Kind: ConditionEventSinceEnrollment, EventType: "review_left",
				Filters: []map[string]any{{"property": "stars", "operator": "greater_than", "value": "four"}}}
		}, []want{{"input.steps.1.condition.filters.0.value", CodeInvalid}}},
		{"backward branch", func(in *Input) { in.Steps[1].YesNext = ptr(0) }, []want{{"input.steps.1.yesNext", CodeInvalid}}},
		{"branch to itself", func(in *Input) { in.Steps[1].NoNext = ptr(1) }, []want{{"input.steps.1.noNext", CodeInvalid}}},
		{"branch past the end", func(in *Input) { in.Steps[1].YesNext = ptr(5) }, []want{{"input.steps.1.yesNext", CodeInvalid}}},
		{"next on a condition", func(in *Input) { in.Steps[1].Next = ptr(3) }, []want{{"input.steps.1.next", CodeInvalid}}},
		{"next on the last step", func(in *Input) { in.Steps[4] = StepInput{Kind: StepAddTag, Tag: "x", Next: ptr(4)} }, []want{{"input.steps.4.next", CodeInvalid}}},
		{"empty tag", func(in *Input) { in.Steps[3].Tag = " " }, []want{{"input.steps.3.tag", CodeRequired}}},
		{"long tag", func(in *Input) { in.Steps[3].Tag = strings.Repeat("t", 65) }, []want{{"input.steps.3.tag", CodeTooLong}}},
		{"exit with next", func(in *Input) { in.Steps[4].Next = ptr(4) }, []want{{"input.steps.4.next", CodeInvalid}}},
		{"several problems", func(in *Input) { in.Name = ""; in.Steps[0].WaitSeconds = -5; in.Steps[2].TemplateID = nil },
			[]want{{"input.name", CodeRequired}, {"input.steps.0.waitSeconds", CodeInvalid}, {"input.steps.2.templateId", CodeRequired}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.change(&in)
			p := &problems{}
			validate(p, in)
			var got []want
			for _, fe := range p.list {
				got = append(got, want{strings.Join(fe.Field, "."), fe.Code})
				if fe.Message == "" {
					t.Errorf("%v has no message", fe.Field)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("errors %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("errors %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestSetAttributeNeedsTheSchema(t *testing.T) {
	in := valid()
	in.Steps[3] = StepInput{Kind: StepSetAttribute, Attribute: "stage", Value: "browsing"}
	p := &problems{}
	validate(p, in)
	if setAttributeStored() {
		if len(p.list) != 0 {
			t.Fatalf("errors %v", p.list)
		}
		return
	}
	if len(p.list) != 1 || p.list[0].Code != CodeUnsupported || strings.Join(p.list[0].Field, ".") != "input.steps.3.kind" {
		t.Fatalf("errors %v; want UNSUPPORTED on input.steps.3.kind while workflow_steps.kind lacks SET_ATTRIBUTE", p.list)
	}
	in.Steps[3].Attribute = "bad key"
	p = &problems{}
	validate(p, in)
	if len(p.list) != 2 || strings.Join(p.list[1].Field, ".") != "input.steps.3.attribute" {
		t.Fatalf("errors %v; want the attribute key refused too", p.list)
	}
}

// TestCreateChecksReferences: templates and segments must be the store's.
func TestCreateChecksReferences(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			other := newEnv(t, b) // in another database: its ids are unknown here
			s := e.service("p")
			archived, err := e.d.Client.EmailTemplate.Create().SetName("old").SetSubject("s").SetArchived(true).Save(e.store)
			if err != nil {
				t.Fatal(err)
			}
			seg := uuid.New()
			in := Input{Name: "refs", Trigger: Trigger{Type: TriggerSegmentEntered, SegmentID: &seg},
				Steps: []StepInput{
					{Kind: StepSendEmail, TemplateID: ptr(other.tmpl["cart"])},
					{Kind: StepSendEmail, TemplateID: &archived.ID},
					{Kind: StepCondition, Condition: &ConditionInput{Kind: ConditionInSegment, SegmentID: &seg}},
					{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["cart"])},
				}}
			_, err = s.Create(e.staff, e.mid, in)
			ue, ok := IsUserError(err)
			if !ok {
				t.Fatalf("err %v, want user errors", err)
			}
			var got []string
			for _, fe := range ue.Errors {
				got = append(got, strings.Join(fe.Field, ".")+":"+string(fe.Code))
			}
			want := "input.trigger.segmentId:NOT_FOUND input.steps.0.templateId:NOT_FOUND input.steps.1.templateId:INVALID input.steps.2.condition.segmentId:NOT_FOUND"
			if strings.Join(got, " ") != want {
				t.Fatalf("errors\n %s\nwant\n %s", strings.Join(got, " "), want)
			}
			if n, _ := e.d.Client.AutomationWorkflow.Query().Count(e.store); n != 0 {
				t.Fatalf("%d workflows stored after a refused create", n)
			}
			// Stored form of a valid definition.
			sg, err := e.d.Client.CustomerSegment.Create().SetName("vips").Save(e.store)
			if err != nil {
				t.Fatal(err)
			}
			in.Trigger.SegmentID = &sg.ID
			in.Steps = []StepInput{
				{Kind: StepCondition, Name: "vip?", Condition: &ConditionInput{Kind: ConditionInSegment, SegmentID: &sg.ID}, YesNext: ptr(2)},
				{Kind: StepWait, WaitSeconds: 90, Next: ptr(3)},
				{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["cart"]), Subject: "Hi"},
				{Kind: StepExit},
			}
			w, err := s.Create(e.staff, e.mid, in)
			if err != nil {
				t.Fatal(err)
			}
			steps, err := w.QuerySteps().All(e.store)
			if err != nil || len(steps) != 4 {
				t.Fatalf("steps %d, %v", len(steps), err)
			}
			byPos := map[int]int{}
			for i, st := range steps {
				byPos[st.Position] = i
			}
			c, wt, se := steps[byPos[0]], steps[byPos[1]], steps[byPos[2]]
			if c.Name != "vip?" || c.Branches["true"] != float64(2) || c.Branches["false"] != nil || c.Config["condition"] == nil {
				t.Fatalf("condition step %+v", c)
			}
			if wt.WaitSeconds != 90 || wt.NextPosition == nil || *wt.NextPosition != 3 {
				t.Fatalf("wait step %+v", wt)
			}
			if se.TemplateID == nil || *se.TemplateID != e.tmpl["cart"] || se.Config["subject"] != "Hi" {
				t.Fatalf("email step %+v", se)
			}
			if w.TriggerConfig["segmentId"] != sg.ID.String() {
				t.Fatalf("trigger config %v", w.TriggerConfig)
			}
		})
	}
}

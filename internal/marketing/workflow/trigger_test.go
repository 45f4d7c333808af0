package workflow

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/automationworkflow"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/workflowenrollment"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer/mailpittest"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
)

func TestTriggerMatches(t *testing.T) {
	seg := uuid.New()
	tracked := func(typ string, props map[string]any) *trigger {
		return &trigger{tracked: &segment.Event{Type: typ, Properties: props, OccurredAt: time.Now()}}
	}
	eventWF := func(typ string, filters ...map[string]any) *ent.AutomationWorkflow {
		cfg := map[string]any{"eventType": typ}
		if len(filters) > 0 {
			cfg = toMap(map[string]any{"eventType": typ, "filters": filters})
		}
		return &ent.AutomationWorkflow{TriggerType: automationworkflow.TriggerTypeEVENT_TRACKED, TriggerConfig: cfg}
	}
	cases := []struct {
		name string
		w    *ent.AutomationWorkflow
		tr   *trigger
		want bool
	}{
		{"event type", eventWF("product_viewed"), tracked("product_viewed", nil), true},
		{"other event type", eventWF("product_viewed"), tracked("page_viewed", nil), false},
		{"filter equals", eventWF("product_viewed", map[string]any{"property": "category", "operator": "equals", "value": "shoes"}),
			tracked("product_viewed", map[string]any{"category": "shoes"}), true},
		{"filter equals, other value", eventWF("product_viewed", map[string]any{"property": "category", "operator": "equals", "value": "shoes"}),
			tracked("product_viewed", map[string]any{"category": "hats"}), false},
		{"filter greater_than", eventWF("product_viewed", map[string]any{"property": "price", "operator": "greater_than", "value": 50}),
			tracked("product_viewed", map[string]any{"price": 80.0}), true},
		{"filter greater_than, missing", eventWF("product_viewed", map[string]any{"property": "price", "operator": "greater_than", "value": 50}),
			tracked("product_viewed", nil), false},
		{"filter not_exists", eventWF("product_viewed", map[string]any{"property": "coupon", "operator": "not_exists"}),
			tracked("product_viewed", map[string]any{"price": 1.0}), true},
		{"two filters, one fails", eventWF("product_viewed",
			map[string]any{"property": "category", "operator": "in", "value": []any{"shoes", "hats"}},
			map[string]any{"property": "price", "operator": "less_than", "value": 10}),
			tracked("product_viewed", map[string]any{"category": "hats", "price": 20.0}), false},
		{"no tracked event", eventWF("product_viewed"), &trigger{}, false},
		{"segment", &ent.AutomationWorkflow{TriggerType: automationworkflow.TriggerTypeSEGMENT_ENTERED, TriggerConfig: map[string]any{"segmentId": seg.String()}},
			&trigger{segmentID: seg}, true},
		{"other segment", &ent.AutomationWorkflow{TriggerType: automationworkflow.TriggerTypeSEGMENT_ENTERED, TriggerConfig: map[string]any{"segmentId": seg.String()}},
			&trigger{segmentID: uuid.New()}, false},
		{"customer created", &ent.AutomationWorkflow{TriggerType: automationworkflow.TriggerTypeCUSTOMER_CREATED}, &trigger{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := matches(tc.w, tc.tr); got != tc.want {
				t.Fatalf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTriggersAndConditions enrols through every trigger kind and branches
// on every condition kind.
func TestTriggersAndConditions(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			s := e.service("p")
			seg, err := e.d.Client.CustomerSegment.Create().SetName("vips").Save(e.store)
			if err != nil {
				t.Fatal(err)
			}
			// yes → tag "yes", no → tag "no".
			branch := func(c ConditionInput) []StepInput {
				return []StepInput{
					{Kind: StepCondition, Condition: &c, YesNext: ptr(1), NoNext: ptr(3)},
					{Kind: StepAddTag, Tag: "yes"},
					{Kind: StepExit},
					{Kind: StepAddTag, Tag: "no"},
				}
			}
			inSeg := e.create(s, Input{Name: "seg", Trigger: Trigger{Type: TriggerSegmentEntered, SegmentID: &seg.ID},
				Steps: branch(ConditionInput{Kind: ConditionInSegment, SegmentID: &seg.ID})})
			reviewed := e.create(s, Input{Name: "viewed", Trigger: Trigger{Type: TriggerEventTracked, EventType: "product_viewed",
				Filters: []map[string]any{{"property": "category", "operator": "equals", "value": "shoes"}}},
				Steps: append([]StepInput{{Kind: StepWait, WaitSeconds: 600}}, shift(branch(ConditionInput{Kind: ConditionEventSinceEnrollment,
					EventType: "review_left", Filters: []map[string]any{{"property": "stars", "operator": "greater_than", "value": 3}}}), 1)...)})
			profile := e.create(s, Input{Name: "placed", Trigger: Trigger{Type: TriggerOrderPlaced},
				Steps: branch(ConditionInput{Kind: ConditionProfile, Rule: map[string]any{"match": "all", "conditions": []any{
					map[string]any{"kind": "attribute", "key": "plan", "operator": "equals", "value": "pro"}}}})})

			member := e.customer("member@ok.test", customer.EmailConsentSUBSCRIBED)
			if err := e.d.Client.SegmentMember.Create().SetSegmentID(seg.ID).SetCustomerID(member.ID).Exec(e.store); err != nil {
				t.Fatal(err)
			}
			left := e.customer("left@ok.test", customer.EmailConsentSUBSCRIBED) // entered, then left before the step ran
			for _, cu := range []*ent.Customer{member, left} {
				e.handle(s, e.event(events.SegmentEntered{SegmentID: seg.ID, CustomerID: cu.ID, EnteredAt: e.clock.Now()}))
			}
			e.handle(s, e.event(events.SegmentEntered{SegmentID: uuid.New(), CustomerID: member.ID})) // another segment

			happy := e.customer("happy@ok.test", customer.EmailConsentSUBSCRIBED)
			grumpy := e.customer("grumpy@ok.test", customer.EmailConsentSUBSCRIBED)
			viewed := func(cu *ent.Customer, category string) {
				e.handle(s, e.event(events.CustomerEventTracked{EventID: uuid.New(), CustomerID: &cu.ID, Type: "product_viewed",
					Properties: map[string]any{"category": category}, OccurredAt: e.clock.Now()}))
			}
			viewed(happy, "shoes")
			viewed(grumpy, "shoes")
			viewed(member, "hats") // filtered out
			e.handle(s, e.event(events.CustomerEventTracked{EventID: uuid.New(), AnonymousID: "anon", Type: "product_viewed",
				Properties: map[string]any{"category": "shoes"}})) // anonymous: nobody to enrol

			pro := e.customer("pro@ok.test", customer.EmailConsentSUBSCRIBED)
			if err := e.d.Client.Customer.UpdateOneID(pro.ID).SetProperties(map[string]any{"plan": "pro"}).Exec(e.store); err != nil {
				t.Fatal(err)
			}
			free := e.customer("free@ok.test", customer.EmailConsentSUBSCRIBED)
			for _, cu := range []*ent.Customer{pro, free} {
				o := e.order(e.cart(cu, cu.Email), nil) // a guest order: the customer comes from its email
				e.handle(s, e.event(events.OrderCreated{OrderState: events.OrderState{OrderID: o.ID, OrderNumber: o.OrderNumber, Status: "PENDING"}}))
			}

			e.runOnce(s)
			e.clock.Advance(5 * time.Minute)
			for _, stars := range []int{5, 2} { // happy leaves a good review, grumpy a bad one
				cu := happy
				if stars == 2 {
					cu = grumpy
				}
				if err := e.d.Client.CustomerEvent.Create().SetCustomerID(cu.ID).SetType("review_left").
					SetProperties(map[string]any{"stars": stars}).Exec(e.store); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(5 * time.Minute)
			e.runOnce(s)

			check := func(w *ent.AutomationWorkflow, want map[*ent.Customer]string) {
				t.Helper()
				rows := e.enrollments(w.ID)
				if len(rows) != len(want) {
					t.Fatalf("workflow %s: %d enrollments, want %d", w.Name, len(rows), len(want))
				}
				for cu, tag := range want {
					en := e.enrollment(w.ID, cu.ID)
					got, err := e.d.Client.Customer.Get(e.store, cu.ID)
					if err != nil {
						t.Fatal(err)
					}
					if !contains(got.Tags, tag) || en.Status != workflowenrollment.StatusCOMPLETED && en.Status != workflowenrollment.StatusEXITED {
						t.Fatalf("workflow %s, %s: tags %v, enrollment %s; want tag %q and an ended run", w.Name, cu.Email, got.Tags, en.Status, tag)
					}
				}
			}
			check(inSeg, map[*ent.Customer]string{member: "yes", left: "no"})
			check(reviewed, map[*ent.Customer]string{happy: "yes", grumpy: "no"})
			check(profile, map[*ent.Customer]string{pro: "yes", free: "no"})
		})
	}
}

// shift moves the positions of steps' jumps by n (they are prefixed with n
// steps).
func shift(steps []StepInput, n int) []StepInput {
	for i := range steps {
		for _, p := range []**int{&steps[i].YesNext, &steps[i].NoNext, &steps[i].Next} {
			if *p != nil {
				*p = ptr(**p + n)
			}
		}
	}
	return steps
}

// TestConcurrentSchedulers: two schedulers (processes) advance the same
// enrollments at once; each customer gets exactly one email (mailpit).
func TestConcurrentSchedulers(t *testing.T) {
	e := newEnv(t, dbtest.Postgres)
	smtpAddr, api := mailpittest.Start(t)
	cfg, err := mailer.ParseURL("smtp://u:p@" + smtpAddr + "?tls=none&pool=4")
	if err != nil {
		t.Fatal(err)
	}
	smtp, err := mailer.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	mk := func(id string) *Service {
		return New(e.d, smtp, testRenderer{}, Config{Now: e.clock.Now, WorkerID: id, Workers: 4, BatchSize: 20}, nil)
	}
	a, b := mk("a"), mk("b")
	w := e.create(a, Input{Name: "welcome", Trigger: Trigger{Type: TriggerCustomerCreated},
		Steps: []StepInput{{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-1"])}, {Kind: StepAddTag, Tag: "welcomed"}}})
	const n = 60
	want := map[string]bool{}
	for i := range n {
		cu := e.customer(fmt.Sprintf("c%02d@ok.test", i), customer.EmailConsentSUBSCRIBED)
		want[cu.Email] = true
		ev := e.event(events.CustomerCreated{CustomerID: cu.ID, Email: cu.Email})
		// Delivered to both processes' consumers at once.
		var wg sync.WaitGroup
		for _, s := range []*Service{a, b} {
			wg.Go(func() {
				if err := s.HandleEvent(context.Background(), ev); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b, a, b} {
		wg.Go(func() {
			if _, err := s.RunOnce(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e.runOnce(a) // whatever a lost claim left due

	msgs, err := mailpittest.Messages(context.Background(), api)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range msgs {
		for _, to := range m.To {
			got[to.Address]++
		}
	}
	for addr := range want {
		if got[addr] != 1 {
			t.Errorf("%s received %d mails, want 1", addr, got[addr])
		}
	}
	if len(msgs) != n {
		t.Errorf("%d mails in all, want %d", len(msgs), n)
	}
	if wf := e.workflow(w.ID); wf.EnrolledCount != n || wf.CompletedCount != n {
		t.Errorf("counters enrolled %d completed %d, want %d", wf.EnrolledCount, wf.CompletedCount, n)
	}
	sent, err := e.d.Client.EmailSend.Query().Where(emailsend.StatusEQ(emailsend.StatusSENT)).Count(e.store)
	if err != nil || sent != n {
		t.Errorf("%d SENT rows (%v), want %d", sent, err, n)
	}
	rows := e.enrollments(w.ID)
	for _, r := range rows {
		if r.Status != workflowenrollment.StatusCOMPLETED || r.LockedBy != "" {
			t.Fatalf("enrollment %s locked by %q", r.Status, r.LockedBy)
		}
	}
}

package workflow

import (
	"context"
	"fmt"
	"strings"
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
)

// abandonedCart is: wait 1h; converted? → exit; else send the cart email.
func abandonedCart(e *env) Input {
	return Input{
		Name:    "Abandoned cart",
		Trigger: Trigger{Type: TriggerCartAbandoned},
		Steps: []StepInput{
			{Kind: StepWait, WaitSeconds: 3600},
			{Kind: StepCondition, Condition: &ConditionInput{Kind: ConditionEventSinceEnrollment, EventType: EventOrderCreated},
				YesNext: ptr(2), NoNext: ptr(3)},
			{Kind: StepExit, Name: "converted"},
			{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["cart"])},
		},
	}
}

func abandoned(e *env, cart *ent.ShoppingCart) events.Event {
	return e.event(events.CartAbandoned{CartState: events.CartState{CartID: cart.ID, CustomerID: cart.CustomerID, Email: cart.Email,
		ItemCount: 1, Currency: "USD", TotalAmount: cart.TotalAmount}, AbandonedAt: e.clock.Now()})
}

func TestAbandonedCartSendsAfterTheWaitAcrossARestart(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			first := e.service("process-1")
			w := e.create(first, abandonedCart(e))
			cu := e.customer("ann@ok.test", customer.EmailConsentSUBSCRIBED)
			cart := e.cart(cu, cu.Email)
			ev := abandoned(e, cart)
			e.handle(first, ev)
			e.handle(first, ev) // redelivered: enrols once

			e.runOnce(first)
			en := e.enrollment(w.ID, cu.ID)
			if en.Status != workflowenrollment.StatusWAITING || en.NextRunAt == nil || !en.NextRunAt.Equal(e.clock.Now().Add(time.Hour)) {
				t.Fatalf("after the first run: status %s next_run_at %v; want WAITING until %v", en.Status, en.NextRunAt, e.clock.Now().Add(time.Hour))
			}
			if en.LockedBy != "" || en.LockedUntil != nil {
				t.Fatalf("a waiting enrollment keeps the lease of %q", en.LockedBy)
			}
			e.clock.Advance(59 * time.Minute)
			e.runOnce(first)
			if n := e.mail.Total(); n != 0 {
				t.Fatalf("%d mails before the wait ended", n)
			}

			// "Restart": the first scheduler is gone, a new one takes over.
			second := e.service("process-2")
			e.clock.Advance(time.Minute)
			e.runOnce(second)
			if got := e.mailsTo(); got[cu.Email] != 1 || len(got) != 1 {
				t.Fatalf("mails after the wait: %v; want one to %s", got, cu.Email)
			}
			e.runOnce(second)
			e.runOnce(first)
			if n := e.mail.Total(); n != 1 {
				t.Fatalf("%d mails in all, want 1", n)
			}
			en = e.enrollment(w.ID, cu.ID)
			if en.Status != workflowenrollment.StatusCOMPLETED || en.CompletedAt == nil || en.CurrentStepID != nil {
				t.Fatalf("enrollment %s (step %v), want COMPLETED", en.Status, en.CurrentStepID)
			}
			sends := e.sendsOf(en.ID)
			if len(sends) != 1 || sends[0].Status != emailsend.StatusSENT || sends[0].Kind != emailsend.KindAUTOMATION ||
				!strings.HasPrefix(sends[0].IdempotencyKey, "enrollment:"+en.ID.String()+":step:") || sends[0].MessageID == nil {
				t.Fatalf("email_sends: %+v", sends)
			}
			if m := e.mail.Messages()[0]; m.Subject != "Subject cart / ann@ok.test" || m.From != "shop@shop.test" ||
				m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Fatalf("message %+v", m)
			}
			got := e.workflow(w.ID)
			if got.EnrolledCount != 1 || got.CompletedCount != 1 {
				t.Fatalf("workflow counters enrolled %d completed %d, want 1 and 1", got.EnrolledCount, got.CompletedCount)
			}
		})
	}
}

func TestAbandonedCartConvertedSendsNothing(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			s := e.service("p")
			w := e.create(s, abandonedCart(e))
			// By cart: a guest-style order of the cart (no customer id on it).
			bob := e.customer("bob@ok.test", customer.EmailConsentSUBSCRIBED)
			bobCart := e.cart(bob, bob.Email)
			// By customer: an order of another cart, placed during the wait.
			cat := e.customer("cat@ok.test", customer.EmailConsentSUBSCRIBED)
			catCart := e.cart(cat, cat.Email)
			// Not converted: gets the mail.
			dan := e.customer("dan@ok.test", customer.EmailConsentSUBSCRIBED)
			danCart := e.cart(dan, dan.Email)
			for _, c := range []*ent.ShoppingCart{bobCart, catCart, danCart} {
				e.handle(s, abandoned(e, c))
			}
			e.runOnce(s)
			e.clock.Advance(30 * time.Minute)
			e.order(bobCart, nil)
			e.order(e.cart(cat, cat.Email), cat)
			e.clock.Advance(31 * time.Minute)
			e.runOnce(s)
			if got := e.mailsTo(); len(got) != 1 || got[dan.Email] != 1 {
				t.Fatalf("mails %v; want one to dan only", got)
			}
			for _, cu := range []*ent.Customer{bob, cat} {
				en := e.enrollment(w.ID, cu.ID)
				if en.Status != workflowenrollment.StatusEXITED || en.ExitReason != ReasonExitStep || len(e.sendsOf(en.ID)) != 0 {
					t.Fatalf("%s: enrollment %s (%q), %d sends; want EXITED by the exit step, none", cu.Email, en.Status, en.ExitReason, len(e.sendsOf(en.ID)))
				}
			}
			if got := e.workflow(w.ID); got.EnrolledCount != 3 || got.CompletedCount != 1 {
				t.Fatalf("counters enrolled %d completed %d, want 3 and 1", got.EnrolledCount, got.CompletedCount)
			}
		})
	}
}

func TestGuestCartGetsAProfileAndNoMailWithoutConsent(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			s := e.service("p")
			w := e.create(s, abandonedCart(e))
			cart := e.cart(nil, "Guest@OK.test")
			ev := abandoned(e, cart)
			e.handle(s, ev)
			e.handle(s, ev)
			cu, err := e.d.Client.Customer.Query().Where(customer.Email("guest@ok.test")).Only(e.store)
			if err != nil {
				t.Fatalf("guest profile: %v", err)
			}
			if cu.Source != customer.SourceCHECKOUT || cu.EmailConsent != customer.EmailConsentUNSUBSCRIBED {
				t.Fatalf("guest profile source %s consent %s; want CHECKOUT with the default consent", cu.Source, cu.EmailConsent)
			}
			e.runOnce(s)
			e.clock.Advance(2 * time.Hour)
			e.runOnce(s)
			en := e.enrollment(w.ID, cu.ID)
			if en.Status != workflowenrollment.StatusCOMPLETED || e.mail.Total() != 0 || len(e.sendsOf(en.ID)) != 0 {
				t.Fatalf("enrollment %s, %d mails, %d sends; want COMPLETED without mail", en.Status, e.mail.Total(), len(e.sendsOf(en.ID)))
			}
			// A second abandonment of the same guest is not enrolled (no re-entry).
			e.handle(s, abandoned(e, e.cart(nil, "guest@ok.test")))
			if n := len(e.enrollments(w.ID)); n != 1 {
				t.Fatalf("%d enrollments, want 1", n)
			}
		})
	}
}

// TestRunSurvivesRestart drives the real Run loop: it is stopped during
// the wait and another one started, which sends once the wait is over.
func TestRunSurvivesRestart(t *testing.T) {
	e := newEnv(t, dbtest.SQLite)
	first := e.service("p1")
	w := e.create(first, abandonedCart(e))
	cu := e.customer("eve@ok.test", customer.EmailConsentSUBSCRIBED)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	e.handle(first, abandoned(e, e.cart(cu, cu.Email)))
	waitFor(t, func() bool { return e.enrollment(w.ID, cu.ID).Status == workflowenrollment.StatusWAITING })
	stop()
	<-done

	second := e.service("p2")
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	done2 := make(chan struct{})
	go func() { second.Run(ctx2); close(done2) }()
	e.clock.Advance(time.Hour)
	second.Kick()
	waitFor(t, func() bool { return e.enrollment(w.ID, cu.ID).Status == workflowenrollment.StatusCOMPLETED })
	stop2()
	<-done2
	if got := e.mailsTo(); len(got) != 1 || got[cu.Email] != 1 {
		t.Fatalf("mails %v, want one to %s", got, cu.Email)
	}
}

// waitFor polls cond until it holds; the deadline only bounds a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInterruptedSendIsNeverRepeated(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			s := e.service("p")
			w := e.create(s, Input{Name: "One mail", Trigger: Trigger{Type: TriggerCustomerCreated},
				Steps: []StepInput{{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-1"])}}})
			cu := e.customer("fay@ok.test", customer.EmailConsentSUBSCRIBED)
			e.handle(s, e.event(events.CustomerCreated{CustomerID: cu.ID, Email: cu.Email}))
			en := e.enrollment(w.ID, cu.ID)
			// A process claimed the email and died before recording the outcome.
			step := *en.CurrentStepID
			if err := e.d.Client.EmailSend.Create().SetMerchantID(e.mid).SetEnrollmentID(en.ID).SetWorkflowStepID(step).
				SetCustomerID(cu.ID).SetKind(emailsend.KindAUTOMATION).SetToEmail(cu.Email).SetSubject("x").
				SetStatus(emailsend.StatusSENDING).SetIdempotencyKey(fmt.Sprintf("enrollment:%s:step:%s", en.ID, step)).
				SetTrackingToken(newToken()).Exec(e.store); err != nil {
				t.Fatal(err)
			}
			e.runOnce(s)
			if n := e.mail.Total(); n != 0 {
				t.Fatalf("%d mails; an interrupted send must not be repeated", n)
			}
			sends := e.sendsOf(en.ID)
			if len(sends) != 1 || sends[0].Status != emailsend.StatusFAILED || sends[0].LastError != ReasonInterrupted {
				t.Fatalf("sends %+v; want the one row FAILED interrupted", sends)
			}
			if en = e.enrollment(w.ID, cu.ID); en.Status != workflowenrollment.StatusCOMPLETED {
				t.Fatalf("enrollment %s, want COMPLETED", en.Status)
			}
		})
	}
}

func TestWelcomeSeries(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			s := e.service("p")
			in := Input{Name: "Welcome", Trigger: Trigger{Type: TriggerCustomerCreated},
				Steps: []StepInput{
					{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-1"])},
					{Kind: StepWait, WaitSeconds: 2 * 24 * 3600},
					{Kind: StepAddTag, Tag: "welcomed"},
					{Kind: StepCondition, Condition: &ConditionInput{Kind: ConditionProfile,
						Rule: map[string]any{"match": "all", "conditions": []any{map[string]any{"kind": "tag", "operator": "has", "value": "vip"}}}},
						YesNext: ptr(5)},
					{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-2"]), Subject: "For everyone", Next: ptr(6)},
					{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-2"])},
					{Kind: StepRemoveTag, Tag: "new"},
				}}
			w, err := s.Create(e.staff, e.mid, in)
			if err != nil {
				t.Fatal(err)
			}
			early := e.customer("early@ok.test", customer.EmailConsentSUBSCRIBED)
			e.handle(s, e.event(events.CustomerCreated{CustomerID: early.ID, Email: early.Email}))
			if n := len(e.enrollments(w.ID)); n != 0 {
				t.Fatalf("a DRAFT workflow enrolled %d customers", n)
			}
			if _, err := s.Activate(e.staff, e.mid, w.ID); err != nil {
				t.Fatal(err)
			}
			gus := e.customer("gus@ok.test", customer.EmailConsentSUBSCRIBED)
			if err := e.d.Client.Customer.UpdateOneID(gus.ID).SetTags([]string{"new"}).Exec(e.store); err != nil {
				t.Fatal(err)
			}
			vip := e.customer("vip@ok.test", customer.EmailConsentSUBSCRIBED)
			if err := e.d.Client.Customer.UpdateOneID(vip.ID).SetTags([]string{"vip"}).Exec(e.store); err != nil {
				t.Fatal(err)
			}
			off := e.customer("off@ok.test", customer.EmailConsentUNSUBSCRIBED)
			for _, cu := range []*ent.Customer{gus, vip, off} {
				e.handle(s, e.event(events.CustomerCreated{CustomerID: cu.ID, Email: cu.Email}))
			}
			e.runOnce(s)
			if got := e.mailsTo(); len(got) != 2 || got[gus.Email] != 1 || got[vip.Email] != 1 {
				t.Fatalf("first mails %v; want one each to gus and vip", got)
			}
			// Paused, the series holds; activated again, it goes on.
			if _, err := s.Pause(e.staff, e.mid, w.ID); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(3 * 24 * time.Hour)
			e.runOnce(s)
			if n := e.mail.Total(); n != 2 {
				t.Fatalf("%d mails while paused, want 2", n)
			}
			if _, err := s.Activate(e.staff, e.mid, w.ID); err != nil {
				t.Fatal(err)
			}
			e.runOnce(s)
			if got := e.mailsTo(); len(got) != 2 || got[gus.Email] != 2 || got[vip.Email] != 2 {
				t.Fatalf("mails %v; want two each to gus and vip", got)
			}
			subjects := map[string]string{}
			for _, m := range e.mail.Messages()[2:] {
				subjects[m.To] = m.Subject
			}
			if subjects[gus.Email] != "For everyone / gus@ok.test" || subjects[vip.Email] != "Subject welcome-2 / vip@ok.test" {
				t.Fatalf("second subjects %v", subjects)
			}
			for _, cu := range []*ent.Customer{gus, vip, off} {
				got, err := e.d.Client.Customer.Get(e.store, cu.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !contains(got.Tags, "welcomed") || contains(got.Tags, "new") {
					t.Fatalf("%s tags %v; want welcomed and not new", cu.Email, got.Tags)
				}
				if en := e.enrollment(w.ID, cu.ID); en.Status != workflowenrollment.StatusCOMPLETED {
					t.Fatalf("%s enrollment %s", cu.Email, en.Status)
				}
			}
			// vip took the yes branch: one send row at step 5, none at step 4.
			en := e.enrollment(w.ID, vip.ID)
			if n := len(e.sendsOf(en.ID)); n != 2 {
				t.Fatalf("vip has %d send rows, want 2", n)
			}
			if got := e.workflow(w.ID); got.EnrolledCount != 3 || got.CompletedCount != 3 {
				t.Fatalf("counters enrolled %d completed %d, want 3 and 3", got.EnrolledCount, got.CompletedCount)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestReentry(t *testing.T) {
	cases := []struct {
		name     string
		allow    bool
		cooldown time.Duration
		gap      time.Duration
		want     int
	}{
		{"no re-entry", false, 0, 48 * time.Hour, 1},
		{"re-entry without cooldown", true, 0, time.Minute, 2},
		{"re-entry inside the cooldown", true, 24 * time.Hour, time.Hour, 1},
		{"re-entry after the cooldown", true, 24 * time.Hour, 25 * time.Hour, 2},
	}
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			s := e.service("p")
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					w := e.create(s, Input{Name: tc.name, Trigger: Trigger{Type: TriggerOrderPaid}, AllowReentry: tc.allow,
						ReentryCooldown: tc.cooldown, Steps: []StepInput{{Kind: StepAddTag, Tag: "buyer"}}})
					cu := e.customer(strings.ReplaceAll(tc.name, " ", "-")+"@ok.test", customer.EmailConsentSUBSCRIBED)
					paid := func() {
						o := e.order(e.cart(cu, cu.Email), cu)
						e.handle(s, e.event(events.OrderPaid{OrderState: events.OrderState{OrderID: o.ID, OrderNumber: o.OrderNumber,
							CustomerID: &cu.ID, Status: "PAID", Currency: "USD", TotalAmount: 4200}, Amount: 4200}))
					}
					paid()
					e.runOnce(s) // the first run completes at once
					e.clock.Advance(tc.gap)
					paid()
					if n := len(e.enrollments(w.ID)); n != tc.want {
						t.Fatalf("%d enrollments, want %d", n, tc.want)
					}
					if got := e.workflow(w.ID).EnrolledCount; got != tc.want {
						t.Fatalf("enrolled_count %d, want %d", got, tc.want)
					}
				})
			}
		})
	}
}

func TestActivatePause(t *testing.T) {
	e := newEnv(t, dbtest.SQLite)
	s := e.service("p")
	w, err := s.Create(e.staff, e.mid, Input{Name: "x", Trigger: Trigger{Type: TriggerCustomerCreated}, Steps: []StepInput{{Kind: StepAddTag, Tag: "t"}}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != automationworkflow.StatusDRAFT {
		t.Fatalf("created %s, want DRAFT", w.Status)
	}
	steps := []struct {
		op   string
		want automationworkflow.Status
		err  bool
	}{
		{"pause", "", true},
		{"activate", automationworkflow.StatusACTIVE, false},
		{"activate", "", true},
		{"pause", automationworkflow.StatusPAUSED, false},
		{"pause", "", true},
		{"activate", automationworkflow.StatusACTIVE, false},
	}
	for i, st := range steps {
		f := s.Activate
		if st.op == "pause" {
			f = s.Pause
		}
		got, err := f(e.staff, e.mid, w.ID)
		if st.err {
			ue, ok := IsUserError(err)
			if !ok || ue.Errors[0].Code != CodeInvalidState || strings.Join(ue.Errors[0].Field, ".") != "input.id" {
				t.Fatalf("step %d %s: err %v; want INVALID_STATE on input.id", i, st.op, err)
			}
			continue
		}
		if err != nil || got.Status != st.want {
			t.Fatalf("step %d %s: %v, %v; want %s", i, st.op, got, err, st.want)
		}
	}
	if _, err := s.Activate(e.staff, e.mid, uuid.New()); err != ErrNotFound {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	other := newEnv(t, dbtest.SQLite)
	if _, err := s.Pause(other.staff, e.mid, w.ID); err == nil {
		t.Fatal("another store's staff paused the workflow")
	}
}

package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/workflowenrollment"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// clock is a settable clock shared by the schedulers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testRenderer renders the template's subject with the customer's email
// and the unsubscribe headers of the send's token.
type testRenderer struct{}

func (testRenderer) Render(_ context.Context, in RenderInput) (string, string, string, map[string]string, error) {
	tok := in.Send.TrackingToken
	return in.Subject + " / " + in.Customer.Email, "<p>" + in.Template.HTMLBody + "</p>", in.Template.HTMLBody,
		map[string]string{"List-Unsubscribe": "<https://shop.test/t/u/" + tok + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}, nil
}

// env is one store with a mail sink and a clock.
type env struct {
	t     testing.TB
	b     dbtest.Backend
	d     *db.DB
	mid   uuid.UUID
	staff context.Context
	store context.Context
	clock *clock
	mail  *mailer.Log
	tmpl  map[string]uuid.UUID
}

func newEnv(t testing.TB, b dbtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, b)
	m, err := d.Client.MerchantAccount.Create().SetName("Shop").SetSlug("shop-" + uuid.NewString()[:8]).
		SetContactEmail("shop@shop.test").Save(viewer.SystemContext(ctx, "test seed"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, b: b, d: d, mid: m.ID, clock: newClock(), mail: mailer.NewLog(nil, 10000), tmpl: map[string]uuid.UUID{}}
	e.staff = viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()})
	e.store = viewer.ActAsStore(ctx, m.ID, "test")
	for _, name := range []string{"cart", "welcome-1", "welcome-2"} {
		tp, err := d.Client.EmailTemplate.Create().SetName(name).SetSubject("Subject " + name).SetHTMLBody("Body " + name).
			SetKind("AUTOMATION").Save(e.store)
		if err != nil {
			t.Fatal(err)
		}
		e.tmpl[name] = tp.ID
	}
	return e
}

// service returns a scheduler of its own (a "process") on the env's clock.
func (e *env) service(id string) *Service {
	return New(e.d, e.mail, testRenderer{}, Config{Now: e.clock.Now, WorkerID: id, PollInterval: 10 * time.Millisecond}, nil)
}

func (e *env) customer(email string, consent customer.EmailConsent) *ent.Customer {
	e.t.Helper()
	c, err := e.d.Client.Customer.Create().SetEmail(email).SetFirstName(strings.Split(email, "@")[0]).
		SetEmailConsent(consent).Save(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) cart(cu *ent.Customer, email string) *ent.ShoppingCart {
	e.t.Helper()
	q := e.d.Client.ShoppingCart.Create().SetToken(uuid.NewString()).SetEmail(email).SetTotalAmount(4200).SetSubtotalAmount(4200)
	if cu != nil {
		q.SetCustomerID(cu.ID)
	}
	c, err := q.Save(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

var orderNumber struct {
	sync.Mutex
	n int
}

func (e *env) order(cart *ent.ShoppingCart, cu *ent.Customer) *ent.Order {
	e.t.Helper()
	orderNumber.Lock()
	orderNumber.n++
	n := 1000 + orderNumber.n
	orderNumber.Unlock()
	q := e.d.Client.Order.Create().SetOrderNumber(n).SetEmail(cart.Email).SetCartID(cart.ID).SetTotalAmount(cart.TotalAmount)
	if cu != nil {
		q.SetCustomerID(cu.ID)
	}
	o, err := q.Save(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// event makes the durable-path event of m.
func (e *env) event(m events.Message) events.Event {
	e.t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	a := m.Aggregate()
	return events.Event{ID: uuid.New(), MerchantID: e.mid, Topic: m.Topic(), AggregateType: a.Type, AggregateID: a.ID,
		Payload: raw, OccurredAt: e.clock.Now()}
}

func (e *env) create(s *Service, in Input) *ent.AutomationWorkflow {
	e.t.Helper()
	w, err := s.Create(e.staff, e.mid, in)
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	if w, err = s.Activate(e.staff, e.mid, w.ID); err != nil {
		e.t.Fatalf("Activate: %v", err)
	}
	return w
}

func (e *env) handle(s *Service, ev events.Event) {
	e.t.Helper()
	if err := s.HandleEvent(context.Background(), ev); err != nil {
		e.t.Fatalf("HandleEvent(%s): %v", ev.Topic, err)
	}
}

func (e *env) runOnce(s *Service) {
	e.t.Helper()
	if _, err := s.RunOnce(context.Background()); err != nil {
		e.t.Fatalf("RunOnce: %v", err)
	}
}

func (e *env) enrollments(w uuid.UUID) []*ent.WorkflowEnrollment {
	e.t.Helper()
	rows, err := e.d.Client.WorkflowEnrollment.Query().Where(workflowenrollment.WorkflowID(w)).All(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) enrollment(w, cust uuid.UUID) *ent.WorkflowEnrollment {
	e.t.Helper()
	rows, err := e.d.Client.WorkflowEnrollment.Query().Where(workflowenrollment.WorkflowID(w), workflowenrollment.CustomerID(cust)).All(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rows) != 1 {
		e.t.Fatalf("%d enrollments of customer %s, want 1", len(rows), cust)
	}
	return rows[0]
}

func (e *env) workflow(id uuid.UUID) *ent.AutomationWorkflow {
	e.t.Helper()
	w, err := e.d.Client.AutomationWorkflow.Get(e.store, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// mailsTo counts the mails the Log sender took per recipient.
func (e *env) mailsTo() map[string]int {
	out := map[string]int{}
	for _, m := range e.mail.Messages() {
		out[m.To]++
	}
	return out
}

func (e *env) sendsOf(enrollment uuid.UUID) []*ent.EmailSend {
	e.t.Helper()
	rows, err := e.d.Client.EmailSend.Query().Where(emailsend.EnrollmentID(enrollment)).All(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func ptr[T any](v T) *T { return &v }

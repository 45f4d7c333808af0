package workflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/workflowenrollment"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
)

// scriptedSender fails the first sends to an address with the scripted
// errors, then delivers.
type scriptedSender struct {
	mu     sync.Mutex
	script map[string][]error
	sent   map[string]int
	tries  map[string]int
}

func (s *scriptedSender) Send(_ context.Context, m *mailer.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries[m.To]++
	if list := s.script[m.To]; len(list) > 0 {
		s.script[m.To] = list[1:]
		return list[0]
	}
	s.sent[m.To]++
	return nil
}

func TestSendFailures(t *testing.T) {
	temporary := &mailer.Error{Code: 451, Err: errors.New("try later")}
	uncertain := &mailer.Error{Uncertain: true, Err: errors.New("connection reset after DATA")}
	bounce := &mailer.Error{Code: 550, Permanent: true, Recipient: true, Err: errors.New("no such user")}
	cases := []struct {
		email      string
		script     []error
		wantTries  int
		wantSent   int
		wantStatus emailsend.Status
		consent    customer.EmailConsent
	}{
		{"retry@ok.test", []error{temporary}, 2, 1, emailsend.StatusSENT, customer.EmailConsentSUBSCRIBED},
		{"giveup@ok.test", []error{temporary, temporary, temporary}, 3, 0, emailsend.StatusFAILED, customer.EmailConsentSUBSCRIBED},
		{"uncertain@ok.test", []error{uncertain}, 1, 0, emailsend.StatusFAILED, customer.EmailConsentSUBSCRIBED},
		{"bounce@ok.test", []error{bounce}, 1, 0, emailsend.StatusBOUNCED, customer.EmailConsentBOUNCED},
	}
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			snd := &scriptedSender{script: map[string][]error{}, sent: map[string]int{}, tries: map[string]int{}}
			s := New(e.d, snd, testRenderer{}, Config{Now: e.clock.Now, WorkerID: "p", RetryBackoff: time.Minute}, nil)
			w := e.create(s, Input{Name: "w", Trigger: Trigger{Type: TriggerCustomerCreated},
				Steps: []StepInput{{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-1"])}, {Kind: StepAddTag, Tag: "after"}}})
			for _, tc := range cases {
				cu := e.customer(tc.email, customer.EmailConsentSUBSCRIBED)
				snd.script[tc.email] = tc.script
				e.handle(s, e.event(events.CustomerCreated{CustomerID: cu.ID, Email: cu.Email}))
			}
			for range 4 { // backoff 1m, 2m: four rounds cover the retries
				e.runOnce(s)
				e.clock.Advance(5 * time.Minute)
			}
			for _, tc := range cases {
				cu, err := e.d.Client.Customer.Query().Where(customer.Email(tc.email)).Only(e.store)
				if err != nil {
					t.Fatal(err)
				}
				en := e.enrollment(w.ID, cu.ID)
				sends := e.sendsOf(en.ID)
				if snd.tries[tc.email] != tc.wantTries || snd.sent[tc.email] != tc.wantSent || len(sends) != 1 ||
					sends[0].Status != tc.wantStatus || sends[0].Attempts != tc.wantTries {
					t.Fatalf("%s: %d tries, %d sent, rows %d; want %d tries, %d sent, one row %s", tc.email,
						snd.tries[tc.email], snd.sent[tc.email], len(sends), tc.wantTries, tc.wantSent, tc.wantStatus)
				}
				if sends[0].Status != emailsend.StatusSENT && sends[0].LastError == "" {
					t.Fatalf("%s: failed row without last_error", tc.email)
				}
				// The run goes on after the email either way.
				if en.Status != workflowenrollment.StatusCOMPLETED || !contains(cu.Tags, "after") || cu.EmailConsent != tc.consent {
					t.Fatalf("%s: enrollment %s, tags %v, consent %s", tc.email, en.Status, cu.Tags, cu.EmailConsent)
				}
			}
		})
	}
}

package workflow

import (
	"context"
	"fmt"
	"testing"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
)

// BenchmarkEnrolAndSend measures the trigger consumer (enrolments per
// second) and the scheduler (runs of a send-email + add-tag workflow per
// second, into the Log sender) for b.N customers.
func BenchmarkEnrolAndSend(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			e := newEnv(b, backend)
			s := New(e.d, e.mail, testRenderer{}, Config{Now: e.clock.Now, WorkerID: "bench", Workers: 8}, nil)
			e.create(s, Input{Name: "welcome", Trigger: Trigger{Type: TriggerCustomerCreated},
				Steps: []StepInput{{Kind: StepSendEmail, TemplateID: ptr(e.tmpl["welcome-1"])}, {Kind: StepAddTag, Tag: "welcomed"}}})
			var creates []*ent.CustomerCreate
			for i := range b.N {
				creates = append(creates, e.d.Client.Customer.Create().SetEmail(fmt.Sprintf("b%07d@ok.test", i)).
					SetEmailConsent(customer.EmailConsentSUBSCRIBED))
			}
			var custs []*ent.Customer
			for start := 0; start < len(creates); start += 500 {
				part, err := e.d.Client.Customer.CreateBulk(creates[start:min(start+500, len(creates))]...).Save(e.store)
				if err != nil {
					b.Fatal(err)
				}
				custs = append(custs, part...)
			}
			evs := make([]events.Event, len(custs))
			for i, cu := range custs {
				evs[i] = e.event(events.CustomerCreated{CustomerID: cu.ID, Email: cu.Email})
			}
			b.ResetTimer()
			start := b.Elapsed()
			for _, ev := range evs {
				if err := s.HandleEvent(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
			enrolled := b.Elapsed() - start
			if _, err := s.RunOnce(context.Background()); err != nil {
				b.Fatal(err)
			}
			ran := b.Elapsed() - enrolled - start
			b.StopTimer()
			if e.mail.Total() != b.N {
				b.Fatalf("%d mails for %d customers", e.mail.Total(), b.N)
			}
			b.ReportMetric(float64(b.N)/enrolled.Seconds(), "enrolments/s")
			b.ReportMetric(float64(b.N)/ran.Seconds(), "runs/s")
		})
	}
}

package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/emailcampaign"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer/mailpittest"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer/smtpsink"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// testRenderer renders a fixed body and the unsubscribe headers of the
// send's tracking token.
type testRenderer struct{}

func (testRenderer) Render(_ context.Context, in RenderInput) (string, string, string, map[string]string, error) {
	tok := in.Send.TrackingToken
	return in.Campaign.Subject + " for " + in.Customer.FirstName, "<p>Hello " + in.Customer.FirstName + "</p>", "Hello",
		map[string]string{
			"List-Unsubscribe":      "<https://shop.test/t/u/" + tok + ">, <mailto:unsubscribe@shop.test?subject=" + tok + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		}, nil
}

// env is one store with customers, a segment and a mail sink.
type env struct {
	t        testing.TB
	d        *db.DB
	mid      uuid.UUID
	staff    context.Context // a staff viewer of the store
	segment  uuid.UUID
	expected map[string]bool // emails the segment's campaign must reach
	smtp     *mailer.SMTP
	api      string
}

// newEnv makes a store with n customers: every 5th is outside the segment,
// and of the members some are unsubscribed, bounced, pending, complained or
// disabled; the rest are expected to receive the campaign.
func newEnv(t testing.TB, b dbtest.Backend, n int, withSegment bool) *env {
	t.Helper()
	return newEnvMix(t, b, n, withSegment, true)
}

// newEnvMix is newEnv; without mix every customer is subscribed and active.
func newEnvMix(t testing.TB, b dbtest.Backend, n int, withSegment, mix bool) *env {
	t.Helper()
	e := seedEnv(t, b, n, withSegment, mix)
	smtpAddr, api := mailpittest.Start(t)
	e.smtp = newSMTP(t, smtpAddr, 8)
	e.api = api
	return e
}

// newSMTP is a pooled SMTP sender to addr (with AUTH, as to a relay).
func newSMTP(t testing.TB, addr string, pool int) *mailer.SMTP {
	t.Helper()
	cfg, err := mailer.ParseURL(fmt.Sprintf("smtp://u:p@%s?tls=none&pool=%d", addr, pool))
	if err != nil {
		t.Fatal(err)
	}
	s, err := mailer.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seedEnv makes the store and its customers, with no mail sink.
func seedEnv(t testing.TB, b dbtest.Backend, n int, withSegment, mix bool) *env {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, b)
	sys := viewer.SystemContext(ctx, "test seed")
	m, err := d.Client.MerchantAccount.Create().SetName("Shop").SetSlug("shop-" + uuid.NewString()[:8]).
		SetContactEmail("shop@shop.test").Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, d: d, mid: m.ID, expected: map[string]bool{}}
	e.staff = viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()})
	sctx := viewer.ActAsStore(ctx, m.ID, "test seed")
	seg, err := d.Client.CustomerSegment.Create().SetName("All").Save(sctx)
	if err != nil {
		t.Fatal(err)
	}
	e.segment = seg.ID
	const chunk = 500
	for start := 0; start < n; start += chunk {
		var creates []*ent.CustomerCreate
		for i := start; i < min(start+chunk, n); i++ {
			consent, status := customer.EmailConsentSUBSCRIBED, customer.StatusACTIVE
			switch {
			case !mix:
			case i%10 == 1:
				consent = customer.EmailConsentUNSUBSCRIBED
			case i%10 == 2:
				consent = customer.EmailConsentBOUNCED
			case i%20 == 3:
				consent = customer.EmailConsentPENDING
			case i%20 == 13:
				consent = customer.EmailConsentCOMPLAINED
			case i%50 == 7:
				status = customer.StatusDISABLED
			}
			creates = append(creates, d.Client.Customer.Create().SetEmail(fmt.Sprintf("c%05d@ok.test", i)).
				SetFirstName(fmt.Sprintf("C%d", i)).SetEmailConsent(consent).SetStatus(status))
		}
		custs, err := d.Client.Customer.CreateBulk(creates...).Save(sctx)
		if err != nil {
			t.Fatal(err)
		}
		var members []*ent.SegmentMemberCreate
		for k, c := range custs {
			i := start + k
			member := !withSegment || i%5 != 4
			if withSegment && i%5 != 4 {
				members = append(members, d.Client.SegmentMember.Create().SetSegmentID(seg.ID).SetCustomerID(c.ID))
			}
			if member && c.EmailConsent == customer.EmailConsentSUBSCRIBED && c.Status == customer.StatusACTIVE {
				e.expected[c.Email] = true
			}
		}
		if len(members) > 0 {
			if _, err := d.Client.SegmentMember.CreateBulk(members...).Save(sctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e
}

func (e *env) sender(lim Limiter) *Sender {
	return New(e.d, e.smtp, testRenderer{}, lim, nil, Config{Workers: 4, BatchSize: 100, PollInterval: 50 * time.Millisecond}, nil)
}

func (e *env) campaign(name string, segment bool) *ent.EmailCampaign {
	e.t.Helper()
	q := e.d.Client.EmailCampaign.Create().SetName(name).SetSubject("Sale " + name)
	if segment {
		q.SetSegmentID(e.segment)
	}
	c, err := q.Save(e.staff)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) get(id uuid.UUID) *ent.EmailCampaign {
	e.t.Helper()
	c, err := e.d.Client.EmailCampaign.Get(e.staff, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// sends returns the campaign's email_sends rows by status.
func (e *env) sends(id uuid.UUID) map[emailsend.Status][]*ent.EmailSend {
	e.t.Helper()
	rows, err := e.d.Client.EmailSend.Query().Where(emailsend.CampaignID(id)).All(e.staff)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[emailsend.Status][]*ent.EmailSend{}
	for _, r := range rows {
		out[r.Status] = append(out[r.Status], r)
	}
	return out
}

// delivered returns how often mailpit received a mail for each address.
func (e *env) delivered() (map[string]int, []mailpittest.Message) {
	e.t.Helper()
	msgs, err := mailpittest.Messages(context.Background(), e.api)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range msgs {
		for _, to := range m.To {
			out[to.Address]++
		}
	}
	return out, msgs
}

// checkOnce fails unless every address in want got exactly one mail and no
// other address got any.
func (e *env) checkOnce(want map[string]bool) {
	e.t.Helper()
	got, _ := e.delivered()
	for addr, n := range got {
		if !want[addr] {
			e.t.Errorf("%s received %d mails, want none", addr, n)
		} else if n != 1 {
			e.t.Errorf("%s received %d mails, want 1", addr, n)
		}
	}
	for addr := range want {
		if got[addr] == 0 {
			e.t.Errorf("%s received nothing", addr)
		}
	}
}

func TestCampaignDeliversToSubscribedOnce(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, 500, true)
			ctx := context.Background()
			lim := &countingLimiter{}
			s := e.sender(lim)
			c := e.campaign("spring", true)
			if _, err := s.Send(e.staff, e.mid, c.ID); err != nil {
				t.Fatal(err)
			}
			if n, err := s.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce = %d, %v; want 1 campaign", n, err)
			}
			want := len(e.expected)
			if want < 200 || want > 400 {
				t.Fatalf("fixture: %d expected recipients", want)
			}
			e.checkOnce(e.expected)

			got := e.get(c.ID)
			if got.Status != emailcampaign.StatusSENT || got.RecipientsCount != want || got.SentCount != want ||
				got.FailedCount != 0 || got.BouncedCount != 0 || got.StartedAt == nil || got.CompletedAt == nil {
				t.Fatalf("campaign = %s recipients %d sent %d failed %d bounced %d; want SENT with %d", got.Status,
					got.RecipientsCount, got.SentCount, got.FailedCount, got.BouncedCount, want)
			}
			if lim.asked() != []int{want}[0] || lim.calls() != 1 {
				t.Fatalf("limiter asked for %d emails in %d calls, want %d in 1", lim.asked(), lim.calls(), want)
			}
			byStatus := e.sends(c.ID)
			if len(byStatus[emailsend.StatusSENT]) != want || len(byStatus) != 1 {
				t.Fatalf("email_sends by status: %v", counts(byStatus))
			}
			tokens := map[string]*ent.EmailSend{}
			for _, r := range byStatus[emailsend.StatusSENT] {
				if r.MessageID == nil || r.SentAt == nil || r.IdempotencyKey != fmt.Sprintf("campaign:%s:%s", c.ID, *r.CustomerID) ||
					!strings.HasPrefix(r.Subject, "Sale spring for C") {
					t.Fatalf("sent row %+v", r)
				}
				tokens[*r.MessageID] = r
			}

			// The unsubscribe headers of a few messages carry their own send's token.
			_, msgs := e.delivered()
			for _, m := range msgs[:5] {
				h, err := mailpittest.Headers(ctx, e.api, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				row := tokens[m.MessageID]
				if row == nil || row.ToEmail != m.To[0].Address {
					t.Fatalf("message %s (%s) matches no sent row", m.MessageID, m.To[0].Address)
				}
				wantLU := "<https://shop.test/t/u/" + row.TrackingToken + ">, <mailto:unsubscribe@shop.test?subject=" + row.TrackingToken + ">"
				if h.Get("List-Unsubscribe") != wantLU || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
					t.Fatalf("headers of %s: List-Unsubscribe %q, -Post %q; want %q", m.To[0].Address,
						h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post"), wantLU)
				}
				if !strings.Contains(h.Get("From"), "shop@shop.test") {
					t.Fatalf("From = %q", h.Get("From"))
				}
			}

			// Progress events: SCHEDULED (Send), SENDING, …, SENT with all counters.
			evs := e.progress(c.ID)
			if len(evs) < 3 || evs[0]["status"] != "SCHEDULED" || evs[1]["status"] != "SENDING" || evs[len(evs)-1]["status"] != "SENT" ||
				fmt.Sprint(evs[len(evs)-1]["sent"]) != fmt.Sprint(want) {
				t.Fatalf("progress events: first %v last %v (%d)", evs[0], evs[len(evs)-1], len(evs))
			}

			// Running again sends nothing more.
			if n, err := s.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("second RunOnce = %d, %v", n, err)
			}
			e.checkOnce(e.expected)
		})
	}
}

// progress returns the campaign's campaign.progress payloads in order.
func (e *env) progress(id uuid.UUID) []map[string]any {
	e.t.Helper()
	rows, err := e.d.Client.OutboxEvent.Query().Where(outboxevent.Topic(events.TopicCampaignProgress), outboxevent.AggregateID(id.String())).
		Order(ent.Asc(outboxevent.FieldID)).All(e.staff)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		out[i] = r.Payload
	}
	return out
}

func counts(m map[emailsend.Status][]*ent.EmailSend) map[emailsend.Status]int {
	out := map[emailsend.Status]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

type countingLimiter struct {
	mu     sync.Mutex
	n, ask int
	refuse error
}

func (l *countingLimiter) AllowEmails(_ context.Context, _ uuid.UUID, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.ask += n
	return l.refuse
}

func (l *countingLimiter) calls() int { l.mu.Lock(); defer l.mu.Unlock(); return l.n }
func (l *countingLimiter) asked() int { l.mu.Lock(); defer l.mu.Unlock(); return l.ask }

// TestCampaignStopAndResume stops a sender in the middle of a campaign
// (its context ends after 60 sends), leaves three rows as a crashed process
// would (claimed, SENDING), and resumes with a new Sender: the campaign
// completes, nobody gets a mail twice, and the interrupted rows are never
// sent.
func TestCampaignStopAndResume(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, 500, true)
			c := e.campaign("resume", true)
			if _, err := e.sender(nil).Send(e.staff, e.mid, c.ID); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			s1 := e.sender(nil)
			s1.hooks.afterSend = func(n int) {
				if n == 60 {
					cancel()
				}
			}
			if _, err := s1.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			mid := e.sends(c.ID)
			if got := e.get(c.ID).Status; got != emailcampaign.StatusSENDING {
				t.Fatalf("status after the stop = %s, want SENDING", got)
			}
			sent := len(mid[emailsend.StatusSENT])
			if sent < 60 || sent >= len(e.expected) || len(mid[emailsend.StatusSENDING]) != 0 || len(mid[emailsend.StatusQUEUED]) < 3 {
				t.Fatalf("after the stop: %v (want ≥ 60 sent, nothing SENDING, some QUEUED)", counts(mid))
			}
			// What a crash leaves: claimed rows whose outcome was never recorded.
			var interrupted []uuid.UUID
			for _, r := range mid[emailsend.StatusQUEUED][:3] {
				interrupted = append(interrupted, r.ID)
			}
			if _, err := e.d.Client.EmailSend.Update().Where(emailsend.IDIn(interrupted...)).SetStatus(emailsend.StatusSENDING).Save(e.staff); err != nil {
				t.Fatal(err)
			}

			s2 := e.sender(nil)
			if n, err := s2.RunOnce(context.Background()); err != nil || n != 1 {
				t.Fatalf("RunOnce after the stop = %d, %v", n, err)
			}
			end := e.sends(c.ID)
			want := map[string]bool{}
			for addr := range e.expected {
				want[addr] = true
			}
			for _, r := range end[emailsend.StatusFAILED] {
				if r.LastError != ReasonInterrupted {
					t.Fatalf("failed row %s: %q", r.ToEmail, r.LastError)
				}
				delete(want, r.ToEmail)
			}
			if len(end[emailsend.StatusFAILED]) != 3 || len(end[emailsend.StatusSENT]) != len(e.expected)-3 || len(end) != 2 {
				t.Fatalf("at the end: %v, want %d SENT and 3 FAILED", counts(end), len(e.expected)-3)
			}
			e.checkOnce(want)
			got := e.get(c.ID)
			if got.Status != emailcampaign.StatusSENT || got.SentCount != len(e.expected)-3 || got.FailedCount != 3 || got.RecipientsCount != len(e.expected) {
				t.Fatalf("campaign: %s sent %d failed %d recipients %d", got.Status, got.SentCount, got.FailedCount, got.RecipientsCount)
			}
		})
	}
}

// TestCampaignPauseResumeCancel pauses a campaign while it sends, checks
// the transitions that are refused, resumes it to the end; and cancels
// another one midway.
func TestCampaignPauseResumeCancel(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, 300, true)
			ctx := context.Background()
			s := e.sender(nil)
			c := e.campaign("pause", true)

			// Refused transitions of a DRAFT.
			for name, op := range map[string]func(context.Context, uuid.UUID, uuid.UUID) (*ent.EmailCampaign, error){
				"pause": s.Pause, "resume": s.Resume,
			} {
				if _, err := op(e.staff, e.mid, c.ID); !isCode(err, CodeInvalidState) {
					t.Fatalf("%s of a DRAFT = %v, want INVALID_STATE", name, err)
				}
			}
			// Another store's viewer sees no campaign.
			other := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: uuid.New()})
			if _, err := s.Send(other, e.mid, c.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Send by another store = %v, want ErrNotFound", err)
			}
			if _, err := s.Send(e.staff, e.mid, uuid.New()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Send of an unknown campaign = %v, want ErrNotFound", err)
			}

			if _, err := s.Send(e.staff, e.mid, c.ID); err != nil {
				t.Fatal(err)
			}
			var pauseErr error
			s.hooks.afterSend = func(n int) {
				if n == 40 {
					_, pauseErr = s.Pause(e.staff, e.mid, c.ID)
				}
			}
			if _, err := s.RunOnce(ctx); err != nil || pauseErr != nil {
				t.Fatalf("RunOnce: %v, Pause: %v", err, pauseErr)
			}
			s.hooks.afterSend = nil
			paused := e.get(c.ID)
			mid := e.sends(c.ID)
			if paused.Status != emailcampaign.StatusPAUSED || paused.PausedAt == nil || len(mid[emailsend.StatusSENDING]) != 0 ||
				len(mid[emailsend.StatusSENT]) >= len(e.expected) || paused.SentCount != len(mid[emailsend.StatusSENT]) {
				t.Fatalf("after the pause: %s sent_count %d rows %v", paused.Status, paused.SentCount, counts(mid))
			}
			got, _ := e.delivered()
			if len(got) != paused.SentCount {
				t.Fatalf("mailpit holds %d recipients, sent_count %d", len(got), paused.SentCount)
			}
			// Paused: nothing is sent, and Pause/Schedule are refused.
			if n, err := s.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("RunOnce while paused = %d, %v", n, err)
			}
			if _, err := s.Pause(e.staff, e.mid, c.ID); !isCode(err, CodeInvalidState) {
				t.Fatalf("Pause of a PAUSED = %v", err)
			}
			if _, err := s.Schedule(e.staff, e.mid, c.ID, time.Now().Add(time.Hour)); !isCode(err, CodeInvalidState) {
				t.Fatalf("Schedule of a PAUSED = %v", err)
			}
			if r, err := s.Resume(e.staff, e.mid, c.ID); err != nil || r.Status != emailcampaign.StatusSENDING {
				t.Fatalf("Resume = %v, %v", r, err)
			}
			if _, err := s.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if got := e.get(c.ID); got.Status != emailcampaign.StatusSENT || got.SentCount != len(e.expected) {
				t.Fatalf("after resume: %s sent %d, want SENT %d", got.Status, got.SentCount, len(e.expected))
			}
			e.checkOnce(e.expected)
			for name, op := range map[string]func(context.Context, uuid.UUID, uuid.UUID) (*ent.EmailCampaign, error){
				"pause": s.Pause, "resume": s.Resume, "cancel": s.Cancel, "send": s.Send,
			} {
				if _, err := op(e.staff, e.mid, c.ID); !isCode(err, CodeInvalidState) {
					t.Fatalf("%s of a SENT campaign = %v, want INVALID_STATE", name, err)
				}
			}

			// Cancel midway: the rest is never sent, unsent rows are dropped.
			if err := mailpittest.DeleteAll(ctx, e.api); err != nil {
				t.Fatal(err)
			}
			c2 := e.campaign("cancel", true)
			if _, err := s.Send(e.staff, e.mid, c2.ID); err != nil {
				t.Fatal(err)
			}
			// The 25th send cancels; the other workers wait in the hook
			// until the cancel committed, so each finishes at most the
			// email it had begun: a loaded machine cannot send everything
			// while the cancel waits for the database.
			var cancelErr error
			var cancelling sync.Mutex
			cancelling.Lock()
			s.hooks.afterSend = func(n int) {
				if n == 25 {
					_, cancelErr = s.Cancel(e.staff, e.mid, c2.ID)
					cancelling.Unlock()
					return
				}
				if n > 25 {
					cancelling.Lock()
					cancelling.Unlock()
				}
			}
			if _, err := s.RunOnce(ctx); err != nil || cancelErr != nil {
				t.Fatalf("RunOnce: %v, Cancel: %v", err, cancelErr)
			}
			cancelled := e.get(c2.ID)
			rows := e.sends(c2.ID)
			if cancelled.Status != emailcampaign.StatusCANCELLED || cancelled.CancelledAt == nil ||
				len(rows[emailsend.StatusQUEUED])+len(rows[emailsend.StatusSENDING]) != 0 || cancelled.SentCount != len(rows[emailsend.StatusSENT]) {
				t.Fatalf("after cancel: %s sent %d rows %v", cancelled.Status, cancelled.SentCount, counts(rows))
			}
			got, _ = e.delivered()
			if workers := s.Config().Workers; len(got) != cancelled.SentCount || cancelled.SentCount > 25+workers-1 {
				t.Fatalf("mailpit holds %d recipients after cancel, sent_count %d", len(got), cancelled.SentCount)
			}
			if _, err := s.Resume(e.staff, e.mid, c2.ID); !isCode(err, CodeInvalidState) {
				t.Fatalf("Resume of a CANCELLED = %v", err)
			}
		})
	}
}

func isCode(err error, code Code) bool {
	ue, ok := IsUserError(err)
	return ok && len(ue.Errors) == 1 && ue.Errors[0].Code == code
}

// TestCampaignLimiterRefuses: a plan that refuses the audience fails the
// campaign with the limiter's message, and nothing is queued or sent.
func TestCampaignLimiterRefuses(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, 50, false)
			lim := &countingLimiter{refuse: errors.New("the TRIAL plan allows 10 campaign emails a month")}
			s := e.sender(lim)
			c := e.campaign("limited", false)
			if _, err := s.Send(e.staff, e.mid, c.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := e.get(c.ID)
			if got.Status != emailcampaign.StatusFAILED || got.FailureReason != lim.refuse.Error() {
				t.Fatalf("campaign = %s %q, want FAILED with the limiter's reason", got.Status, got.FailureReason)
			}
			if lim.asked() != len(e.expected) {
				t.Fatalf("limiter asked for %d, want %d (no segment: every subscribed customer)", lim.asked(), len(e.expected))
			}
			if rows := e.sends(c.ID); len(rows) != 0 {
				t.Fatalf("rows queued: %v", counts(rows))
			}
			if got, _ := e.delivered(); len(got) != 0 {
				t.Fatalf("mailpit received %d", len(got))
			}
			evs := e.progress(c.ID)
			if len(evs) == 0 || evs[len(evs)-1]["status"] != "FAILED" {
				t.Fatalf("progress events %v", evs)
			}
		})
	}
}

// TestScheduleLater: a campaign scheduled in the future is not sent before
// its time, and is at its time (the clock moves).
func TestScheduleLater(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, 20, false)
			s := e.sender(nil)
			now := time.Now().UTC()
			s.SetClock(func() time.Time { return now })
			c := e.campaign("later", false)
			at := now.Add(time.Hour)
			r, err := s.Schedule(e.staff, e.mid, c.ID, at)
			if err != nil || r.Status != emailcampaign.StatusSCHEDULED || !r.ScheduledAt.Equal(at.Truncate(time.Microsecond)) && !r.ScheduledAt.Equal(at) {
				t.Fatalf("Schedule = %+v, %v", r, err)
			}
			if n, err := s.RunOnce(context.Background()); err != nil || n != 0 {
				t.Fatalf("RunOnce before the time = %d, %v", n, err)
			}
			if got, _ := e.delivered(); len(got) != 0 {
				t.Fatalf("sent before its time: %d", len(got))
			}
			now = now.Add(2 * time.Hour)
			if n, err := s.RunOnce(context.Background()); err != nil || n != 1 {
				t.Fatalf("RunOnce at the time = %d, %v", n, err)
			}
			e.checkOnce(e.expected)
		})
	}
}

// TestRunLoop: Run picks up a campaign sent while it runs, and two Senders
// running at once (two processes) deliver each email once.
func TestRunLoop(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, 200, false)
			ctx, cancel := context.WithCancel(context.Background())
			s1, s2 := e.sender(nil), e.sender(nil)
			var wg sync.WaitGroup
			wg.Go(func() { s1.Run(ctx) })
			wg.Go(func() { s2.Run(ctx) })
			c := e.campaign("loop", false)
			if _, err := s1.Send(e.staff, e.mid, c.ID); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for e.get(c.ID).Status != emailcampaign.StatusSENT && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			wg.Wait()
			if got := e.get(c.ID); got.Status != emailcampaign.StatusSENT || got.SentCount != len(e.expected) {
				t.Fatalf("campaign %s sent %d, want SENT %d", got.Status, got.SentCount, len(e.expected))
			}
			e.checkOnce(e.expected)
		})
	}
}

// BenchmarkCampaignSend sends a campaign to 10,000 subscribed customers into
// a local mailpit (SMTP pool of 8 connections, 8 workers) and reports emails
// per second, from the start of RunOnce to the campaign being SENT.
func BenchmarkCampaignSend(b *testing.B) {
	benchCampaign(b, func(b *testing.B, e *env) mailer.Sender { return e.smtp }, nil)
}

// BenchmarkCampaignSendNullSink is BenchmarkCampaignSend into smtpsink, an
// in-process SMTP server that accepts and discards: the pipeline's own
// ceiling (database, rendering, SMTP client), without mailpit's. It also
// checks that every recipient got exactly one message.
func BenchmarkCampaignSendNullSink(b *testing.B) {
	var sink *smtpsink.Sink
	benchCampaign(b, func(b *testing.B, e *env) mailer.Sender {
		sink = smtpsink.Start(b, true)
		return newSMTP(b, sink.Addr(), 8)
	}, func(b *testing.B, e *env) {
		got := sink.Recipients()
		if len(got) != len(e.expected) {
			b.Fatalf("sink: %d recipients, want %d", len(got), len(e.expected))
		}
		for addr, n := range got {
			if n != 1 || !e.expected[addr] {
				b.Fatalf("sink: %s received %d", addr, n)
			}
		}
	})
}

// benchCampaign sends the campaign once per iteration and reports emails/s
// and, as a measure that the machine's load does not skew, the CPU time per
// email of this process (the pipeline and, into smtpsink, the sink) and of
// the PostgreSQL server processes serving the test database (when they run
// on this machine).
func benchCampaign(b *testing.B, sinkFor func(*testing.B, *env) mailer.Sender, check func(*testing.B, *env)) {
	for _, backend := range dbtest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				var e *env
				if check == nil {
					e = newEnvMix(b, backend, 10_000, false, false)
				} else {
					e = seedEnv(b, backend, 10_000, false, false)
				}
				s := New(e.d, sinkFor(b, e), testRenderer{}, nil, nil, Config{Workers: 8, BatchSize: 1000}, nil)
				c := e.campaign("bench", false)
				if _, err := s.Send(e.staff, e.mid, c.ID); err != nil {
					b.Fatal(err)
				}
				pgBefore := e.serverCPU()
				cpuBefore := processCPU()
				b.StartTimer()
				start := time.Now()
				if _, err := s.RunOnce(context.Background()); err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				b.StopTimer()
				cpu := processCPU() - cpuBefore
				pgCPU := e.serverCPU().since(pgBefore)
				got := e.get(c.ID)
				if got.SentCount != len(e.expected) {
					b.Fatalf("sent %d of %d", got.SentCount, len(e.expected))
				}
				if check != nil {
					check(b, e)
				}
				n := float64(got.SentCount)
				b.ReportMetric(n/el.Seconds(), "emails/s")
				b.ReportMetric(n, "emails")
				if cpu > 0 {
					b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/email")
				}
				if pgCPU > 0 {
					b.ReportMetric(float64(pgCPU.Microseconds())/n, "pg-cpu-µs/email")
				}
			}
		})
	}
}

// backendCPU is the CPU time used so far by each PostgreSQL server process
// (by pid) serving the env's database.
type backendCPU map[int]time.Duration

// serverCPU reads it from /proc (nil on SQLite, or when PostgreSQL does not
// run on this machine).
func (e *env) serverCPU() backendCPU {
	if e.d.Dialect != "postgres" {
		return nil
	}
	rows, err := e.d.SQL.QueryContext(context.Background(), "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := backendCPU{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			e.t.Fatal(err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil // not on this machine
		}
		// Fields after the command's ")": state is field 3, utime 14 and
		// stime 15, in clock ticks (100 a second on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			return nil
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

// since is the CPU time the processes used after before was read.
func (c backendCPU) since(before backendCPU) time.Duration {
	if c == nil || before == nil {
		return 0
	}
	var d time.Duration
	for pid, t := range c {
		d += t - before[pid]
	}
	return d
}

// TestClaimAndRecordExactly: a claim moves only the rows still QUEUED
// (here one was sent and one deleted since they were read: the fallback
// path), and recording results changes only rows still SENDING (one was
// marked "interrupted" by a takeover meanwhile), counts exactly those, and
// suppresses only the recipients of the rows it marked BOUNCED.
func TestClaimAndRecordExactly(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := seedEnv(t, b, 12, false, false)
			s := New(e.d, mailer.NewLog(nil, 10), testRenderer{}, nil, nil, Config{}, nil)
			c := e.campaign("exact", false)
			sctx := viewer.ActAsStore(context.Background(), e.mid, "test")
			custs, err := e.d.Client.Customer.Query().Order(ent.Asc(customer.FieldID)).All(sctx)
			if err != nil {
				t.Fatal(err)
			}
			r := &run{s: s, ctx: sctx, mid: e.mid, c: c}
			if err := r.insertSends(custs); err != nil {
				t.Fatal(err)
			}
			rows, err := e.d.Client.EmailSend.Query().Where(emailsend.CampaignID(c.ID)).Order(ent.Asc(emailsend.FieldCustomerID)).All(sctx)
			if err != nil || len(rows) != 12 {
				t.Fatalf("rows %d, %v", len(rows), err)
			}
			if err := e.d.Client.EmailSend.UpdateOne(rows[0]).SetStatus(emailsend.StatusSENT).Exec(sctx); err != nil {
				t.Fatal(err)
			}
			if err := e.d.Client.EmailSend.DeleteOne(rows[1]).Exec(sctx); err != nil {
				t.Fatal(err)
			}
			claimed, err := r.claim(rows)
			if err != nil {
				t.Fatal(err)
			}
			if len(claimed) != 10 || claimed[0].ID != rows[2].ID {
				t.Fatalf("claimed %d rows, want the 10 still QUEUED", len(claimed))
			}
			byStatus := e.sends(c.ID)
			if len(byStatus[emailsend.StatusSENDING]) != 10 || len(byStatus[emailsend.StatusSENT]) != 1 {
				t.Fatalf("after the claim: %v", counts(byStatus))
			}
			for _, row := range byStatus[emailsend.StatusSENDING] {
				if row.Attempts != 1 {
					t.Fatalf("attempts %d", row.Attempts)
				}
			}
			// The fast path: all QUEUED, one statement.
			again, err := r.claim(nil)
			if err != nil || len(again) != 0 {
				t.Fatalf("empty claim: %d, %v", len(again), err)
			}

			// A takeover marked claimed[2] interrupted meanwhile.
			if err := e.d.Client.EmailSend.UpdateOneID(claimed[2].ID).SetStatus(emailsend.StatusFAILED).SetLastError(ReasonInterrupted).Exec(sctx); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Millisecond)
			var buf []result
			for i, row := range claimed {
				res := result{id: row.ID, customerID: *row.CustomerID, at: now.Add(time.Duration(i) * time.Second)}
				switch i % 5 {
				case 0, 1:
					res.outcome, res.subject, res.messageID = outSent, fmt.Sprintf("subject %d", i), fmt.Sprintf("m%d@x.test", i)
				case 2:
					res.outcome, res.errText = outBounced, fmt.Sprintf("550 no user %d", i)
				case 3:
					res.outcome, res.errText = outFailed, fmt.Sprintf("554 refused %d", i)
				default:
					res.outcome = outUnclaim
				}
				buf = append(buf, res)
			}
			var sent, failed, bounced int
			if err := db.InTx(sctx, e.d.Client, func(tx *ent.Client) error {
				sent, failed, bounced, err = r.writeResults(sctx, tx, buf)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			// claimed[2] (a bounce) stays interrupted; claimed[7] bounced.
			if sent != 4 || failed != 2 || bounced != 1 {
				t.Fatalf("counted sent %d failed %d bounced %d, want 4, 2, 1", sent, failed, bounced)
			}
			for i, row := range claimed {
				got, err := e.d.Client.EmailSend.Get(sctx, row.ID)
				if err != nil {
					t.Fatal(err)
				}
				cu, err := e.d.Client.Customer.Get(sctx, *row.CustomerID)
				if err != nil {
					t.Fatal(err)
				}
				res := buf[i]
				switch {
				case i == 2:
					if got.Status != emailsend.StatusFAILED || got.LastError != ReasonInterrupted || cu.EmailConsent != customer.EmailConsentSUBSCRIBED {
						t.Fatalf("interrupted row became %s %q, customer %s", got.Status, got.LastError, cu.EmailConsent)
					}
				case res.outcome == outSent:
					if got.Status != emailsend.StatusSENT || got.Subject != res.subject || got.MessageID == nil || *got.MessageID != res.messageID ||
						got.SentAt == nil || !got.SentAt.Equal(res.at) || got.LastError != "" {
						t.Fatalf("sent row %d: %s %q %v %v", i, got.Status, got.Subject, got.MessageID, got.SentAt)
					}
				case res.outcome == outBounced:
					if got.Status != emailsend.StatusBOUNCED || got.LastError != res.errText || cu.EmailConsent != customer.EmailConsentBOUNCED {
						t.Fatalf("bounced row %d: %s %q, customer %s", i, got.Status, got.LastError, cu.EmailConsent)
					}
				case res.outcome == outFailed:
					if got.Status != emailsend.StatusFAILED || got.LastError != res.errText || cu.EmailConsent != customer.EmailConsentSUBSCRIBED {
						t.Fatalf("failed row %d: %s %q", i, got.Status, got.LastError)
					}
				default:
					if got.Status != emailsend.StatusQUEUED || got.SentAt != nil {
						t.Fatalf("unclaimed row %d: %s", i, got.Status)
					}
				}
			}
		})
	}
}

// Package workflow owns the automation workflows of the marketing engine
// (docs/workflows.md): their definitions (Create, Activate, Pause), the
// trigger consumer that enrols customers when a domain event arrives
// through the durable path (HandleEvent), and the scheduler that walks each
// enrollment through the workflow's steps (Run, RunOnce).
//
// A workflow is an entry trigger (customer created, order placed/paid/
// fulfilled, cart abandoned, customer event tracked, segment entered) and a
// list of steps addressed by position: send an email, wait, branch on a
// condition, add or remove a tag, set an attribute, exit. Enrollments live
// in workflow_enrollments; everything the scheduler needs is in the
// database (next_run_at, the current step, a lease in locked_until/
// locked_by), so it survives restarts and runs in several processes at once.
// An email step writes its email_sends row (idempotency key
// "enrollment:<id>:step:<step id>") before sending and claims it
// QUEUED→SENDING: a crash never sends an email twice (at most once, like the
// campaign pipeline).
package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// ConsumerGroup is the durable-path consumer group HandleEvent is
// registered under.
const ConsumerGroup = "marketing-workflows"

// Renderer renders the email of one SEND_EMAIL step for one recipient.
// headers are extra header fields (List-Unsubscribe and
// List-Unsubscribe-Post among them: workflow mail is marketing mail).
type Renderer interface {
	Render(ctx context.Context, in RenderInput) (subject, html, text string, headers map[string]string, err error)
}

// RenderInput is what a Renderer gets: the store, the workflow, the step and
// its template, the enrollment (its Context holds the trigger's data: cart
// id, order id, event properties), the recipient and the email_sends row
// (its TrackingToken makes the /t/o, /t/c and /t/u links).
type RenderInput struct {
	// Subject is the subject line to render: the step's override, else
	// the template's.
	Subject    string
	Merchant   *ent.MerchantAccount
	Workflow   *ent.AutomationWorkflow
	Step       *ent.WorkflowStep
	Template   *ent.EmailTemplate
	Enrollment *ent.WorkflowEnrollment
	Customer   *ent.Customer
	Send       *ent.EmailSend
}

// Config tunes the Service. Zero values take the defaults.
type Config struct {
	// PollInterval is how often Run looks for due enrollments (default 5s).
	PollInterval time.Duration
	// BatchSize is how many due enrollments one poll claims at most
	// (default 100).
	BatchSize int
	// Workers is how many enrollments one process advances at once
	// (default 4).
	Workers int
	// Lease is how long a claimed enrollment stays reserved for this
	// process (default 2m): another process takes it over only after the
	// lease ran out, e.g. when this one died. It must exceed the longest
	// step (an SMTP send with its timeout).
	Lease time.Duration
	// MaxAttempts bounds the attempts at a step that fails temporarily (a
	// 4xx SMTP reply, a database error) before the email is marked FAILED
	// or the enrollment FAILED (default 3).
	MaxAttempts int
	// RetryBackoff is the delay before the first retry of a failed step;
	// it doubles with every attempt (default 1m).
	RetryBackoff time.Duration
	// MaxStepsPerRun bounds the steps one claim advances (default 100);
	// steps only jump forward, so a run ends anyway.
	MaxStepsPerRun int
	// DefaultFrom is the sender address for stores with no contact_email
	// (default no-reply@omnisphere.local).
	DefaultFrom string
	// WorkerID names this scheduler in locked_by (default host-pid-random).
	WorkerID string
	// Now is the clock (default time.Now): tests inject one to pass long
	// waits without sleeping.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Minute
	}
	if c.MaxStepsPerRun <= 0 {
		c.MaxStepsPerRun = 100
	}
	if c.DefaultFrom == "" {
		c.DefaultFrom = "no-reply@omnisphere.local"
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.WorkerID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
		if len(c.WorkerID) > 100 {
			c.WorkerID = c.WorkerID[len(c.WorkerID)-100:]
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service defines workflows, enrols customers and runs the scheduler. One
// per process; several processes may share a database.
type Service struct {
	db       *db.DB
	mail     mailer.Sender
	render   Renderer
	segments *segment.Service
	cfg      Config
	log      *slog.Logger
	kick     chan struct{}
	active   sync.WaitGroup
}

// New returns a Service over d that sends through mail and renders with r
// (both may be nil for a Service that only defines workflows and enrols).
func New(d *db.DB, mail mailer.Sender, r Renderer, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Service{db: d, mail: mail, render: r, cfg: cfg, log: log, kick: make(chan struct{}, 1)}
	s.segments = segment.New(d.Client, segment.WithClock(s.now))
	return s
}

// Config returns the Service's configuration, defaults applied.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Kick makes Run look for due enrollments now instead of at its next poll
// (HandleEvent kicks after enrolling).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// storeContext acts for merchantID as the store's own service; a context
// that already acts for another store is refused.
func storeContext(ctx context.Context, merchantID uuid.UUID, reason string) (context.Context, error) {
	if merchantID == uuid.Nil {
		return nil, viewer.ErrNoTenant
	}
	if m, ok := viewer.MerchantFromContext(ctx); ok && m != merchantID {
		return nil, viewer.ErrCrossTenant
	}
	return viewer.ActAsStore(ctx, merchantID, reason), nil
}

// newToken returns a random tracking token (32 hex characters).
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// toMap turns a JSON-able value into the map an ent JSON column holds.
func toMap(v any) map[string]any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

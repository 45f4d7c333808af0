package payment

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/webhookevent"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// EventHandler reacts to one verified, stored Stripe event. The intake calls
// it at most once at a time per event, and again only after a failure: it
// must be idempotent in what it commits (a crash after its commit but before
// the intake records success makes the intake call it again).
//
// ctx is a system context (viewer.SystemContext): the handler resolves the
// merchant itself (from ev.Account or the object's metadata merchant_id) and
// may call RecordMerchant to have it stored with the event. ctx has a
// deadline of half the intake's lease.
type EventHandler interface {
	HandleStripeEvent(ctx context.Context, ev stripe.Event) error
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(ctx context.Context, ev stripe.Event) error

// HandleStripeEvent calls f.
func (f EventHandlerFunc) HandleStripeEvent(ctx context.Context, ev stripe.Event) error {
	return f(ctx, ev)
}

// ErrIgnore is returned (wrapped, with the reason) by a handler that
// deliberately does nothing with an event: an event type it does not handle,
// an account no merchant has. The event is marked IGNORED, never retried,
// and Stripe gets a 200.
var ErrIgnore = errors.New("payment: event ignored")

// RecordMerchant tells the intake which merchant the event being handled in
// ctx belongs to; it is stored in webhook_events.merchant_id when the
// handler returns, so that operators can list a merchant's events. It does
// nothing outside a handler's context.
func RecordMerchant(ctx context.Context, merchantID uuid.UUID) {
	if slot, ok := ctx.Value(merchantSlotKey{}).(*merchantSlot); ok {
		slot.mu.Lock()
		slot.id = merchantID
		slot.mu.Unlock()
	}
}

type merchantSlotKey struct{}

type merchantSlot struct {
	mu sync.Mutex
	id uuid.UUID
}

func (s *merchantSlot) get() uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// WebhookConfig configures the intake. Zero values take the defaults.
type WebhookConfig struct {
	// Secret verifies the platform endpoint, ConnectSecret the Connect
	// endpoint (see Handler). An endpoint without its secret answers 503.
	Secret        string
	ConnectSecret string
	// MaxAttempts bounds the handler runs RetryFailed makes for one event
	// (default 10). Deliveries from Stripe (its own retries, or a resend
	// from the dashboard) may still run a failed event after that.
	MaxAttempts int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the intake's logs (default slog.Default()).
	Logger *slog.Logger
	// Lease is how long a claim on an event lasts (default 2 minutes): an
	// event whose processor died is taken again once its lease ran out. The
	// handler runs with a deadline of half the lease, so that a live
	// processor always finishes within its claim.
	Lease time.Duration
	// RetryBase and RetryMax shape the back-off after a failure: RetryBase
	// doubled per attempt so far, at most RetryMax (defaults 30s and 1h).
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxBodyBytes bounds a delivery's body (default 1 MiB; larger: 413).
	MaxBodyBytes int64
}

func (c *WebhookConfig) defaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 30 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Hour
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = c.RetryBase
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
}

// Webhooks is the intake of Stripe webhooks: it verifies a delivery, stores
// its event once in webhook_events, and runs the handler for it exactly once
// unless the handler fails, in which case it retries with back-off.
//
// The states of a stored event:
//
//	RECEIVED   stored, not yet claimed
//	PROCESSING claimed by one delivery or retry until next_attempt_at (the lease)
//	PROCESSED  the handler succeeded (processed_at)
//	IGNORED    the handler returned ErrIgnore (processed_at, last_error = reason)
//	FAILED     the handler failed (last_error); retried from next_attempt_at
//
// webhook_events belongs to no tenant: every statement runs in the system
// context.
type Webhooks struct {
	client  *ent.Client
	handler EventHandler
	cfg     WebhookConfig
	log     *slog.Logger
}

// NewWebhooks returns the intake writing to client and calling handler.
func NewWebhooks(client *ent.Client, handler EventHandler, cfg WebhookConfig) *Webhooks {
	if client == nil || handler == nil {
		panic("payment: NewWebhooks needs an ent client and a handler")
	}
	cfg.defaults()
	return &Webhooks{client: client, handler: handler, cfg: cfg, log: cfg.Logger}
}

// Handler returns the endpoint of the platform's events (connect false,
// verified with Secret: mount it at POST /webhooks/stripe) or of connected
// accounts' events (connect true, ConnectSecret: /webhooks/stripe/connect).
func (w *Webhooks) Handler(connect bool) http.Handler {
	if connect {
		return endpoint{w: w, name: "connect", secrets: nonEmpty(w.cfg.ConnectSecret)}
	}
	return endpoint{w: w, name: "platform", secrets: nonEmpty(w.cfg.Secret)}
}

// ServeHTTP serves a single endpoint for both kinds of events: it accepts a
// delivery signed with either Secret or ConnectSecret. Prefer Handler, which
// keeps each endpoint to its own secret.
func (w *Webhooks) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	endpoint{w: w, name: "any", secrets: nonEmpty(w.cfg.Secret, w.cfg.ConnectSecret)}.ServeHTTP(rw, r)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

type endpoint struct {
	w       *Webhooks
	name    string
	secrets []string
}

// outcome is what became of one delivery or retry.
type outcome int

const (
	outProcessed outcome = iota // the handler succeeded
	outIgnored                  // the handler returned ErrIgnore
	outFailed                   // the handler failed: FAILED, retry scheduled
	outDuplicate                // done already, or claimed by another delivery
	outPending                  // FAILED earlier, its retry is not due yet
)

func (e endpoint) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := e.w
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		reply(rw, http.StatusMethodNotAllowed, "error", "method not allowed")
		return
	}
	if len(e.secrets) == 0 {
		w.log.ErrorContext(r.Context(), "stripe webhook: no signing secret configured", "endpoint", e.name)
		reply(rw, http.StatusServiceUnavailable, "error", "webhook endpoint not configured")
		return
	}
	limit := w.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		reply(rw, http.StatusRequestEntityTooLarge, "error", "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			reply(rw, http.StatusRequestEntityTooLarge, "error", "body too large")
			return
		}
		reply(rw, http.StatusBadRequest, "error", "unreadable body")
		return
	}
	ev, err := verifyAny(body, r.Header.Get("Stripe-Signature"), e.secrets, w.now())
	if err != nil {
		w.log.WarnContext(r.Context(), "stripe webhook: refused", "endpoint", e.name, "error", err)
		reply(rw, http.StatusBadRequest, "error", refusal(err))
		return
	}
	// From here on the work is the platform's, not the caller's: a delivery
	// Stripe gave up on (timeout) still finishes.
	ctx := viewer.SystemContext(context.WithoutCancel(r.Context()), "stripe webhook")
	out, err := w.deliver(ctx, ev, body)
	switch {
	case err != nil:
		w.log.ErrorContext(ctx, "stripe webhook: intake failed", "event", ev.ID, "type", ev.Type, "error", err)
		reply(rw, http.StatusInternalServerError, "error", "internal error")
	case out == outProcessed:
		reply(rw, http.StatusOK, "status", "processed")
	case out == outIgnored:
		reply(rw, http.StatusOK, "status", "ignored")
	case out == outDuplicate:
		reply(rw, http.StatusOK, "status", "duplicate")
	case out == outPending:
		reply(rw, http.StatusInternalServerError, "error", "processing failed; retry scheduled")
	default: // outFailed
		reply(rw, http.StatusInternalServerError, "error", "processing failed")
	}
}

// verifyAny verifies a delivery against each secret in turn.
func verifyAny(body []byte, header string, secrets []string, now time.Time) (stripe.Event, error) {
	var err error
	for _, s := range secrets {
		var ev stripe.Event
		ev, err = VerifyEvent(body, header, s, now)
		if err == nil || !errors.Is(err, webhook.ErrNoValidSignature) {
			return ev, err
		}
	}
	return stripe.Event{}, err
}

// refusal is the short reason a refused delivery gets back.
func refusal(err error) string {
	switch {
	case errors.Is(err, webhook.ErrTooOld):
		return "timestamp outside the tolerance"
	case errors.Is(err, ErrSignature):
		return "invalid signature"
	case errors.Is(err, ErrAPIVersion):
		return "unexpected api_version: expected " + APIVersion
	default:
		return "malformed event"
	}
}

func reply(rw http.ResponseWriter, status int, key, value string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]string{key: value})
}

// dbTimeout bounds each statement of the intake.
const dbTimeout = 30 * time.Second

func (w *Webhooks) now() time.Time { return w.cfg.Now().UTC() }

// deliver stores a verified event (once) and, when this delivery wins the
// claim, runs the handler for it.
func (w *Webhooks) deliver(ctx context.Context, ev stripe.Event, body []byte) (outcome, error) {
	payload := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // amounts and timestamps stay exact in the stored JSON
	if err := dec.Decode(&payload); err != nil {
		return 0, fmt.Errorf("decode payload: %w", err)
	}
	now := w.now()
	if err := w.insert(ctx, ev, payload, now); err != nil {
		return 0, err
	}
	key := webhookevent.And(webhookevent.ProviderEQ(webhookevent.ProviderSTRIPE), webhookevent.EventID(ev.ID))
	claimable := webhookevent.Or(
		webhookevent.StatusEQ(webhookevent.StatusRECEIVED),
		webhookevent.And(
			webhookevent.StatusIn(webhookevent.StatusFAILED, webhookevent.StatusPROCESSING),
			webhookevent.NextAttemptAtLTE(now),
		),
	)
	row, ok, err := w.claim(ctx, key, now, claimable)
	if err != nil {
		return 0, err
	}
	if !ok {
		return w.unclaimed(ctx, ev)
	}
	return w.process(ctx, row, ev), nil
}

// insert stores the event unless it is stored already. ON CONFLICT DO
// NOTHING makes concurrent duplicate deliveries safe on both backends: one
// inserts, the others change nothing (and wait on PostgreSQL until the
// first commits).
func (w *Webhooks) insert(ctx context.Context, ev stripe.Event, payload map[string]any, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	c := w.client.WebhookEvent.Create().
		SetProvider(webhookevent.ProviderSTRIPE).
		SetEventID(ev.ID).
		SetType(string(ev.Type)).
		SetLivemode(ev.Livemode).
		SetAPIVersion(ev.APIVersion).
		SetPayload(payload).
		SetStatus(webhookevent.StatusRECEIVED).
		SetReceivedAt(now).
		// A RECEIVED row that nobody claims within a lease (the process
		// died in between) is picked up by RetryFailed.
		SetNextAttemptAt(now.Add(w.cfg.Lease))
	if ev.Account != "" {
		c.SetAccountID(ev.Account)
	}
	err := c.OnConflictColumns(webhookevent.FieldProvider, webhookevent.FieldEventID).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) { // ErrNoRows: it existed
		return fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	return nil
}

// claim moves the event key to PROCESSING with a fresh lease and one more
// attempt when it satisfies cond, in one conditional UPDATE, and returns it;
// ok is false when the event is not claimable (done, or claimed by someone
// else meanwhile).
func (w *Webhooks) claim(ctx context.Context, key predicate.WebhookEvent, now time.Time, cond ...predicate.WebhookEvent) (row *ent.WebhookEvent, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	n, err := w.client.WebhookEvent.Update().Where(append([]predicate.WebhookEvent{key}, cond...)...).
		SetStatus(webhookevent.StatusPROCESSING).
		SetNextAttemptAt(now.Add(w.cfg.Lease)).
		AddAttempts(1).
		Save(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("claim event: %w", err)
	}
	if n == 0 {
		return nil, false, nil
	}
	// Ours until the lease ends: nobody else writes it meanwhile.
	row, err = w.client.WebhookEvent.Query().Where(key).Only(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read claimed event: %w", err)
	}
	return row, true, nil
}

// unclaimed tells a delivery that lost the claim what became of the event.
func (w *Webhooks) unclaimed(ctx context.Context, ev stripe.Event) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	row, err := w.client.WebhookEvent.Query().
		Where(webhookevent.ProviderEQ(webhookevent.ProviderSTRIPE), webhookevent.EventID(ev.ID)).
		Select(webhookevent.FieldStatus).Only(ctx)
	if err != nil {
		return 0, fmt.Errorf("read event %s: %w", ev.ID, err)
	}
	w.log.DebugContext(ctx, "stripe webhook: duplicate delivery", "event", ev.ID, "status", row.Status)
	if row.Status == webhookevent.StatusFAILED {
		return outPending, nil
	}
	return outDuplicate, nil
}

// process runs the handler for a claimed event and records the outcome,
// provided the claim is still ours (same status and attempt count).
func (w *Webhooks) process(ctx context.Context, row *ent.WebhookEvent, ev stripe.Event) outcome {
	slot := &merchantSlot{}
	hctx, cancel := context.WithTimeout(context.WithValue(context.WithoutCancel(ctx), merchantSlotKey{}, slot), w.cfg.Lease/2)
	herr := w.call(hctx, ev)
	cancel()

	now := w.now()
	upd := w.client.WebhookEvent.Update().Where(
		webhookevent.ID(row.ID),
		webhookevent.StatusEQ(webhookevent.StatusPROCESSING),
		webhookevent.AttemptsEQ(row.Attempts),
	)
	if m := slot.get(); m != uuid.Nil {
		upd.SetMerchantID(m)
	}
	log := w.log.With("event", row.EventID, "type", row.Type, "attempt", row.Attempts)
	var out outcome
	switch {
	case herr == nil:
		out = outProcessed
		upd.SetStatus(webhookevent.StatusPROCESSED).SetProcessedAt(now).ClearLastError().ClearNextAttemptAt()
		log.InfoContext(ctx, "stripe webhook: processed")
	case errors.Is(herr, ErrIgnore):
		out = outIgnored
		upd.SetStatus(webhookevent.StatusIGNORED).SetProcessedAt(now).SetLastError(clip(herr.Error())).ClearNextAttemptAt()
		log.InfoContext(ctx, "stripe webhook: ignored", "reason", herr)
	default:
		out = outFailed
		next := now.Add(w.backoff(row.Attempts))
		upd.SetStatus(webhookevent.StatusFAILED).SetLastError(clip(herr.Error())).SetNextAttemptAt(next)
		if row.Attempts >= w.cfg.MaxAttempts {
			log.ErrorContext(ctx, "stripe webhook: handler failed; no automatic retry is left", "error", herr)
		} else {
			log.WarnContext(ctx, "stripe webhook: handler failed; retry scheduled", "error", herr, "next_attempt_at", next)
		}
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer dcancel()
	n, err := upd.Save(dctx)
	switch {
	case err != nil:
		// The claim expires and the event is taken again: the handler must
		// be idempotent anyway.
		log.ErrorContext(ctx, "stripe webhook: could not record the outcome", "error", err)
		return outFailed
	case n == 0:
		log.WarnContext(ctx, "stripe webhook: the claim expired before the handler returned; outcome not recorded")
	}
	return out
}

// call runs the handler, turning a panic into an error.
func (w *Webhooks) call(ctx context.Context, ev stripe.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.ErrorContext(ctx, "stripe webhook: handler panicked", "event", ev.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return w.handler.HandleStripeEvent(ctx, ev)
}

// backoff is the wait after the attempt-th failed attempt: RetryBase
// doubled per earlier attempt, at most RetryMax.
func (w *Webhooks) backoff(attempt int) time.Duration {
	d := w.cfg.RetryBase
	for i := 1; i < attempt && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.cfg.RetryMax)
}

// clip shortens an error for last_error (at most 2,000 bytes, whole runes).
func clip(s string) string {
	const max = 2000
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// retryBatch is how many due events RetryFailed claims per query.
const retryBatch = 100

// RetryFailed runs the handler again for every event that is due: FAILED
// events whose next_attempt_at passed and that have had fewer than
// MaxAttempts attempts, plus events whose processor died (a RECEIVED row
// never claimed, a PROCESSING row whose lease ran out). It returns how many
// events it ran the handler for, whatever the outcome; handler failures are
// recorded, not returned.
func (w *Webhooks) RetryFailed(ctx context.Context) (int, error) {
	return w.retry(viewer.SystemContext(ctx, "stripe webhook retry"))
}

// Run calls RetryFailed every interval (default 1 minute) until ctx is done.
// The server starts it once per process; several processes may run it, the
// claims keep them apart.
func (w *Webhooks) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	sys := viewer.SystemContext(ctx, "stripe webhook retry")
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := w.retry(sys)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.WarnContext(ctx, "stripe webhook: retry pass failed", "error", err)
		case n > 0:
			w.log.InfoContext(ctx, "stripe webhook: retried events", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *Webhooks) retry(ctx context.Context) (int, error) {
	now := w.now()
	// A claim that ran out on the last allowed attempt leaves nothing to
	// retry automatically: say so instead of showing PROCESSING forever.
	sctx, cancel := context.WithTimeout(ctx, dbTimeout)
	_, err := w.client.WebhookEvent.Update().Where(
		webhookevent.StatusEQ(webhookevent.StatusPROCESSING),
		webhookevent.NextAttemptAtLTE(now),
		webhookevent.AttemptsGTE(w.cfg.MaxAttempts),
	).SetStatus(webhookevent.StatusFAILED).SetLastError("the claim of the last attempt expired").Save(sctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("payment: retry webhooks: %w", err)
	}
	due := func(now time.Time) []predicate.WebhookEvent {
		return []predicate.WebhookEvent{
			webhookevent.StatusIn(webhookevent.StatusRECEIVED, webhookevent.StatusFAILED, webhookevent.StatusPROCESSING),
			webhookevent.NextAttemptAtLTE(now),
			webhookevent.AttemptsLT(w.cfg.MaxAttempts),
		}
	}
	n := 0
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, dbTimeout)
		ids, err := w.client.WebhookEvent.Query().Where(due(now)...).
			Order(ent.Asc(webhookevent.FieldNextAttemptAt)).Limit(retryBatch).IDs(qctx)
		cancel()
		if err != nil {
			return n, fmt.Errorf("payment: retry webhooks: %w", err)
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				break
			}
			claimedAt := w.now()
			row, ok, err := w.claim(ctx, webhookevent.ID(id), claimedAt, due(claimedAt)...)
			if err != nil {
				return n, fmt.Errorf("payment: retry webhooks: %w", err)
			}
			if !ok {
				continue // claimed by a delivery or another process meanwhile
			}
			ev, err := eventOf(row)
			if err != nil { // cannot happen to a verified event; keep it visible
				w.log.ErrorContext(ctx, "stripe webhook: stored payload unreadable", "event", row.EventID, "error", err)
				ev = stripe.Event{ID: row.EventID, Type: stripe.EventType(row.Type), Account: row.AccountID,
					APIVersion: row.APIVersion, Livemode: row.Livemode, Data: &stripe.EventData{}}
			}
			w.process(ctx, row, ev)
			n++
		}
		if len(ids) < retryBatch {
			break
		}
		now = w.now()
	}
	return n, nil
}

// eventOf decodes a stored event back into the form the handler was given.
func eventOf(row *ent.WebhookEvent) (stripe.Event, error) {
	b, err := json.Marshal(row.Payload)
	if err != nil {
		return stripe.Event{}, err
	}
	var ev stripe.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return stripe.Event{}, err
	}
	if ev.Data == nil {
		ev.Data = &stripe.EventData{}
	}
	return ev, nil
}

// StoredCreated reads the "created" time (Unix seconds) of an event from the
// payload the intake stored in webhook_events: handlers compare it with the
// event at hand to skip one older than what they already applied.
func StoredCreated(payload map[string]any) int64 {
	switch n := payload["created"].(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	case string:
		i, _ := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		return i
	}
	return 0
}

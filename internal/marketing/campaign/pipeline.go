package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/emailcampaign"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Reasons recorded in email_sends.last_error and email_campaigns.failure_reason.
const (
	// ReasonInterrupted: the row was claimed for sending by a process that
	// stopped before recording the outcome. The email may or may not have
	// gone out; it is never sent again.
	ReasonInterrupted = "interrupted"
)

// sendCampaign works on one campaign while holding its lock: it starts a
// due SCHEDULED campaign or takes over a SENDING one, and sends until the
// audience is exhausted, the campaign is paused or cancelled, or ctx ends.
func (s *Sender) sendCampaign(ctx context.Context, mid, cid uuid.UUID) error {
	sctx := viewer.ActAsStore(ctx, mid, "campaign send")
	c, err := s.db.Client.EmailCampaign.Get(sctx, cid)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch c.Status {
	case emailcampaign.StatusSCHEDULED:
		if c.ScheduledAt != nil && c.ScheduledAt.After(s.now()) {
			return nil
		}
		if c, err = s.start(sctx, c); err != nil || c == nil {
			return err
		}
	case emailcampaign.StatusSENDING:
		if c, err = s.takeOver(sctx, c); err != nil || c == nil {
			return err
		}
	default:
		return nil
	}
	merchant, err := s.db.Client.MerchantAccount.Get(sctx, mid)
	if err != nil {
		return fmt.Errorf("campaign: store %s: %w", mid, err)
	}
	// The results channel holds what arrives while the collector writes a
	// flush (FlushSize), so that workers do not wait for the database.
	r := &run{s: s, ctx: sctx, mid: mid, c: c, merchant: merchant,
		queue: make(chan job, s.cfg.QueueSize), results: make(chan result, s.cfg.FlushSize+s.cfg.QueueSize+s.cfg.Workers),
		lastProgress: time.Now()}
	// Pause and Cancel through this Sender stop the run at once; those made
	// by another process are seen at the next status read.
	s.runs.Store(c.ID, r)
	defer s.runs.CompareAndDelete(c.ID, r)
	return r.do()
}

// audience is the query of the campaign's recipients: members of its
// segment (every customer without one), ACTIVE and SUBSCRIBED to email.
func audience(c *ent.Client, camp *ent.EmailCampaign) *ent.CustomerQuery {
	q := c.Customer.Query().Where(customer.StatusEQ(customer.StatusACTIVE), customer.EmailConsentEQ(customer.EmailConsentSUBSCRIBED))
	if camp.SegmentID != nil {
		q = q.Where(customer.HasSegmentMembershipsWith(segmentmember.SegmentID(*camp.SegmentID)))
	}
	return q
}

// allow asks the Limiter for the audience not queued yet; a refusal fails
// the campaign with the Limiter's message. It reports whether to go on.
func (s *Sender) allow(ctx context.Context, c *ent.EmailCampaign) (bool, error) {
	if s.limiter == nil {
		return true, nil
	}
	n, err := audience(s.db.Client, c).Count(ctx)
	if err != nil {
		return false, err
	}
	queued, err := s.db.Client.EmailSend.Query().Where(emailsend.CampaignID(c.ID)).Count(ctx)
	if err != nil {
		return false, err
	}
	if n -= queued; n <= 0 {
		return true, nil
	}
	lerr := s.limiter.AllowEmails(ctx, c.MerchantID, n)
	if lerr == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return false, s.fail(ctx, c.ID, lerr.Error())
}

// fail marks the campaign FAILED with reason (if it is still SCHEDULED or
// SENDING) and drops its unsent emails.
func (s *Sender) fail(ctx context.Context, cid uuid.UUID, reason string) error {
	if utf8.RuneCountInString(reason) > 2000 {
		reason = string([]rune(reason)[:2000])
	}
	return db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		n, err := tx.EmailCampaign.Update().Where(emailcampaign.ID(cid),
			emailcampaign.StatusIn(emailcampaign.StatusSCHEDULED, emailcampaign.StatusSENDING)).
			SetStatus(emailcampaign.StatusFAILED).SetFailureReason(reason).SetCompletedAt(s.now()).Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		if _, err := tx.EmailSend.Delete().Where(emailsend.CampaignID(cid), emailsend.StatusEQ(emailsend.StatusQUEUED)).Exec(ctx); err != nil {
			return err
		}
		c, err := tx.EmailCampaign.Get(ctx, cid)
		if err != nil {
			return err
		}
		_, err = events.Write(ctx, tx, c.MerchantID, progressOf(c))
		return err
	})
}

// start moves a due campaign SCHEDULED→SENDING after the Limiter allowed
// its audience. It returns nil when the campaign is not to be sent.
func (s *Sender) start(ctx context.Context, c *ent.EmailCampaign) (*ent.EmailCampaign, error) {
	if ok, err := s.allow(ctx, c); !ok || err != nil {
		return nil, err
	}
	var out *ent.EmailCampaign
	err := db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		n, err := tx.EmailCampaign.Update().Where(emailcampaign.ID(c.ID), emailcampaign.StatusEQ(emailcampaign.StatusSCHEDULED)).
			SetStatus(emailcampaign.StatusSENDING).SetStartedAt(s.now()).Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		if out, err = tx.EmailCampaign.Get(ctx, c.ID); err != nil {
			return err
		}
		_, err = events.Write(ctx, tx, c.MerchantID, progressOf(out))
		return err
	})
	return out, err
}

// takeOver continues a SENDING campaign that no process holds (resumed
// after a pause, or left by a process that stopped): rows left SENDING are
// marked FAILED "interrupted" and never sent again.
func (s *Sender) takeOver(ctx context.Context, c *ent.EmailCampaign) (*ent.EmailCampaign, error) {
	var out *ent.EmailCampaign
	err := db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		n, err := tx.EmailSend.Update().Where(emailsend.CampaignID(c.ID), emailsend.StatusEQ(emailsend.StatusSENDING)).
			SetStatus(emailsend.StatusFAILED).SetLastError(ReasonInterrupted).Save(ctx)
		if err != nil {
			return err
		}
		u := tx.EmailCampaign.Update().Where(emailcampaign.ID(c.ID), emailcampaign.StatusEQ(emailcampaign.StatusSENDING))
		if n > 0 {
			u.AddFailedCount(n)
		}
		if m, err := u.Save(ctx); err != nil || m == 0 {
			return err
		}
		out, err = tx.EmailCampaign.Get(ctx, c.ID)
		return err
	})
	if err != nil || out == nil {
		return nil, err
	}
	if ok, err := s.allow(ctx, out); !ok || err != nil {
		return nil, err
	}
	return out, nil
}

// run is one campaign being sent by this process.
type run struct {
	s        *Sender
	ctx      context.Context
	mid      uuid.UUID
	c        *ent.EmailCampaign
	merchant *ent.MerchantAccount

	stopped atomic.Bool // the campaign left SENDING (paused, cancelled)
	queue   chan job
	results chan result
	sent    atomic.Int64

	// collector state
	lastProgress  time.Time
	sinceProgress int
	lastStatus    time.Time
}

type job struct {
	send     *ent.EmailSend
	customer *ent.Customer
}

type outcome int

const (
	outSent    outcome = iota
	outFailed          // FAILED, counted
	outBounced         // BOUNCED, counted, customer suppressed
	outUnclaim         // not attempted: back to QUEUED
)

type result struct {
	id         uuid.UUID
	customerID uuid.UUID
	outcome    outcome
	subject    string
	messageID  string
	errText    string
	at         time.Time
}

// do runs the batches, the workers and the collector until the audience
// is exhausted, the campaign stops or ctx ends.
func (r *run) do() error {
	s := r.s
	var workers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(r.worker)
	}
	collected := make(chan error, 1)
	go func() { collected <- r.collect() }()

	feedErr := r.feed()

	close(r.queue)
	workers.Wait()
	close(r.results)
	collectErr := <-collected
	if feedErr != nil {
		return feedErr
	}
	if collectErr != nil {
		return collectErr
	}
	if r.stopped.Load() {
		return r.dropIfCancelled()
	}
	if r.ctx.Err() != nil {
		return nil
	}
	return r.finish()
}

// dropIfCancelled deletes the QUEUED rows of a campaign cancelled while it
// was sending: those that workers handed back after Cancel deleted the rest.
func (r *run) dropIfCancelled() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	_, err := r.s.db.Client.EmailSend.Delete().Where(emailsend.CampaignID(r.c.ID), emailsend.StatusEQ(emailsend.StatusQUEUED),
		emailsend.HasCampaignWith(emailcampaign.StatusIn(emailcampaign.StatusCANCELLED, emailcampaign.StatusFAILED))).Exec(ctx)
	return err
}

// feed reads the audience in keyset batches, writes each batch's
// email_sends rows, and queues the batch's QUEUED rows, claimed a few at a
// time under the store's rate limit.
func (r *run) feed() error {
	err := r.feedBatches()
	if err != nil && r.ctx.Err() != nil {
		return nil // stopped: what was claimed is recorded or handed back
	}
	return err
}

func (r *run) feedBatches() error {
	s, ctx := r.s, r.ctx
	cursor := uuid.Nil
	for {
		if r.stopped.Load() || ctx.Err() != nil {
			return nil
		}
		if err := r.refreshStatus(ctx); err != nil || r.stopped.Load() {
			return err
		}
		q := audience(s.db.Client, r.c)
		if cursor != uuid.Nil {
			q = q.Where(customer.IDGT(cursor))
		}
		batch, err := q.Order(ent.Asc(customer.FieldID)).Limit(s.cfg.BatchSize).All(ctx)
		if err != nil {
			return fmt.Errorf("campaign: audience: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		cursor = batch[len(batch)-1].ID
		if err := r.insertSends(batch); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(batch))
		byID := make(map[uuid.UUID]*ent.Customer, len(batch))
		for i, cu := range batch {
			ids[i], byID[cu.ID] = cu.ID, cu
		}
		rows, err := s.db.Client.EmailSend.Query().Where(emailsend.CampaignID(r.c.ID), emailsend.CustomerIDIn(ids...),
			emailsend.StatusEQ(emailsend.StatusQUEUED)).Order(ent.Asc(emailsend.FieldCustomerID)).All(ctx)
		if err != nil {
			return fmt.Errorf("campaign: queued sends: %w", err)
		}
		chunk := s.cfg.QueueSize // claimed at once: fewer, larger transactions
		for i := 0; i < len(rows); i += chunk {
			part := rows[i:min(i+chunk, len(rows))]
			if err := r.waitRate(len(part)); err != nil || r.stopped.Load() {
				return err
			}
			claimed, err := r.claim(part)
			if err != nil {
				return err
			}
			if ctx.Err() != nil || r.stopped.Load() {
				r.unclaim(claimed)
				return nil
			}
			for k, row := range claimed {
				select {
				case r.queue <- job{send: row, customer: byID[*row.CustomerID]}:
				case <-ctx.Done():
					r.unclaim(claimed[k:])
					return nil
				}
			}
		}
	}
}

// insertSends writes the batch's email_sends rows (existing ones, from an
// earlier run, are left alone) and the recipients count, in one transaction.
func (r *run) insertSends(batch []*ent.Customer) error {
	ctx, c := r.ctx, r.c
	return db.InTx(ctx, r.s.db.Client, func(tx *ent.Client) error {
		creates := make([]*ent.EmailSendCreate, len(batch))
		for i, cu := range batch {
			creates[i] = tx.EmailSend.Create().SetMerchantID(r.mid).SetCampaignID(c.ID).SetCustomerID(cu.ID).
				SetNillableTemplateID(c.TemplateID).SetKind(emailsend.KindCAMPAIGN).SetToEmail(cu.Email).
				SetSubject(c.Subject).SetStatus(emailsend.StatusQUEUED).
				SetIdempotencyKey(fmt.Sprintf("campaign:%s:%s", c.ID, cu.ID)).SetTrackingToken(newToken())
		}
		if err := tx.EmailSend.CreateBulk(creates...).OnConflict().DoNothing().Exec(ctx); err != nil {
			return fmt.Errorf("campaign: queue sends: %w", err)
		}
		n, err := tx.EmailSend.Query().Where(emailsend.CampaignID(c.ID)).Count(ctx)
		if err != nil {
			return err
		}
		return tx.EmailCampaign.UpdateOneID(c.ID).SetRecipientsCount(n).Exec(ctx)
	})
}

// waitRate takes n emails from the store's send budget, waiting as long as
// needed (and while the campaign still sends).
func (r *run) waitRate(n int) error {
	perMinute := r.c.SendRatePerMinute
	if perMinute <= 0 {
		perMinute = r.s.cfg.DefaultRatePerMinute
	}
	perSecond := float64(perMinute) / 60
	lim := ratelimit.Limit{Capacity: max(perSecond, float64(n)), Rate: perSecond}
	key := "campaign-send:" + r.mid.String()
	for {
		d, err := r.s.rate.Take(r.ctx, key, float64(n), lim)
		wait := d.RetryAfter
		if err != nil {
			r.s.log.WarnContext(r.ctx, "campaign: rate limiter", "err", err)
			wait = time.Second
		} else if d.Allowed {
			return nil
		}
		wait = min(max(wait, time.Millisecond), time.Second)
		select {
		case <-r.ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := r.refreshStatus(r.ctx); err != nil || r.stopped.Load() {
			return err
		}
	}
}

// claim moves rows QUEUED→SENDING (attempts+1) and returns those it moved,
// in one transaction. The campaign lock makes this process the only
// claimer, so one set-based UPDATE … WHERE id IN (…) AND status = 'QUEUED'
// normally moves every row. When it moves fewer (a row was cancelled,
// claimed or finished elsewhere meanwhile), that transaction is rolled back
// and the claim is made again knowing which rows: read by id and locked
// (PostgreSQL; SQLite's write transaction is exclusive anyway), and those
// still QUEUED updated by id. Either way only the rows this claim moved
// are returned.
func (r *run) claim(rows []*ent.EmailSend) ([]*ent.EmailSend, error) {
	// Not cut short by ctx: a claim that committed must be known, so that
	// its rows are sent or handed back.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	ids := make([]uuid.UUID, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	err := db.InTx(ctx, r.s.db.Client, func(tx *ent.Client) error {
		n, err := tx.EmailSend.Update().Where(r.s.sendIDs(ids), emailsend.StatusEQ(emailsend.StatusQUEUED)).
			SetStatus(emailsend.StatusSENDING).AddAttempts(1).Save(ctx)
		if err == nil && n != len(ids) {
			err = errPartialClaim
		}
		return err
	})
	if err == nil {
		return rows, nil
	}
	if !errors.Is(err, errPartialClaim) {
		return nil, fmt.Errorf("campaign: claim: %w", err)
	}
	var out []*ent.EmailSend
	err = db.InTx(ctx, r.s.db.Client, func(tx *ent.Client) error {
		out = out[:0]
		status, err := r.s.lockSends(ctx, tx, ids)
		if err != nil {
			return err
		}
		claim := make([]uuid.UUID, 0, len(rows))
		for _, row := range rows {
			if status[row.ID] == emailsend.StatusQUEUED {
				claim = append(claim, row.ID)
				out = append(out, row)
			}
		}
		if len(claim) == 0 {
			return nil
		}
		n, err := tx.EmailSend.Update().Where(r.s.sendIDs(claim)).
			SetStatus(emailsend.StatusSENDING).AddAttempts(1).Save(ctx)
		if err == nil && n != len(claim) {
			err = fmt.Errorf("%d of %d locked rows updated", n, len(claim))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign: claim: %w", err)
	}
	return out, nil
}

// errPartialClaim rolls back a claim that moved fewer rows than it named.
var errPartialClaim = errors.New("campaign: some rows were not QUEUED")

// unclaim hands rows that were claimed but not attempted back to the
// collector, which returns them to QUEUED.
func (r *run) unclaim(rows []*ent.EmailSend) {
	for _, row := range rows {
		r.results <- result{id: row.ID, outcome: outUnclaim}
	}
}

// worker renders and sends queued emails.
func (r *run) worker() {
	for j := range r.queue {
		if r.stopped.Load() || r.ctx.Err() != nil {
			r.results <- result{id: j.send.ID, outcome: outUnclaim}
			continue
		}
		r.results <- r.sendOne(j)
	}
}

// sendOne renders and sends one email. Temporary failures before the data
// was written are retried twice; an uncertain one never (at most once).
func (r *run) sendOne(j job) result {
	res := result{id: j.send.ID, customerID: j.customer.ID}
	// A send that has begun (render included) finishes even when ctx ends,
	// so that its outcome is recorded: the renderer's limits and the SMTP
	// timeout bound it.
	sendCtx := context.WithoutCancel(r.ctx)
	subject, html, text, headers, err := r.s.render.Render(sendCtx, RenderInput{Merchant: r.merchant, Campaign: r.c, Customer: j.customer, Send: j.send})
	if err != nil {
		res.outcome, res.errText, res.at = outFailed, "render: "+err.Error(), r.s.now()
		return res
	}
	from := r.c.FromEmail
	if from == "" {
		from = r.merchant.ContactEmail
	}
	if from == "" {
		from = r.s.cfg.DefaultFrom
	}
	fromName := r.c.FromName
	if fromName == "" {
		fromName = r.merchant.Name
	}
	m := &mailer.Message{From: from, FromName: fromName, To: j.customer.Email, ReplyTo: r.c.ReplyTo,
		Subject: subject, HTML: html, Text: text, Headers: headers, MessageID: mailer.NewMessageID(from)}
	backoff := []time.Duration{500 * time.Millisecond, 2 * time.Second}
	for attempt := 0; ; attempt++ {
		err = r.s.mail.Send(sendCtx, m)
		if err == nil || mailer.IsPermanent(err) || mailer.IsUncertain(err) || attempt >= len(backoff) {
			break
		}
		select {
		case <-r.ctx.Done():
		case <-time.After(backoff[attempt]):
		}
		if r.ctx.Err() != nil || r.stopped.Load() {
			break
		}
	}
	res.at, res.subject, res.messageID = r.s.now(), subject, m.MessageID
	switch {
	case err == nil:
		res.outcome = outSent
		n := r.sent.Add(1)
		if h := r.s.hooks.afterSend; h != nil {
			h(int(n))
		}
	case mailer.IsBounce(err):
		res.outcome, res.errText = outBounced, err.Error()
	default:
		res.outcome, res.errText = outFailed, err.Error()
	}
	return res
}

// collect writes results in small transactions (every FlushInterval or
// FlushSize results) with the campaign's counters and, at most every
// ProgressInterval, a campaign.progress event.
func (r *run) collect() error {
	t := time.NewTicker(r.s.cfg.FlushInterval)
	defer t.Stop()
	var buf []result
	var lastErr error
	flush := func(final bool) {
		if len(buf) == 0 && !final && time.Since(r.lastStatus) < r.s.cfg.ProgressInterval {
			return
		}
		// Results are written also after ctx ended (a graceful stop), so
		// that what was sent is known.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		defer cancel()
		if err := r.flush(fctx, buf, final); err != nil {
			r.s.log.ErrorContext(fctx, "campaign: record send results", "campaign", r.c.ID, "err", err)
			lastErr = err
			if !final {
				return // kept for the next flush
			}
		} else {
			lastErr = nil
		}
		buf = buf[:0]
	}
	for {
		select {
		case res, ok := <-r.results:
			if !ok {
				flush(true)
				return lastErr
			}
			buf = append(buf, res)
			if len(buf) >= r.s.cfg.FlushSize {
				flush(false)
			}
		case <-t.C:
			flush(false)
		}
	}
}

// flush writes one group of results with the campaign's counters, and
// reads the campaign's status, in one transaction.
func (r *run) flush(ctx context.Context, buf []result, final bool) error {
	var sent, failed, bounced int
	err := db.InTx(ctx, r.s.db.Client, func(tx *ent.Client) error {
		var err error
		if sent, failed, bounced, err = r.writeResults(ctx, tx, buf); err != nil {
			return err
		}
		if sent+failed+bounced > 0 {
			if err := tx.EmailCampaign.UpdateOneID(r.c.ID).AddSentCount(sent).AddFailedCount(failed).AddBouncedCount(bounced).Exec(ctx); err != nil {
				return err
			}
		}
		c, err := tx.EmailCampaign.Get(ctx, r.c.ID)
		if err != nil {
			return err
		}
		r.lastStatus = time.Now()
		if c.Status != emailcampaign.StatusSENDING {
			r.stopped.Store(true)
		}
		r.sinceProgress += sent + failed + bounced
		if final || (r.sinceProgress > 0 && (time.Since(r.lastProgress) >= r.s.cfg.ProgressInterval || r.sinceProgress >= r.s.cfg.ProgressEvery)) {
			if _, err := events.Write(ctx, tx, r.mid, progressOf(c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && (final || r.sinceProgress > 0 && (time.Since(r.lastProgress) >= r.s.cfg.ProgressInterval || r.sinceProgress >= r.s.cfg.ProgressEvery)) {
		r.lastProgress, r.sinceProgress = time.Now(), 0
	}
	return err
}

// writeResults records results in set-based statements: one UPDATE … WHERE
// id IN (…) AND status = 'SENDING' per outcome, the per-row values
// (sent_at, message_id, subject, last_error) chosen by id in a CASE. Only
// rows still SENDING change (a row a process taking the campaign over
// marked "interrupted" stays so), and the counters count the rows changed.
// Bounced rows are read and locked first, so that exactly the recipients of
// the rows this flush marked BOUNCED are suppressed. It returns how many
// rows became SENT, FAILED and BOUNCED.
func (r *run) writeResults(ctx context.Context, tx *ent.Client, buf []result) (sent, failed, bounced int, err error) {
	var groups [outUnclaim + 1][]result
	for _, res := range buf {
		groups[res.outcome] = append(groups[res.outcome], res)
	}
	if len(groups[outBounced]) > 0 {
		ids := make([]uuid.UUID, len(groups[outBounced]))
		for i, res := range groups[outBounced] {
			ids[i] = res.id
		}
		status, err := r.s.lockSends(ctx, tx, ids)
		if err != nil {
			return 0, 0, 0, err
		}
		groups[outBounced] = slices.DeleteFunc(groups[outBounced], func(res result) bool { return status[res.id] != emailsend.StatusSENDING })
	}
	pg := r.s.db.Dialect == dialect.Postgres
	for o, all := range groups {
		for part := range slices.Chunk(all, maxRowsPerStatement) {
			ids := make([]uuid.UUID, len(part))
			for i, res := range part {
				ids[i] = res.id
			}
			u := tx.EmailSend.Update().Where(r.s.sendIDs(ids), emailsend.StatusEQ(emailsend.StatusSENDING))
			switch outcome(o) {
			case outUnclaim:
				u.SetStatus(emailsend.StatusQUEUED)
			case outSent:
				u.SetStatus(emailsend.StatusSENT).ClearLastError().Modify(func(b *sql.UpdateBuilder) {
					b.Set(emailsend.FieldSentAt, byID(part, pg, "timestamptz", "", func(res result) (any, bool) { return res.at, true }))
					b.Set(emailsend.FieldMessageID, byID(part, pg, "", "", func(res result) (any, bool) { return res.messageID, true }))
					if slices.ContainsFunc(part, func(res result) bool { return res.subject != "" }) {
						b.Set(emailsend.FieldSubject, byID(part, pg, "", emailsend.FieldSubject, func(res result) (any, bool) {
							return truncate(res.subject, 500), res.subject != ""
						}))
					}
				})
			case outBounced:
				u.SetStatus(emailsend.StatusBOUNCED)
			default:
				u.SetStatus(emailsend.StatusFAILED)
			}
			if o := outcome(o); o == outBounced || o == outFailed {
				u.Modify(func(b *sql.UpdateBuilder) {
					b.Set(emailsend.FieldLastError, byID(part, pg, "", "", func(res result) (any, bool) { return truncate(res.errText, 2000), true }))
				})
			}
			n, err := u.Save(ctx)
			if err != nil {
				return 0, 0, 0, err
			}
			switch outcome(o) {
			case outSent:
				sent += n
			case outFailed:
				failed += n
			case outBounced:
				if n != len(part) {
					return 0, 0, 0, fmt.Errorf("campaign: record bounces: %d of %d locked rows updated", n, len(part))
				}
				bounced += n
				customers := make([]uuid.UUID, 0, len(part))
				for _, res := range part {
					if res.customerID != uuid.Nil {
						customers = append(customers, res.customerID)
					}
				}
				if len(customers) > 0 {
					if err := tx.Customer.Update().Where(r.s.customerIDs(customers), customer.EmailConsentEQ(customer.EmailConsentSUBSCRIBED)).
						SetEmailConsent(customer.EmailConsentBOUNCED).Exec(ctx); err != nil {
						return 0, 0, 0, err
					}
				}
			}
		}
	}
	return sent, failed, bounced, nil
}

// maxRowsPerStatement bounds the rows one set-based statement names (and
// so its parameters: a CASE takes two per row and column), well below
// PostgreSQL's 65,535 and SQLite's 32,766.
const maxRowsPerStatement = 500

// lockSends returns the status of the email_sends rows ids (those the store
// has), read in this transaction and, on PostgreSQL, locked FOR UPDATE until
// it ends: an UPDATE by id later in the transaction then changes exactly the
// rows whose status was read. (SQLite's write transactions are exclusive.)
func (s *Sender) lockSends(ctx context.Context, tx *ent.Client, ids []uuid.UUID) (map[uuid.UUID]emailsend.Status, error) {
	out := make(map[uuid.UUID]emailsend.Status, len(ids))
	for part := range slices.Chunk(ids, maxRowsPerStatement) {
		q := tx.EmailSend.Query().Where(s.sendIDs(part))
		if s.db.Dialect == dialect.Postgres {
			q.ForUpdate()
		}
		rows, err := q.Select(emailsend.FieldID, emailsend.FieldStatus).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			out[row.ID] = row.Status
		}
	}
	return out, nil
}

// sendIDs is "email_sends.id IN (ids)" and customerIDs "customers.id IN
// (ids)", written so that the database finds the rows by primary key.
func (s *Sender) sendIDs(ids []uuid.UUID) predicate.EmailSend {
	return predicate.EmailSend(s.pkIn(emailsend.Table, emailsend.FieldID, ids))
}

func (s *Sender) customerIDs(ids []uuid.UUID) predicate.Customer {
	return predicate.Customer(s.pkIn(customer.Table, customer.FieldID, ids))
}

// pkIn is "table.id IN (ids)". On SQLite it is "rowid IN (SELECT rowid …
// WHERE id IN (ids))": next to the tenant filter (merchant_id = ?), SQLite's
// planner, without statistics, takes an IN list of more than a few ids for
// less selective than the merchant and scans the store's whole table; a
// rowid list it always looks up.
func (s *Sender) pkIn(table, column string, ids []uuid.UUID) func(*sql.Selector) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	if s.db.Dialect != dialect.SQLite {
		return func(sel *sql.Selector) { sel.Where(sql.In(sel.C(column), args...)) }
	}
	return func(sel *sql.Selector) {
		t := sql.Table(table).As("pk")
		sel.Where(sql.In(sel.C("rowid"), sql.Select(t.C("rowid")).From(t).Where(sql.In(t.C(column), args...))))
	}
}

// byID is "CASE id WHEN <id> THEN <value> … [ELSE <elseColumn>] END" over
// the results for which value reports true; cast is the PostgreSQL type
// of the values when the column's type cannot be inferred from text. On
// SQLite the id is written +id: the column's declared type (uuid) has
// NUMERIC affinity, which would make every WHEN try to read its text id as
// a number; +id has none, and compares as the stored text.
func byID(rs []result, pg bool, cast, elseColumn string, value func(result) (any, bool)) sql.Querier {
	return sql.ExprFunc(func(b *sql.Builder) {
		b.WriteString("CASE ")
		if !pg {
			b.WriteString("+")
		}
		b.Ident(emailsend.FieldID)
		for _, res := range rs {
			v, ok := value(res)
			if !ok {
				continue
			}
			b.WriteString(" WHEN ").Arg(res.id).WriteString(" THEN ").Arg(v)
			if pg && cast != "" {
				b.WriteString("::" + cast)
			}
		}
		if elseColumn != "" {
			b.WriteString(" ELSE ").Ident(elseColumn)
		}
		b.WriteString(" END")
	})
}

// refreshStatus reads the campaign's status (paused or cancelled meanwhile?).
func (r *run) refreshStatus(ctx context.Context) error {
	c, err := r.s.db.Client.EmailCampaign.Get(ctx, r.c.ID)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaign: status: %w", err)
	}
	if c.Status != emailcampaign.StatusSENDING {
		r.stopped.Store(true)
	}
	return nil
}

// finish completes a campaign whose audience is exhausted: rows still
// QUEUED (recipients who left the audience, unsubscribed or bounced since
// they were queued) are dropped, and the campaign becomes SENT.
func (r *run) finish() error {
	ctx := r.ctx
	return db.InTx(ctx, r.s.db.Client, func(tx *ent.Client) error {
		if _, err := tx.EmailSend.Delete().Where(emailsend.CampaignID(r.c.ID), emailsend.StatusEQ(emailsend.StatusQUEUED)).Exec(ctx); err != nil {
			return err
		}
		n, err := tx.EmailSend.Query().Where(emailsend.CampaignID(r.c.ID)).Count(ctx)
		if err != nil {
			return err
		}
		m, err := tx.EmailCampaign.Update().Where(emailcampaign.ID(r.c.ID), emailcampaign.StatusEQ(emailcampaign.StatusSENDING)).
			SetStatus(emailcampaign.StatusSENT).SetCompletedAt(r.s.now()).SetRecipientsCount(n).Save(ctx)
		if err != nil || m == 0 {
			return err
		}
		c, err := tx.EmailCampaign.Get(ctx, r.c.ID)
		if err != nil {
			return err
		}
		_, err = events.Write(ctx, tx, r.mid, progressOf(c))
		return err
	})
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

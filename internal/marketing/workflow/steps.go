package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/ent/workflowstep"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
)

// step runs the enrollment's current step st (nil: the run is at its end)
// and moves the enrollment on. It reports whether the run goes on in this
// claim.
func (s *Service) step(ctx context.Context, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep) (bool, error) {
	if st == nil {
		return s.apply(ctx, r, e, nil, advance{kind: advNext})
	}
	switch StepKind(st.Kind) {
	case StepWait:
		return s.apply(ctx, r, e, st, advance{kind: advWait, next: r.after(st, nil),
			runAt: s.now().Add(time.Duration(st.WaitSeconds) * time.Second)})
	case StepExit:
		return s.apply(ctx, r, e, st, advance{kind: advExit, reason: ReasonExitStep})
	case StepCondition:
		yes, err := s.evalCondition(ctx, r, e, st.Config)
		if err != nil {
			return false, err
		}
		key := "false"
		if yes {
			key = "true"
		}
		var to *int
		if n, ok := intOf(st.Branches[key]); ok {
			to = &n
		}
		return s.apply(ctx, r, e, st, advance{kind: advNext, next: r.after(st, to)})
	case StepAddTag, StepRemoveTag, StepSetAttribute:
		return s.profileStep(ctx, r, e, st)
	case StepSendEmail:
		return s.sendStep(ctx, r, e, st)
	default:
		return s.apply(ctx, r, e, st, advance{kind: advFail, reason: fmt.Sprintf("unsupported step kind %s", st.Kind)})
	}
}

// profileStep adds or removes a tag or sets an attribute of the customer,
// with a customer.updated event, in the transaction that moves the
// enrollment on.
func (s *Service) profileStep(ctx context.Context, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep) (bool, error) {
	cont := false
	err := db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		cu, err := tx.Customer.Get(ctx, e.CustomerID)
		if ent.IsNotFound(err) || (err == nil && cu.Status == customer.StatusDELETED) {
			cont, err = s.applyTx(ctx, tx, r, e, st, advance{kind: advExit, reason: ReasonCustomerDeleted})
			return err
		}
		if err != nil {
			return err
		}
		u := tx.Customer.UpdateOneID(cu.ID)
		changed := ""
		switch StepKind(st.Kind) {
		case StepAddTag, StepRemoveTag:
			tag, _ := st.Config["tag"].(string)
			has := slices.Contains(cu.Tags, tag)
			if st.Kind == workflowstep.KindADD_TAG && !has && tag != "" {
				u.SetTags(append(slices.Clone(cu.Tags), tag))
				changed = "tags"
			} else if st.Kind == workflowstep.KindREMOVE_TAG && has {
				u.SetTags(slices.DeleteFunc(slices.Clone(cu.Tags), func(t string) bool { return t == tag }))
				changed = "tags"
			}
		default: // SET_ATTRIBUTE
			key, _ := st.Config["attribute"].(string)
			val := st.Config["value"]
			props := map[string]any{}
			for k, v := range cu.Properties {
				props[k] = v
			}
			old, had := props[key]
			if val == nil {
				delete(props, key)
			} else {
				props[key] = val
			}
			if key != "" && (had != (val != nil) || fmt.Sprint(old) != fmt.Sprint(val)) {
				u.SetProperties(props)
				changed = "properties"
			}
		}
		if changed != "" {
			if err := u.Exec(ctx); err != nil {
				return err
			}
			if _, err := events.Write(ctx, tx, r.mid, events.CustomerUpdated{CustomerID: cu.ID, Changed: []string{changed}}); err != nil {
				return err
			}
		}
		cont, err = s.applyTx(ctx, tx, r, e, st, advance{kind: advNext, next: r.after(st, nil)})
		return err
	})
	return cont, err
}

// evalCondition evaluates a CONDITION step's test for the enrollment.
func (s *Service) evalCondition(ctx context.Context, r *run, e *ent.WorkflowEnrollment, cfg map[string]any) (bool, error) {
	c, _ := cfg["condition"].(map[string]any)
	kind, _ := c["kind"].(string)
	switch ConditionKind(kind) {
	case ConditionInSegment:
		id, err := uuid.Parse(fmt.Sprint(c["segmentId"]))
		if err != nil {
			return false, nil
		}
		return s.db.Client.SegmentMember.Query().Where(segmentmember.SegmentID(id), segmentmember.CustomerID(e.CustomerID)).Exist(ctx)
	case ConditionProfile:
		m, _ := c["rule"].(map[string]any)
		rule, errs := segment.ParseMap(m)
		if len(errs) > 0 {
			return false, nil
		}
		sub, err := s.segments.LoadSubject(ctx, r.mid, e.CustomerID, rule)
		if err != nil {
			if err == segment.ErrNotFound {
				return false, nil
			}
			return false, err
		}
		return segment.Evaluate(rule, sub), nil
	case ConditionEventSinceEnrollment:
		et, _ := c["eventType"].(string)
		if et == EventOrderCreated || et == EventOrderPaid {
			return s.orderSince(ctx, e, et == EventOrderPaid)
		}
		evs, err := s.db.Client.CustomerEvent.Query().Where(customerevent.CustomerID(e.CustomerID), customerevent.TypeEQ(et),
			customerevent.OccurredAtGTE(e.EnrolledAt)).Limit(1000).All(ctx)
		if err != nil {
			return false, err
		}
		filters := anyFilters(c["filters"])
		for _, ev := range evs {
			if eventMatches(et, filters, segment.Event{Type: ev.Type, Properties: ev.Properties, OccurredAt: ev.OccurredAt}) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}

// orderSince reports whether an order was placed (paid) for the
// enrollment's cart (at any time: the cart converted), or by the customer
// (by id or email) since the enrollment.
func (s *Service) orderSince(ctx context.Context, e *ent.WorkflowEnrollment, paid bool) (bool, error) {
	var or []predicate.Order
	if id, err := uuid.Parse(fmt.Sprint(e.Context["cartId"])); err == nil {
		if !paid {
			converted, err := s.db.Client.ShoppingCart.Query().Where(shoppingcart.ID(id), shoppingcart.StatusEQ(shoppingcart.StatusCONVERTED)).Exist(ctx)
			if err != nil || converted {
				return converted, err
			}
			or = append(or, order.CartID(id))
		} else {
			or = append(or, order.And(order.CartID(id), order.PaidAtNotNil()))
		}
	}
	since := order.PlacedAtGTE(e.EnrolledAt)
	if paid {
		since = order.PaidAtGTE(e.EnrolledAt)
	}
	or = append(or, order.And(order.CustomerID(e.CustomerID), since))
	cu, err := s.db.Client.Customer.Get(ctx, e.CustomerID)
	if err != nil && !ent.IsNotFound(err) {
		return false, err
	}
	if cu != nil && cu.Email != "" {
		or = append(or, order.And(order.EmailEqualFold(cu.Email), since))
	}
	return s.db.Client.Order.Query().Where(order.Or(or...)).Exist(ctx)
}

func intOf(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case int:
		return n, true
	case int64:
		return int(n), true
	}
	return 0, false
}

// sendKey is the idempotency key of a step's email to an enrollment.
func sendKey(e *ent.WorkflowEnrollment, st *ent.WorkflowStep) string {
	return fmt.Sprintf("enrollment:%s:step:%s", e.ID, st.ID)
}

// sendStep sends a SEND_EMAIL step's email at most once: the email_sends row
// is written (QUEUED) before anything is sent and claimed QUEUED→SENDING by
// a conditional update just before the send; a row found SENDING (a process
// died mid-send) is marked FAILED "interrupted" and never sent again.
// Customers who are not ACTIVE and SUBSCRIBED get no email (workflow mail
// is marketing mail); the run goes on.
func (s *Service) sendStep(ctx context.Context, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep) (bool, error) {
	next := advance{kind: advNext, next: r.after(st, nil)}
	cu, err := s.db.Client.Customer.Get(ctx, e.CustomerID)
	if ent.IsNotFound(err) || (err == nil && cu.Status == customer.StatusDELETED) {
		return s.apply(ctx, r, e, st, advance{kind: advExit, reason: ReasonCustomerDeleted})
	}
	if err != nil {
		return false, err
	}
	subscribed := cu.Status == customer.StatusACTIVE && cu.EmailConsent == customer.EmailConsentSUBSCRIBED
	key := sendKey(e, st)
	row, err := s.db.Client.EmailSend.Query().Where(emailsend.IdempotencyKey(key)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return false, err
	}
	var tmpl *ent.EmailTemplate
	if st.TemplateID != nil {
		if tmpl, err = s.db.Client.EmailTemplate.Get(ctx, *st.TemplateID); err != nil && !ent.IsNotFound(err) {
			return false, err
		}
	}
	if row == nil {
		if !subscribed {
			return s.apply(ctx, r, e, st, next)
		}
		if tmpl == nil {
			next.reason = "send email: template missing"
			return s.apply(ctx, r, e, st, next)
		}
		subject, _ := st.Config["subject"].(string)
		if subject == "" {
			subject = tmpl.Subject
		}
		err := s.db.Client.EmailSend.Create().SetMerchantID(r.mid).SetWorkflowStepID(st.ID).SetEnrollmentID(e.ID).
			SetCustomerID(cu.ID).SetTemplateID(tmpl.ID).SetKind(emailsend.KindAUTOMATION).SetToEmail(cu.Email).
			SetSubject(truncate(subject, 500)).SetStatus(emailsend.StatusQUEUED).SetIdempotencyKey(key).
			SetQueuedAt(s.now()).SetTrackingToken(newToken()).Exec(ctx)
		if err != nil && !db.LostRace(err) {
			return false, fmt.Errorf("workflow: queue email: %w", err)
		}
		if row, err = s.db.Client.EmailSend.Query().Where(emailsend.IdempotencyKey(key)).Only(ctx); err != nil {
			return false, err
		}
	}
	switch row.Status {
	case emailsend.StatusSENDING:
		return s.recordSend(ctx, r, e, st, row, sendResult{status: emailsend.StatusFAILED, errText: ReasonInterrupted}, next)
	case emailsend.StatusQUEUED:
	default: // sent, failed or bounced before: done
		return s.apply(ctx, r, e, st, next)
	}
	if !subscribed || tmpl == nil {
		reason := "skipped: not subscribed"
		if tmpl == nil {
			reason = "template missing"
		}
		return s.recordSend(ctx, r, e, st, row, sendResult{status: emailsend.StatusFAILED, errText: reason}, next)
	}
	// Claim: only the scheduler whose update moves the row sends it.
	n, err := s.db.Client.EmailSend.Update().Where(emailsend.ID(row.ID), emailsend.StatusEQ(emailsend.StatusQUEUED)).
		SetStatus(emailsend.StatusSENDING).AddAttempts(1).Save(ctx)
	if err != nil {
		return false, fmt.Errorf("workflow: claim email: %w", err)
	}
	if n == 0 {
		// Another scheduler claimed it (this one's lease ran out): it
		// sends and records it.
		return false, s.release(ctx, e.ID)
	}
	row.Attempts++
	res := s.deliver(ctx, r, e, st, tmpl, cu, row)
	if res.retry && row.Attempts < s.cfg.MaxAttempts {
		backoff := s.cfg.RetryBackoff << (row.Attempts - 1)
		return s.recordSend(ctx, r, e, st, row, res, advance{kind: advRetry, runAt: s.now().Add(backoff), reason: res.errText})
	}
	if res.status != emailsend.StatusSENT {
		next.reason = "send email: " + res.errText
	}
	return s.recordSend(ctx, r, e, st, row, res, next)
}

// sendResult is the outcome of one send attempt.
type sendResult struct {
	status    emailsend.Status // SENT, FAILED, BOUNCED; QUEUED with retry
	retry     bool             // a temporary failure before the data was written
	subject   string
	messageID string
	errText   string
	at        time.Time
}

// deliver renders and sends one email. It never retries by itself.
func (s *Service) deliver(ctx context.Context, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep, tmpl *ent.EmailTemplate, cu *ent.Customer, row *ent.EmailSend) sendResult {
	// A send that has begun finishes even when ctx ends, so that its
	// outcome is recorded: the renderer's limits and the SMTP timeout
	// bound it.
	sctx := context.WithoutCancel(ctx)
	if s.render == nil || s.mail == nil {
		return sendResult{status: emailsend.StatusFAILED, errText: "no renderer or mail sender configured", at: s.now()}
	}
	if r.m == nil {
		m, err := s.db.Client.MerchantAccount.Get(sctx, r.mid)
		if err != nil {
			return sendResult{status: emailsend.StatusQUEUED, retry: true, errText: "store: " + err.Error(), at: s.now()}
		}
		r.m = m
	}
	subjectSrc, _ := st.Config["subject"].(string)
	if subjectSrc == "" {
		subjectSrc = tmpl.Subject
	}
	subject, html, text, headers, err := s.render.Render(sctx, RenderInput{Subject: subjectSrc, Merchant: r.m, Workflow: r.w, Step: st, Template: tmpl,
		Enrollment: e, Customer: cu, Send: row})
	if err != nil {
		return sendResult{status: emailsend.StatusFAILED, errText: "render: " + err.Error(), at: s.now()}
	}
	if subject == "" {
		subject = subjectSrc
	}
	from := r.m.ContactEmail
	if from == "" {
		from = s.cfg.DefaultFrom
	}
	msg := &mailer.Message{From: from, FromName: r.m.Name, To: cu.Email, Subject: subject, HTML: html, Text: text,
		Headers: headers, MessageID: mailer.NewMessageID(from)}
	err = s.mail.Send(sctx, msg)
	res := sendResult{subject: subject, messageID: msg.MessageID, at: s.now()}
	switch {
	case err == nil:
		res.status = emailsend.StatusSENT
	case mailer.IsBounce(err):
		res.status, res.errText = emailsend.StatusBOUNCED, err.Error()
	case mailer.IsPermanent(err) || mailer.IsUncertain(err):
		res.status, res.errText = emailsend.StatusFAILED, err.Error()
	default:
		res.status, res.retry, res.errText = emailsend.StatusFAILED, true, err.Error()
	}
	return res
}

// recordSend writes a send's outcome and moves the enrollment on, in one
// transaction (a bounce also marks the customer BOUNCED). It runs even
// after ctx ended, so that what was sent is known.
func (s *Service) recordSend(ctx context.Context, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep, row *ent.EmailSend, res sendResult, a advance) (bool, error) {
	stopped := ctx.Err() != nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cont := false
	err := db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		u := tx.EmailSend.Update().Where(emailsend.ID(row.ID), emailsend.StatusIn(emailsend.StatusQUEUED, emailsend.StatusSENDING))
		switch {
		case a.kind == advRetry:
			u.SetStatus(emailsend.StatusQUEUED).SetNextAttemptAt(a.runAt).SetLastError(truncate(res.errText, 2000))
		case res.status == emailsend.StatusSENT:
			u.SetStatus(emailsend.StatusSENT).SetSentAt(res.at).SetMessageID(res.messageID).ClearLastError()
			if res.subject != "" {
				u.SetSubject(truncate(res.subject, 500))
			}
		default:
			u.SetStatus(res.status).SetLastError(truncate(res.errText, 2000))
		}
		if err := u.Exec(ctx); err != nil {
			return err
		}
		if res.status == emailsend.StatusBOUNCED {
			if err := tx.Customer.Update().Where(customer.ID(e.CustomerID), customer.EmailConsentEQ(customer.EmailConsentSUBSCRIBED)).
				SetEmailConsent(customer.EmailConsentBOUNCED).Exec(ctx); err != nil {
				return err
			}
		}
		var err error
		cont, err = s.applyTx(ctx, tx, r, e, st, a)
		return err
	})
	return cont && !stopped, err
}

// normalizeEmail is how emails are compared.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

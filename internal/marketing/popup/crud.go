package popup

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/discount"
)

// Input is the input of Create and Update. A nil field is left as it is
// (Update) or takes its default (Create). Field paths in user errors are
// ["input", <the json name below>, …].
type Input struct {
	Name   *string              // name: required on Create, 1–200 characters
	Status *capturepopup.Status // status: DRAFT (default), ACTIVE, PAUSED
	Kind   *capturepopup.Kind   // kind: MODAL (default), SLIDE_IN, BANNER

	Title          *string // title: at most 200 characters
	Body           *string // body: at most 5,000 characters
	CTAText        *string // ctaText: 1–100 characters (default "Subscribe")
	SuccessMessage *string // successMessage: at most 1,000 characters

	// DiscountCode is the offer revealed after a submission: a code of the
	// store's discounts, active and valid when the popup starts; "" removes
	// the offer. Stored upper-cased like the discount codes.
	DiscountCode *string // discountCode
	// DoubleOptIn makes submissions PENDING until the emailed link is
	// followed (Confirm).
	DoubleOptIn *bool // doubleOptIn

	DelaySeconds       *int       // delaySeconds: 0–3600, 0 = no delay trigger
	ScrollDepthPercent *int       // scrollDepthPercent: 0–100, 0 = no scroll trigger
	ExitIntent         *bool      // exitIntent
	Frequency          *Frequency // frequency {mode, days}: default EVERY_N_DAYS 7

	// IncludePaths and ExcludePaths replace the page targeting lists (at
	// most 50 patterns each, see ParsePattern); an empty list clears one.
	IncludePaths *[]string // includePaths
	ExcludePaths *[]string // excludePaths

	// StartsAt and EndsAt bound the schedule window; a zero time removes a
	// bound. EndsAt must be after StartsAt, and in the future when given.
	StartsAt *time.Time // startsAt
	EndsAt   *time.Time // endsAt

	Priority *int // priority: -1000–1000, the highest shows first

	// SegmentID is a segment of the store (not ARCHIVED) that submitters
	// are added to; uuid.Nil removes it.
	SegmentID *uuid.UUID // segmentId
}

// The limits of Input.
const (
	maxName          = 200
	maxTitle         = 200
	maxBody          = 5000
	maxCTA           = 100
	maxSuccess       = 1000
	maxCode          = 64
	maxDelaySeconds  = 3600
	maxFrequencyDays = 365
	maxPatterns      = 50
	maxPriority      = 1000
	defaultFrequency = 7
	defaultCTA       = "Subscribe"
)

// draft is the state of a popup being created or updated, after the input
// was applied.
type draft struct {
	name, title, body, cta, success, code string
	status                                capturepopup.Status
	kind                                  capturepopup.Kind
	doubleOptIn                           bool
	settings                              Settings
	startsAt, endsAt                      *time.Time
	priority                              int
	segmentID                             *uuid.UUID
}

func draftOf(p *ent.CapturePopup) draft {
	if p == nil {
		return draft{
			status: capturepopup.StatusDRAFT, kind: capturepopup.KindMODAL, cta: defaultCTA,
			settings: Settings{IncludePaths: []string{}, ExcludePaths: []string{},
				Frequency: Frequency{Mode: FrequencyEveryNDays, Days: defaultFrequency}},
		}
	}
	return draft{
		name: p.Name, title: p.Title, body: p.Body, cta: p.CtaText, success: p.SuccessMessage,
		code: p.IncentiveDiscountCode, status: p.Status, kind: p.Kind, doubleOptIn: p.DoubleOptIn,
		settings: SettingsOf(p), startsAt: p.StartsAt, endsAt: p.EndsAt, priority: p.Priority,
		segmentID: p.SegmentID,
	}
}

var root = []string{"input"}

// text validates a text input: valid UTF-8, no control characters but
// newlines and tabs (multiline only), at most max bytes (the column limit).
func text(p *problems, field string, v string, max int, required, multiline bool) string {
	v = strings.TrimSpace(v)
	at := sub(root, field)
	switch {
	case required && v == "":
		p.add(CodeRequired, at, "%s is required", field)
	case !utf8.ValidString(v):
		p.add(CodeInvalid, at, "%s is not valid UTF-8", field)
	case len(v) > max:
		p.add(CodeTooLong, at, "%s must be at most %d characters", field, max)
	case strings.IndexFunc(v, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
	}) >= 0:
		p.add(CodeInvalid, at, "%s may not contain control characters", field)
	}
	return v
}

// apply validates in and applies it to d. Checks that need the database
// (discount code, segment) are left to check.
func (d *draft) apply(in Input, creating bool, now time.Time) *problems {
	p := &problems{}
	if in.Name != nil || creating {
		var v string
		if in.Name != nil {
			v = *in.Name
		}
		d.name = text(p, "name", v, maxName, true, false)
	}
	if in.Status != nil {
		if err := capturepopup.StatusValidator(*in.Status); err != nil {
			p.add(CodeInvalid, sub(root, "status"), "status must be DRAFT, ACTIVE or PAUSED")
		} else {
			d.status = *in.Status
		}
	}
	if in.Kind != nil {
		if err := capturepopup.KindValidator(*in.Kind); err != nil {
			p.add(CodeInvalid, sub(root, "kind"), "kind must be MODAL, SLIDE_IN or BANNER")
		} else {
			d.kind = *in.Kind
		}
	}
	if in.Title != nil {
		d.title = text(p, "title", *in.Title, maxTitle, false, false)
	}
	if in.Body != nil {
		d.body = text(p, "body", *in.Body, maxBody, false, true)
	}
	if in.CTAText != nil {
		d.cta = text(p, "ctaText", *in.CTAText, maxCTA, true, false)
	}
	if in.SuccessMessage != nil {
		d.success = text(p, "successMessage", *in.SuccessMessage, maxSuccess, false, true)
	}
	if in.DiscountCode != nil {
		d.code = strings.ToUpper(text(p, "discountCode", *in.DiscountCode, maxCode, false, false))
	}
	if in.DoubleOptIn != nil {
		d.doubleOptIn = *in.DoubleOptIn
	}
	if v := in.DelaySeconds; v != nil {
		if *v < 0 || *v > maxDelaySeconds {
			p.add(CodeInvalid, sub(root, "delaySeconds"), "delaySeconds must be between 0 and %d", maxDelaySeconds)
		}
		d.settings.DelaySeconds = *v
	}
	if v := in.ScrollDepthPercent; v != nil {
		if *v < 0 || *v > 100 {
			p.add(CodeInvalid, sub(root, "scrollDepthPercent"), "scrollDepthPercent must be between 0 and 100")
		}
		d.settings.ScrollDepthPercent = *v
	}
	if in.ExitIntent != nil {
		d.settings.ExitIntent = *in.ExitIntent
	}
	if f := in.Frequency; f != nil {
		at := sub(root, "frequency")
		switch f.Mode {
		case FrequencyEveryNDays:
			if f.Days < 1 || f.Days > maxFrequencyDays {
				p.add(CodeInvalid, sub(at, "days"), "days must be between 1 and %d", maxFrequencyDays)
			}
		case FrequencyOncePerVisitor, FrequencyOncePerSession, FrequencyEveryPageView:
			if f.Days != 0 {
				p.add(CodeInvalid, sub(at, "days"), "days applies to EVERY_N_DAYS only")
			}
		default:
			p.add(CodeInvalid, sub(at, "mode"), "mode must be ONCE_PER_VISITOR, ONCE_PER_SESSION, EVERY_N_DAYS or EVERY_PAGE_VIEW")
		}
		d.settings.Frequency = *f
	}
	if in.IncludePaths != nil {
		d.settings.IncludePaths = patterns(p, "includePaths", *in.IncludePaths)
	}
	if in.ExcludePaths != nil {
		d.settings.ExcludePaths = patterns(p, "excludePaths", *in.ExcludePaths)
	}
	if in.StartsAt != nil {
		d.startsAt = bound(*in.StartsAt)
	}
	if in.EndsAt != nil {
		d.endsAt = bound(*in.EndsAt)
		if d.endsAt != nil && !d.endsAt.After(now) {
			p.add(CodeInvalid, sub(root, "endsAt"), "endsAt must be in the future")
		}
	}
	if (in.StartsAt != nil || in.EndsAt != nil) && d.startsAt != nil && d.endsAt != nil && !d.endsAt.After(*d.startsAt) {
		field := "endsAt"
		if in.EndsAt == nil {
			field = "startsAt"
		}
		p.add(CodeInvalid, sub(root, field), "endsAt must be after startsAt")
	}
	if v := in.Priority; v != nil {
		if *v < -maxPriority || *v > maxPriority {
			p.add(CodeInvalid, sub(root, "priority"), "priority must be between %d and %d", -maxPriority, maxPriority)
		}
		d.priority = *v
	}
	if v := in.SegmentID; v != nil {
		if *v == uuid.Nil {
			d.segmentID = nil
		} else {
			id := *v
			d.segmentID = &id
		}
	}
	return p
}

// bound is a schedule bound: nil for the zero time, else the time in UTC.
func bound(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// patterns validates a list of path patterns and returns their canonical
// forms, without duplicates.
func patterns(p *problems, field string, raw []string) []string {
	at := sub(root, field)
	if len(raw) > maxPatterns {
		p.add(CodeTooMany, at, "%s may hold at most %d patterns", field, maxPatterns)
		return []string{}
	}
	out := make([]string, 0, len(raw))
	seen := map[string]bool{}
	for i, r := range raw {
		pat, err := ParsePattern(r)
		if err != nil {
			code := CodeInvalid
			if err == errPatternTooLong {
				code = CodeTooLong
			}
			p.add(code, sub(at, i), "%s", err.Error())
			continue
		}
		if !seen[pat.String()] {
			seen[pat.String()] = true
			out = append(out, pat.String())
		}
	}
	return out
}

// check runs the validations that read the store's rows: the offer's
// discount code (when given, or when the popup goes ACTIVE with one) and
// the segment (when given).
func (s *Service) check(ctx context.Context, tx *ent.Client, d *draft, in Input, p *problems, now time.Time) error {
	if d.code != "" && !p.has("discountCode") && (in.DiscountCode != nil || (in.Status != nil && d.status == capturepopup.StatusACTIVE)) {
		from := now
		if d.startsAt != nil && d.startsAt.After(now) {
			from = *d.startsAt
		}
		dc, err := tx.Discount.Query().Where(discount.Code(d.code)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			p.add(CodeNotFound, sub(root, "discountCode"), "the store has no discount code %s", d.code)
		case err != nil:
			return err
		default:
			if why := unusable(dc, from); why != "" {
				p.add(CodeDiscountInvalid, sub(root, "discountCode"), "discount code %s %s", d.code, why)
			}
		}
	}
	if in.SegmentID != nil && d.segmentID != nil {
		seg, err := tx.CustomerSegment.Get(ctx, *d.segmentID)
		switch {
		case ent.IsNotFound(err):
			p.add(CodeNotFound, sub(root, "segmentId"), "the store has no such segment")
		case err != nil:
			return err
		case seg.Status == customersegment.StatusARCHIVED:
			p.add(CodeInvalid, sub(root, "segmentId"), "the segment is archived")
		}
	}
	return nil
}

// has reports whether a problem was found with input field name.
func (p *problems) has(name string) bool {
	for _, fe := range p.list {
		if len(fe.Field) > 1 && fe.Field[1] == name {
			return true
		}
	}
	return false
}

// unusable says why a discount cannot be offered at t ("" when it can).
func unusable(dc *ent.Discount, t time.Time) string {
	switch {
	case !dc.Active:
		return "is not active"
	case t.Before(dc.StartsAt):
		return "is not valid yet when the popup starts"
	case dc.EndsAt != nil && !t.Before(*dc.EndsAt):
		return "has expired"
	case dc.UsageLimit != nil && dc.UsageCount >= *dc.UsageLimit:
		return "has reached its usage limit"
	}
	return ""
}

// Create makes a popup in store merchantID. Invalid input answers an
// *Error listing every problem.
func (s *Service) Create(ctx context.Context, merchantID uuid.UUID, input Input) (*ent.CapturePopup, error) {
	sctx, err := storeContext(ctx, merchantID, "popup create")
	if err != nil {
		return nil, err
	}
	now := s.now()
	d := draftOf(nil)
	p := d.apply(input, true, now)
	var out *ent.CapturePopup
	err = s.inTx(sctx, func(tx *ent.Client) error {
		if err := s.check(sctx, tx, &d, input, p, now); err != nil {
			return err
		}
		if err := p.err(); err != nil {
			return err
		}
		trig, trigValue := primaryTrigger(d.settings)
		out, err = tx.CapturePopup.Create().SetMerchantID(merchantID).
			SetName(d.name).SetStatus(d.status).SetKind(d.kind).SetTitle(d.title).SetBody(d.body).
			SetCtaText(d.cta).SetSuccessMessage(d.success).SetDoubleOptIn(d.doubleOptIn).
			SetNillableIncentiveDiscountCode(nonEmpty(d.code)).
			SetTrigger(trig).SetTriggerValue(trigValue).SetTargeting(targetingJSON(d.settings)).
			SetFrequencyCapDays(d.settings.Frequency.Days).SetPriority(d.priority).
			SetNillableStartsAt(d.startsAt).SetNillableEndsAt(d.endsAt).SetNillableSegmentID(d.segmentID).
			Save(sctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil // read from the committed transaction: its edges load through the client
}

// Update changes the fields of popup id that input sets. An id the store
// does not have answers ErrNotFound.
func (s *Service) Update(ctx context.Context, merchantID, id uuid.UUID, input Input) (*ent.CapturePopup, error) {
	sctx, err := storeContext(ctx, merchantID, "popup update")
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out *ent.CapturePopup
	err = s.inTx(sctx, func(tx *ent.Client) error {
		q := tx.CapturePopup.Query().Where(capturepopup.ID(id))
		if s.postgres() {
			q = q.ForUpdate()
		}
		prev, err := q.Only(sctx)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		d := draftOf(prev)
		p := d.apply(input, false, now)
		if err := s.check(sctx, tx, &d, input, p, now); err != nil {
			return err
		}
		if err := p.err(); err != nil {
			return err
		}
		trig, trigValue := primaryTrigger(d.settings)
		u := tx.CapturePopup.UpdateOne(prev).
			SetName(d.name).SetStatus(d.status).SetKind(d.kind).SetTitle(d.title).SetBody(d.body).
			SetCtaText(d.cta).SetSuccessMessage(d.success).SetDoubleOptIn(d.doubleOptIn).
			SetTrigger(trig).SetTriggerValue(trigValue).SetTargeting(targetingJSON(d.settings)).
			SetFrequencyCapDays(d.settings.Frequency.Days).SetPriority(d.priority)
		if d.code == "" {
			u.ClearIncentiveDiscountCode()
		} else {
			u.SetIncentiveDiscountCode(d.code)
		}
		if d.startsAt == nil {
			u.ClearStartsAt()
		} else {
			u.SetStartsAt(*d.startsAt)
		}
		if d.endsAt == nil {
			u.ClearEndsAt()
		} else {
			u.SetEndsAt(*d.endsAt)
		}
		if d.segmentID == nil {
			u.ClearSegmentID()
		} else {
			u.SetSegmentID(*d.segmentID)
		}
		out, err = u.Save(sctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil // read from the committed transaction: its edges load through the client
}

// Delete removes popup id of the store. An id the store does not have
// answers ErrNotFound. (The schema has no ARCHIVED status: PAUSED hides a
// popup and keeps its counters, Delete removes it.)
func (s *Service) Delete(ctx context.Context, merchantID, id uuid.UUID) error {
	sctx, err := storeContext(ctx, merchantID, "popup delete")
	if err != nil {
		return err
	}
	n, err := s.client.CapturePopup.Delete().Where(capturepopup.ID(id)).Exec(sctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Get returns popup id of the store, or ErrNotFound.
func (s *Service) Get(ctx context.Context, merchantID, id uuid.UUID) (*ent.CapturePopup, error) {
	sctx, err := storeContext(ctx, merchantID, "popup read")
	if err != nil {
		return nil, err
	}
	p, err := s.client.CapturePopup.Get(sctx, id)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return p, err
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

package marketing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/emailcampaign"
	"github.com/omnisphere/omnisphere/ent/emailtemplate"
	"github.com/omnisphere/omnisphere/internal/marketing/mailtmpl"
	"github.com/omnisphere/omnisphere/internal/marketing/segment"
	"github.com/omnisphere/omnisphere/internal/usererr"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The store's staff define segments, templates and campaigns here; the
// GraphQL layer passes their input through and shows the errors as
// userErrors.

// ErrNotFound answers an id the viewer's store does not have.
var ErrNotFound = errors.New("marketing: not found")

// SegmentInput is segmentCreate's and segmentUpdate's input.
type SegmentInput struct {
	Name        string
	Description *string
	// Rules is the rule tree (docs/segments.md); nil makes a STATIC
	// segment (members added by hand).
	Rules map[string]any
}

func storeOf(ctx context.Context) (uuid.UUID, error) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return uuid.Nil, viewer.ErrNoTenant
	}
	return v.MerchantID, nil
}

// ruleErrors turns a rule's parse errors into user errors under field.
func ruleErrors(field []string, errs []segment.FieldError) error {
	out := &usererr.Error{Scope: "segment"}
	for _, e := range errs {
		out.Errors = append(out.Errors, usererr.FieldError{Field: append(append([]string(nil), field...), e.Field...),
			Message: e.Message, Code: usererr.Code(e.Code)})
	}
	return out
}

func checkName(l *usererr.List, name string, max int) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		l.Add(usererr.Required, []string{"input", "name"}, "a name is required")
	case len([]rune(name)) > max:
		l.Add(usererr.TooLong, []string{"input", "name"}, "the name is at most %d characters", max)
	}
	return name
}

// SegmentCreate creates a segment of the viewer's store and, for a DYNAMIC
// one, computes its members now.
func (s *Service) SegmentCreate(ctx context.Context, in SegmentInput) (*ent.CustomerSegment, error) {
	return s.segmentSave(ctx, nil, in)
}

// SegmentUpdate changes segment id; new rules recompute its members.
func (s *Service) SegmentUpdate(ctx context.Context, id uuid.UUID, in SegmentInput) (*ent.CustomerSegment, error) {
	return s.segmentSave(ctx, &id, in)
}

func (s *Service) segmentSave(ctx context.Context, id *uuid.UUID, in SegmentInput) (*ent.CustomerSegment, error) {
	mid, err := storeOf(ctx)
	if err != nil {
		return nil, err
	}
	l := usererr.List{Scope: "marketing"}
	name := checkName(&l, in.Name, 200)
	if in.Description != nil && len([]rune(*in.Description)) > 2000 {
		l.Add(usererr.TooLong, []string{"input", "description"}, "the description is at most 2000 characters")
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	var rules map[string]any
	if in.Rules != nil {
		r, errs := segment.ParseMap(in.Rules)
		if len(errs) > 0 {
			return nil, ruleErrors([]string{"input", "rules"}, errs)
		}
		// Stored as the parser understood it (canonical form).
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &rules); err != nil {
			return nil, err
		}
	}
	sctx := viewer.ActAsStore(ctx, mid, "segment save")
	taken, err := s.client.CustomerSegment.Query().Where(customersegment.MerchantID(mid), customersegment.Name(name)).FirstID(sctx)
	if err == nil && (id == nil || taken != *id) {
		return nil, userErr(usererr.Taken, []string{"input", "name"}, "a segment of this store is already called %q", name)
	}
	var seg *ent.CustomerSegment
	if id == nil {
		c := s.client.CustomerSegment.Create().SetMerchantID(mid).SetName(name).SetNillableDescription(in.Description)
		if rules != nil {
			c.SetRules(rules).SetKind(customersegment.KindDYNAMIC)
		} else {
			c.SetKind(customersegment.KindSTATIC)
		}
		seg, err = c.Save(sctx)
	} else {
		old, gerr := s.client.CustomerSegment.Query().Where(customersegment.ID(*id), customersegment.MerchantID(mid)).Only(sctx)
		if ent.IsNotFound(gerr) {
			return nil, ErrNotFound
		} else if gerr != nil {
			return nil, gerr
		}
		u := old.Update().SetName(name).SetNillableDescription(in.Description)
		if rules != nil {
			u.SetRules(rules).SetKind(customersegment.KindDYNAMIC)
		}
		seg, err = u.Save(sctx)
	}
	if ent.IsConstraintError(err) {
		return nil, userErr(usererr.Taken, []string{"input", "name"}, "a segment of this store is already called %q", name)
	}
	if err != nil {
		return nil, err
	}
	if seg.Kind == customersegment.KindDYNAMIC {
		return s.SegmentRefresh(ctx, seg.ID)
	}
	return seg, nil
}

// SegmentRefresh recomputes DYNAMIC segment id's members now.
func (s *Service) SegmentRefresh(ctx context.Context, id uuid.UUID) (*ent.CustomerSegment, error) {
	mid, err := storeOf(ctx)
	if err != nil {
		return nil, err
	}
	sctx := viewer.ActAsStore(ctx, mid, "segment refresh")
	seg, err := s.client.CustomerSegment.Query().Where(customersegment.ID(id), customersegment.MerchantID(mid)).Only(sctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if seg.Kind != customersegment.KindDYNAMIC {
		return nil, userErr(usererr.InvalidState, []string{"id"}, "a STATIC segment has no rules to evaluate")
	}
	if _, err := s.Segments.Refresh(sctx, mid, id); err != nil {
		var re *segment.RuleError
		if errors.As(err, &re) {
			return nil, ruleErrors([]string{"input", "rules"}, re.Errors)
		}
		return nil, err
	}
	return s.client.CustomerSegment.Get(sctx, id)
}

// SegmentPreview counts the customers rules match now.
func (s *Service) SegmentPreview(ctx context.Context, rules map[string]any) (int, error) {
	mid, err := storeOf(ctx)
	if err != nil {
		return 0, err
	}
	r, errs := segment.ParseMap(rules)
	if len(errs) > 0 {
		return 0, ruleErrors([]string{"rules"}, errs)
	}
	return s.Segments.Count(viewer.ActAsStore(ctx, mid, "segment preview"), mid, r)
}

// TemplateInput is emailTemplateCreate's and emailTemplateUpdate's input.
type TemplateInput struct {
	Name, Subject, HTML string
	Preheader, Text     *string
	Kind                *emailtemplate.Kind
}

// templateErrors turns a template's validation problems into user errors.
func templateErrors(prefix []string, errs []mailtmpl.FieldError) error {
	out := &usererr.Error{Scope: "template"}
	for _, e := range errs {
		msg := e.Message
		if e.Line > 0 {
			msg = fmt.Sprintf("line %d: %s", e.Line, e.Message)
		}
		out.Errors = append(out.Errors, usererr.FieldError{Field: append(append([]string(nil), prefix...), e.Field), Message: msg,
			Code: usererr.Code(e.Code)})
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TemplateCreate creates an email template of the viewer's store.
func (s *Service) TemplateCreate(ctx context.Context, in TemplateInput) (*ent.EmailTemplate, error) {
	return s.templateSave(ctx, nil, in)
}

// TemplateUpdate changes template id.
func (s *Service) TemplateUpdate(ctx context.Context, id uuid.UUID, in TemplateInput) (*ent.EmailTemplate, error) {
	return s.templateSave(ctx, &id, in)
}

func (s *Service) templateSave(ctx context.Context, id *uuid.UUID, in TemplateInput) (*ent.EmailTemplate, error) {
	mid, err := storeOf(ctx)
	if err != nil {
		return nil, err
	}
	l := usererr.List{Scope: "marketing"}
	name := checkName(&l, in.Name, 200)
	if err := l.Err(); err != nil {
		return nil, err
	}
	t := mailtmpl.Template{Subject: in.Subject, Preheader: deref(in.Preheader), HTML: in.HTML, Text: deref(in.Text)}
	if errs := mailtmpl.ValidateTemplate(t); len(errs) > 0 {
		return nil, templateErrors([]string{"input"}, errs)
	}
	sctx := viewer.ActAsStore(ctx, mid, "email template save")
	taken, err := s.client.EmailTemplate.Query().Where(emailtemplate.MerchantID(mid), emailtemplate.Name(name)).FirstID(sctx)
	if err == nil && (id == nil || taken != *id) {
		return nil, userErr(usererr.Taken, []string{"input", "name"}, "a template of this store is already called %q", name)
	}
	var out *ent.EmailTemplate
	if id == nil {
		c := s.client.EmailTemplate.Create().SetMerchantID(mid).SetName(name).SetSubject(in.Subject).SetHTMLBody(in.HTML).
			SetNillablePreheader(in.Preheader).SetNillableTextBody(in.Text)
		if in.Kind != nil {
			c.SetKind(*in.Kind)
		}
		out, err = c.Save(sctx)
	} else {
		old, gerr := s.client.EmailTemplate.Query().Where(emailtemplate.ID(*id), emailtemplate.MerchantID(mid)).Only(sctx)
		if ent.IsNotFound(gerr) {
			return nil, ErrNotFound
		} else if gerr != nil {
			return nil, gerr
		}
		u := old.Update().SetName(name).SetSubject(in.Subject).SetHTMLBody(in.HTML)
		if in.Preheader != nil {
			u.SetPreheader(*in.Preheader)
		} else {
			u.ClearPreheader()
		}
		if in.Text != nil {
			u.SetTextBody(*in.Text)
		} else {
			u.ClearTextBody()
		}
		if in.Kind != nil {
			u.SetKind(*in.Kind)
		}
		out, err = u.Save(sctx)
	}
	if ent.IsConstraintError(err) {
		return nil, userErr(usererr.Taken, []string{"input", "name"}, "a template of this store is already called %q", name)
	}
	return out, err
}

// PreviewInput is emailTemplatePreview's input: a saved template, or the
// parts to render; for a customer of the store, or the sample customer.
type PreviewInput struct {
	TemplateID          *uuid.UUID
	Subject, HTML, Text *string
	CustomerID          *uuid.UUID
}

// TemplatePreview renders a template for the sample customer (or one of
// the store's customers), with the store's name and currency.
func (s *Service) TemplatePreview(ctx context.Context, in PreviewInput) (mailtmpl.Rendered, error) {
	mid, err := storeOf(ctx)
	if err != nil {
		return mailtmpl.Rendered{}, err
	}
	sctx := viewer.ActAsStore(ctx, mid, "email template preview")
	var t mailtmpl.Template
	if in.TemplateID != nil {
		row, err := s.client.EmailTemplate.Query().Where(emailtemplate.ID(*in.TemplateID), emailtemplate.MerchantID(mid)).Only(sctx)
		if ent.IsNotFound(err) {
			return mailtmpl.Rendered{}, userErr(usererr.NotFound, []string{"input", "templateId"}, "no template with this id")
		} else if err != nil {
			return mailtmpl.Rendered{}, err
		}
		t = mailtmpl.Template{Subject: row.Subject, Preheader: row.Preheader, HTML: row.HTMLBody, Text: row.TextBody}
	}
	if in.Subject != nil {
		t.Subject = *in.Subject
	}
	if in.HTML != nil {
		t.HTML = *in.HTML
	}
	if in.Text != nil {
		t.Text = *in.Text
	}
	if t.Subject == "" || t.HTML == "" {
		return mailtmpl.Rendered{}, userErr(usererr.Required, []string{"input", "templateId"}, "give a templateId, or a subject and an htmlBody")
	}
	if errs := mailtmpl.ValidateTemplate(t); len(errs) > 0 {
		return mailtmpl.Rendered{}, templateErrors([]string{"input"}, errs)
	}
	store, err := s.store(sctx, mid)
	if err != nil {
		return mailtmpl.Rendered{}, err
	}
	data := mailtmpl.SampleData(store)
	if in.CustomerID != nil {
		p, err := s.client.Customer.Get(sctx, *in.CustomerID)
		if ent.IsNotFound(err) {
			return mailtmpl.Rendered{}, userErr(usererr.NotFound, []string{"input", "customerId"}, "no customer with this id")
		} else if err != nil {
			return mailtmpl.Rendered{}, err
		}
		data.Customer = customerData(p)
	}
	r, err := mailtmpl.Render(sctx, t, data)
	var fe *mailtmpl.FieldError
	if errors.As(err, &fe) {
		return mailtmpl.Rendered{}, templateErrors([]string{"input"}, []mailtmpl.FieldError{*fe})
	}
	return r, err
}

// CampaignInput is campaignCreate's and campaignUpdate's input.
type CampaignInput struct {
	Name                              string
	SegmentID                         uuid.UUID
	TemplateID                        *uuid.UUID
	Subject, Preheader, HTML, Text    *string
	FromName, FromEmail, ReplyTo      *string
	TrackOpens, TrackClicks           *bool
	SendRatePerMinute                 *int
	UTMSource, UTMMedium, UTMCampaign *string
}

// CampaignCreate creates a DRAFT campaign of the viewer's store.
func (s *Service) CampaignCreate(ctx context.Context, in CampaignInput) (*ent.EmailCampaign, error) {
	return s.campaignSave(ctx, nil, in)
}

// CampaignUpdate changes a DRAFT or SCHEDULED campaign.
func (s *Service) CampaignUpdate(ctx context.Context, id uuid.UUID, in CampaignInput) (*ent.EmailCampaign, error) {
	return s.campaignSave(ctx, &id, in)
}

func (s *Service) campaignSave(ctx context.Context, id *uuid.UUID, in CampaignInput) (*ent.EmailCampaign, error) {
	mid, err := storeOf(ctx)
	if err != nil {
		return nil, err
	}
	sctx := viewer.ActAsStore(ctx, mid, "campaign save")
	l := usererr.List{Scope: "marketing"}
	name := checkName(&l, in.Name, 200)
	if n, err := s.client.CustomerSegment.Query().Where(customersegment.ID(in.SegmentID), customersegment.MerchantID(mid)).Count(sctx); err != nil {
		return nil, err
	} else if n == 0 {
		l.Add(usererr.NotFound, []string{"input", "segmentId"}, "no segment with this id")
	}
	t := mailtmpl.Template{Subject: deref(in.Subject), Preheader: deref(in.Preheader), HTML: deref(in.HTML), Text: deref(in.Text)}
	if in.TemplateID != nil {
		row, err := s.client.EmailTemplate.Query().Where(emailtemplate.ID(*in.TemplateID), emailtemplate.MerchantID(mid)).Only(sctx)
		switch {
		case ent.IsNotFound(err):
			l.Add(usererr.NotFound, []string{"input", "templateId"}, "no template with this id")
		case err != nil:
			return nil, err
		default:
			if t.Subject == "" {
				t.Subject = row.Subject
			}
			if t.HTML == "" {
				t.HTML, t.Text = row.HTMLBody, row.TextBody
			}
			if t.Preheader == "" {
				t.Preheader = row.Preheader
			}
		}
	} else if t.Subject == "" || t.HTML == "" {
		l.Add(usererr.Required, []string{"input", "templateId"}, "give a templateId, or a subject and an htmlBody")
	}
	for _, f := range []struct {
		name string
		val  *string
	}{{"fromEmail", in.FromEmail}, {"replyTo", in.ReplyTo}} {
		if f.val != nil && *f.val != "" {
			if a, err := mail.ParseAddress(*f.val); err != nil || a.Address != *f.val || len(*f.val) > 254 {
				l.Add(usererr.Invalid, []string{"input", f.name}, "%s must be an email address", f.name)
			}
		}
	}
	if in.SendRatePerMinute != nil && (*in.SendRatePerMinute < 0 || *in.SendRatePerMinute > 1_000_000) {
		l.Add(usererr.Invalid, []string{"input", "sendRatePerMinute"}, "sendRatePerMinute is between 0 and 1,000,000")
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	if t.Subject != "" && t.HTML != "" {
		if errs := mailtmpl.ValidateTemplate(t); len(errs) > 0 {
			return nil, templateErrors([]string{"input"}, errs)
		}
	}
	if id == nil {
		c := s.client.EmailCampaign.Create().SetMerchantID(mid).SetName(name).SetSegmentID(in.SegmentID).
			SetNillableTemplateID(in.TemplateID).SetSubject(t.Subject).SetNillablePreheader(nonEmpty(t.Preheader)).
			SetNillableHTMLBody(in.HTML).SetNillableTextBody(in.Text).
			SetNillableFromName(in.FromName).SetNillableFromEmail(in.FromEmail).SetNillableReplyTo(in.ReplyTo).
			SetNillableTrackOpens(in.TrackOpens).SetNillableTrackClicks(in.TrackClicks).
			SetNillableSendRatePerMinute(in.SendRatePerMinute).
			SetNillableUtmSource(in.UTMSource).SetNillableUtmMedium(in.UTMMedium).SetNillableUtmCampaign(in.UTMCampaign)
		return c.Save(sctx)
	}
	old, err := s.client.EmailCampaign.Query().Where(emailcampaign.ID(*id), emailcampaign.MerchantID(mid)).Only(sctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if old.Status != emailcampaign.StatusDRAFT && old.Status != emailcampaign.StatusSCHEDULED {
		return nil, userErr(usererr.InvalidState, []string{"id"}, "a %s campaign cannot be changed", old.Status)
	}
	u := s.client.EmailCampaign.UpdateOneID(old.ID).Where(emailcampaign.StatusIn(emailcampaign.StatusDRAFT, emailcampaign.StatusSCHEDULED)).
		SetName(name).SetSegmentID(in.SegmentID).SetSubject(t.Subject).
		SetNillableTemplateID(in.TemplateID).SetNillablePreheader(nonEmpty(t.Preheader)).
		SetNillableHTMLBody(in.HTML).SetNillableTextBody(in.Text).
		SetNillableFromName(in.FromName).SetNillableFromEmail(in.FromEmail).SetNillableReplyTo(in.ReplyTo).
		SetNillableTrackOpens(in.TrackOpens).SetNillableTrackClicks(in.TrackClicks).
		SetNillableSendRatePerMinute(in.SendRatePerMinute).
		SetNillableUtmSource(in.UTMSource).SetNillableUtmMedium(in.UTMMedium).SetNillableUtmCampaign(in.UTMCampaign)
	if in.TemplateID == nil {
		u.ClearTemplateID()
	}
	out, err := u.Save(sctx)
	if ent.IsNotFound(err) {
		return nil, userErr(usererr.InvalidState, []string{"id"}, "the campaign started sending meanwhile")
	}
	return out, err
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

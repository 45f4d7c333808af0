package graph

import (
	"context"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/marketing"
	"github.com/omnisphere/omnisphere/internal/marketing/analytics"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
)

// Helpers of marketing.resolvers.go.

func str(p *string) string { return deref(p) }

func segmentPayload(s *ent.CustomerSegment, err error) (*model.SegmentPayload, error) {
	if err != nil {
		ue, err := userErrors(err)
		return &model.SegmentPayload{UserErrors: ue}, err
	}
	return &model.SegmentPayload{Segment: s, UserErrors: []*model.UserError{}}, nil
}

func templatePayload(t *ent.EmailTemplate, err error) (*model.EmailTemplatePayload, error) {
	if err != nil {
		ue, err := userErrors(err)
		return &model.EmailTemplatePayload{UserErrors: ue}, err
	}
	return &model.EmailTemplatePayload{Template: t, UserErrors: []*model.UserError{}}, nil
}

func campaignPayload(c *ent.EmailCampaign, err error) (*model.CampaignPayload, error) {
	if err != nil {
		ue, err := userErrors(err)
		return &model.CampaignPayload{UserErrors: ue}, err
	}
	return &model.CampaignPayload{Campaign: c, UserErrors: []*model.UserError{}}, nil
}

func templateInput(in model.EmailTemplateInput) marketing.TemplateInput {
	return marketing.TemplateInput{Name: in.Name, Subject: in.Subject, HTML: in.HTMLBody, Preheader: in.Preheader, Text: in.TextBody, Kind: in.Kind}
}

func campaignInput(in model.CampaignInput) marketing.CampaignInput {
	return marketing.CampaignInput{Name: in.Name, SegmentID: in.SegmentID, TemplateID: in.TemplateID, Subject: in.Subject,
		Preheader: in.Preheader, HTML: in.HTMLBody, Text: in.TextBody, FromName: in.FromName, FromEmail: in.FromEmail,
		ReplyTo: in.ReplyTo, TrackOpens: in.TrackOpens, TrackClicks: in.TrackClicks, SendRatePerMinute: in.SendRatePerMinute,
		UTMSource: in.UtmSource, UTMMedium: in.UtmMedium, UTMCampaign: in.UtmCampaign}
}

func productSales(ps []analytics.ProductSales, currency string) []*model.ProductSales {
	out := make([]*model.ProductSales, 0, len(ps))
	for _, p := range ps {
		out = append(out, &model.ProductSales{ProductID: p.ProductID, Title: p.Title, Units: int(p.Units), Revenue: money(p.Revenue, currency)})
	}
	return out
}

func growthOverview(o *analytics.Overview) *model.GrowthOverview {
	out := &model.GrowthOverview{From: o.From, To: o.To, TimeZone: o.TimeZone, CurrencyCode: o.Currency,
		Revenue: money(o.Revenue, o.Currency), GrossSales: money(o.GrossSales, o.Currency), Refunds: money(o.Refunds, o.Currency),
		Orders: o.Orders, AverageOrderValue: money(o.AverageOrderValue, o.Currency), NewCustomers: o.NewCustomers,
		ReturningCustomers: o.ReturningCustomers, Sessions: o.Sessions, ConvertedSessions: o.ConvertedSessions,
		ConversionRate: o.ConversionRate, TopProducts: productSales(o.TopByRevenue, o.Currency),
		TopProductsByUnits: productSales(o.TopByUnits, o.Currency), Daily: make([]*model.GrowthDay, 0, len(o.Daily))}
	for _, d := range o.Daily {
		out.Daily = append(out.Daily, &model.GrowthDay{Date: d.Date, Revenue: money(d.Revenue, o.Currency), Orders: d.Orders, NewCustomers: d.NewCustomers})
	}
	return out
}

func popupPayload(p *ent.CapturePopup, err error) (*model.PopupPayload, error) {
	if err != nil {
		ue, err := userErrors(err)
		return &model.PopupPayload{UserErrors: ue}, err
	}
	return &model.PopupPayload{Popup: p, UserErrors: []*model.UserError{}}, nil
}

func popupInput(in model.PopupInput) popup.Input {
	out := popup.Input{Name: in.Name, Status: in.Status, Kind: in.Kind, Title: in.Title, Body: in.Body, CTAText: in.CtaText,
		SuccessMessage: in.SuccessMessage, DiscountCode: in.DiscountCode, DoubleOptIn: in.DoubleOptIn,
		DelaySeconds: in.DelaySeconds, ScrollDepthPercent: in.ScrollDepthPercent, ExitIntent: in.ExitIntent,
		StartsAt: in.StartsAt, EndsAt: in.EndsAt, Priority: in.Priority, SegmentID: in.SegmentID}
	if in.Frequency != nil {
		out.Frequency = &popup.Frequency{Mode: popup.FrequencyMode(*in.Frequency), Days: deref(in.FrequencyDays)}
	}
	if in.IncludePaths != nil {
		out.IncludePaths = &in.IncludePaths
	}
	if in.ExcludePaths != nil {
		out.ExcludePaths = &in.ExcludePaths
	}
	return out
}

func workflowPayload(w *ent.AutomationWorkflow, err error) (*model.WorkflowPayload, error) {
	if err != nil {
		ue, err := userErrors(err)
		return &model.WorkflowPayload{UserErrors: ue}, err
	}
	return &model.WorkflowPayload{Workflow: w, UserErrors: []*model.UserError{}}, nil
}

// identify attaches the storefront visitor anon's earlier events to the
// customer who just signed in or registered. It never fails the sign-in:
// a problem is logged.
func (r *Resolver) identify(ctx context.Context, c *ent.Customer, anon *string) {
	if c == nil || anon == nil || *anon == "" || r.Marketing == nil {
		return
	}
	if err := r.Marketing.Identify(ctx, c.MerchantID, c.ID, *anon); err != nil && r.Log != nil {
		r.Log.WarnContext(ctx, "marketing: identify visitor at sign-in", "err", err)
	}
}

package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/billing"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// planOf maps a configured plan to GraphQL.
func planOf(p billing.Plan, enabled bool) *model.MerchantPlan {
	l := p.Limits
	return &model.MerchantPlan{
		Code: p.Code, Name: p.Name, MonthlyPrice: money(p.MonthlyPrice, p.Currency),
		ApplicationFeeBps: p.ApplicationFeeBps, Selectable: enabled && p.Paid(),
		Limits: &model.PlanLimits{Products: limitOf(l.Products), APIKeys: limitOf(l.APIKeys), Staff: limitOf(l.Staff),
			CampaignEmails: limitOf(l.CampaignEmails), LiveSubscriptions: limitOf(l.Subscriptions)},
	}
}

// limitOf is a limit as GraphQL shows it: null for unlimited (0).
func limitOf(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// mayReadBilling lets a store's staff read their own store's billing, and
// platform admins any store's.
func (r *Resolver) mayReadBilling(ctx context.Context, mid uuid.UUID) error {
	v := viewer.FromContext(ctx)
	if v.Kind == viewer.PlatformAdmin || v.IsStaff() && v.MerchantID == mid {
		return nil
	}
	return Forbidden("only the store's staff read its billing")
}

// usage is a store's usage against its plan's limits.
func (r *Resolver) usage(ctx context.Context, mid uuid.UUID) (*model.PlanUsage, error) {
	u, err := r.Billing.Usage(ctx, mid)
	if err != nil {
		return nil, err
	}
	l, err := r.Billing.Limits(ctx, mid)
	if err != nil {
		return nil, err
	}
	item := func(used, limit int) *model.PlanUsageItem {
		return &model.PlanUsageItem{Used: used, Limit: limitOf(limit)}
	}
	return &model.PlanUsage{
		Products: item(u.Products, l.Products), APIKeys: item(u.APIKeys, l.APIKeys), Staff: item(u.Staff, l.Staff),
		CampaignEmails: item(u.CampaignEmails, l.CampaignEmails), LiveSubscriptions: item(u.Subscriptions, l.Subscriptions),
	}, nil
}

// billingBlock maps CheckWrites's answer to billingBlock.
func billingBlock(err error) (*model.UserErrorCode, error) {
	if err == nil {
		return nil, nil
	}
	var e *billing.Error
	if errors.As(err, &e) {
		c := model.UserErrorCode(e.Code)
		return &c, nil
	}
	return nil, err
}

package billing

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/omnisphere/omnisphere/ent/merchantaccount"
)

// Limits are what a plan allows. Zero means unlimited, so that a plan
// written in BILLING_PLANS names only the limits it has.
type Limits struct {
	// Products counts products that are not archived.
	Products int `json:"products,omitempty"`
	// APIKeys counts secret API keys that are not revoked (publishable
	// storefront keys are free).
	APIKeys int `json:"apiKeys,omitempty"`
	// Staff counts staff users that are not deleted.
	Staff int `json:"staff,omitempty"`
	// CampaignEmails is the number of campaign emails per calendar month
	// (UTC), checked by AllowEmails.
	CampaignEmails int `json:"campaignEmails,omitempty"`
	// Subscriptions is the number of live GraphQL subscriptions of the store,
	// checked by AllowSubscription.
	Subscriptions int `json:"subscriptions,omitempty"`
}

// Plan is one plan merchants can be on.
type Plan struct {
	// Code is the plan's value in merchant_accounts.plan.
	Code merchantaccount.Plan `json:"code"`
	Name string               `json:"name"`
	// MonthlyPrice is in the currency's minor units (informative: Stripe
	// charges the price StripePriceID names).
	MonthlyPrice int64  `json:"monthlyPrice"`
	Currency     string `json:"currency"`
	// StripePriceID is the recurring Stripe price (price_…) of the plan;
	// empty for TRIAL, which is never bought.
	StripePriceID string `json:"stripePriceId"`
	// ApplicationFeeBps is the platform's fee on the store's card payments,
	// in basis points, set on the merchant when it moves to the plan.
	ApplicationFeeBps int    `json:"applicationFeeBps"`
	Limits            Limits `json:"limits"`
}

// Paid reports whether the plan is bought through Stripe (every plan but
// TRIAL).
func (p Plan) Paid() bool { return p.Code != merchantaccount.PlanTRIAL }

// DefaultPlans is the plan set used when BILLING_PLANS is empty. Their
// Stripe prices come from STRIPE_PRICE_STARTER, STRIPE_PRICE_GROWTH and
// STRIPE_PRICE_SCALE.
func DefaultPlans() []Plan {
	return []Plan{
		{Code: merchantaccount.PlanTRIAL, Name: "Trial", Currency: "USD", ApplicationFeeBps: 200,
			Limits: Limits{Products: 100, APIKeys: 2, Staff: 2, CampaignEmails: 500, Subscriptions: 5}},
		{Code: merchantaccount.PlanSTARTER, Name: "Starter", MonthlyPrice: 2900, Currency: "USD", ApplicationFeeBps: 200,
			Limits: Limits{Products: 100, APIKeys: 3, Staff: 3, CampaignEmails: 5000, Subscriptions: 10}},
		{Code: merchantaccount.PlanGROWTH, Name: "Growth", MonthlyPrice: 7900, Currency: "USD", ApplicationFeeBps: 150,
			Limits: Limits{Products: 1000, APIKeys: 10, Staff: 10, CampaignEmails: 50000, Subscriptions: 50}},
		{Code: merchantaccount.PlanSCALE, Name: "Scale", MonthlyPrice: 29900, Currency: "USD", ApplicationFeeBps: 100,
			Limits: Limits{APIKeys: 50, Staff: 50, CampaignEmails: 500000, Subscriptions: 500}},
	}
}

// ParsePlans reads BILLING_PLANS: a JSON array of plans, e.g.
//
//	[{"code":"STARTER","name":"Starter","monthlyPrice":2900,"currency":"USD",
//	  "stripePriceId":"price_…","applicationFeeBps":200,"limits":{"products":100}}]
//
// An empty string gives DefaultPlans. prices (plan code → price id, from the
// STRIPE_PRICE_* variables) fill in or replace the plans' price ids. Every
// code must be a known plan, once; a TRIAL plan is added (unlimited) when the
// array has none.
func ParsePlans(raw string, prices map[merchantaccount.Plan]string) ([]Plan, error) {
	plans := DefaultPlans()
	if strings.TrimSpace(raw) != "" {
		plans = nil
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&plans); err != nil {
			return nil, fmt.Errorf("BILLING_PLANS: %w", err)
		}
	}
	seen := map[merchantaccount.Plan]bool{}
	for i := range plans {
		p := &plans[i]
		if err := merchantaccount.PlanValidator(p.Code); err != nil {
			return nil, fmt.Errorf("BILLING_PLANS: plan %q: unknown code (TRIAL, STARTER, GROWTH, SCALE)", p.Code)
		}
		if seen[p.Code] {
			return nil, fmt.Errorf("BILLING_PLANS: plan %s appears twice", p.Code)
		}
		seen[p.Code] = true
		if id := prices[p.Code]; id != "" {
			p.StripePriceID = id
		}
		if p.Name == "" {
			p.Name = string(p.Code)
		}
		if p.Currency == "" {
			p.Currency = "USD"
		}
		l := p.Limits
		if p.MonthlyPrice < 0 || p.ApplicationFeeBps < 0 || p.ApplicationFeeBps > 10000 ||
			l.Products < 0 || l.APIKeys < 0 || l.Staff < 0 || l.CampaignEmails < 0 || l.Subscriptions < 0 {
			return nil, fmt.Errorf("BILLING_PLANS: plan %s: negative value or fee above 10000 bps", p.Code)
		}
		if p.StripePriceID != "" && !strings.HasPrefix(p.StripePriceID, "price_") {
			return nil, fmt.Errorf("BILLING_PLANS: plan %s: %q is not a Stripe price id (price_…)", p.Code, p.StripePriceID)
		}
	}
	if !seen[merchantaccount.PlanTRIAL] {
		plans = append([]Plan{{Code: merchantaccount.PlanTRIAL, Name: "Trial", Currency: "USD", ApplicationFeeBps: 200}}, plans...)
	}
	return plans, nil
}

package billing

import (
	"time"

	"github.com/omnisphere/omnisphere/ent/merchantaccount"
)

// Status is a merchant's subscription status (merchant_accounts.subscription_status).
type Status = merchantaccount.SubscriptionStatus

// The statuses, for brevity.
const (
	Trialing   = merchantaccount.SubscriptionStatusTRIALING
	Active     = merchantaccount.SubscriptionStatusACTIVE
	PastDue    = merchantaccount.SubscriptionStatusPAST_DUE
	Canceled   = merchantaccount.SubscriptionStatusCANCELED
	Incomplete = merchantaccount.SubscriptionStatusINCOMPLETE
	Unpaid     = merchantaccount.SubscriptionStatusUNPAID
)

// Signal is what a webhook event says about a merchant's subscription,
// reduced to what the status machine needs.
type Signal struct {
	// Kind is one of "subscription" (customer.subscription.created or
	// .updated: StripeStatus is the object's status), "deleted"
	// (customer.subscription.deleted), "invoice_paid", "invoice_failed".
	Kind string
	// StripeStatus is the subscription's status in Stripe, for "subscription".
	StripeStatus string
}

// Next is the status machine: the status a merchant in cur moves to on sig.
// It is pure so that the table test covers every pair.
//
//   - A subscription event adopts Stripe's status, except that a first
//     subscription still waiting for its payment (incomplete,
//     incomplete_expired) does not end a running trial.
//   - deleted → CANCELED, always.
//   - invoice_paid → ACTIVE, unless the subscription is CANCELED (a late
//     final invoice does not revive it).
//   - invoice_failed → PAST_DUE from ACTIVE or PAST_DUE; other states keep
//     theirs (a trial's or an incomplete first invoice failing changes
//     nothing: the subscription's own event says what happens).
func Next(cur Status, sig Signal) Status {
	switch sig.Kind {
	case "subscription":
		switch sig.StripeStatus {
		case "trialing":
			return Trialing
		case "active":
			return Active
		case "past_due":
			return PastDue
		case "unpaid", "paused":
			return Unpaid
		case "canceled":
			return Canceled
		case "incomplete":
			if cur == Trialing {
				return Trialing
			}
			return Incomplete
		case "incomplete_expired":
			if cur == Trialing {
				return Trialing
			}
			return Canceled
		}
	case "deleted":
		return Canceled
	case "invoice_paid":
		if cur != Canceled {
			return Active
		}
	case "invoice_failed":
		if cur == Active || cur == PastDue {
			return PastDue
		}
	}
	return cur
}

// State is what enforcement needs to know of a merchant's billing.
type State struct {
	Plan             merchantaccount.Plan
	Status           Status
	TrialEndsAt      *time.Time
	CurrentPeriodEnd *time.Time
	// Since is when the merchant entered PAST_DUE or INCOMPLETE (the latest
	// billing.past_due audit entry); zero when unknown.
	Since time.Time
}

// WritesAllowed says whether the store's staff may write at now, and if not
// the error to answer:
//
//   - ACTIVE: yes.
//   - TRIALING: until the trial's end plus grace.
//   - PAST_DUE, INCOMPLETE: until grace after the status began.
//   - UNPAID (Stripe gave up retrying): no.
//   - CANCELED: until the end of the paid period.
func (st State) WritesAllowed(now time.Time, grace time.Duration) *Error {
	switch st.Status {
	case Trialing:
		if st.TrialEndsAt != nil && now.After(st.TrialEndsAt.Add(grace)) {
			return userErr(CodePastDue, nil, "the trial ended on %s: choose a plan (merchantSubscriptionChange) to change the store again",
				st.TrialEndsAt.Format(time.DateOnly))
		}
	case PastDue, Incomplete:
		if !st.Since.IsZero() && now.After(st.Since.Add(grace)) {
			return userErr(CodePastDue, nil, "the plan's payment is overdue since %s: update the payment method to change the store again",
				st.Since.Format(time.DateOnly))
		}
	case Unpaid:
		return userErr(CodePastDue, nil, "the plan's payment failed: update the payment method to change the store again")
	case Canceled:
		if st.CurrentPeriodEnd == nil || now.After(*st.CurrentPeriodEnd) {
			return userErr(CodeCanceled, nil, "the store's subscription ended: choose a plan (merchantSubscriptionChange) to change the store again")
		}
	}
	return nil
}

// OrdersAllowed says whether the storefront takes new orders at now: always,
// except once a CANCELED subscription's paid period has ended.
func (st State) OrdersAllowed(now time.Time) *Error {
	if st.Status == Canceled && (st.CurrentPeriodEnd == nil || now.After(*st.CurrentPeriodEnd)) {
		return userErr(CodeCanceled, nil, "this store is not taking orders at the moment")
	}
	return nil
}

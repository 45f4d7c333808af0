package payment

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
)

// CreateConnectedAccount creates the Express connected account of a
// merchant and returns its id (acct_…). The account asks for the
// card_payments and transfers capabilities that destination charges need,
// and carries metadata merchant_id so that account events can be traced back.
//
// The idempotency key is derived from the merchant, so a retried or doubled
// call within Stripe's 24 hours of key retention returns the same account;
// the caller must still store the id and never call this twice on purpose.
func (s *Stripe) CreateConnectedAccount(ctx context.Context, merchantID uuid.UUID, email, country string) (string, error) {
	const op = "create connected account"
	if s == nil {
		return "", ErrDisabled
	}
	if merchantID == uuid.Nil {
		return "", fmt.Errorf("payment: %s: %w: no merchant", op, ErrInvalidParams)
	}
	p := &stripe.AccountParams{
		Params: params(ctx, "omnisphere-account-"+merchantID.String()),
		Type:   stripe.String(string(stripe.AccountTypeExpress)),
		Capabilities: &stripe.AccountCapabilitiesParams{
			CardPayments: &stripe.AccountCapabilitiesCardPaymentsParams{Requested: stripe.Bool(true)},
			Transfers:    &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)},
		},
		Metadata: map[string]string{"merchant_id": merchantID.String()},
	}
	if email != "" {
		p.Email = stripe.String(email)
	}
	if country != "" {
		p.Country = stripe.String(strings.ToUpper(country))
	}
	acct, err := s.api.Accounts.New(p)
	if err != nil {
		return "", wrapErr(ctx, op, err)
	}
	return acct.ID, nil
}

// AccountLink returns a single-use URL of Stripe's hosted onboarding for a
// connected account. Stripe sends the merchant back to
// PublicURL/admin/payments?onboarding=return when they finish (which does not
// mean the account can take charges: account.updated events say so), and to
// ?onboarding=refresh when the link expired and a new one must be made.
func (s *Stripe) AccountLink(ctx context.Context, accountID string) (string, error) {
	const op = "create account link"
	if s == nil {
		return "", ErrDisabled
	}
	if !strings.HasPrefix(accountID, "acct_") {
		return "", fmt.Errorf("payment: %s: %w: %q is not an account id", op, ErrInvalidParams, accountID)
	}
	if s.publicURL == "" {
		return "", fmt.Errorf("payment: %s: %w: PUBLIC_URL is not configured", op, ErrInvalidParams)
	}
	back := func(state string) string {
		return s.publicURL + "/admin/payments?onboarding=" + url.QueryEscape(state)
	}
	link, err := s.api.AccountLinks.New(&stripe.AccountLinkParams{
		Params:     params(ctx, ""),
		Account:    stripe.String(accountID),
		Type:       stripe.String(string(stripe.AccountLinkTypeAccountOnboarding)),
		RefreshURL: stripe.String(back("refresh")),
		ReturnURL:  stripe.String(back("return")),
	})
	if err != nil {
		return "", wrapErr(ctx, op, err)
	}
	return link.URL, nil
}

// Account is what the platform needs to know of a connected account.
type Account struct {
	ID string
	// ChargesEnabled: the account may take charges (destination charges
	// need it to receive transfers).
	ChargesEnabled bool
	// PayoutsEnabled: Stripe pays the account out to its bank.
	PayoutsEnabled bool
	// DetailsSubmitted: the merchant finished onboarding.
	DetailsSubmitted bool
}

// Account retrieves a connected account, e.g. when a merchant comes back
// from onboarding, before account.updated has arrived.
func (s *Stripe) Account(ctx context.Context, accountID string) (Account, error) {
	const op = "retrieve account"
	if s == nil {
		return Account{}, ErrDisabled
	}
	if !strings.HasPrefix(accountID, "acct_") {
		return Account{}, fmt.Errorf("payment: %s: %w: %q is not an account id", op, ErrInvalidParams, accountID)
	}
	acct, err := s.api.Accounts.GetByID(accountID, &stripe.AccountParams{Params: params(ctx, "")})
	if err != nil {
		return Account{}, wrapErr(ctx, op, err)
	}
	return Account{
		ID:               acct.ID,
		ChargesEnabled:   acct.ChargesEnabled,
		PayoutsEnabled:   acct.PayoutsEnabled,
		DetailsSubmitted: acct.DetailsSubmitted,
	}, nil
}

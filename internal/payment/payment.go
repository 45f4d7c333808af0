// Package payment owns OmniSphere's side of Stripe Connect: the API client
// that onboards merchants as Express connected accounts, creates the
// destination-charge PaymentIntents of orders and refunds them (Stripe), and
// the intake that verifies, stores and processes Stripe webhooks exactly once
// (Webhooks).
//
// It knows nothing of orders: checkout calls the client and implements
// EventHandler to react to payment events. Payment state never comes from an
// API answer alone; it comes from signed webhook events, stored in
// webhook_events before anything acts on them.
//
// The client never uses stripe-go's package-level key or backends: every
// Stripe value carries its own key, backends, HTTP client and retry policy,
// so that tests (stripe-mock) and the server never share global state.
package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Config says how to reach Stripe. The server reads it from the environment
// (docs/payments.md lists the variables).
type Config struct {
	// SecretKey is the platform's secret key (sk_live_… or sk_test_…). Empty
	// disables Stripe: New returns nil.
	SecretKey string
	// WebhookSecret verifies events of the platform endpoint
	// (POST /webhooks/stripe), ConnectWebhookSecret those of the Connect
	// endpoint (POST /webhooks/stripe/connect). Both are whsec_… values.
	WebhookSecret        string
	ConnectWebhookSecret string
	// APIURL replaces https://api.stripe.com (stripe-mock in tests).
	APIURL string
	// PublicURL is the server's public base URL (https://shop.example.com);
	// account links send merchants back under it.
	PublicURL string
	// Timeout bounds one HTTP request to Stripe (default 30s).
	Timeout time.Duration
	// MaxNetworkRetries is how often stripe-go retries a request that failed
	// on the network, with a 409 or a 5xx (default 2; negative: never). Every
	// write carries an idempotency key, so a retry never charges twice.
	MaxNetworkRetries int
}

// Client is the Stripe Connect client as its callers use it: *Stripe
// implements it, and a caller's tests may substitute a fake. A nil *Stripe
// held in a Client still answers Enabled (false).
type Client interface {
	Enabled() bool
	CreateConnectedAccount(ctx context.Context, merchantID uuid.UUID, email, country string) (string, error)
	AccountLink(ctx context.Context, accountID string) (string, error)
	Account(ctx context.Context, accountID string) (Account, error)
	CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (PaymentIntent, error)
	PaymentIntent(ctx context.Context, id string) (PaymentIntent, error)
	CreateRefund(ctx context.Context, p RefundParams) (Refund, error)
}

var _ Client = (*Stripe)(nil)

// Stripe is the Stripe Connect client. A nil *Stripe is a disabled client:
// Enabled reports false and every call returns ErrDisabled, so that callers
// can hold one unconditionally.
type Stripe struct {
	api       *client.API
	publicURL string
}

// New returns the client of cfg, or nil when cfg.SecretKey is empty.
func New(cfg Config) *Stripe {
	if cfg.SecretKey == "" {
		return nil
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	retries := int64(cfg.MaxNetworkRetries)
	switch {
	case cfg.MaxNetworkRetries == 0:
		retries = 2
	case cfg.MaxNetworkRetries < 0:
		retries = 0
	}
	httpClient := &http.Client{Timeout: timeout}
	backend := func(kind stripe.SupportedBackend, url string) stripe.Backend {
		bc := &stripe.BackendConfig{
			HTTPClient:        httpClient,
			MaxNetworkRetries: stripe.Int64(retries),
			// stripe-go logs every request at info level by default; our
			// callers log what matters, with the request's context.
			LeveledLogger:   &stripe.LeveledLogger{Level: stripe.LevelNull},
			EnableTelemetry: stripe.Bool(false),
		}
		if url != "" {
			bc.URL = stripe.String(url)
		}
		return stripe.GetBackendWithConfig(kind, bc)
	}
	apiURL := strings.TrimRight(cfg.APIURL, "/")
	backends := &stripe.Backends{
		API:     backend(stripe.APIBackend, apiURL),
		Connect: backend(stripe.ConnectBackend, ""), // OAuth only: unused, never mocked
		Uploads: backend(stripe.UploadsBackend, apiURL),
	}
	return &Stripe{
		api:       client.New(cfg.SecretKey, backends),
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
	}
}

// Enabled reports whether Stripe is configured. It is safe on a nil client.
func (s *Stripe) Enabled() bool { return s != nil }

// ErrDisabled is returned by every call of a nil (unconfigured) client.
var ErrDisabled = errors.New("payment: Stripe is not configured")

// ErrUnavailable marks failures where Stripe could not be reached or answered
// with a server error (5xx) or a rate limit (429): the request may or may
// not have taken effect, and retrying it with the same idempotency key is
// safe. Test it with errors.Is.
var ErrUnavailable = errors.New("payment: Stripe is unavailable")

// ErrInvalidParams is wrapped by errors of calls whose parameters were
// refused before anything was sent (a programming error of the caller).
var ErrInvalidParams = errors.New("payment: invalid parameters")

// Error is an error answered by Stripe: a declined card, an invalid request,
// a refused refund. Callers show Message when Type is "card_error" (it is
// written for buyers) and map Code otherwise.
type Error struct {
	// Op is the operation that failed, e.g. "create payment intent".
	Op string
	// Type is Stripe's error type: card_error, invalid_request_error,
	// idempotency_error or api_error.
	Type string
	// Code is Stripe's error code (card_declined, amount_too_small, …);
	// empty for some errors.
	Code string
	// Message is Stripe's human-readable message.
	Message string
	// DeclineCode is the issuer's reason for a card decline
	// (insufficient_funds, …), when Stripe gives one.
	DeclineCode string
	// Param names the request parameter at fault, if any.
	Param string
	// HTTPStatus is the status code of Stripe's answer (402 for declines).
	HTTPStatus int
	// RequestID is Stripe's request id (req_…), for support.
	RequestID string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("payment: ")
	b.WriteString(e.Op)
	b.WriteString(": stripe ")
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString(e.Type)
	}
	if e.DeclineCode != "" {
		b.WriteString(" (" + e.DeclineCode + ")")
	}
	fmt.Fprintf(&b, " [%d]", e.HTTPStatus)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnavailable) hold for server errors and rate
// limits, which say nothing about the request itself.
func (e *Error) Is(target error) bool {
	return target == ErrUnavailable && (e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests)
}

// IsCardError reports whether the error is about the buyer's card, so that
// its Message may be shown to the buyer.
func (e *Error) IsCardError() bool { return e.Type == string(stripe.ErrorTypeCard) }

// wrapErr turns an error of stripe-go into an *Error (Stripe answered), an
// error wrapping ErrUnavailable (Stripe did not answer usefully) or, when the
// caller's context ended, an error wrapping the context's error.
func wrapErr(ctx context.Context, op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return &Error{
			Op:          op,
			Type:        string(se.Type),
			Code:        string(se.Code),
			Message:     se.Msg,
			DeclineCode: string(se.DeclineCode),
			Param:       se.Param,
			HTTPStatus:  se.HTTPStatusCode,
			RequestID:   se.RequestID,
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("payment: %s: %w", op, ctxErr)
	}
	return fmt.Errorf("payment: %s: %w: %w", op, ErrUnavailable, err)
}

// params returns the common parameters of a call: the caller's context and,
// for writes, the idempotency key.
func params(ctx context.Context, idempotencyKey string) stripe.Params {
	p := stripe.Params{Context: ctx}
	if idempotencyKey != "" {
		p.IdempotencyKey = stripe.String(idempotencyKey)
	}
	return p
}

// checkKey validates an idempotency key as Stripe does (at most 255 chars).
func checkKey(op, key string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return fmt.Errorf("payment: %s: %w: an idempotency key is required", op, ErrInvalidParams)
	case len(key) > 255:
		return fmt.Errorf("payment: %s: %w: idempotency key longer than 255 characters", op, ErrInvalidParams)
	}
	return nil
}

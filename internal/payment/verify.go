package payment

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Tolerance is how old a signed webhook may be: Stripe's default, 300
// seconds. An older signature is refused even when it is valid, so that a
// captured delivery cannot be replayed later.
const Tolerance = webhook.DefaultTolerance

// APIVersion is the Stripe API version of stripe-go v76 (2023-10-16). The
// webhook endpoints must be created with it (docs/payments.md).
const APIVersion = stripe.APIVersion

// Errors of VerifyEvent. Each wraps the precise cause; the intake answers
// all of them with 400 and stores nothing.
var (
	// ErrSignature: the Stripe-Signature header is missing or malformed, no
	// signature matches the secret, or the signed timestamp is older than
	// Tolerance. The cause is one of webhook.ErrNotSigned,
	// webhook.ErrInvalidHeader, webhook.ErrNoValidSignature and
	// webhook.ErrTooOld.
	ErrSignature = errors.New("payment: webhook signature invalid")
	// ErrAPIVersion: the event is signed but rendered in another API version
	// than APIVersion, so stripe-go may misread its objects.
	ErrAPIVersion = errors.New("payment: webhook event has another API version")
	// ErrMalformedEvent: the body is signed but is not a Stripe event.
	ErrMalformedEvent = errors.New("payment: malformed webhook event")
)

// VerifyEvent checks a webhook delivery and decodes its event: the signature
// over the exact raw body (any changed byte fails), a signed timestamp at
// most Tolerance before now, and the API version.
//
// An API-version mismatch is NOT ignored: such events fail with
// ErrAPIVersion, because stripe-go v76 decodes objects as 2023-10-16 renders
// them. The fix is to create the webhook endpoint with api_version
// 2023-10-16, not to accept the event.
//
// now is the verifier's clock (stripe-go's own check reads time.Now, which
// tests cannot move). Timestamps in the future are accepted, as Stripe does.
func VerifyEvent(payload []byte, sigHeader, secret string, now time.Time) (stripe.Event, error) {
	if secret == "" {
		return stripe.Event{}, fmt.Errorf("%w: no webhook secret configured", ErrSignature)
	}
	// The signature first (stripe-go, constant-time), then our own clock
	// and version checks.
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, secret, webhook.ConstructEventOptions{
		IgnoreTolerance:          true,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
			errors.Is(err, webhook.ErrNoValidSignature):
			return stripe.Event{}, fmt.Errorf("%w: %w", ErrSignature, err)
		default: // signed, but not JSON
			return stripe.Event{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
		}
	}
	signed, err := signedAt(sigHeader)
	if err != nil {
		return stripe.Event{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	// Whole seconds, as the header has them: signed 300 s ago passes, 301 s
	// fails, whatever the fraction of the current second.
	if age := now.Unix() - signed.Unix(); age > int64(Tolerance/time.Second) {
		return stripe.Event{}, fmt.Errorf("%w: %w (signed %ds ago)", ErrSignature, webhook.ErrTooOld, age)
	}
	if ev.APIVersion != APIVersion {
		return stripe.Event{}, fmt.Errorf("%w: %q, expected %q", ErrAPIVersion, ev.APIVersion, APIVersion)
	}
	switch {
	case ev.ID == "" || len(ev.ID) > 255:
		return stripe.Event{}, fmt.Errorf("%w: bad event id", ErrMalformedEvent)
	case ev.Type == "" || len(ev.Type) > 100:
		return stripe.Event{}, fmt.Errorf("%w: bad event type", ErrMalformedEvent)
	case len(ev.Account) > 255:
		return stripe.Event{}, fmt.Errorf("%w: bad account", ErrMalformedEvent)
	case ev.Data == nil:
		return stripe.Event{}, fmt.Errorf("%w: no data", ErrMalformedEvent)
	}
	return ev, nil
}

// signedAt returns the t= timestamp of a Stripe-Signature header, read as
// stripe-go reads it (the last t= wins).
func signedAt(header string) (time.Time, error) {
	var ts time.Time
	found := false
	for _, pair := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k != "t" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, webhook.ErrInvalidHeader
		}
		ts, found = time.Unix(n, 0), true
	}
	if !found {
		// stripe-go accepts a header without t= (timestamp 0); it is then
		// as old as it gets.
		return time.Unix(0, 0), nil
	}
	return ts, nil
}

package billing

import (
	"errors"
	"fmt"
)

// Code is the machine-readable code of a billing user error; the values are
// those of the GraphQL UserErrorCode enum.
type Code string

// The user-error codes of this package.
const (
	// CodePlanLimitReached: creating one more would exceed the plan.
	CodePlanLimitReached Code = "PLAN_LIMIT_REACHED"
	// CodePastDue: the subscription's payment failed and the grace period
	// is over (or the trial ended unpaid): admin writes are refused.
	CodePastDue Code = "BILLING_PAST_DUE"
	// CodeCanceled: the subscription ended: admin writes and new orders are
	// refused.
	CodeCanceled Code = "BILLING_CANCELED"
	// CodeDisabled: billing is not configured on this server.
	CodeDisabled Code = "BILLING_DISABLED"
	// CodeInvalid: the input is not allowed (e.g. an unknown plan).
	CodeInvalid Code = "INVALID"
	// CodePaymentFailed: Stripe refused the call or could not be reached.
	CodePaymentFailed Code = "PAYMENT_FAILED"
)

// Error is a billing outcome the caller can act on: a limit, an unpaid
// subscription. It is an expected result, returned in a payload's
// userErrors.
type Error struct {
	Code    Code
	Field   []string
	Message string
}

func (e *Error) Error() string { return "billing: " + e.Message }

// IsUserError returns err's *Error, if it wraps one.
func IsUserError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func userErr(code Code, field []string, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

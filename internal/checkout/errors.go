package checkout

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Code is the machine-readable code of a user error; the values are those of
// GraphQL's UserErrorCode.
type Code string

// The user-error codes of this package.
const (
	CodeInvalid            Code = "INVALID"
	CodeRequired           Code = "REQUIRED"
	CodeTooLong            Code = "TOO_LONG"
	CodeTooMany            Code = "TOO_MANY"
	CodeTaken              Code = "TAKEN"
	CodeNotFound           Code = "NOT_FOUND"
	CodeOutOfStock         Code = "OUT_OF_STOCK"
	CodeUnavailable        Code = "UNAVAILABLE"
	CodeIdempotencyKey     Code = "IDEMPOTENCY_KEY_MISMATCH"
	CodeCartCompleted      Code = "CART_COMPLETED"
	CodeCartEmpty          Code = "CART_EMPTY"
	CodeDiscountInvalid    Code = "DISCOUNT_INVALID"
	CodeDiscountLimit      Code = "DISCOUNT_USAGE_LIMIT_REACHED"
	CodeDiscountUsed       Code = "DISCOUNT_ALREADY_USED"
	CodeDiscountMinimum    Code = "DISCOUNT_MINIMUM_NOT_MET"
	CodeDiscountCombinable Code = "DISCOUNT_NOT_COMBINABLE"
	CodeShippingRequired   Code = "SHIPPING_METHOD_REQUIRED"
	CodeInvalidState       Code = "INVALID_STATE"
	CodeRefundTooLarge     Code = "REFUND_EXCEEDS_CAPTURED"
	CodePaymentsDisabled   Code = "PAYMENTS_NOT_ENABLED"
	CodePaymentFailed      Code = "PAYMENT_FAILED"
	CodeLoginRequired      Code = "LOGIN_REQUIRED"
)

// FieldError is a problem the caller can fix, tied to an input field.
type FieldError struct {
	// Field is the path to the field, e.g. ["input", "lines", "2", "quantity"];
	// nil when no single field is at fault.
	Field   []string
	Message string
	Code    Code
}

// Error is one or more FieldErrors: the outcome "your input is wrong".
type Error struct{ Errors []FieldError }

func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return "checkout: invalid input"
	}
	return "checkout: " + e.Errors[0].Message
}

// IsUserError reports whether err is (or wraps) an *Error.
func IsUserError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrNotFound answers an id (order, cart, discount) the viewer's store does
// not have, or may not see: the same answer as for an id that never existed.
var ErrNotFound = errors.New("checkout: not found")

// problems collects field errors while validating an input.
type problems struct{ list []FieldError }

func (p *problems) add(code Code, path []string, format string, args ...any) {
	p.list = append(p.list, FieldError{Field: path, Message: fmt.Sprintf(format, args...), Code: code})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &Error{Errors: p.list}
}

// fieldErr is a single FieldError as an error.
func fieldErr(code Code, path []string, format string, args ...any) error {
	p := &problems{}
	p.add(code, path, format, args...)
	return p.err()
}

// path builds an input field path: path("input", "lines", 2) is
// ["input", "lines", "2"].
func path(parts ...any) []string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case int:
			out = append(out, strconv.Itoa(v))
		default:
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

// sub extends the path at with parts, leaving at unchanged.
func sub(at []string, parts ...any) []string {
	return append(slices.Clone(at), path(parts...)...)
}

package popup

import (
	"errors"
	"fmt"
	"github.com/omnisphere/omnisphere/internal/usererr"
	"slices"
	"strconv"
)

// Code is the machine-readable code of a user error; the values are those of
// GraphQL's UserErrorCode.
type Code = usererr.Code

// The user-error codes of this package.
const (
	CodeInvalid      Code = "INVALID"
	CodeRequired     Code = "REQUIRED"
	CodeTooLong      Code = "TOO_LONG"
	CodeTooMany      Code = "TOO_MANY"
	CodeNotFound     Code = "NOT_FOUND"
	CodeUnavailable  Code = "UNAVAILABLE"
	CodeInvalidState Code = "INVALID_STATE"
	// CodeDiscountInvalid: the offer's discount code is inactive, expired,
	// used up or not valid when the popup starts.
	CodeDiscountInvalid Code = "DISCOUNT_INVALID"
	// CodeTokenExpired: a confirmation token was genuine but is too old.
	CodeTokenExpired Code = "TOKEN_EXPIRED"
)

// FieldError is a problem the caller can fix, tied to an input field.
type FieldError = usererr.FieldError

// Error is one or more FieldErrors: the outcome "your input is wrong".
type Error = usererr.Error

// IsUserError reports whether err is (or wraps) an *Error.
func IsUserError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrNotFound answers a popup id the store does not have (or the viewer may
// not see): the same answer as for an id that never existed, also when the
// id is another store's.
var ErrNotFound = errors.New("popup: not found")

// problems collects field errors while validating an input.
type problems struct{ list []FieldError }

func (p *problems) add(code Code, at []string, format string, args ...any) {
	p.list = append(p.list, FieldError{Field: at, Message: fmt.Sprintf(format, args...), Code: code})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &Error{Scope: "popup", Errors: p.list}
}

// fieldErr is a single FieldError as an error.
func fieldErr(code Code, at []string, format string, args ...any) error {
	p := &problems{}
	p.add(code, at, format, args...)
	return p.err()
}

// path builds an input field path: path("input", "includePaths", 2) is
// ["input", "includePaths", "2"].
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

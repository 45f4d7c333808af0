package campaign

import (
	"errors"
	"fmt"
	"github.com/omnisphere/omnisphere/internal/usererr"
)

// Code is the machine-readable code of a user error; the values are those of
// GraphQL's UserErrorCode.
type Code = usererr.Code

// The user-error codes of this package.
const (
	CodeInvalid      Code = "INVALID"
	CodeNotFound     Code = "NOT_FOUND"
	CodeInvalidState Code = "INVALID_STATE"
)

// FieldError is a problem the caller can fix, tied to an input field.
type FieldError = usererr.FieldError

// Error is one or more FieldErrors: the outcome "your input is wrong" (an
// invalid status transition, a time in the past).
type Error = usererr.Error

// IsUserError reports whether err is (or wraps) an *Error.
func IsUserError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrNotFound answers a campaign id the store does not have (or the viewer
// may not see): the same answer as for an id that never existed.
var ErrNotFound = errors.New("campaign: not found")

// fieldErr is a single FieldError as an error.
func fieldErr(code Code, path []string, format string, args ...any) error {
	return &Error{Scope: "campaign", Errors: []FieldError{{Field: path, Message: fmt.Sprintf(format, args...), Code: code}}}
}

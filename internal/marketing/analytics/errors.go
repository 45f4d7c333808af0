package analytics

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
	// CodeRequired: from or to is the zero time.
	CodeRequired Code = "REQUIRED"
	// CodeInvalid: to is not after from, an unknown time zone, a bad top count.
	CodeInvalid Code = "INVALID"
	// CodeTooLong: the range spans more than MaxRange.
	CodeTooLong Code = "TOO_LONG"
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

// ErrNotFound answers a merchant the context may not see, or that does not
// exist: the same answer for both.
var ErrNotFound = errors.New("analytics: not found")

// problems collects field errors while validating an input.
type problems struct{ list []FieldError }

func (p *problems) add(code Code, field string, format string, args ...any) {
	p.list = append(p.list, FieldError{Field: []string{field}, Message: fmt.Sprintf(format, args...), Code: code})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &Error{Scope: "analytics", Errors: p.list}
}

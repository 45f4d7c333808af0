package catalog

import (
	"errors"
	"fmt"
	"strconv"
)

// Code is the machine-readable code of a user error; the values are those of
// GraphQL's UserErrorCode.
type Code string

// The user-error codes of this package.
const (
	CodeInvalid  Code = "INVALID"
	CodeRequired Code = "REQUIRED"
	CodeTaken    Code = "TAKEN"
	CodeTooLong  Code = "TOO_LONG"
	CodeNotFound Code = "NOT_FOUND"
	CodeTooMany  Code = "TOO_MANY"
)

// FieldError is a problem the caller can fix, tied to an input field.
type FieldError struct {
	// Field is the path to the field, e.g. ["input", "variants", "2", "sku"].
	Field   []string
	Message string
	Code    Code
}

// Error is one or more FieldErrors: the outcome "your input is wrong".
type Error struct{ Errors []FieldError }

func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return "catalog: invalid input"
	}
	return "catalog: " + e.Errors[0].Message
}

// IsUserError reports whether err is (or wraps) an *Error.
func IsUserError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrNotFound is returned for an id the viewer's store does not have: an id
// of another store answers exactly like one that does not exist.
var ErrNotFound = errors.New("catalog: not found")

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

// path builds an input field path: path("variants", 2, "sku") is
// ["input", "variants", "2", "sku"].
func path(parts ...any) []string {
	out := make([]string, 0, len(parts)+1)
	out = append(out, "input")
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

func fieldErr(code Code, field []string, format string, args ...any) *Error {
	return &Error{Errors: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...), Code: code}}}
}

// Package usererr is the one shape of "your input is wrong" that domain
// packages return and the GraphQL layer turns into a payload's userErrors:
// a list of FieldErrors, each with the path of the input field at fault, a
// message for people and a code for programs.
//
// A package either returns *Error itself or gives its own error type a
// UserErrors method (Lister); graph/payload.go accepts both.
package usererr

import (
	"errors"
	"fmt"
	"strings"
)

// Code is the machine-readable code of a user error; the values are those of
// GraphQL's UserErrorCode.
type Code string

// The codes shared by every package.
const (
	Invalid      Code = "INVALID"
	Required     Code = "REQUIRED"
	TooLong      Code = "TOO_LONG"
	TooMany      Code = "TOO_MANY"
	Taken        Code = "TAKEN"
	NotFound     Code = "NOT_FOUND"
	InvalidState Code = "INVALID_STATE"
)

// FieldError is a problem the caller can fix, tied to an input field.
type FieldError struct {
	// Field is the path to the field, e.g. ["input", "steps", "2", "waitSeconds"];
	// nil when no single field is at fault.
	Field   []string
	Message string
	Code    Code
}

// Error is one or more FieldErrors.
type Error struct {
	// Scope prefixes Error() for logs ("marketing", "segment", …).
	Scope  string
	Errors []FieldError
}

func (e *Error) Error() string {
	scope := e.Scope
	if scope == "" {
		scope = "input"
	}
	if len(e.Errors) == 0 {
		return scope + ": invalid input"
	}
	return scope + ": " + e.Errors[0].Message
}

// UserErrors implements Lister.
func (e *Error) UserErrors() []FieldError { return e.Errors }

// Lister is an error that carries user errors.
type Lister interface {
	error
	UserErrors() []FieldError
}

// As returns the user errors err carries (it or what it wraps), if any.
func As(err error) ([]FieldError, bool) {
	var l Lister
	if errors.As(err, &l) {
		return l.UserErrors(), true
	}
	return nil, false
}

// New is an Error of one FieldError.
func New(scope string, code Code, field []string, format string, args ...any) *Error {
	return &Error{Scope: scope, Errors: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...), Code: code}}}
}

// List collects FieldErrors while validating an input.
type List struct {
	Scope string
	list  []FieldError
}

// Add records a problem.
func (l *List) Add(code Code, field []string, format string, args ...any) {
	l.list = append(l.list, FieldError{Field: field, Message: fmt.Sprintf(format, args...), Code: code})
}

// Err is nil without problems, else an *Error of them.
func (l *List) Err() error {
	if len(l.list) == 0 {
		return nil
	}
	return &Error{Scope: l.Scope, Errors: l.list}
}

// Path builds a field path; ints become their decimal text.
func Path(parts ...any) []string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, strings.TrimSpace(fmt.Sprint(p)))
	}
	return out
}

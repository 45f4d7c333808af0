// Package auth owns identity: merchant staff registration and sign-in,
// storefront customer accounts, JWT access tokens, rotating refresh tokens
// with reuse detection (RFC 9700), secret and publishable API keys, login
// throttling and the audit trail of all of it. It knows nothing of GraphQL
// or HTTP: the server resolves credentials to a viewer with Authenticate*,
// and resolvers call the Service's operations.
package auth

import (
	"errors"
	"fmt"
	"time"
)

// Code is the machine-readable code of a user error.
type Code string

// The user-error codes of this package.
const (
	CodeInvalid            Code = "INVALID"
	CodeRequired           Code = "REQUIRED"
	CodeTaken              Code = "TAKEN"
	CodeTooShort           Code = "TOO_SHORT"
	CodeTooLong            Code = "TOO_LONG"
	CodeInvalidCredentials Code = "INVALID_CREDENTIALS"
	CodeInvalidToken       Code = "INVALID_TOKEN"
	CodeTokenReused        Code = "TOKEN_REUSED"
	CodeUnknownPermission  Code = "UNKNOWN_PERMISSION"
	CodeNotFound           Code = "NOT_FOUND"
	CodeLastOwner          Code = "LAST_OWNER"
)

// FieldError is a problem the caller can fix, tied to an input field.
type FieldError struct {
	Field   []string
	Message string
	Code    Code
}

// Error is one or more FieldErrors: the outcome "your input is wrong".
type Error struct{ Errors []FieldError }

func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return "auth: invalid input"
	}
	return "auth: " + e.Errors[0].Message
}

func fieldErr(field string, code Code, format string, args ...any) *Error {
	var path []string
	if field != "" {
		path = []string{"input", field}
	}
	return &Error{Errors: []FieldError{{Field: path, Message: fmt.Sprintf(format, args...), Code: code}}}
}

// ErrRateLimited is returned when a login is throttled.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("too many attempts: try again in %s", e.RetryAfter.Round(time.Second))
}

// ErrUnauthenticated: credentials were presented but are not valid.
var ErrUnauthenticated = errors.New("invalid or expired credentials")

// ErrBusy is returned when the password hashing capacity stays saturated
// until the request's deadline.
var ErrBusy = errors.New("auth: too busy, try again")

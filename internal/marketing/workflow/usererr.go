package workflow

import "github.com/omnisphere/omnisphere/internal/usererr"

// UserErrors implements usererr.Lister, for the GraphQL payloads.
func (e *Error) UserErrors() []usererr.FieldError {
	out := make([]usererr.FieldError, 0, len(e.Errors))
	for _, fe := range e.Errors {
		out = append(out, usererr.FieldError{Field: fe.Field, Message: fe.Message, Code: usererr.Code(fe.Code)})
	}
	return out
}

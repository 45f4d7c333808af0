package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/billing"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Codes of top-level errors, in extensions.code.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeRateLimited     = "RATE_LIMITED"
	CodeInternal        = "INTERNAL"
	// CodeComplexityLimitExceeded: the operation is deeper, wider, longer or
	// dearer than the server's limits (extensions.limit names which).
	CodeComplexityLimitExceeded = "COMPLEXITY_LIMIT_EXCEEDED"
	// CodeStoreNotPublished: the store exists but its merchant has not
	// published its storefront; only the store's staff and secret keys are
	// served. A storefront can show a "coming soon" page on it.
	CodeStoreNotPublished = "STORE_NOT_PUBLISHED"
)

// coded is an error that already says what the caller may know.
type coded struct {
	code, msg string
}

func (e *coded) Error() string { return e.msg }

// Unauthenticated: the caller must identify itself.
func Unauthenticated(msg string) error { return &coded{CodeUnauthenticated, msg} }

// Forbidden: the caller is known but may not do this.
func Forbidden(msg string) error { return &coded{CodeForbidden, msg} }

// NotFound: nothing the caller may see has this id.
func NotFound(msg string) error { return &coded{CodeNotFound, msg} }

// StoreNotPublished: the store's storefront is closed to the caller.
func StoreNotPublished(msg string) error { return &coded{CodeStoreNotPublished, msg} }

// BadUserInput: the request itself is wrong.
func BadUserInput(msg string) error { return &coded{CodeBadUserInput, msg} }

// ErrorPresenter turns resolver errors into GraphQL errors with an
// extensions.code. Errors it does not recognise are logged with the request
// id and answered "internal error": SQL, driver and stack details never reach
// the caller.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Parse and validation errors made by gqlgen itself.
			return gqlErr
		}
		if gqlErr != nil && argumentsFailed(ctx) && !errors.As(err, new(*coded)) {
			// A literal argument that does not parse (a malformed id or
			// cursor): gqlgen's message names the problem, nothing internal.
			gqlErr.Extensions = map[string]any{"code": CodeBadUserInput}
			return gqlErr
		}
		path := graphql.GetPath(ctx)
		present := func(code, msg string) *gqlerror.Error {
			return &gqlerror.Error{
				Message:    msg,
				Path:       path,
				Extensions: map[string]any{"code": code},
			}
		}
		var c *coded
		var be *billing.Error
		switch {
		case errors.As(err, &c):
			return present(c.code, c.msg)
		case errors.As(err, &be):
			// A plan limit or a blocked store reached a resolver without
			// userErrors (e.g. generated ent mutations).
			return present(string(be.Code), be.Message)
		case errors.Is(err, viewer.ErrNoTenant):
			return present(CodeForbidden, "no store selected")
		case errors.Is(err, viewer.ErrCrossTenant), errors.Is(err, viewer.ErrSystemOnly), errors.Is(err, viewer.ErrStaffOnly):
			return present(CodeForbidden, "forbidden")
		case ent.IsNotFound(err):
			return present(CodeNotFound, "not found")
		case ent.IsValidationError(err):
			return present(CodeBadUserInput, err.Error())
		case ent.IsConstraintError(err):
			return present(CodeBadUserInput, "conflicts with an existing record")
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return present(CodeInternal, "request cancelled or timed out")
		}
		log.ErrorContext(ctx, "graphql resolver error", "error", err, "path", path.String())
		return present(CodeInternal, "internal error")
	}
}

// RecoverFunc answers a panic in a resolver with an INTERNAL error and logs it.
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "path", graphql.GetPath(ctx).String())
		return &coded{CodeInternal, "internal error"}
	}
}

// argumentsFailed reports whether the field of ctx failed to parse its
// arguments: gqlgen reports that error before it sets the field's Args.
func argumentsFailed(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Args == nil && fc.Field.Field != nil && fc.Field.Definition != nil &&
		len(fc.Field.Definition.Arguments) > 0
}

// hasAuth reports whether a field definition carries @auth.
func hasAuth(ds ast.DirectiveList) bool { return ds.ForName("auth") != nil }

package graph

import (
	"errors"
	"fmt"
	"math"

	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/billing"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/checkout"
	"github.com/omnisphere/omnisphere/internal/marketing"
	"github.com/omnisphere/omnisphere/internal/marketing/campaign"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/marketing/workflow"
	"github.com/omnisphere/omnisphere/internal/usererr"
)

// userErrors splits a domain error into the userErrors of a payload (for
// input problems) or a top-level error (for everything else). Exactly one of
// the results is non-nil when err is non-nil.
func userErrors(err error) ([]*model.UserError, error) {
	if err == nil {
		return []*model.UserError{}, nil
	}
	if e, ok := auth.IsUserError(err); ok {
		out := make([]*model.UserError, 0, len(e.Errors))
		for _, fe := range e.Errors {
			out = append(out, &model.UserError{Field: fe.Field, Message: fe.Message, Code: model.UserErrorCode(fe.Code)})
		}
		return out, nil
	}
	if e, ok := catalog.IsUserError(err); ok {
		out := make([]*model.UserError, 0, len(e.Errors))
		for _, fe := range e.Errors {
			out = append(out, &model.UserError{Field: fe.Field, Message: fe.Message, Code: model.UserErrorCode(fe.Code)})
		}
		return out, nil
	}
	if fes, ok := usererr.As(err); ok {
		out := make([]*model.UserError, 0, len(fes))
		for _, fe := range fes {
			out = append(out, &model.UserError{Field: fe.Field, Message: fe.Message, Code: model.UserErrorCode(fe.Code)})
		}
		return out, nil
	}
	if e, ok := billing.IsUserError(err); ok {
		return []*model.UserError{{Field: e.Field, Message: e.Message, Code: model.UserErrorCode(e.Code)}}, nil
	}
	if e, ok := checkout.IsUserError(err); ok {
		out := make([]*model.UserError, 0, len(e.Errors))
		for _, fe := range e.Errors {
			out = append(out, &model.UserError{Field: fe.Field, Message: fe.Message, Code: model.UserErrorCode(fe.Code)})
		}
		return out, nil
	}
	var rl *auth.ErrRateLimited
	switch {
	case errors.As(err, &rl):
		return nil, RateLimited(rl.Error(), int(math.Ceil(rl.RetryAfter.Seconds())))
	case errors.Is(err, auth.ErrBusy):
		return nil, RateLimited("the server is busy: try again shortly", 1)
	case errors.Is(err, auth.ErrUnauthenticated):
		return nil, Unauthenticated("sign in again")
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, checkout.ErrNotFound), errors.Is(err, marketing.ErrNotFound),
		errors.Is(err, campaign.ErrNotFound), errors.Is(err, workflow.ErrNotFound), errors.Is(err, popup.ErrNotFound):
		return nil, NotFound("not found")
	}
	return nil, err
}

// RateLimited: the caller must slow down; retryAfter is in seconds.
func RateLimited(msg string, retryAfter int) error {
	return &coded{code: CodeRateLimited, msg: fmt.Sprintf("%s (retry after %ds)", msg, retryAfter)}
}

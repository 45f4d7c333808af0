package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Codes of top-level errors (graph/errors.go holds the list).
const (
	codeBadUserInput    = graph.CodeBadUserInput
	codeForbidden       = graph.CodeForbidden
	codeRateLimited     = graph.CodeRateLimited
	codeInternal        = graph.CodeInternal
	codeComplexityLimit = graph.CodeComplexityLimitExceeded
	// codePersistedQueryNotFound is the APQ protocol's own code: Apollo
	// clients resend the full query when they see it.
	codePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"
)

// limiter is the gqlgen extension of the edge. Before an operation runs it
// refuses introspection when switched off, operations deeper, wider (aliases)
// or dearer than allowed, and callers whose cost bucket is empty; while it
// runs it counts the actual cost; on the way out it refunds what was not
// spent and reports both costs and the bucket in extensions.cost.
type limiter struct {
	limits  edgeLimits
	schema  *ast.Schema
	buckets ratelimit.Limiter
	log     *slog.Logger
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.OperationInterceptor
	graphql.FieldInterceptor
	graphql.ResponseInterceptor
} = (*limiter)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*limiter) ExtensionName() string { return "OmniSphereEdgeLimits" }

// Validate implements graphql.HandlerExtension.
func (*limiter) Validate(graphql.ExecutableSchema) error { return nil }

// costStatsKey holds the *costState of an operation in its Stats.
const costStatsKey = "omnisphere.cost"

// costState is the cost bookkeeping of one operation.
type costState struct {
	requested int
	actual    atomic.Int64
	executed  atomic.Bool
	sub       bool
	key       string
	limit     ratelimit.Limit

	mu       sync.Mutex
	decision *ratelimit.Decision // the bucket after the last look at it
	at       time.Time           // when decision was taken
	settled  bool                // refund done
}

func costStateOf(ctx context.Context) *costState {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	st, _ := graphql.GetOperationContext(ctx).Stats.GetExtension(costStatsKey).(*costState)
	return st
}

// bucketKey names the rate-limit bucket of the caller: the API key, the
// user, the customer, else the client address.
func bucketKey(ctx context.Context) string {
	v := viewer.FromContext(ctx)
	switch {
	case v.APIKeyID != uuid.Nil:
		return "key:" + v.APIKeyID.String()
	case v.UserID != uuid.Nil:
		return "user:" + v.UserID.String()
	case v.CustomerID != uuid.Nil:
		return "customer:" + v.CustomerID.String()
	}
	return "ip:" + viewer.RequestFromContext(ctx).IP
}

// MutateOperationContext implements graphql.OperationContextMutator: it runs
// after parsing and validation and before anything executes.
func (l *limiter) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	op := opCtx.Operation
	switch mode := httpModeOf(ctx); {
	case mode == modeGET && op.Operation != ast.Query:
		return coded(codeBadUserInput, "GET requests run only queries: send "+string(op.Operation)+"s with POST")
	case mode != 0 && op.Operation == ast.Subscription:
		return coded(codeBadUserInput, "subscriptions need a WebSocket (graphql-transport-ws) or server-sent events (Accept: text/event-stream)")
	}
	if !l.limits.introspection && introspects(op.SelectionSet, map[string]bool{}) {
		return coded(codeForbidden, "introspection is disabled on this server")
	}
	a := analyze(l.schema, op, opCtx.Variables)
	switch {
	case a.depth > l.limits.maxDepth:
		return limitError("depth", a.depth, l.limits.maxDepth,
			fmt.Sprintf("query depth %d exceeds the maximum of %d", a.depth, l.limits.maxDepth))
	case a.aliases > l.limits.maxAliases:
		return limitError("aliases", a.aliases, l.limits.maxAliases,
			fmt.Sprintf("query uses %d aliases, more than the maximum of %d", a.aliases, l.limits.maxAliases))
	case a.schemaNesting > maxSchemaListNesting:
		return limitError("introspectionDepth", a.schemaNesting, maxSchemaListNesting,
			"introspection nests type lists (fields, inputFields, interfaces, possibleTypes) too deeply under __schema")
	}

	st := &costState{
		requested: a.cost,
		sub:       op.Operation == ast.Subscription,
		key:       bucketKey(ctx),
		limit:     ratelimit.Limit{Capacity: float64(l.limits.bucket), Rate: float64(l.limits.restore)},
	}
	opCtx.Stats.SetExtension(costStatsKey, st)
	if a.cost > l.limits.maxCost {
		if d, err := l.buckets.Peek(ctx, st.key, st.limit); err == nil {
			st.observe(d)
		}
		return limitError("cost", a.cost, l.limits.maxCost,
			fmt.Sprintf("query cost %d exceeds the maximum of %d (first/last multiply the cost of a connection)", a.cost, l.limits.maxCost))
	}
	d, err := l.buckets.Take(ctx, st.key, float64(a.cost), st.limit)
	if err != nil {
		// Fail open: a rate-limit store that is down must not take the
		// API down with it.
		l.log.WarnContext(ctx, "rate limit unavailable: allowing the request", "error", err)
		return nil
	}
	st.observe(d)
	if !d.Allowed {
		retry := int(math.Ceil(d.RetryAfter.Seconds()))
		e := coded(codeRateLimited, fmt.Sprintf("throttled: this query costs %d and %d of %d is available; retry in %d s",
			a.cost, int(d.Available), l.limits.bucket, retry))
		e.Extensions["retryAfterSeconds"] = max(retry, 1)
		return e
	}
	return nil
}

// observe records the bucket as it is now.
func (st *costState) observe(d ratelimit.Decision) {
	st.mu.Lock()
	st.decision, st.at = &d, time.Now()
	st.mu.Unlock()
}

// InterceptOperation implements graphql.OperationInterceptor: it marks the
// operation as executed and gives queries and mutations their deadline.
func (l *limiter) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if st := costStateOf(ctx); st != nil {
		st.executed.Store(true)
	}
	if graphql.GetOperationContext(ctx).Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, l.limits.requestTimeout)
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		defer cancel()
		return h(ctx)
	}
}

// InterceptField implements graphql.FieldInterceptor: it counts the actual
// cost with the weights of the static walk, from what resolvers returned.
func (l *limiter) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if res == nil {
		return res, err
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil || strings.HasPrefix(fc.Object, "__") {
		return res, err
	}
	var own int64
	switch fc.Field.Name {
	case "__schema":
		own = schemaCost
	case "__type":
		own = typeCost
	default:
		named := l.schema.Types[fc.Field.Definition.Type.Name()]
		switch {
		case named == nil || named.Kind == ast.Scalar || named.Kind == ast.Enum:
			return res, err
		case l.schema.Mutation != nil && fc.Object == l.schema.Mutation.Name:
			own = mutationCost
		case isConnection(named):
			own = connectionCost
		case isEdge(named) || named.Name == "PageInfo":
			return res, err
		default:
			own = objectCost
		}
	}
	if st := costStateOf(ctx); st != nil {
		if n := items(res); n > 0 {
			st.actual.Add(own * n)
		}
	}
	return res, err
}

// items is how many objects a resolver returned: the length of a list, 1
// for any other non-nil value.
func items(res any) int64 {
	v := reflect.ValueOf(res)
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		n := int64(0)
		for i := range v.Len() {
			if e := v.Index(i); !isNil(e) {
				n++
			}
		}
		return n
	case reflect.Pointer, reflect.Interface, reflect.Map:
		if v.IsNil() {
			return 0
		}
	case reflect.Invalid:
		return 0
	}
	return 1
}

func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return v.IsNil()
	}
	return false
}

// InterceptResponse implements graphql.ResponseInterceptor: it settles the
// bucket once the operation has run and reports extensions.cost.
func (l *limiter) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	st := costStateOf(ctx)
	if st == nil {
		return resp
	}
	if st.executed.Load() && !st.sub {
		l.settle(ctx, st)
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["cost"] = st.report()
	return resp
}

// settle refunds the difference when the operation cost less than asked.
func (l *limiter) settle(ctx context.Context, st *costState) {
	st.mu.Lock()
	done := st.settled
	st.settled = true
	st.mu.Unlock()
	if done {
		return
	}
	refund := int64(st.requested) - st.actual.Load()
	if refund <= 0 {
		return
	}
	// The request's own context may be past its deadline: the refund
	// still belongs to the caller.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	d, err := l.buckets.Take(rctx, st.key, -float64(refund), st.limit)
	if err != nil {
		l.log.WarnContext(ctx, "rate limit: refund failed", "error", err)
		return
	}
	st.observe(d)
}

// costReport is extensions.cost, in the shape Shopify's Admin API uses.
type costReport struct {
	RequestedQueryCost int             `json:"requestedQueryCost"`
	ActualQueryCost    *int64          `json:"actualQueryCost"`
	ThrottleStatus     *throttleStatus `json:"throttleStatus,omitempty"`
}

type throttleStatus struct {
	MaximumAvailable   int `json:"maximumAvailable"`
	CurrentlyAvailable int `json:"currentlyAvailable"`
	RestoreRate        int `json:"restoreRate"`
}

func (st *costState) report() costReport {
	r := costReport{RequestedQueryCost: st.requested}
	if st.executed.Load() {
		a := st.actual.Load()
		r.ActualQueryCost = &a
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.decision != nil {
		// The bucket has drained since it was looked at.
		avail := st.decision.Available + time.Since(st.at).Seconds()*st.limit.Rate
		r.ThrottleStatus = &throttleStatus{
			MaximumAvailable:   int(st.limit.Capacity),
			CurrentlyAvailable: int(math.Floor(math.Min(avail, st.limit.Capacity))),
			RestoreRate:        int(st.limit.Rate),
		}
	}
	return r
}

// introspects reports whether a selection set selects __schema or __type.
func introspects(ss ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if introspects(s.Definition.SelectionSet, seen) {
					return true
				}
			}
		}
	}
	return false
}

// coded is a GraphQL error with an extensions.code.
func coded(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// limitError is COMPLEXITY_LIMIT_EXCEEDED naming the limit.
func limitError(limit string, got, maximum int, msg string) *gqlerror.Error {
	e := coded(codeComplexityLimit, msg)
	e.Extensions["limit"] = limit
	e.Extensions["maximum"] = maximum
	e.Extensions["actual"] = got
	return e
}

// presentErrors wraps the resolver error presenter of graph so that every
// top-level error carries one of the codes of graph/errors.go: gqlgen's
// parse and validation failures become BAD_USER_INPUT (COMPLEXITY_LIMIT_
// EXCEEDED for the parser's token limit), and validation messages lose
// their "Did you mean" suggestions, which would reveal the schema to a
// caller probing it with introspection off.
func presentErrors(inner graphql.ErrorPresenterFunc) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		e := inner(ctx, err)
		if e == nil {
			return nil
		}
		code, _ := e.Extensions["code"].(string)
		switch code {
		case errcode.ParseFailed:
			code = codeBadUserInput
			if strings.HasPrefix(e.Message, "exceeded token limit") {
				code = codeComplexityLimit
			}
		case errcode.ValidationFailed:
			code = codeBadUserInput
		case "":
			// gqlgen's own errors: during execution (a path) a broken
			// promise of the server, before it a problem of the request.
			code = codeBadUserInput
			if len(e.Path) > 0 {
				code = codeInternal
			}
		default:
			return e
		}
		out := *e
		out.Extensions = map[string]any{}
		for k, v := range e.Extensions {
			out.Extensions[k] = v
		}
		out.Extensions["code"] = code
		if i := strings.Index(out.Message, " Did you mean "); i >= 0 {
			out.Message = out.Message[:i]
		}
		return &out
	}
}

package server

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/graph/generated"
	"github.com/omnisphere/omnisphere/loaders"
)

// newGraphQLHandler builds the gqlgen handler: schema, directives, the
// deny-by-default root-field guard, the error presenter, the limits of the
// edge and the transports (docs/edge.md). Requests no transport may serve
// (form posts, text/plain, multipart without a preflight header) are
// refused before it by withGate.
func newGraphQLHandler(s *Server) http.Handler {
	limits := limitsOf(s.Config)
	resolver := &graph.Resolver{Client: s.DB.Client, Auth: s.Auth, Catalog: s.Catalog, Billing: s.Billing, Checkout: s.Checkout, Bus: s.Bus, Log: s.Log,
		Marketing: s.Marketing, Campaigns: s.Campaigns, DB: s.DB, Popups: s.Popups, Workflows: s.Workflows,
		AttributionWindow: s.Config.AttributionWindow,
		Subscriptions:     s.Subscriptions}
	schema := generated.NewExecutableSchema(generated.Config{
		Resolvers: resolver,
		Directives: generated.DirectiveRoot{
			Auth: resolver.AuthDirective,
		},
	})
	srv := handler.New(schema)
	// SSE before POST: the first transport that accepts a request wins.
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: 15 * time.Second})
	srv.AddTransport(transport.Websocket{
		Implementation: controlledWebsocket{transport.CoderWebsocketImplementation{
			// No patterns: only the server's own host may open a socket
			// from a browser (coder/websocket's same-origin check).
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: s.Config.WSOrigins},
		}},
		InitFunc:              s.wsInitFunc,
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 10 * time.Second,
		PingPongInterval:      10 * time.Second,
		PayloadReadLimit:      &limits.maxBodyBytes,
	})
	srv.AddTransport(transport.Options{AllowedMethods: []string{"GET", "POST", "OPTIONS"}})
	srv.AddTransport(getTransport{maxTokens: limits.maxTokens})
	srv.AddTransport(postTransport{maxTokens: limits.maxTokens})
	// File uploads (withGate lets multipart through only with a preflight
	// header, so a cross-site form cannot post one).
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: maxUploadBytes, MaxMemory: maxUploadMemory})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(limits.maxTokens)
	srv.SetDisableSuggestion(true)
	if s.metrics != nil || s.tracer != nil {
		// First: its interceptors enclose all the others'.
		srv.Use(gqlObserver{s})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: s.apqCache(limits.apqCacheSize)})
	if limits.introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(cursorGuard{})
	srv.Use(&limiter{limits: limits, schema: schema.Schema(), buckets: s.Limiter, log: s.Log})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		// Fresh dataloaders per operation: caches never cross viewers.
		ctx = loaders.NewContext(ctx, s.DB.Client)
		op := graphql.GetOperationContext(ctx)
		if op.Operation == nil || op.Operation.Operation != ast.Query {
			return next(ctx)
		}
		// A query's statements share one fenced read transaction
		// (PostgreSQL), ended when its response is written.
		ctx, end := s.DB.WithReadTx(ctx)
		respond := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			r := respond(ctx)
			if r == nil || r.HasNext == nil || !*r.HasNext {
				end()
			}
			return r
		}
	})
	// Inside the limiter's response interceptor (registered with it above).
	srv.AroundResponses(s.cacheResponses)
	srv.AroundRootFields(graph.RequireScope)
	if s.tracer != nil {
		srv.AroundRootFields(s.traceRootField)
	}
	srv.AroundFields(graph.GuardCatalogueFilters)
	srv.SetErrorPresenter(presentErrors(graph.ErrorPresenter(s.Log)))
	srv.SetRecoverFunc(graph.RecoverFunc(s.Log))
	return withWSControl(withGate(srv))
}

// wsInitFunc authenticates a graphql-transport-ws connection through
// s.wsInit. Bad or expired credentials close the socket with 4403
// (Forbidden), which graphql-ws clients do not retry; the reason says
// nothing more than that.
func (s *Server) wsInitFunc(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	next, ack, err := s.wsInit(ctx, p)
	if err != nil {
		s.Log.InfoContext(ctx, "websocket connection_init refused", "error", err)
		ctx = transport.WithWebsocketCloseCode(ctx, 4403)
		return transport.AppendCloseReason(ctx, "Forbidden"), nil, errWSForbidden
	}
	if next == nil {
		next = ctx
	}
	return next, ack, nil
}

type wsForbidden struct{}

func (wsForbidden) Error() string { return "forbidden: invalid or expired credentials" }

var errWSForbidden error = wsForbidden{}

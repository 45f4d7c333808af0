package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rs/cors"
)

// The HTTP edge of /graphql: CORS and the body limit around the viewer
// middleware, then a gate that lets through only the requests a transport
// may serve. See docs/edge.md.

// Defaults of the edge limits, used where a Config field is zero (tests
// build Config by hand; LoadConfig fills the same values from the
// environment).
const (
	defaultMaxBodyBytes     = 1 << 20
	defaultMaxDepth         = 12
	defaultMaxCost          = 1000
	defaultMaxAliases       = 30
	defaultMaxTokens        = 15000
	defaultRequestTimeout   = 30 * time.Second
	defaultRateLimitBucket  = 2000
	defaultRateLimitRestore = 100
	defaultAPQCacheSize     = 1000

	// maxUploadBytes bounds a multipart (file upload) request, which the
	// JSON body limit would make useless for imports; maxUploadMemory is
	// the part of it held in memory, the rest goes to temporary files.
	maxUploadBytes  = 32 << 20
	maxUploadMemory = 8 << 20
)

// edgeLimits is the effective configuration of the edge.
type edgeLimits struct {
	maxBodyBytes   int64
	maxDepth       int
	maxCost        int
	maxAliases     int
	maxTokens      int
	introspection  bool
	requestTimeout time.Duration
	bucket         int
	restore        int
	apqCacheSize   int
}

func limitsOf(c Config) edgeLimits {
	or := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	l := edgeLimits{
		maxBodyBytes:   c.MaxBodyBytes,
		maxDepth:       or(c.MaxDepth, defaultMaxDepth),
		maxCost:        or(c.MaxCost, defaultMaxCost),
		maxAliases:     or(c.MaxAliases, defaultMaxAliases),
		maxTokens:      or(c.MaxTokens, defaultMaxTokens),
		introspection:  c.Introspection,
		requestTimeout: c.RequestTimeout,
		bucket:         or(c.RateLimitBucket, defaultRateLimitBucket),
		restore:        or(c.RateLimitRestore, defaultRateLimitRestore),
		apqCacheSize:   or(c.APQCacheSize, defaultAPQCacheSize),
	}
	if l.maxBodyBytes <= 0 {
		l.maxBodyBytes = defaultMaxBodyBytes
	}
	if l.requestTimeout <= 0 {
		l.requestTimeout = defaultRequestTimeout
	}
	return l
}

// withEdge wraps the /graphql handler (which authenticates) in CORS and the
// request body limit.
func (s *Server) withEdge(next http.Handler) http.Handler {
	h := withBodyLimit(limitsOf(s.Config).maxBodyBytes, next)
	if len(s.Config.CORSOrigins) > 0 {
		h = corsFor(s.Config.CORSOrigins).Handler(h)
	}
	return h
}

// corsFor answers preflights for the allowed origins and adds the CORS
// headers to their requests; other origins get no CORS header at all.
// Credentials travel in headers (Authorization, X-Storefront-Key), never in
// cookies, so AllowCredentials stays off.
func corsFor(origins []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{
			"Accept", "Content-Type", "Authorization", "X-Storefront-Key", "X-Store-Slug",
			"X-Request-ID", "GraphQL-Preflight", "Apollo-Require-Preflight", "X-Apollo-Operation-Name",
		},
		ExposedHeaders: []string{"X-Request-ID", "Retry-After"},
		MaxAge:         600,
	})
}

// withBodyLimit refuses bodies larger than limit (maxUploadBytes for
// multipart uploads) with 413: at once when Content-Length says so, and
// through http.MaxBytesReader when the body turns out longer while read.
func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := limit
		if mediaType(r) == "multipart/form-data" {
			n = max(limit, maxUploadBytes)
		}
		if r.ContentLength > n {
			writeEdgeError(w, http.StatusRequestEntityTooLarge, codeBadUserInput, bodyTooLarge(n))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

func bodyTooLarge(n int64) string {
	return fmt.Sprintf("request body exceeds %d bytes", n)
}

// isBodyTooLarge reports whether err comes from the body limit.
func isBodyTooLarge(err error) (int64, bool) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mbe.Limit, true
	}
	return 0, false
}

// withGate lets through only requests some transport may serve, so that no
// operation ever runs from a request a browser sends cross-site without a
// CORS preflight (a form post, text/plain, a multipart form without a
// preflight header): such requests are refused before any GraphQL parsing.
func withGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r) // WebSocket: the origin is checked on accept
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
			next.ServeHTTP(w, r)
		case http.MethodPost:
			switch mediaType(r) {
			case "application/json":
				next.ServeHTTP(w, r)
			case "multipart/form-data":
				if !hasPreflightHeader(r) {
					writeEdgeError(w, http.StatusBadRequest, codeBadUserInput,
						"multipart requests need a GraphQL-Preflight: 1 (or Apollo-Require-Preflight) header")
					return
				}
				next.ServeHTTP(w, r)
			default:
				writeEdgeError(w, http.StatusUnsupportedMediaType, codeBadUserInput,
					"send GraphQL requests as application/json (POST) or as a GET query string")
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeEdgeError(w, http.StatusMethodNotAllowed, codeBadUserInput, "use GET for queries or POST")
		}
	})
}

// hasPreflightHeader reports whether r carries a header that a browser
// cannot send cross-site without a CORS preflight.
func hasPreflightHeader(r *http.Request) bool {
	for _, h := range []string{"GraphQL-Preflight", "Apollo-Require-Preflight", "X-Apollo-Operation-Name", "Authorization"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

// writeEdgeError answers a request refused before GraphQL runs: a GraphQL
// response with one error and no data entry.
func writeEdgeError(w http.ResponseWriter, status int, code, msg string) {
	type edgeError struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	body, _ := json.Marshal(map[string]any{"errors": []edgeError{{msg, map[string]any{"code": code}}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// The GraphQL-over-HTTP transports (POST and GET), written to the spec
// (https://graphql.github.io/graphql-over-http/draft/) where gqlgen's stock
// ones are not:
//   - the response is application/json unless the caller accepts
//     application/graphql-response+json first;
//   - a malformed request (no JSON object, a batch array, a query that is
//     not a string, variables or extensions that are not objects, no query)
//     is 400;
//   - a request that fails before execution (parse, validation, variable
//     coercion, limits) has no "data" entry and is 200 with
//     application/json, 400 with application/graphql-response+json;
//   - RATE_LIMITED is 429 with Retry-After, a mutation over GET 405;
//   - nothing of the request is echoed back.

const (
	contentTypeJSON            = "application/json"
	contentTypeGraphQLResponse = "application/graphql-response+json"
)

// httpMode marks the context of a request served by postTransport or
// getTransport: neither streams, so neither runs subscriptions, and GET
// runs only queries.
type httpModeKey struct{}

type httpMode int

const (
	modePOST httpMode = iota + 1
	modeGET
)

func withHTTPMode(ctx context.Context, m httpMode) context.Context {
	return context.WithValue(ctx, httpModeKey{}, m)
}

func httpModeOf(ctx context.Context) httpMode {
	m, _ := ctx.Value(httpModeKey{}).(httpMode)
	return m
}

// postTransport serves POST with an application/json body.
type postTransport struct{ maxTokens int }

var _ graphql.Transport = postTransport{}

// Supports implements graphql.Transport.
func (postTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Upgrade") == "" && mediaType(r) == contentTypeJSON
}

// Do implements graphql.Transport.
func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ct := negotiate(r)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if n, ok := isBodyTooLarge(err); ok {
			writeEdgeError(w, http.StatusRequestEntityTooLarge, codeBadUserInput, bodyTooLarge(n))
			return
		}
		writeEdgeError(w, http.StatusBadRequest, codeBadUserInput, "could not read the request body")
		return
	}
	params, msg := decodeBody(body)
	if msg != "" {
		writeRequestError(w, ct, http.StatusBadRequest, msg)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	serveOperation(w, r, exec, params, ct, modePOST, t.maxTokens)
}

// getTransport serves GET with the request in the query string.
type getTransport struct{ maxTokens int }

var _ graphql.Transport = getTransport{}

// Supports implements graphql.Transport.
func (getTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

// Do implements graphql.Transport.
func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ct := negotiate(r)
	start := graphql.Now()
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeRequestError(w, ct, http.StatusBadRequest, "the query string is malformed")
		return
	}
	params := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	for name, dst := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		if v := q.Get(name); v != "" {
			m, ok := decodeObject([]byte(v))
			if !ok {
				writeRequestError(w, ct, http.StatusBadRequest, name+" must be a JSON object")
				return
			}
			*dst = m
		}
	}
	if params.Query == "" && params.Extensions["persistedQuery"] == nil {
		writeRequestError(w, ct, http.StatusBadRequest, "missing query: send ?query=…")
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	serveOperation(w, r, exec, params, ct, modeGET, t.maxTokens)
}

// serveOperation runs one operation and writes its response.
func serveOperation(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, ct string, mode httpMode, maxTokens int) {
	ctx := withHTTPMode(r.Context(), mode)
	params.Headers = r.Header
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if ct == contentTypeGraphQLResponse {
			status = http.StatusBadRequest
		}
		if mode == modeGET && !isQuery(rc, params, maxTokens) {
			status = http.StatusMethodNotAllowed
			w.Header().Set("Allow", "POST")
		}
		for _, e := range errs {
			if c, _ := e.Extensions["code"].(string); c == codeRateLimited {
				status = http.StatusTooManyRequests
				if s, ok := e.Extensions["retryAfterSeconds"].(int); ok {
					w.Header().Set("Retry-After", strconv.Itoa(s))
				}
			}
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		writeResponse(w, ct, status, resp, false)
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if resp == nil {
		// The caller went away or the deadline passed before any result.
		resp = &graphql.Response{Errors: gqlerror.List{coded(codeInternal, "request cancelled or timed out")}}
	}
	writeResponse(w, ct, http.StatusOK, resp, true)
}

// isQuery reports whether the request names a query operation, or cannot
// be understood well enough to tell (then it is not refused as a mutation).
func isQuery(rc *graphql.OperationContext, params *graphql.RawParams, maxTokens int) bool {
	if rc != nil && rc.Operation != nil {
		return rc.Operation.Operation == ast.Query
	}
	if params.Query == "" {
		return true
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, maxTokens)
	if err != nil || doc == nil {
		return true
	}
	op := doc.Operations.ForName(params.OperationName)
	return op == nil || op.Operation == ast.Query
}

// decodeBody reads a POST body into the request parameters, or says what
// is wrong with it.
func decodeBody(body []byte) (*graphql.RawParams, string) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, `the request body is empty: send {"query": "…"}`
	case trimmed[0] == '[':
		return nil, "batched requests (a JSON array) are not supported: send one operation per request"
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, "the request body is not a JSON object"
	}
	p := &graphql.RawParams{}
	for name, dst := range map[string]*string{"query": &p.Query, "operationName": &p.OperationName} {
		v, ok := raw[name]
		if !ok || isJSONNull(v) {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return nil, name + " must be a string"
		}
	}
	for name, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
		v, ok := raw[name]
		if !ok || isJSONNull(v) {
			continue
		}
		m, ok := decodeObject(v)
		if !ok {
			return nil, name + " must be a JSON object"
		}
		*dst = m
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, `missing query: send {"query": "…"}`
	}
	return p, ""
}

func isJSONNull(v json.RawMessage) bool {
	return string(bytes.TrimSpace(v)) == "null"
}

// decodeObject decodes a JSON object, keeping numbers exact.
func decodeObject(b []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, false
	}
	return m, true
}

// negotiate picks the response media type from Accept: the first of
// application/graphql-response+json and application/json it names;
// application/json for none, a wildcard, or nothing acceptable.
func negotiate(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch strings.ToLower(mt) {
		case contentTypeGraphQLResponse:
			return contentTypeGraphQLResponse
		case contentTypeJSON, "*/*", "application/*":
			return contentTypeJSON
		}
	}
	return contentTypeJSON
}

// writeRequestError answers a request that is not a GraphQL request.
func writeRequestError(w http.ResponseWriter, ct string, status int, msg string) {
	writeResponse(w, ct, status, &graphql.Response{Errors: gqlerror.List{coded(codeBadUserInput, msg)}}, false)
}

// writeResponse writes resp; without withData, the "data" entry is left
// out (the request failed before execution).
func writeResponse(w http.ResponseWriter, ct string, status int, resp *graphql.Response, withData bool) {
	var v any = resp
	if !withData {
		v = struct {
			Errors     gqlerror.List  `json:"errors,omitempty"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Errors, resp.Extensions}
	}
	body, err := json.Marshal(v)
	if err != nil {
		writeEdgeError(w, http.StatusInternalServerError, codeInternal, "internal error")
		return
	}
	w.Header().Set("Content-Type", ct+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

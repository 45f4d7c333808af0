package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/server"
)

// traced posts a GraphQL request with a W3C traceparent.
func traced(t *testing.T, h http.Handler, traceparent, q string, header ...string) int {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": q})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func spansNamed(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key string) (string, bool) {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit(), true
		}
	}
	return "", false
}

// TestTracing: with a tracer provider (an in-memory exporter), a request
// that carries a traceparent gives an HTTP server span continuing it, the
// operation's span under it, a span per root field under that, and SQL
// spans under the root field — statement text with placeholders, never the
// values.
func TestTracing(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
			e := newIDEnv(t, b, func(c *server.Config) { c.TracerProvider = tp })
			reg := e.register(t, "traced")
			tok := reg.MerchantRegister.AccessToken
			exp.Reset()

			const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			code := traced(t, e.s.Handler, "00-"+traceID+"-"+parentID+"-01",
				`query TracedMe { me { user { email } merchant { slug } } }`, bearer(tok)...)
			require.Equal(t, http.StatusOK, code)
			spans := exp.GetSpans()

			httpSpans := spansNamed(spans, "POST /graphql")
			require.Len(t, httpSpans, 1, "spans: %v", names(spans))
			hs := httpSpans[0]
			require.Equal(t, traceID, hs.SpanContext.TraceID().String())
			require.Equal(t, parentID, hs.Parent.SpanID().String(), "the incoming traceparent is continued")
			require.True(t, hs.Parent.IsRemote())
			require.Equal(t, trace.SpanKindServer, hs.SpanKind)

			ops := spansNamed(spans, "query TracedMe")
			require.Len(t, ops, 1, "spans: %v", names(spans))
			op := ops[0]
			require.Equal(t, hs.SpanContext.SpanID(), op.Parent.SpanID())
			typ, _ := attr(op, "graphql.operation.type")
			require.Equal(t, "query", typ)
			cost, ok := attr(op, "omnisphere.cost.requested")
			require.True(t, ok)
			require.NotEqual(t, "0", cost)
			outcome, _ := attr(op, "omnisphere.outcome")
			require.Equal(t, "ok", outcome)

			fields := spansNamed(spans, "Query.me")
			require.Len(t, fields, 1, "spans: %v", names(spans))
			field := fields[0]
			require.Equal(t, op.SpanContext.SpanID(), field.Parent.SpanID())
			require.Empty(t, spansNamed(spans, "User.email"), "nested fields have no spans")

			var sqlUnderField int
			for _, s := range spans {
				if _, ok := attr(s, "db.query.text"); !ok {
					continue
				}
				require.Equal(t, traceID, s.SpanContext.TraceID().String(), "SQL span %s in another trace", s.Name)
				require.Equal(t, trace.SpanKindClient, s.SpanKind)
				if s.Parent.SpanID() == field.SpanContext.SpanID() {
					sqlUnderField++
				}
			}
			require.Positive(t, sqlUnderField, "spans: %v", names(spans))

			// Statement text only: no value bound to a statement shows.
			for _, s := range spans {
				for _, a := range s.Attributes {
					v := a.Value.Emit()
					require.NotContains(t, v, "traced@example.com", "span %s attribute %s", s.Name, a.Key)
					require.NotContains(t, v, reg.MerchantRegister.Merchant.ID, "span %s attribute %s", s.Name, a.Key)
				}
			}

			// An error: the operation's span carries its code and the error status.
			exp.Reset()
			require.Equal(t, http.StatusOK, traced(t, e.s.Handler, "", `query NoAuth { orders(first: 1) { totalCount } }`))
			ops = spansNamed(exp.GetSpans(), "query NoAuth")
			require.Len(t, ops, 1)
			codeAttr, _ := attr(ops[0], "graphql.error.code")
			require.Equal(t, "UNAUTHENTICATED", codeAttr)
			require.Equal(t, "Error", ops[0].Status.Code.String())
			// Without a traceparent the HTTP span starts a trace.
			hs2 := spansNamed(exp.GetSpans(), "POST /graphql")
			require.Len(t, hs2, 1)
			require.False(t, hs2[0].Parent.IsValid())
		})
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// otlpSink is an OTLP/HTTP receiver that counts the export requests.
type otlpSink struct {
	mu       sync.Mutex
	requests int
	bytes    int
	paths    []string
}

func newOTLPSink(t *testing.T) (*otlpSink, string) {
	t.Helper()
	s := &otlpSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests++
		s.bytes += len(body)
		s.paths = append(s.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *otlpSink) seen() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, append([]string(nil), s.paths...)
}

// TestTracingOTLP: configured through the standard OTEL variables, the
// server exports its spans over OTLP (http/protobuf) and flushes them when
// it closes; with tracing off (OTEL_TRACES_EXPORTER=none) nothing is sent.
func TestTracingOTLP(t *testing.T) {
	b := dbtest.Backends()[0]
	t.Run("on", func(t *testing.T) {
		sink, url := newOTLPSink(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
		cfg, err := server.LoadConfig(func(k string) string {
			return map[string]string{"JWT_SECRET": string(testSecret), "DATA_DIR": t.TempDir(), "OTEL_EXPORTER_OTLP_ENDPOINT": url}[k]
		})
		require.NoError(t, err)
		require.True(t, cfg.Tracing)
		s := newServer(t, b, nil, func(c *server.Config) { c.Tracing = true })
		require.Equal(t, http.StatusOK, traced(t, s.Handler, "", `query Ping { __typename }`))
		require.NoError(t, s.Close())
		n, paths := sink.seen()
		require.Positive(t, n, "Close flushes the spans")
		require.True(t, strings.HasPrefix(paths[0], "POST /v1/traces application/x-protobuf"), "%v", paths)
	})
	t.Run("off", func(t *testing.T) {
		sink, url := newOTLPSink(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
		t.Setenv("OTEL_TRACES_EXPORTER", "none")
		cfg, err := server.LoadConfig(func(k string) string {
			return map[string]string{"JWT_SECRET": string(testSecret), "DATA_DIR": t.TempDir(),
				"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_EXPORTER": "none"}[k]
		})
		require.NoError(t, err)
		require.False(t, cfg.Tracing)
		s := newServer(t, b, nil, func(c *server.Config) { c.Tracing = cfg.Tracing })
		require.Equal(t, http.StatusOK, traced(t, s.Handler, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", `query Ping { __typename }`))
		require.NoError(t, s.Close())
		n, _ := sink.seen()
		require.Zero(t, n, "tracing off: nothing is exported")
	})
}

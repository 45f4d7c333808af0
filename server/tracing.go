package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The tracing of OmniSphere (docs/observability.md): OpenTelemetry spans
// for each HTTP request (continuing an incoming W3C traceparent), each
// GraphQL operation, each root field it resolves, and each SQL statement
// run inside one of those, exported over OTLP (http/protobuf). Off unless
// configured: then Server.tracer is nil and every hook is a nil check.

// serviceName is the service.name of the spans (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override it).
const serviceName = "omnisphere"

// tracingFromEnv reads whether tracing is on from the standard OTEL
// variables.
func tracingFromEnv(getenv func(string) string, errs *[]error) bool {
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return false
	case "otlp":
		return true
	case "":
	default:
		*errs = append(*errs, fmt.Errorf("OTEL_TRACES_EXPORTER must be otlp or none, got %q", exp))
		return false
	}
	return strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
		strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != ""
}

// startTracing sets s.tracer (and s.traceShutdown when the server owns the
// provider) from cfg.
func (s *observability) startTracing(ctx context.Context, cfg Config, log *slog.Logger) error {
	s.propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if tp := cfg.TracerProvider; tp != nil {
		s.tracer = tp.Tracer("github.com/omnisphere/omnisphere/server")
		return nil
	}
	if !cfg.Tracing {
		return nil
	}
	// The endpoint, headers, timeout and TLS come from the standard
	// OTEL_EXPORTER_OTLP_* variables.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(attribute.String("service.name", serviceName)),
		resource.Environment(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		return fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler is the SDK's default unless OTEL_TRACES_SAMPLER names
	// another: parent-based, always on for new traces.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	s.tracer = tp.Tracer("github.com/omnisphere/omnisphere/server")
	s.traceShutdown = tp.Shutdown
	log.Info("tracing on: spans exported over OTLP (http/protobuf)")
	return nil
}

// stopTracing flushes the spans still buffered (for up to 5 s).
func (s *observability) stopTracing() error {
	if s.traceShutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventsDrainTimeout)
	defer cancel()
	err := s.traceShutdown(ctx)
	s.traceShutdown = nil
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("tracing: flush: %w", err)
	}
	return nil
}

// traceRootField is the root-field middleware of the spans: one span per
// root field of an operation (Query.products, Mutation.checkoutComplete),
// not per nested field.
func (s *observability) traceRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	if fc == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return next(ctx)
	}
	parent := "Query"
	switch graphql.GetOperationContext(ctx).Operation.Operation {
	case ast.Mutation:
		parent = "Mutation"
	case ast.Subscription:
		parent = "Subscription"
	}
	ctx, span := s.tracer.Start(ctx, parent+"."+fc.Field.Name, trace.WithAttributes(
		attribute.String("graphql.field.name", fc.Field.Name),
		attribute.String("graphql.field.parent", parent),
	))
	defer span.End()
	return next(ctx)
}

// sqlSpan starts the span of one statement, as a child of the span of ctx
// only: statements of background loops (relay sweeps, campaign polls) that
// run outside a request make no traces of their own.
func sqlSpan(ctx context.Context, tracer trace.Tracer, system, kind, query string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	op := strings.ToUpper(firstWord(query))
	return tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", system),
		attribute.String("db.operation.name", op),
		attribute.String("db.query.text", query),
		attribute.String("omnisphere.sql.kind", kind),
	))
}

func endSQLSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

// firstWord is the verb of a statement (SELECT, INSERT, …).
func firstWord(q string) string {
	q = strings.TrimLeft(q, " \t\r\n(")
	if i := strings.IndexAny(q, " \t\r\n("); i > 0 {
		q = q[:i]
	}
	if len(q) > 16 {
		q = q[:16]
	}
	return q
}

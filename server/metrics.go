package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The metrics of OmniSphere (docs/observability.md lists each). Every
// server has a registry of its own; no label carries a merchant id, a
// customer or any other personal data.

// observability is the instrumentation of a Server: metrics is nil when
// METRICS_ENABLED=false, tracer nil when tracing is off.
type observability struct {
	metrics       *metrics
	tracer        trace.Tracer
	propagator    propagation.TextMapPropagator
	traceShutdown func(context.Context) error
}

const (
	// maxOperationLabels caps the distinct operation names of the GraphQL
	// metrics (names are chosen by clients): later names count as "other".
	maxOperationLabels = 200
	// maxWebhookTypeLabels does the same for webhook event types.
	maxWebhookTypeLabels = 100
	// scrapeTimeout bounds the database and Redis reads of one scrape.
	scrapeTimeout = 2 * time.Second
)

type metrics struct {
	reg *prometheus.Registry

	gqlRequests *prometheus.CounterVec
	gqlDuration *prometheus.HistogramVec
	gqlCost     *prometheus.HistogramVec
	ops         *labelCap

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	sqlStatements *prometheus.CounterVec
	sqlDuration   *prometheus.HistogramVec

	webhooks     *prometheus.CounterVec
	webhookTypes *labelCap
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		gqlRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graphql_requests_total",
			Help: "GraphQL operations answered, by operation name (first 200 distinct names, then \"other\"), type and outcome (ok, user_error, or the code of the first error).",
		}, []string{"operation", "type", "outcome"}),
		gqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graphql_request_duration_seconds",
			Help:    "Time from receiving a GraphQL query or mutation to its response (subscriptions not observed).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation", "type"}),
		gqlCost: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graphql_query_cost",
			Help:    "Cost of GraphQL operations: requested (the static estimate the rate limit takes) and actual (counted while executing).",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000},
		}, []string{"type", "measure"}),
		ops: newLabelCap(maxOperationLabels),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by route (a fixed set) and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route (WebSocket and event-stream requests not observed).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		sqlStatements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sql_statements_total",
			Help: "SQL statements sent to the database, by pool (main, events), backend (postgres, sqlite), kind (query, exec) and outcome (ok, error).",
		}, []string{"pool", "backend", "kind", "outcome"}),
		sqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sql_statement_duration_seconds",
			Help:    "Time the database took to answer a statement (until its first rows for a query).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"pool", "backend", "kind"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_deliveries_total",
			Help: "Webhook deliveries received, by provider, endpoint, event type and outcome (processed, ignored, duplicate, bad_signature, rejected, unconfigured, failed).",
		}, []string{"provider", "endpoint", "event_type", "outcome"}),
		webhookTypes: newLabelCap(maxWebhookTypeLabels),
	}
	m.reg.MustRegister(m.gqlRequests, m.gqlDuration, m.gqlCost, m.httpRequests, m.httpDuration,
		m.sqlStatements, m.sqlDuration, m.webhooks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// newObservability builds the metrics and the tracer of cfg; New calls it
// before it opens the database, whose pools report to it.
func newObservability(ctx context.Context, cfg Config, log *slog.Logger) (observability, error) {
	var o observability
	if !cfg.MetricsDisabled {
		o.metrics = newMetrics()
	}
	err := o.startTracing(ctx, cfg, log)
	return o, err
}

// registerState adds what is read at scrape time (pools, subscriptions,
// outbox, consumers, campaigns); New calls it once everything is built.
func (s *Server) registerState() {
	if s.metrics == nil {
		return
	}
	reg := s.metrics.reg
	reg.MustRegister(collectors.NewDBStatsCollector(s.DB.SQL, "main"))
	if s.eventsDB != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(s.eventsDB.SQL, "events"))
	}
	reg.MustRegister(newStateCollector(s))
}

// backendOf names the database backend in labels and spans.
func backendOf(cfg Config) (label, system string) {
	if cfg.DatabaseURL != "" {
		return "postgres", "postgresql"
	}
	return "sqlite", "sqlite"
}

// sqlObserver is the statement observer of pool (nil when neither metrics
// nor tracing are on: the pool is then not wrapped at all).
func (s *observability) sqlObserver(cfg Config, pool string) db.Observer {
	if s.metrics == nil && s.tracer == nil {
		return nil
	}
	backend, system := backendOf(cfg)
	o := &sqlObserver{tracer: s.tracer, system: system}
	if m := s.metrics; m != nil {
		for i, kind := range []string{"query", "exec"} {
			o.ok[i] = m.sqlStatements.WithLabelValues(pool, backend, kind, "ok")
			o.failed[i] = m.sqlStatements.WithLabelValues(pool, backend, kind, "error")
			o.duration[i] = m.sqlDuration.WithLabelValues(pool, backend, kind)
		}
		o.counted = true
	}
	return o
}

type sqlObserver struct {
	tracer     trace.Tracer
	system     string
	counted    bool
	ok, failed [2]prometheus.Counter
	duration   [2]prometheus.Observer
}

// Statement implements db.Observer.
func (o *sqlObserver) Statement(ctx context.Context, kind, query string) (context.Context, func(error)) {
	var span trace.Span
	if o.tracer != nil {
		ctx, span = sqlSpan(ctx, o.tracer, o.system, kind, query)
	}
	i := 0
	if kind == "exec" {
		i = 1
	}
	start := time.Now()
	return ctx, func(err error) {
		if o.counted {
			o.duration[i].Observe(time.Since(start).Seconds())
			if err != nil {
				o.failed[i].Inc()
			} else {
				o.ok[i].Inc()
			}
		}
		endSQLSpan(span, err)
	}
}

// labelCap admits the first max distinct values of a label; later ones
// are "other".
type labelCap struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newLabelCap(max int) *labelCap { return &labelCap{max: max, seen: map[string]struct{}{}} }

func (c *labelCap) get(v string) string {
	c.mu.RLock()
	_, ok := c.seen[v]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return "other"
	}
	c.seen[v] = struct{}{}
	return v
}

// The GraphQL side: gqlObserver counts, times and traces each operation.

// observeStatsKey holds an executed operation's *opObservation in its Stats.
const observeStatsKey = "omnisphere.observe"

type opObservation struct {
	done atomic.Bool
	span trace.Span
	cost *costState
}

type gqlObserver struct{ s *Server }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = gqlObserver{}

// ExtensionName implements graphql.HandlerExtension.
func (gqlObserver) ExtensionName() string { return "OmniSphereObservability" }

// Validate implements graphql.HandlerExtension.
func (gqlObserver) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor: it starts the
// operation's span and records the operation with its (last) response.
func (o gqlObserver) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	ob := &opObservation{cost: costStateOf(ctx)}
	oc.Stats.SetExtension(observeStatsKey, ob)
	name, typ := opLabels(oc)
	if o.s.tracer != nil {
		attrs := []attribute.KeyValue{
			attribute.String("graphql.operation.type", typ),
			attribute.String("graphql.operation.name", name),
		}
		if ob.cost != nil {
			attrs = append(attrs, attribute.Int("omnisphere.cost.requested", ob.cost.requested))
		}
		ctx, ob.span = o.s.tracer.Start(ctx, spanName(oc), trace.WithAttributes(attrs...))
	}
	h := next(ctx)
	sub := typ == string(ast.Subscription)
	return func(ctx context.Context) *graphql.Response {
		r := h(ctx)
		// A query or mutation is done with its last response; a
		// subscription is counted (and its span ended) at its first
		// response (an error, or its first event) or when it ends.
		if sub || r == nil || r.HasNext == nil || !*r.HasNext {
			if ob.done.CompareAndSwap(false, true) {
				o.record(oc, ob, r, true)
			}
		}
		return r
	}
}

// InterceptResponse implements graphql.ResponseInterceptor: it records the
// requests refused before they executed (parse and validation errors,
// limits, rate limits), which never reach InterceptOperation.
func (o gqlObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	var oc *graphql.OperationContext
	if graphql.HasOperationContext(ctx) {
		oc = graphql.GetOperationContext(ctx)
		if _, ok := oc.Stats.GetExtension(observeStatsKey).(*opObservation); ok {
			return next(ctx) // executing: InterceptOperation records it
		}
	}
	r := next(ctx)
	ob := &opObservation{}
	if oc != nil {
		ob.cost = costStateOf(ctx)
		if o.s.tracer != nil {
			start := oc.Stats.OperationStart
			if start.IsZero() {
				start = time.Now()
			}
			name, typ := opLabels(oc)
			_, ob.span = o.s.tracer.Start(ctx, spanName(oc), trace.WithTimestamp(start), trace.WithAttributes(
				attribute.String("graphql.operation.type", typ),
				attribute.String("graphql.operation.name", name),
			))
		}
	}
	o.record(oc, ob, r, false)
	return r
}

// record counts one operation (oc nil: a request refused before it had
// one) and ends its span.
func (o gqlObserver) record(oc *graphql.OperationContext, ob *opObservation, r *graphql.Response, executed bool) {
	name, typ := opLabels(oc)
	outcome := outcomeOf(r, typ, executed)
	if m := o.s.metrics; m != nil {
		label := m.ops.get(name)
		m.gqlRequests.WithLabelValues(label, typ, outcome).Inc()
		if oc != nil && typ != string(ast.Subscription) && !oc.Stats.OperationStart.IsZero() {
			m.gqlDuration.WithLabelValues(label, typ).Observe(time.Since(oc.Stats.OperationStart).Seconds())
		}
		if ob.cost != nil {
			m.gqlCost.WithLabelValues(typ, "requested").Observe(float64(ob.cost.requested))
			if executed && typ != string(ast.Subscription) {
				m.gqlCost.WithLabelValues(typ, "actual").Observe(float64(ob.cost.actual.Load()))
			}
		}
	}
	if span := ob.span; span != nil {
		if ob.cost != nil && executed {
			span.SetAttributes(attribute.Int64("omnisphere.cost.actual", ob.cost.actual.Load()))
		}
		span.SetAttributes(attribute.String("omnisphere.outcome", outcome))
		if r != nil && len(r.Errors) > 0 {
			span.SetAttributes(attribute.String("graphql.error.code", outcome))
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}
}

// opLabels are the operation name ("anonymous" when the operation has
// none, "invalid" when the request named no operation of a valid document)
// and type (query, mutation, subscription; "unknown" without a document).
func opLabels(oc *graphql.OperationContext) (name, typ string) {
	if oc == nil || oc.Operation == nil {
		return "invalid", "unknown"
	}
	name = oc.Operation.Name
	if name == "" {
		name = "anonymous"
	}
	return name, string(oc.Operation.Operation)
}

func spanName(oc *graphql.OperationContext) string {
	name, typ := opLabels(oc)
	if name == "invalid" {
		return "graphql invalid request"
	}
	return typ + " " + name
}

// knownCodes are the error codes the outcome label takes as they are;
// others are "OTHER".
var knownCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "NOT_FOUND": true, "BAD_USER_INPUT": true,
	"RATE_LIMITED": true, "INTERNAL": true, "COMPLEXITY_LIMIT_EXCEEDED": true,
	"STORE_NOT_PUBLISHED": true, "GRAPHQL_PARSE_FAILED": true, "GRAPHQL_VALIDATION_FAILED": true,
	"PERSISTED_QUERY_NOT_FOUND": true, "PERSISTED_QUERY_NOT_SUPPORTED": true,
	"SERVICE_UNAVAILABLE": true, "PLAN_LIMIT_REACHED": true, "BILLING_PAST_DUE": true,
}

var userErrorsMark = []byte(`"userErrors":[{`)

// outcomeOf is the outcome label of a response: the code of its first
// error, "user_error" for a mutation whose payload lists userErrors, else
// "ok". A query or mutation that ends with no response (the client went
// away, the deadline passed) is INTERNAL, as the transport answers it.
func outcomeOf(r *graphql.Response, typ string, executed bool) string {
	if r == nil {
		if executed && typ != string(ast.Subscription) {
			return "INTERNAL"
		}
		return "ok"
	}
	if len(r.Errors) > 0 {
		code, _ := r.Errors[0].Extensions["code"].(string)
		if knownCodes[code] {
			return code
		}
		return "OTHER"
	}
	if typ == string(ast.Mutation) && bytes.Contains(r.Data, userErrorsMark) {
		return "user_error"
	}
	return "ok"
}

// The HTTP side.

// routeOf maps a path to its route label (a fixed set: paths carry ids).
func routeOf(path string) string {
	switch {
	case path == "/graphql", path == "/health", path == "/ready", path == "/metrics",
		path == "/webhooks/stripe", path == "/webhooks/stripe/connect", path == "/":
		return path
	case strings.HasPrefix(path, "/t/"):
		return "/t/"
	case strings.HasPrefix(path, "/media/"):
		return "/media/"
	case strings.HasPrefix(path, "/assets/"):
		return "/assets/"
	}
	for _, p := range []string{"/admin", "/store", "/playground"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return p
		}
	}
	if path == marketing.ConfirmPath {
		return marketing.ConfirmPath
	}
	return "other"
}

// observeHTTP counts and times each request and, with tracing, runs it in
// a server span that continues the caller's W3C traceparent.
func (s *Server) observeHTTP(next http.Handler) http.Handler {
	if s.metrics == nil && s.tracer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := routeOf(r.URL.Path)
		stream := strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
			strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		start := time.Now()
		var span trace.Span
		if s.tracer != nil {
			ctx := s.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span = s.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String("http.request.method", r.Method),
					attribute.String("http.route", route),
				))
			r = r.WithContext(ctx)
		}
		sw := &statusWriter{ResponseWriter: w}
		finished := false
		defer func() {
			status := sw.status
			switch {
			case !finished:
				status = http.StatusInternalServerError // panicking
			case status == 0 && stream:
				status = http.StatusSwitchingProtocols // hijacked
			case status == 0:
				status = http.StatusOK
			}
			if m := s.metrics; m != nil {
				m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
				if !stream {
					m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
				}
			}
			if span != nil {
				span.SetAttributes(attribute.Int("http.response.status_code", status))
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
				span.End()
			}
		}()
		next.ServeHTTP(sw, r)
		finished = true
	})
}

// The webhook side.

var webhookTypeRE = regexp.MustCompile(`^[a-z0-9_.]{1,64}$`)

// observeWebhooks counts the deliveries of a webhook endpoint by outcome,
// read from the intake's reply, and event type, read from the body once
// the intake verified its signature.
func (s *Server) observeWebhooks(provider, endpoint string, next http.Handler) http.Handler {
	m := s.metrics
	if m == nil {
		return next
	}
	const sniff = 1 << 20 // the intake's default body limit
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		head, _ := io.ReadAll(io.LimitReader(r.Body, sniff))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		rec := &replyRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		outcome := webhookOutcome(rec.status, rec.body.Bytes())
		typ := "unknown"
		switch outcome {
		case "bad_signature", "rejected", "unconfigured":
		default:
			var ev struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(head, &ev) == nil && webhookTypeRE.MatchString(ev.Type) {
				typ = m.webhookTypes.get(ev.Type)
			}
		}
		m.webhooks.WithLabelValues(provider, endpoint, typ, outcome).Inc()
	})
}

// webhookOutcome reads the intake's reply (internal/payment: {"status": …}
// or {"error": …}).
func webhookOutcome(status int, body []byte) string {
	var reply struct{ Status, Error string }
	_ = json.Unmarshal(body, &reply)
	switch {
	case status == http.StatusOK:
		switch reply.Status {
		case "processed", "ignored", "duplicate":
			return reply.Status
		}
		return "processed"
	case status == http.StatusBadRequest && (reply.Error == "invalid signature" || strings.HasPrefix(reply.Error, "timestamp")):
		return "bad_signature"
	case status == http.StatusServiceUnavailable:
		return "unconfigured"
	case status >= 500:
		return "failed"
	}
	return "rejected"
}

// replyRecorder keeps the status and the start of a short reply.
type replyRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *replyRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *replyRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := 512 - w.body.Len(); room > 0 {
		w.body.Write(b[:min(room, len(b))])
	}
	return w.ResponseWriter.Write(b)
}

// The scrape-time state.

type stateCollector struct {
	s   *Server
	sys context.Context

	subsOpen, subsGroups, subsMembers         *prometheus.Desc
	outboxPending, outboxOldest, outboxFailed *prometheus.Desc
	relay                                     *prometheus.Desc
	consumerPending, consumerLag              *prometheus.Desc
	campaignEmails                            *prometheus.Desc
	scrapeErrors                              *prometheus.Desc
}

func newStateCollector(s *Server) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		s: s,
		// The outbox and the campaigns of every store: the audited
		// cross-tenant path (logged once, here).
		sys:             viewer.SystemContext(context.Background(), "metrics: outbox lag and campaign totals of all stores"),
		subsOpen:        d("subscriptions_open", "GraphQL subscriptions open in this process."),
		subsGroups:      d("subscriptions_shared_groups", "Shared renderings of identical subscriptions in this process."),
		subsMembers:     d("subscriptions_shared_members", "Subscriptions served by a shared rendering in this process."),
		outboxPending:   d("outbox_pending_events", "Outbox events committed and not yet published (all stores)."),
		outboxOldest:    d("outbox_oldest_pending_age_seconds", "Age of the oldest outbox event not yet published (0 when none)."),
		outboxFailed:    d("outbox_failed_events", "Outbox events that exhausted their attempts (status FAILED)."),
		relay:           d("events_relay_total", "Outbox events this process's relay published, retried, failed or replayed.", "result"),
		consumerPending: d("events_consumer_pending", "Stream entries delivered to a durable consumer group and not yet acknowledged (Redis).", "group"),
		consumerLag:     d("events_consumer_lag", "Stream entries not yet delivered to a durable consumer group (Redis; -1 when unknown).", "group"),
		campaignEmails:  d("campaign_emails_total", "Campaign emails of all stores by outcome (sent, failed, bounced): the sums of the campaigns' counters, the same in every process.", "outcome"),
		scrapeErrors:    d("metrics_scrape_failed", "1 when the last scrape's read of the source failed or timed out, else 0.", "source"),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.subsOpen, c.subsGroups, c.subsMembers, c.outboxPending, c.outboxOldest,
		c.outboxFailed, c.relay, c.consumerPending, c.consumerLag, c.campaignEmails, c.scrapeErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if s.Subscriptions != nil {
		open := 0
		for _, n := range s.Subscriptions.Open() {
			open += n
		}
		gauge(c.subsOpen, float64(open))
		groups, members := s.Subscriptions.SharedGroups()
		gauge(c.subsGroups, float64(groups))
		gauge(c.subsMembers, float64(members))
	}
	if s.Relay != nil {
		st := s.Relay.Stats()
		counter(c.relay, float64(st.Published), "published")
		counter(c.relay, float64(st.Retried), "retried")
		counter(c.relay, float64(st.Failed), "failed")
		counter(c.relay, float64(st.Replayed), "replayed")
	}
	dbErr, redisErr := 0.0, 0.0
	if st, err := c.readDB(); err != nil {
		dbErr = 1
		s.Log.Warn("metrics: database read failed", "error", err)
	} else {
		gauge(c.outboxPending, float64(st.pending))
		age := 0.0
		if st.oldest != nil {
			age = max(time.Since(*st.oldest).Seconds(), 0)
		}
		gauge(c.outboxOldest, age)
		gauge(c.outboxFailed, float64(st.failed))
		counter(c.campaignEmails, float64(st.sent), "sent")
		counter(c.campaignEmails, float64(st.failedSends), "failed")
		counter(c.campaignEmails, float64(st.bounced), "bounced")
	}
	if streams, ok := s.Durable.(*events.Streams); ok {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		lags, err := streams.GroupLags(ctx)
		cancel()
		if err != nil {
			redisErr = 1
			s.Log.Warn("metrics: redis consumer groups read failed", "error", err)
		}
		for _, g := range lags {
			gauge(c.consumerPending, float64(g.Pending), g.Group)
			gauge(c.consumerLag, float64(g.Lag), g.Group)
		}
	}
	gauge(c.scrapeErrors, dbErr, "database")
	gauge(c.scrapeErrors, redisErr, "redis")
}

type dbState struct {
	pending, failed            int64
	oldest                     *time.Time
	sent, failedSends, bounced int64
}

// The statements of a scrape: each is answered from an index (status of
// the outbox) or from the small campaigns table.
const (
	sqlOutboxPending = `SELECT COUNT(*) FROM outbox_events WHERE status = 'PENDING'`
	sqlOutboxOldest  = `SELECT created_at FROM outbox_events WHERE status = 'PENDING' ORDER BY created_at LIMIT 1`
	sqlOutboxFailed  = `SELECT COUNT(*) FROM outbox_events WHERE status = 'FAILED'`
	sqlCampaignSums  = `SELECT COALESCE(SUM(sent_count), 0), COALESCE(SUM(failed_count), 0), COALESCE(SUM(bounced_count), 0) FROM email_campaigns`
)

// readDB reads the outbox and campaign figures on the events pool, in the
// system context (on PostgreSQL: a transaction fenced as the system role).
func (c *stateCollector) readDB() (dbState, error) {
	pool := c.s.eventsDB
	if pool == nil {
		pool = c.s.DB
	}
	ctx, cancel := context.WithTimeout(c.sys, scrapeTimeout)
	defer cancel()
	var st dbState
	read := func(q queryer) error {
		if err := q.QueryRowContext(ctx, sqlOutboxPending).Scan(&st.pending); err != nil {
			return err
		}
		var oldest time.Time
		switch err := q.QueryRowContext(ctx, sqlOutboxOldest).Scan(&oldest); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			st.oldest = &oldest
		}
		if err := q.QueryRowContext(ctx, sqlOutboxFailed).Scan(&st.failed); err != nil {
			return err
		}
		return q.QueryRowContext(ctx, sqlCampaignSums).Scan(&st.sent, &st.failedSends, &st.bounced)
	}
	if pool.Dialect == dialect.Postgres {
		return st, db.InTenantTx(ctx, pool.SQL, func(tx *sql.Tx) error { return read(tx) })
	}
	return st, read(pool.SQL)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// The /metrics endpoint.

// metricsHandler serves the registry in the Prometheus text format, behind
// METRICS_TOKEN when one is set.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
	token := s.Config.MetricsToken
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveMetrics serves /metrics on METRICS_ADDR until ctx is done (nothing
// without METRICS_ADDR). The returned function waits for it to stop.
func (s *Server) serveMetrics(ctx context.Context) (func(), error) {
	if s.metrics == nil || s.Config.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", s.Config.MetricsAddr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	s.Log.Info("metrics served on their own address", "addr", ln.Addr().String())
	return func() {
		stop()
		_ = srv.Close()
		<-done
	}, nil
}

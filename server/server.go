// Package server assembles OmniSphere: configuration, database, Redis, the
// event bus, the GraphQL handler with its transports, and the HTTP routes
// (/health, /ready, /graphql, /playground). main.go only calls it.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/internal/auth"
	"github.com/omnisphere/omnisphere/internal/billing"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/checkout"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing"
	"github.com/omnisphere/omnisphere/internal/marketing/campaign"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/marketing/workflow"
	"github.com/omnisphere/omnisphere/internal/payment"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/respcache"
	"github.com/omnisphere/omnisphere/web"
)

// Server is an assembled OmniSphere instance.
type Server struct {
	Config Config
	Log    *slog.Logger
	DB     *db.DB
	// Redis is nil unless REDIS_URL is set.
	Redis *redis.Client
	// Bus is the live event path of GraphQL subscriptions: Redis pub/sub
	// on a channel per store with REDIS_URL, in process otherwise.
	Bus events.Bus
	// Durable is the event path of consumers that must not miss an event
	// (Redis Streams with REDIS_URL, in process otherwise); consumers
	// register with Durable.Consume.
	Durable events.Durable
	// Relay publishes the committed outbox to Bus and Durable
	// (server/events.go, docs/events.md); eventsDB is its pool.
	Relay    *events.Relay
	eventsDB *db.DB
	// Limiter backs cost rate limits and login throttling: Redis when
	// configured (shared by all processes), in process otherwise.
	Limiter ratelimit.Limiter
	// Auth is the identity service: credentials to viewers, sign-in flows.
	Auth *auth.Service
	// Catalog is the catalogue administration service (products, stock,
	// media uploads, imports).
	Catalog *catalog.Service
	// RespCache is the storefront response cache (nil when
	// STOREFRONT_CACHE_MB is 0); cacheRemote spreads its invalidations
	// through Redis.
	RespCache   *respcache.Cache
	cacheRemote *respcache.Remote
	// Subscriptions are the live subscriptions' limits and open count.
	Subscriptions *graph.Subscriptions
	// Stripe is the Stripe Connect client (nil without STRIPE_SECRET_KEY);
	// Checkout runs carts, checkout, orders and payments; Webhooks is the
	// idempotent intake of Stripe's events.
	Stripe   *payment.Stripe
	Checkout *checkout.Service
	// Marketing is the marketing engine; Campaigns sends its campaigns
	// through Mailer.
	Marketing *marketing.Service
	Popups    *popup.Service
	// seededKey is the publishable key of the store SeedDemo created, for
	// the pages (server/web.go).
	seededKey atomic.Pointer[seededStoreKey]
	Workflows *workflow.Service
	Campaigns *campaign.Sender
	Mailer    mailer.Sender
	tracking  http.Handler
	// Billing is the merchants' plans (internal/billing); its ent hook
	// enforces limits and blocked stores on every write.
	Billing  *billing.Service
	Webhooks *payment.Webhooks
	// bgCancel stops the background loops (checkout sweeps, webhook
	// retries); bg waits for them.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	// Handler serves every route. Tests call it directly.
	Handler http.Handler
	// observability is /metrics and tracing (server/metrics.go, tracing.go).
	observability
}

// New opens the stores, migrates when configured to, and builds the handler.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	obs, err := newObservability(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, db.Config{
		URL:             cfg.DatabaseURL,
		SQLitePath:      cfg.SQLitePath,
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxLifetime: cfg.DBConnMaxLife,
		ConnMaxIdleTime: cfg.DBConnMaxIdle,
		Observer:        obs.sqlObserver(cfg, "main"),
	})
	if err != nil {
		_ = obs.stopTracing()
		return nil, err
	}
	s := &Server{Config: cfg, Log: log, DB: d, Bus: events.NewLocal(), observability: obs}
	if cfg.AutoMigrate {
		if err := d.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		s.Redis = redis.NewClient(opts)
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.Redis.Ping(pingCtx).Err(); err != nil {
			s.Close()
			return nil, fmt.Errorf("redis at REDIS_URL does not answer: %w", err)
		}
	}
	s.Limiter = ratelimit.NewMemory()
	if s.Redis != nil {
		s.Limiter = ratelimit.NewRedis(s.Redis, "omnisphere:rl:")
	}
	s.Auth, err = auth.New(d.Client, s.Limiter, log, auth.Config{
		Secret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL,
		BcryptCost: cfg.BcryptCost, BcryptConcurrency: cfg.BcryptConcurrency,
		LoginMaxAttempts: cfg.LoginMaxAttempts, LoginMaxPerIP: cfg.LoginMaxPerIP, LoginWindow: cfg.LoginWindow,
		TrialLength: time.Duration(cfg.BillingTrialDays) * 24 * time.Hour,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Catalog = catalog.New(d.Client, log, s.mediaRoot(), nil)
	s.Catalog.AfterImport = d.Analyze
	s.Stripe = payment.New(payment.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret,
		ConnectWebhookSecret: cfg.StripeConnectSecret, APIURL: cfg.StripeAPIURL, PublicURL: cfg.PublicURL})
	s.Checkout = checkout.New(d.Client, d.Dialect, s.Catalog, s.Stripe, checkout.Config{
		StockHold: cfg.CheckoutStockHold, ManualStockHold: cfg.CheckoutManualStockHold,
		AbandonAfter: cfg.CartAbandonAfter, SweepInterval: cfg.CheckoutSweepInterval,
	}, log)
	s.Billing = billing.New(d.Client, s.Stripe, billing.Config{Plans: cfg.BillingPlans, TrialDays: cfg.BillingTrialDays,
		PastDueGrace: cfg.BillingPastDueGrace}, log)
	d.Client.Use(s.Billing.Hook())
	s.Checkout.Gate = s.Billing
	stripeEvents := payment.Route(map[string]payment.EventHandler{
		"customer.subscription.": s.Billing, "invoice.": s.Billing}, s.Checkout)
	s.Webhooks = payment.NewWebhooks(d.Client, stripeEvents, payment.WebhookConfig{
		Secret: cfg.StripeWebhookSecret, ConnectSecret: cfg.StripeConnectSecret, Logger: log})
	if err := s.newMarketing(); err != nil {
		s.Close()
		return nil, err
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgCtx, s.bgCancel = bgCtx, cancel
	s.bg.Add(3)
	go func() { defer s.bg.Done(); s.Checkout.Run(bgCtx) }()
	go func() { defer s.bg.Done(); s.Webhooks.Run(bgCtx, cfg.CheckoutSweepInterval) }()
	go func() { defer s.bg.Done(); s.Campaigns.Run(bgCtx) }()
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.Workflows.Run(bgCtx) }()
	if cfg.SegmentRefresh > 0 {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.Marketing.RunRefresh(bgCtx, cfg.SegmentRefresh) }()
	}
	if cfg.StorefrontCacheMB > 0 {
		s.RespCache = respcache.New(cfg.StorefrontCacheMB<<20, cfg.StorefrontCacheTTL)
		d.OnWrite(invalidateOnWrite(s.RespCache))
		if s.Redis != nil {
			s.cacheRemote = respcache.StartRemote(s.RespCache, s.Redis, "omnisphere:storefront-cache", log)
		}
	}
	if err := s.startEvents(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.Subscriptions = &graph.Subscriptions{
		PerMerchant: cfg.SubscriptionsPerMerchant, Recheck: cfg.SubscriptionRecheck,
		SendTimeout: cfg.SubscriptionSendTimeout,
		Allow:       s.Billing.AllowSubscription,
	}
	s.Billing.LiveSubscriptions = s.Subscriptions.Count
	s.registerState()
	s.Handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /ready", s.ready)
	mux.Handle("/graphql", s.withEdge(s.withViewer(newGraphQLHandler(s))))
	pages := web.Handler(*s.pages())
	for _, p := range []string{"/admin", "/admin/", "/store", "/store/", "/playground", "/playground/", "/assets/"} {
		mux.Handle("GET "+p, pages)
	}
	mux.Handle("POST /webhooks/stripe", s.observeWebhooks("stripe", "platform", s.Webhooks.Handler(false)))
	mux.Handle("/t/", s.withEdge(s.tracking))
	mux.Handle(marketing.ConfirmPath, s.withEdge(http.HandlerFunc(s.confirmPage)))
	mux.Handle("POST /webhooks/stripe/connect", s.observeWebhooks("stripe", "connect", s.Webhooks.Handler(true)))
	if s.metrics != nil && s.Config.MetricsAddr == "" {
		mux.Handle("GET /metrics", s.metricsHandler())
	}
	mux.Handle("GET /media/", s.media())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/playground", http.StatusFound)
	})
	return withRequestLog(s.Log, s.observeHTTP(mux))
}

// ready answers 200 when the database (and Redis, when configured) answer.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok"}
	status := http.StatusOK
	if err := s.DB.Ping(ctx); err != nil {
		s.Log.WarnContext(ctx, "readiness: database", "error", err)
		checks["database"], status = "unavailable", http.StatusServiceUnavailable
	}
	if s.Redis != nil {
		checks["redis"] = "ok"
		if err := s.Redis.Ping(ctx).Err(); err != nil {
			s.Log.WarnContext(ctx, "readiness: redis", "error", err)
			checks["redis"], status = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, checks)
}

// Close stops the event relay (publishing what is pending first) and
// releases the stores.
func (s *Server) Close() error {
	if s.bgCancel != nil {
		s.bgCancel()
		s.bg.Wait()
	}
	errs := []error{s.stopEvents()}
	if c, ok := s.Mailer.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	if s.cacheRemote != nil {
		s.cacheRemote.Close()
	}
	if s.Redis != nil {
		errs = append(errs, s.Redis.Close())
	}
	errs = append(errs, s.DB.Close(), s.stopTracing())
	return errors.Join(errs...)
}

// Serve answers on ln until ctx is done, then stops accepting connections
// and drains in-flight requests for up to Config.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	stopMetrics, err := s.serveMetrics(ctx)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	defer stopMetrics()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Log.Info("shutting down: draining in-flight requests", "timeout", s.Config.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

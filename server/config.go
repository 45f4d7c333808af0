package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/billing"
)

// Config is the server's configuration, read once from the environment.
// README.md lists every variable; keep the two in step.
type Config struct {
	Port            int           // PORT (8080)
	DataDir         string        // DATA_DIR (./data): embedded database, generated secrets
	DatabaseURL     string        // DATABASE_URL: postgres://…; empty = embedded SQLite
	SQLitePath      string        // SQLITE_PATH (DATA_DIR/omnisphere.db)
	MediaDir        string        // MEDIA_DIR (DATA_DIR/media): uploaded images, served at /media/
	RedisURL        string        // REDIS_URL: redis://…; empty = in-process bus and limits
	JWTSecret       []byte        // JWT_SECRET (>= 32 bytes; generated into DATA_DIR when embedded)
	LogLevel        slog.Level    // LOG_LEVEL (info): debug, info, warn, error
	AutoMigrate     bool          // AUTO_MIGRATE (true): migrate on start
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT (20s): drain time on SIGTERM
	DBMaxOpenConns  int           // DB_MAX_OPEN_CONNS (20 on PostgreSQL, 8 on SQLite)
	DBMaxIdleConns  int           // DB_MAX_IDLE_CONNS (10 on PostgreSQL, 8 on SQLite)
	DBConnMaxLife   time.Duration // DB_CONN_MAX_LIFETIME (30m)
	DBConnMaxIdle   time.Duration // DB_CONN_MAX_IDLE_TIME (5m)

	// Identity.
	JWTIssuer         string        // JWT_ISSUER (omnisphere)
	JWTAudience       string        // JWT_AUDIENCE (omnisphere-api)
	AccessTokenTTL    time.Duration // ACCESS_TOKEN_TTL (24h)
	RefreshTokenTTL   time.Duration // REFRESH_TOKEN_TTL (168h)
	BcryptCost        int           // BCRYPT_COST (12; 10..15)
	BcryptConcurrency int           // BCRYPT_CONCURRENCY (number of CPUs): hashes computed at once
	LoginMaxAttempts  int           // LOGIN_MAX_ATTEMPTS (5): failed logins per account per LOGIN_WINDOW
	LoginMaxPerIP     int           // LOGIN_MAX_PER_IP (30): login attempts per client IP per LOGIN_WINDOW
	LoginWindow       time.Duration // LOGIN_WINDOW (15m)

	// The GraphQL edge.
	MaxBodyBytes     int64         // MAX_BODY_BYTES (1048576): larger requests get 413
	MaxDepth         int           // GRAPHQL_MAX_DEPTH (12)
	MaxCost          int           // GRAPHQL_MAX_COST (1000): complexity of one operation
	MaxAliases       int           // GRAPHQL_MAX_ALIASES (30)
	MaxTokens        int           // GRAPHQL_MAX_TOKENS (15000): parser token limit
	Introspection    bool          // GRAPHQL_INTROSPECTION (true)
	RequestTimeout   time.Duration // REQUEST_TIMEOUT (30s): deadline of one query or mutation
	CORSOrigins      []string      // CORS_ALLOWED_ORIGINS (none): comma-separated, or *
	WSOrigins        []string      // WS_ALLOWED_ORIGINS (same host only): comma-separated patterns
	RateLimitBucket  int           // RATE_LIMIT_BUCKET (2000): cost units a caller may burst
	RateLimitRestore int           // RATE_LIMIT_RESTORE_RATE (100): cost units restored per second
	TrustProxy       bool          // TRUST_PROXY (false): take the client IP from X-Forwarded-For
	APQCacheSize     int           // APQ_CACHE_SIZE (1000): persisted queries kept in process without Redis

	// Events (docs/events.md).
	EventsSweepInterval    time.Duration // EVENTS_SWEEP_INTERVAL (1s): how often the relay looks for outbox rows nobody kicked it for
	EventsLease            time.Duration // EVENTS_CLAIM_LEASE (30s): how long a relay's claim keeps other processes off an aggregate
	EventsMaxAttempts      int           // EVENTS_MAX_ATTEMPTS (10): failed publishes before an outbox row turns FAILED
	EventsSubscriberBuffer int           // EVENTS_SUBSCRIBER_BUFFER (256): events a live subscriber may fall behind before it is dropped
	EventsClaimTimeout     time.Duration // EVENTS_CONSUMER_CLAIM_TIMEOUT (30s): a durable entry unacknowledged this long goes to another consumer
	EventsStreamMaxLen     int           // EVENTS_STREAM_MAXLEN (1000000): entries the Redis stream keeps
	EventsReplayWindow     time.Duration // EVENTS_REPLAY_WINDOW (15m): replayed when Redis lost its data and no low-water mark is known

	// The storefront response cache (docs/storefront.md).
	StorefrontCacheMB  int           // STOREFRONT_CACHE_MB (32): memory for cached answers; 0 turns the cache off
	StorefrontCacheTTL time.Duration // STOREFRONT_CACHE_TTL (10s): the longest an answer is kept

	// Live subscriptions (docs/subscriptions.md).
	SubscriptionsPerMerchant int           // SUBSCRIPTIONS_PER_MERCHANT (1000): open subscriptions per store per process; 0 = no limit
	SubscriptionRecheck      time.Duration // SUBSCRIPTION_RECHECK (30s): how often a subscription's credentials are verified again
	SubscriptionSendTimeout  time.Duration // SUBSCRIPTION_SEND_TIMEOUT (10s): how long an event may wait for a slow client

	// Checkout and payments (docs/checkout.md, docs/payments.md).
	CheckoutStockHold       time.Duration // CHECKOUT_STOCK_HOLD (30m): how long a Stripe order's stock waits for its payment
	CheckoutManualStockHold time.Duration // CHECKOUT_MANUAL_STOCK_HOLD (0 = until staff act): the same for MANUAL orders
	CartAbandonAfter        time.Duration // CART_ABANDON_AFTER (1h): idle time after which a cart with an email is abandoned
	CheckoutSweepInterval   time.Duration // CHECKOUT_SWEEP_INTERVAL (30s): how often expired holds and abandoned carts are looked for
	PublicURL               string        // PUBLIC_URL (http://localhost:PORT): this server's public base URL (Stripe onboarding return links)
	StripeSecretKey         string        // STRIPE_SECRET_KEY: platform secret key; empty = card payments off (MANUAL only)
	StripeWebhookSecret     string        // STRIPE_WEBHOOK_SECRET: signing secret of POST /webhooks/stripe
	StripeConnectSecret     string        // STRIPE_CONNECT_WEBHOOK_SECRET: signing secret of POST /webhooks/stripe/connect
	StripeAPIURL            string        // STRIPE_API_URL: Stripe API base URL (stripe-mock in tests); empty = api.stripe.com
	// BILLING_PLANS (JSON array, docs/billing.md; empty = Trial/Starter/Growth/Scale defaults) and
	// STRIPE_PRICE_STARTER, STRIPE_PRICE_GROWTH, STRIPE_PRICE_SCALE (price_… ids): merchant plans. Billing is on
	// only with STRIPE_SECRET_KEY and a price for every paid plan; off, every store is unlimited.
	BillingPlans        []billing.Plan
	BillingTrialDays    int           // BILLING_TRIAL_DAYS (14): trial of a new store
	BillingPastDueGrace time.Duration // BILLING_PAST_DUE_GRACE (168h): full use after a failed plan payment, then admin writes are refused

	// The marketing engine (docs/marketing.md, docs/campaigns.md, docs/email-templates.md).
	SMTPURL           string        // SMTP_URL: smtp://user:pass@host:port?tls=none|starttls|tls; empty = emails are logged, not sent
	EmailFrom         string        // EMAIL_FROM (no-reply@<PUBLIC_URL host>): sender of campaigns without their own from address
	TrackingKeys      string        // TRACKING_KEYS: "id:base64key,…" (first signs); empty = one key derived from JWT_SECRET
	CampaignPoll      time.Duration // CAMPAIGN_POLL_INTERVAL (5s): how often due campaigns are looked for
	CampaignRate      int           // CAMPAIGN_RATE_PER_MINUTE (300000): a store's default send rate
	CampaignWorkers   int           // CAMPAIGN_WORKERS (8): emails rendered and sent at once per campaign
	AttributionWindow time.Duration // ATTRIBUTION_WINDOW (120h): a paid order within this time after a recipient's first click counts as the campaign's
	SegmentRefresh    time.Duration // SEGMENT_REFRESH_INTERVAL (1h): dynamic segments are recomputed this often (time-based rules)

	// The pages (docs/web.md).
	WebStore         string // WEB_STORE (demo): slug of the store /store and /playground show
	WebStorefrontKey string // WEB_STOREFRONT_KEY: its publishable key for the pages; empty = the key seeded by this process, else X-Store-Slug

	// Observability (docs/observability.md).
	MetricsDisabled bool   // METRICS_ENABLED (true): false removes /metrics and the instrumentation
	MetricsAddr     string // METRICS_ADDR: serve /metrics on this address (e.g. 127.0.0.1:9090) instead of the main port
	MetricsToken    string // METRICS_TOKEN: when set, /metrics answers only "Authorization: Bearer <token>"
	// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_TRACES_EXPORTER=otlp;
	// OTEL_TRACES_EXPORTER=none turns it off. The exporter (OTLP over
	// http/protobuf) reads the other OTEL_* variables itself.
	Tracing bool
	// TracerProvider, when not nil, receives the spans instead of an OTLP
	// exporter (tests; its owner shuts it down).
	TracerProvider trace.TracerProvider
}

// defaultEmailFrom is EMAIL_FROM's default: no-reply at PUBLIC_URL's host.
func (c Config) defaultEmailFrom() string {
	host := "localhost"
	if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "no-reply@" + host
}

// Embedded reports whether the server runs on the embedded default.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// minSecretLen is the shortest JWT secret accepted (HS256 wants >= 256 bits).
const minSecretLen = 32

// LoadConfig reads the configuration from getenv (os.Getenv in main). On the
// embedded default it creates DATA_DIR and a JWT secret kept there. Every
// problem is reported at once, as one error naming the variables.
func LoadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{
		DataDir:     strOr(getenv("DATA_DIR"), "data"),
		DatabaseURL: strings.TrimSpace(getenv("DATABASE_URL")),
		RedisURL:    strings.TrimSpace(getenv("REDIS_URL")),
	}
	c.SQLitePath = strOr(getenv("SQLITE_PATH"), filepath.Join(c.DataDir, "omnisphere.db"))
	c.MediaDir = strOr(getenv("MEDIA_DIR"), filepath.Join(c.DataDir, "media"))
	c.Port = intVar(getenv, "PORT", 8080, &errs)
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("PORT must be between 1 and 65535, got %d", c.Port))
	}
	c.DBMaxOpenConns = intVar(getenv, "DB_MAX_OPEN_CONNS", 0, &errs)
	c.DBMaxIdleConns = intVar(getenv, "DB_MAX_IDLE_CONNS", 0, &errs)
	c.DBConnMaxLife = durVar(getenv, "DB_CONN_MAX_LIFETIME", 30*time.Minute, &errs)
	c.DBConnMaxIdle = durVar(getenv, "DB_CONN_MAX_IDLE_TIME", 5*time.Minute, &errs)
	c.ShutdownTimeout = durVar(getenv, "SHUTDOWN_TIMEOUT", 20*time.Second, &errs)
	c.AutoMigrate = boolVar(getenv, "AUTO_MIGRATE", true, &errs)

	c.JWTIssuer = strOr(getenv("JWT_ISSUER"), "omnisphere")
	c.JWTAudience = strOr(getenv("JWT_AUDIENCE"), "omnisphere-api")
	c.AccessTokenTTL = durVar(getenv, "ACCESS_TOKEN_TTL", 24*time.Hour, &errs)
	c.RefreshTokenTTL = durVar(getenv, "REFRESH_TOKEN_TTL", 7*24*time.Hour, &errs)
	if c.AccessTokenTTL <= 0 || c.RefreshTokenTTL <= 0 {
		errs = append(errs, errors.New("ACCESS_TOKEN_TTL and REFRESH_TOKEN_TTL must be positive"))
	}
	c.BcryptCost = intVar(getenv, "BCRYPT_COST", 12, &errs)
	if c.BcryptCost < 10 || c.BcryptCost > 15 {
		errs = append(errs, fmt.Errorf("BCRYPT_COST must be between 10 and 15, got %d", c.BcryptCost))
	}
	c.BcryptConcurrency = positive(getenv, "BCRYPT_CONCURRENCY", runtime.NumCPU(), &errs)
	c.LoginMaxAttempts = positive(getenv, "LOGIN_MAX_ATTEMPTS", 5, &errs)
	c.LoginMaxPerIP = positive(getenv, "LOGIN_MAX_PER_IP", 30, &errs)
	c.LoginWindow = durVar(getenv, "LOGIN_WINDOW", 15*time.Minute, &errs)

	c.MaxBodyBytes = int64(positive(getenv, "MAX_BODY_BYTES", 1<<20, &errs))
	c.MaxDepth = positive(getenv, "GRAPHQL_MAX_DEPTH", 12, &errs)
	c.MaxCost = positive(getenv, "GRAPHQL_MAX_COST", 1000, &errs)
	c.MaxAliases = positive(getenv, "GRAPHQL_MAX_ALIASES", 30, &errs)
	c.MaxTokens = positive(getenv, "GRAPHQL_MAX_TOKENS", 15000, &errs)
	c.Introspection = boolVar(getenv, "GRAPHQL_INTROSPECTION", true, &errs)
	c.RequestTimeout = durVar(getenv, "REQUEST_TIMEOUT", 30*time.Second, &errs)
	c.CORSOrigins = listVar(getenv("CORS_ALLOWED_ORIGINS"))
	c.WSOrigins = listVar(getenv("WS_ALLOWED_ORIGINS"))
	c.RateLimitBucket = positive(getenv, "RATE_LIMIT_BUCKET", 2000, &errs)
	c.RateLimitRestore = positive(getenv, "RATE_LIMIT_RESTORE_RATE", 100, &errs)
	c.TrustProxy = boolVar(getenv, "TRUST_PROXY", false, &errs)
	c.APQCacheSize = positive(getenv, "APQ_CACHE_SIZE", 1000, &errs)
	c.EventsSweepInterval = durVar(getenv, "EVENTS_SWEEP_INTERVAL", time.Second, &errs)
	c.EventsLease = durVar(getenv, "EVENTS_CLAIM_LEASE", 30*time.Second, &errs)
	c.EventsMaxAttempts = positive(getenv, "EVENTS_MAX_ATTEMPTS", 10, &errs)
	c.EventsSubscriberBuffer = positive(getenv, "EVENTS_SUBSCRIBER_BUFFER", 256, &errs)
	c.EventsClaimTimeout = durVar(getenv, "EVENTS_CONSUMER_CLAIM_TIMEOUT", 30*time.Second, &errs)
	c.EventsStreamMaxLen = positive(getenv, "EVENTS_STREAM_MAXLEN", 1_000_000, &errs)
	c.EventsReplayWindow = durVar(getenv, "EVENTS_REPLAY_WINDOW", 15*time.Minute, &errs)
	if c.EventsSweepInterval < 10*time.Millisecond || c.EventsLease < time.Second || c.EventsClaimTimeout < time.Second {
		errs = append(errs, errors.New("EVENTS_SWEEP_INTERVAL must be at least 10ms, EVENTS_CLAIM_LEASE and EVENTS_CONSUMER_CLAIM_TIMEOUT at least 1s"))
	}
	c.StorefrontCacheMB = intVar(getenv, "STOREFRONT_CACHE_MB", 32, &errs)
	if c.StorefrontCacheMB < 0 || c.StorefrontCacheMB > 4096 {
		errs = append(errs, fmt.Errorf("STOREFRONT_CACHE_MB must be between 0 and 4096, got %d", c.StorefrontCacheMB))
	}
	c.SubscriptionsPerMerchant = intVar(getenv, "SUBSCRIPTIONS_PER_MERCHANT", 1000, &errs)
	if c.SubscriptionsPerMerchant < 0 {
		errs = append(errs, fmt.Errorf("SUBSCRIPTIONS_PER_MERCHANT must be 0 (no limit) or more, got %d", c.SubscriptionsPerMerchant))
	}
	c.SubscriptionRecheck = durVar(getenv, "SUBSCRIPTION_RECHECK", 30*time.Second, &errs)
	c.SubscriptionSendTimeout = durVar(getenv, "SUBSCRIPTION_SEND_TIMEOUT", 10*time.Second, &errs)
	if c.SubscriptionRecheck <= 0 || c.SubscriptionSendTimeout <= 0 {
		errs = append(errs, errors.New("SUBSCRIPTION_RECHECK and SUBSCRIPTION_SEND_TIMEOUT must be positive"))
	}
	c.CheckoutStockHold = durVar(getenv, "CHECKOUT_STOCK_HOLD", 30*time.Minute, &errs)
	c.CheckoutManualStockHold = durVar(getenv, "CHECKOUT_MANUAL_STOCK_HOLD", 0, &errs)
	c.CartAbandonAfter = durVar(getenv, "CART_ABANDON_AFTER", time.Hour, &errs)
	c.CheckoutSweepInterval = durVar(getenv, "CHECKOUT_SWEEP_INTERVAL", 30*time.Second, &errs)
	if c.CheckoutStockHold < time.Minute || c.CartAbandonAfter < time.Minute || c.CheckoutSweepInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("CHECKOUT_STOCK_HOLD and CART_ABANDON_AFTER must be at least 1m, CHECKOUT_SWEEP_INTERVAL at least 100ms"))
	}
	c.PublicURL = strings.TrimRight(strOr(getenv("PUBLIC_URL"), fmt.Sprintf("http://localhost:%d", c.Port)), "/")
	c.StripeSecretKey = strings.TrimSpace(getenv("STRIPE_SECRET_KEY"))
	c.StripeWebhookSecret = strings.TrimSpace(getenv("STRIPE_WEBHOOK_SECRET"))
	c.StripeConnectSecret = strings.TrimSpace(getenv("STRIPE_CONNECT_WEBHOOK_SECRET"))
	c.StripeAPIURL = strings.TrimSpace(getenv("STRIPE_API_URL"))
	plans, err := billing.ParsePlans(getenv("BILLING_PLANS"), map[merchantaccount.Plan]string{
		merchantaccount.PlanSTARTER: strings.TrimSpace(getenv("STRIPE_PRICE_STARTER")),
		merchantaccount.PlanGROWTH:  strings.TrimSpace(getenv("STRIPE_PRICE_GROWTH")),
		merchantaccount.PlanSCALE:   strings.TrimSpace(getenv("STRIPE_PRICE_SCALE")),
	})
	if err != nil {
		errs = append(errs, err)
	}
	c.BillingPlans = plans
	c.BillingTrialDays = intVar(getenv, "BILLING_TRIAL_DAYS", 14, &errs)
	c.BillingPastDueGrace = durVar(getenv, "BILLING_PAST_DUE_GRACE", 7*24*time.Hour, &errs)
	if c.BillingTrialDays < 1 || c.BillingPastDueGrace <= 0 {
		errs = append(errs, errors.New("BILLING_TRIAL_DAYS must be at least 1 and BILLING_PAST_DUE_GRACE positive"))
	}
	c.SMTPURL = strings.TrimSpace(getenv("SMTP_URL"))
	c.EmailFrom = strings.TrimSpace(getenv("EMAIL_FROM"))
	if c.EmailFrom == "" {
		c.EmailFrom = c.defaultEmailFrom()
	}
	c.TrackingKeys = strings.TrimSpace(getenv("TRACKING_KEYS"))
	c.CampaignPoll = durVar(getenv, "CAMPAIGN_POLL_INTERVAL", 5*time.Second, &errs)
	c.WebStore = strings.ToLower(strings.TrimSpace(getenv("WEB_STORE")))
	if c.WebStore == "" {
		c.WebStore = "demo"
	}
	c.WebStorefrontKey = strings.TrimSpace(getenv("WEB_STOREFRONT_KEY"))
	c.MetricsDisabled = !boolVar(getenv, "METRICS_ENABLED", true, &errs)
	c.MetricsAddr = strings.TrimSpace(getenv("METRICS_ADDR"))
	c.MetricsToken = strings.TrimSpace(getenv("METRICS_TOKEN"))
	c.Tracing = tracingFromEnv(getenv, &errs)
	c.CampaignRate = intVar(getenv, "CAMPAIGN_RATE_PER_MINUTE", 300_000, &errs)
	c.CampaignWorkers = intVar(getenv, "CAMPAIGN_WORKERS", 8, &errs)
	c.SegmentRefresh = durVar(getenv, "SEGMENT_REFRESH_INTERVAL", time.Hour, &errs)
	c.AttributionWindow = durVar(getenv, "ATTRIBUTION_WINDOW", 5*24*time.Hour, &errs)
	if c.AttributionWindow < time.Hour {
		errs = append(errs, errors.New("ATTRIBUTION_WINDOW must be at least 1h"))
	}
	if c.SegmentRefresh < time.Minute {
		errs = append(errs, errors.New("SEGMENT_REFRESH_INTERVAL must be at least 1m"))
	}
	if c.CampaignPoll < 100*time.Millisecond || c.CampaignRate < 1 || c.CampaignWorkers < 1 || c.CampaignWorkers > 256 {
		errs = append(errs, errors.New("CAMPAIGN_POLL_INTERVAL must be at least 100ms, CAMPAIGN_RATE_PER_MINUTE at least 1, CAMPAIGN_WORKERS 1-256"))
	}
	c.StorefrontCacheTTL = durVar(getenv, "STOREFRONT_CACHE_TTL", 10*time.Second, &errs)
	if c.StorefrontCacheTTL <= 0 {
		errs = append(errs, errors.New("STOREFRONT_CACHE_TTL must be positive"))
	}
	if c.RateLimitBucket < c.MaxCost {
		errs = append(errs, fmt.Errorf("RATE_LIMIT_BUCKET (%d) must be at least GRAPHQL_MAX_COST (%d), or the largest allowed query could never run", c.RateLimitBucket, c.MaxCost))
	}

	switch strings.ToLower(strOr(getenv("LOG_LEVEL"), "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", getenv("LOG_LEVEL")))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("DATABASE_URL must start with postgres:// or postgresql://"))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, errors.New("REDIS_URL must start with redis:// or rediss://"))
	}

	secret := getenv("JWT_SECRET")
	switch {
	case secret != "" && len(secret) < minSecretLen:
		errs = append(errs, fmt.Errorf("JWT_SECRET must be at least %d bytes, got %d", minSecretLen, len(secret)))
	case secret != "":
		c.JWTSecret = []byte(secret)
	case c.Embedded():
		if len(errs) > 0 {
			break // create no secret file for a configuration that is refused
		}
		s, err := embeddedSecret(c.DataDir)
		if err != nil {
			errs = append(errs, err)
		}
		c.JWTSecret = s
	default:
		errs = append(errs, fmt.Errorf("JWT_SECRET is required with DATABASE_URL (at least %d bytes, e.g. `openssl rand -hex 32`)", minSecretLen))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// embeddedSecret returns the JWT secret kept in dataDir, creating it (mode
// 0600) on first use so that tokens survive restarts of the embedded server.
func embeddedSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "jwt_secret")
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < minSecretLen {
			return nil, fmt.Errorf("%s holds a secret shorter than %d bytes: delete it to generate a new one", path, minSecretLen)
		}
		return []byte(s), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR %s: %w", dataDir, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return []byte(s), nil
}

func strOr(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

func intVar(getenv func(string) string, name string, def int, errs *[]error) int {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		*errs = append(*errs, fmt.Errorf("%s must be a non-negative integer, got %q", name, v))
		return def
	}
	return n
}

func positive(getenv func(string) string, name string, def int, errs *[]error) int {
	n := intVar(getenv, name, def, errs)
	if n < 1 {
		*errs = append(*errs, fmt.Errorf("%s must be at least 1", name))
		return def
	}
	return n
}

func listVar(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func durVar(getenv func(string) string, name string, def time.Duration, errs *[]error) time.Duration {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		*errs = append(*errs, fmt.Errorf("%s must be a duration like 30s or 5m, got %q", name, v))
		return def
	}
	return d
}

func boolVar(getenv func(string) string, name string, def bool, errs *[]error) bool {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s must be true or false, got %q", name, v))
		return def
	}
	return b
}

package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/apikey"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/refreshtoken"
	"github.com/omnisphere/omnisphere/ent/storefrontconfig"
	"github.com/omnisphere/omnisphere/ent/user"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/ids"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Config configures the Service. Zero values take the defaults of New.
type Config struct {
	// Secret signs tokens (HS256); at least 32 bytes.
	Secret []byte
	// Issuer and Audience are the iss and aud of every token.
	Issuer, Audience string
	// AccessTTL (24h) and RefreshTTL (7 days) are token lifetimes.
	AccessTTL, RefreshTTL time.Duration
	// BcryptCost (12, at least 10) and BcryptConcurrency (hashes at once, 2).
	BcryptCost, BcryptConcurrency int
	// LoginMaxAttempts failed logins per account and LoginMaxPerIP attempts
	// per client IP are allowed per LoginWindow (5, 30, 15 minutes).
	LoginMaxAttempts, LoginMaxPerIP int
	LoginWindow                     time.Duration
	// TrialLength is the trial of a store registered with merchantRegister
	// (BILLING_TRIAL_DAYS; default 14 days): it starts TRIALING until then.
	TrialLength time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Service is the identity service.
type Service struct {
	client  *ent.Client
	limiter ratelimit.Limiter
	log     *slog.Logger
	cfg     Config
	signer  *signer
	hasher  *hasher
	stores  storeCache[uuid.UUID] // storefront key digest or slug -> merchant
	// storefronts: merchant -> its storefront settings (Storefront).
	storefronts storeCache[viewer.Storefront]
}

// New returns a Service reading and writing through client.
func New(client *ent.Client, limiter ratelimit.Limiter, log *slog.Logger, cfg Config) (*Service, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("auth: the JWT secret must be at least 32 bytes")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.BcryptCost, 12)
	def(&cfg.BcryptConcurrency, 2)
	def(&cfg.LoginMaxAttempts, 5)
	def(&cfg.LoginMaxPerIP, 30)
	defDur(&cfg.LoginWindow, 15*time.Minute)
	defDur(&cfg.AccessTTL, 24*time.Hour)
	defDur(&cfg.RefreshTTL, 7*24*time.Hour)
	if cfg.BcryptCost < 10 {
		return nil, errors.New("auth: bcrypt cost must be at least 10")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "omnisphere"
	}
	if cfg.Audience == "" {
		cfg.Audience = "omnisphere-api"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TrialLength <= 0 {
		cfg.TrialLength = 14 * 24 * time.Hour
	}
	h, err := newHasher(cfg.BcryptCost, cfg.BcryptConcurrency)
	if err != nil {
		return nil, err
	}
	return &Service{
		client: client, limiter: limiter, log: log, cfg: cfg, hasher: h,
		signer: &signer{secret: cfg.Secret, issuer: cfg.Issuer, audience: cfg.Audience,
			accessTTL: cfg.AccessTTL, refreshTTL: cfg.RefreshTTL, now: cfg.Now},
	}, nil
}

// Session is a signed-in session's pair of tokens.
type Session struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// newSession issues an access and a refresh token in family (a new family
// when family is uuid.Nil) and stores the refresh token's hash.
func (s *Service) newSession(ctx context.Context, c *ent.Client, kind string, subject, merchant, family uuid.UUID) (Session, *ent.RefreshToken, error) {
	if family == uuid.Nil {
		family = uuid.New()
	}
	rid := ids.New(ids.Code("refresh_tokens"))
	refresh, rexp, err := s.signer.sign(TypeRefresh, kind, subject, merchant, family, rid, s.cfg.RefreshTTL)
	if err != nil {
		return Session{}, nil, err
	}
	access, aexp, err := s.signer.sign(TypeAccess, kind, subject, merchant, family, uuid.New(), s.cfg.AccessTTL)
	if err != nil {
		return Session{}, nil, err
	}
	req := viewer.RequestFromContext(ctx)
	create := c.RefreshToken.Create().SetID(rid).SetMerchantID(merchant).SetFamilyID(family).
		SetTokenHash(digest(refresh)).SetExpiresAt(rexp).SetIP(clip(req.IP, 64)).SetUserAgent(clip(req.UserAgent, 512))
	if kind == KindStaff {
		create.SetUserID(subject)
	} else {
		create.SetCustomerID(subject)
	}
	row, err := create.Save(ctx)
	if err != nil {
		return Session{}, nil, fmt.Errorf("auth: store refresh token: %w", err)
	}
	return Session{AccessToken: access, AccessExpiresAt: aexp, RefreshToken: refresh, RefreshExpiresAt: rexp}, row, nil
}

// withTx runs fn in a transaction of the system path (the auth flows cross
// tenants: the store is not known before the credentials are checked).
func (s *Service) withTx(ctx context.Context, reason string, fn func(ctx context.Context, tx *ent.Client) error) error {
	sys := viewer.SystemContext(ctx, reason)
	return db.InTx(sys, s.client, func(tx *ent.Client) error { return fn(sys, tx) })
}

// ---- validation -----------------------------------------------------------

var slugRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// reservedSlugs cannot be store slugs: they would read as platform paths.
var reservedSlugs = map[string]bool{
	"admin": true, "api": true, "graphql": true, "playground": true, "store": true, "www": true,
	"health": true, "ready": true, "webhooks": true, "media": true, "static": true, "omnisphere": true,
}

func normalizeEmail(field, raw string) (string, *Error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case e == "":
		return "", fieldErr(field, CodeRequired, "email is required")
	case len(e) > 254:
		return "", fieldErr(field, CodeTooLong, "email must be at most 254 characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") {
		return "", fieldErr(field, CodeInvalid, "email is not a valid address")
	}
	return e, nil
}

func required(field, v string, max int) (string, *Error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fieldErr(field, CodeRequired, "%s is required", field)
	case len(v) > max:
		return "", fieldErr(field, CodeTooLong, "%s must be at most %d characters", field, max)
	}
	return v, nil
}

func optional(field, v string, max int) (string, *Error) {
	v = strings.TrimSpace(v)
	if len(v) > max {
		return "", fieldErr(field, CodeTooLong, "%s must be at most %d characters", field, max)
	}
	return v, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// collect merges field errors; nil when there are none.
func collect(errs ...*Error) *Error {
	var out Error
	for _, e := range errs {
		if e != nil {
			out.Errors = append(out.Errors, e.Errors...)
		}
	}
	if len(out.Errors) == 0 {
		return nil
	}
	return &out
}

// ---- throttling -------------------------------------------------------------

func (s *Service) accountLimit() ratelimit.Limit {
	return ratelimit.Limit{Capacity: float64(s.cfg.LoginMaxAttempts), Rate: float64(s.cfg.LoginMaxAttempts) / s.cfg.LoginWindow.Seconds()}
}

func (s *Service) ipLimit() ratelimit.Limit {
	return ratelimit.Limit{Capacity: float64(s.cfg.LoginMaxPerIP), Rate: float64(s.cfg.LoginMaxPerIP) / s.cfg.LoginWindow.Seconds()}
}

// admit checks the throttles before a login: the caller's IP pays one unit
// per attempt; the account must still have room for one more failure.
func (s *Service) admit(ctx context.Context, accountKey string) error {
	ip := viewer.RequestFromContext(ctx).IP
	if ip != "" {
		d, err := s.limiter.Take(ctx, "login:ip:"+ip, 1, s.ipLimit())
		if err != nil {
			return err
		}
		if !d.Allowed {
			return &ErrRateLimited{RetryAfter: d.RetryAfter}
		}
	}
	l := s.accountLimit()
	d, err := s.limiter.Peek(ctx, accountKey, l)
	if err != nil {
		return err
	}
	if d.Available < 1 {
		wait := (d.Level + 1 - l.Capacity) / l.Rate
		return &ErrRateLimited{RetryAfter: time.Duration(wait * float64(time.Second))}
	}
	return nil
}

// failed charges one failed attempt to the account.
func (s *Service) failed(ctx context.Context, accountKey string) {
	if _, err := s.limiter.Take(ctx, accountKey, 1, s.accountLimit()); err != nil {
		s.log.WarnContext(ctx, "login throttle unavailable", "error", err)
	}
}

// ---- authentication (server side) -------------------------------------------

// Key prefixes. The first lookupLen characters of a key are stored in clear
// to find its row; the whole key is compared by hash, in constant time.
const (
	SecretKeyPrefix      = "osk_"
	PublishableKeyPrefix = "opk_"
	lookupLen            = 16
)

// Authenticate resolves an Authorization bearer credential (access token or
// API key) to a viewer. It returns ErrUnauthenticated for anything invalid,
// expired, revoked or belonging to a closed account.
// AccessTokenExpiry returns when a valid access token expires; ok is false
// for anything else (an API key, a bad token). It reads no database.
func (s *Service) AccessTokenExpiry(bearer string) (exp time.Time, ok bool) {
	c, err := s.signer.parse(bearer, TypeAccess)
	if err != nil || c.ExpiresAt == nil {
		return time.Time{}, false
	}
	return c.ExpiresAt.Time, true
}

func (s *Service) Authenticate(ctx context.Context, bearer string) (viewer.Viewer, error) {
	if strings.HasPrefix(bearer, SecretKeyPrefix) || strings.HasPrefix(bearer, PublishableKeyPrefix) {
		return s.authenticateKey(ctx, bearer)
	}
	c, err := s.signer.parse(bearer, TypeAccess)
	if err != nil {
		return viewer.Viewer{}, err
	}
	subject, merchant, session, err := c.ids()
	if err != nil {
		return viewer.Viewer{}, ErrUnauthenticated
	}
	sys := viewer.SystemLookupContext(ctx, "authenticate access token")
	switch c.Kind {
	case KindStaff:
		u, err := s.client.User.Query().
			Where(user.ID(subject), user.MerchantID(merchant), user.StatusEQ(user.StatusACTIVE),
				user.HasRefreshTokensWith(refreshtoken.FamilyID(session), refreshtoken.RevokedAtIsNil())).
			Only(sys)
		if ent.IsNotFound(err) {
			return viewer.Viewer{}, ErrUnauthenticated
		} else if err != nil {
			return viewer.Viewer{}, fmt.Errorf("auth: authenticate: %w", err)
		}
		kind := viewer.Staff
		if u.PlatformAdmin {
			kind = viewer.PlatformAdmin
		}
		return viewer.Viewer{Kind: kind, MerchantID: merchant, UserID: subject, SessionID: session}, nil
	default:
		ok, err := s.client.RefreshToken.Query().
			Where(refreshtoken.FamilyID(session), refreshtoken.RevokedAtIsNil(), refreshtoken.CustomerID(subject),
				refreshtoken.MerchantID(merchant), refreshtoken.HasCustomerWith(customer.StatusEQ(customer.StatusACTIVE))).
			Exist(sys)
		if err != nil {
			return viewer.Viewer{}, fmt.Errorf("auth: authenticate: %w", err)
		}
		if !ok {
			return viewer.Viewer{}, ErrUnauthenticated
		}
		return viewer.Viewer{Kind: viewer.Customer, MerchantID: merchant, CustomerID: subject, SessionID: session}, nil
	}
}

// AuthenticateStorefrontKey resolves a publishable key to the anonymous
// visitor of its store.
func (s *Service) AuthenticateStorefrontKey(ctx context.Context, key string) (viewer.Viewer, error) {
	if !strings.HasPrefix(key, PublishableKeyPrefix) {
		return viewer.Viewer{}, ErrUnauthenticated
	}
	cacheKey := "key:" + digest(key)
	if m, ok := s.stores.get(cacheKey, s.cfg.Now()); ok {
		return viewer.Viewer{Kind: viewer.Anonymous, MerchantID: m}, nil
	}
	v, err := s.authenticateKey(ctx, key)
	if err == nil {
		s.stores.put(cacheKey, v.MerchantID, s.cfg.Now())
	}
	return v, err
}

// AuthenticateStoreSlug resolves a store slug to the anonymous visitor of an
// active store.
func (s *Service) AuthenticateStoreSlug(ctx context.Context, slug string) (viewer.Viewer, error) {
	slug = strings.ToLower(strings.TrimSpace(slug))
	if !slugRe.MatchString(slug) {
		return viewer.Viewer{}, ErrUnauthenticated
	}
	if id, ok := s.stores.get("slug:"+slug, s.cfg.Now()); ok {
		return viewer.Viewer{Kind: viewer.Anonymous, MerchantID: id}, nil
	}
	m, err := s.client.MerchantAccount.Query().
		Where(merchantaccount.Slug(slug), merchantaccount.StatusEQ(merchantaccount.StatusACTIVE)).
		Only(viewer.SystemLookupContext(ctx, "resolve store slug"))
	if ent.IsNotFound(err) {
		return viewer.Viewer{}, ErrUnauthenticated
	} else if err != nil {
		return viewer.Viewer{}, fmt.Errorf("auth: store slug: %w", err)
	}
	s.stores.put("slug:"+slug, m.ID, s.cfg.Now())
	return viewer.Viewer{Kind: viewer.Anonymous, MerchantID: m.ID}, nil
}

// Storefront returns what the settings of merchant's storefront decide for
// its visitors and customers: closed until published, and whether exact
// stock is shown. A store without settings is closed. The answer is
// remembered for StoreCacheTTL, so a storefront request costs no statement
// for it.
func (s *Service) Storefront(ctx context.Context, merchant uuid.UUID) (viewer.Storefront, error) {
	key := merchant.String()
	if st, ok := s.storefronts.get(key, s.cfg.Now()); ok {
		return st, nil
	}
	// The store's own tenant context: no cross-tenant read is needed.
	vctx := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Anonymous, MerchantID: merchant})
	cfg, err := s.client.StorefrontConfig.Query().
		Where(storefrontconfig.MerchantID(merchant)).
		Select(storefrontconfig.FieldPublished, storefrontconfig.FieldShowStockQuantity).
		Only(vctx)
	st := viewer.Storefront{Closed: true}
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return viewer.Storefront{}, fmt.Errorf("auth: storefront settings: %w", err)
	default:
		st = viewer.Storefront{Closed: !cfg.Published, HideStockQuantity: !cfg.ShowStockQuantity}
	}
	s.storefronts.put(key, st, s.cfg.Now())
	return st, nil
}

// ForgetStorefront drops what this process remembers of merchant's
// storefront settings: call it once a change of them has committed, so that
// the next request of this process applies it (other processes do within
// StoreCacheTTL).
func (s *Service) ForgetStorefront(merchant uuid.UUID) {
	s.storefronts.forget(merchant.String())
}

func (s *Service) authenticateKey(ctx context.Context, key string) (viewer.Viewer, error) {
	if len(key) < lookupLen+8 || len(key) > 128 {
		return viewer.Viewer{}, ErrUnauthenticated
	}
	sys := viewer.SystemLookupContext(ctx, "authenticate API key")
	rows, err := s.client.APIKey.Query().
		Where(apikey.Prefix(key[:lookupLen]), apikey.RevokedAtIsNil(),
			apikey.HasMerchantWith(merchantaccount.StatusEQ(merchantaccount.StatusACTIVE))).
		All(sys)
	if err != nil {
		return viewer.Viewer{}, fmt.Errorf("auth: api key: %w", err)
	}
	want := []byte(digest(key))
	now := s.cfg.Now()
	for _, k := range rows {
		if subtle.ConstantTimeCompare([]byte(k.KeyHash), want) != 1 {
			continue
		}
		if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
			return viewer.Viewer{}, ErrUnauthenticated
		}
		if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
			// At most once a minute per key, so hot keys do not write on every request.
			if err := s.client.APIKey.UpdateOneID(k.ID).SetLastUsedAt(now).Exec(sys); err != nil {
				s.log.WarnContext(ctx, "api key last-used update failed", "error", err)
			}
		}
		if k.Kind == apikey.KindPUBLISHABLE {
			return viewer.Viewer{Kind: viewer.Anonymous, MerchantID: k.MerchantID}, nil
		}
		return viewer.Viewer{Kind: viewer.APIKey, MerchantID: k.MerchantID, APIKeyID: k.ID, Permissions: k.Permissions}, nil
	}
	return viewer.Viewer{}, ErrUnauthenticated
}

// Package viewer says who is asking: the identity that every layer below the
// HTTP edge (GraphQL directives, ent tenant filters, PostgreSQL row-level
// security) reads from the request context to decide what may be seen.
//
// A context carries at most one Viewer. The system context is separate and
// explicit: it is the narrow, logged path for the few operations that must
// cross tenants (login by email, webhook intake, background workers,
// registration, the demo seed).
package viewer

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/google/uuid"
)

// Kind is the sort of caller behind a request.
type Kind int

// The kinds of viewer. Anonymous is the zero value so that a forgotten
// assignment grants nothing.
const (
	Anonymous     Kind = iota // a storefront visitor or an unauthenticated caller
	Customer                  // a signed-in storefront customer of one store
	Staff                     // a merchant's staff user (JWT)
	APIKey                    // a merchant's secret API key (server to server)
	PlatformAdmin             // an operator of the platform itself
	// StoreService is a store's own domain service acting for a storefront
	// buyer (carts, checkout, payment webhooks): it writes the store's rows
	// as its staff would, within that one store (tenant filter and
	// row-level security stay on). No credential ever makes one: only
	// ActAsStore does.
	StoreService
)

func (k Kind) String() string {
	switch k {
	case Customer:
		return "customer"
	case Staff:
		return "staff"
	case APIKey:
		return "api_key"
	case PlatformAdmin:
		return "platform_admin"
	case StoreService:
		return "store_service"
	default:
		return "anonymous"
	}
}

// Viewer is the caller of one request.
type Viewer struct {
	Kind Kind
	// MerchantID is the tenant the viewer acts in; uuid.Nil when the viewer
	// is not tied to a store (an anonymous caller with no store key).
	MerchantID uuid.UUID
	// UserID is set for staff, CustomerID for customers, APIKeyID for keys.
	UserID     uuid.UUID
	CustomerID uuid.UUID
	APIKeyID   uuid.UUID
	// SessionID is the sign-in session (refresh-token family) of a token
	// viewer: logout revokes it.
	SessionID uuid.UUID
	// Permissions held by an API key or a staff role, e.g. "products:read".
	Permissions []string
	// Storefront is what the store's storefront settings decide for a
	// visitor or customer, read when the credentials were resolved (see
	// Storefront). Staff and secret keys ignore it.
	Storefront Storefront
}

// Storefront is the part of a store's storefront settings that decides what
// its visitors and customers are served. The server resolves it with their
// credentials on every request (from a cache: auth.StoreCacheTTL), so that
// no resolver needs a statement for it.
//
// The zero value is an open storefront that shows stock, the behaviour of a
// store before these settings existed: every path that makes a visitor or
// customer viewer from credentials sets it (server.authenticate does).
type Storefront struct {
	// Closed: the merchant has not published the storefront
	// (StorefrontConfig.published is false). Storefront fields answer only
	// the store's staff and secret keys.
	Closed bool
	// HideStockQuantity: the merchant shows no exact stock
	// (StorefrontConfig.show_stock_quantity is false), so
	// ProductVariant.quantityAvailable is null for visitors and customers.
	HideStockQuantity bool
}

// ServedByStorefront reports whether storefront fields answer the viewer:
// always for the store's staff and secret keys, for anyone else only while
// the storefront is published.
func (v Viewer) ServedByStorefront() bool {
	return v.IsStaff() || !v.Storefront.Closed
}

// SeesStockQuantity reports whether the viewer may read a variant's exact
// available quantity: the store's staff and secret keys always, anyone else
// when the store shows it.
func (v Viewer) SeesStockQuantity() bool {
	return v.IsStaff() || !v.Storefront.HideStockQuantity
}

// IsStaff reports whether the viewer acts for a store's staff: a staff user,
// a platform admin within their own store, or a secret API key.
func (v Viewer) IsStaff() bool {
	return v.HasMerchant() && (v.Kind == Staff || v.Kind == PlatformAdmin || v.Kind == APIKey || v.Kind == StoreService)
}

// HasMerchant reports whether the viewer acts within one merchant's store.
func (v Viewer) HasMerchant() bool { return v.MerchantID != uuid.Nil }

// Can reports whether the viewer holds a permission. Staff users hold every
// merchant permission of their own store; keys hold what they were given.
func (v Viewer) Can(permission string) bool {
	switch v.Kind {
	case Staff, PlatformAdmin, StoreService:
		return v.HasMerchant()
	case APIKey:
		for _, p := range v.Permissions {
			if p == permission {
				return true
			}
		}
	}
	return false
}

// SeesWholeCatalogue reports whether the viewer reads the store's catalogue
// as its administrator: every product status, unpublished categories and
// admin filters. Staff users, platform admins and secret keys holding
// products:read or products:write do; storefront visitors, customers and
// other keys see what the storefront shows (active, published products).
func (v Viewer) SeesWholeCatalogue() bool {
	return v.IsStaff() && (v.Can("products:read") || v.Can("products:write"))
}

type viewerKey struct{}
type systemKey struct{}

// NewContext returns a copy of ctx that carries v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the viewer of ctx; an anonymous viewer when none is set.
func FromContext(ctx context.Context) Viewer {
	v, _ := ctx.Value(viewerKey{}).(Viewer)
	return v
}

// MerchantFromContext returns the tenant of ctx, if any.
func MerchantFromContext(ctx context.Context) (uuid.UUID, bool) {
	v := FromContext(ctx)
	return v.MerchantID, v.HasMerchant()
}

// SystemContext returns a context that crosses tenants. Every use names its
// reason and is logged, so that the cross-tenant paths stay few and visible.
// It never comes from a request: only server code calls it.
func SystemContext(ctx context.Context, reason string) context.Context {
	slog.InfoContext(ctx, "system context", "audit", "cross_tenant", "reason", reason)
	return context.WithValue(ctx, systemKey{}, reason)
}

// SystemLookupContext is SystemContext for the read-only lookups that
// resolve credentials on every request (API key, session, store slug): they
// are logged at debug level so that audit logs stay readable.
func SystemLookupContext(ctx context.Context, reason string) context.Context {
	slog.DebugContext(ctx, "system context", "audit", "cross_tenant", "reason", reason)
	return context.WithValue(ctx, systemKey{}, reason)
}

// IsSystem reports whether ctx is a system context, and why.
func IsSystem(ctx context.Context) (reason string, ok bool) {
	reason, ok = ctx.Value(systemKey{}).(string)
	return reason, ok
}

// Errors the data layer returns when a context may not touch tenant data.
// The GraphQL layer maps both to FORBIDDEN.
var (
	// ErrNoTenant: the context has neither a merchant nor the system mark.
	ErrNoTenant = errors.New("viewer: no store in context")
	// ErrCrossTenant: a write names a merchant other than the viewer's.
	ErrCrossTenant = errors.New("viewer: row belongs to another store")
	// ErrSystemOnly: the data is reachable only through the system context.
	ErrSystemOnly = errors.New("viewer: system data")
	// ErrStaffOnly: the data is the store's, not the storefront visitor's.
	ErrStaffOnly = errors.New("viewer: store staff only")
)

// Request describes the HTTP request behind a context: what audit entries,
// throttles and rate limits record about the caller.
type Request struct {
	ID        string // the request id (X-Request-ID)
	IP        string // the client address
	UserAgent string
}

type requestKey struct{}

// NewRequestContext returns a copy of ctx carrying r.
func NewRequestContext(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFromContext returns the request of ctx (zero when there is none).
func RequestFromContext(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// ActAsStore returns a context whose viewer is merchant's StoreService: the
// store's own domain code writing what a storefront buyer may not write
// directly (a cart, an order, a stock reservation). Unlike SystemContext it
// stays inside one store. reason documents the use at the call site; the
// caller reads what it needs of the buyer's viewer before switching.
func ActAsStore(ctx context.Context, merchant uuid.UUID, reason string) context.Context {
	_ = reason
	// A handler called on the system path (a webhook) leaves it here: the
	// store's service sees that one store only.
	if _, ok := IsSystem(ctx); ok {
		ctx = context.WithValue(ctx, systemKey{}, nil)
	}
	if _, ok := ctx.Value(actorKey{}).(Viewer); !ok {
		ctx = context.WithValue(ctx, actorKey{}, FromContext(ctx))
	}
	return NewContext(ctx, Viewer{Kind: StoreService, MerchantID: merchant})
}

type actorKey struct{}

// ActorFromContext returns who started the work of ctx: the viewer before
// the first ActAsStore (a staff user changing a shipping method through the
// store's service), else the viewer. Billing uses it to tell staff writes
// from a buyer's.
func ActorFromContext(ctx context.Context) Viewer {
	if v, ok := ctx.Value(actorKey{}).(Viewer); ok {
		return v
	}
	return FromContext(ctx)
}

// Grants lists rows a request may read beyond what its viewer's kind
// allows: the order a guest just placed, so that checkoutComplete's payload
// can show it to a buyer with no account. The server puts one in every
// request's context (WithGrants); domain code adds to it.
type Grants struct {
	mu     sync.Mutex
	orders []uuid.UUID
}

type grantsKey struct{}

// WithGrants returns ctx with an empty Grants for the request.
func WithGrants(ctx context.Context) context.Context {
	return context.WithValue(ctx, grantsKey{}, &Grants{})
}

// GrantOrder lets the rest of ctx's request read order id (and its lines,
// addresses, payments and refunds). Without WithGrants it does nothing.
func GrantOrder(ctx context.Context, id uuid.UUID) {
	g, _ := ctx.Value(grantsKey{}).(*Grants)
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, have := range g.orders {
		if have == id {
			return
		}
	}
	g.orders = append(g.orders, id)
}

// GrantedOrders returns the orders GrantOrder granted in ctx's request.
func GrantedOrders(ctx context.Context) []uuid.UUID {
	g, _ := ctx.Value(grantsKey{}).(*Grants)
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uuid.UUID(nil), g.orders...)
}

package billing

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/apikey"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Hook is the one place billing is enforced on writes; the server installs
// it on the ent client (client.Use), so every mutation passes through it,
// whichever resolver or service issued it:
//
//   - A store's staff (staff users, secret API keys, platform admins in
//     their own store) may not write while their store's billing forbids it
//     (State.WritesAllowed): BILLING_PAST_DUE or BILLING_CANCELED. That
//     covers their direct writes (catalogue, keys, staff, settings) and the
//     settings they change through the store's service (discounts, shipping
//     methods; see blockable). What the store's service writes for orders
//     and buyers (carts, checkout, order handling, webhooks, billing itself)
//     is never refused, so the storefront keeps selling and existing orders
//     keep moving. Sign-in bookkeeping (refresh tokens, audit entries,
//     updates of users) is exempt so that staff can still sign in and pay.
//   - Creating a product, a secret API key or a staff user beyond the plan's
//     limit answers PLAN_LIMIT_REACHED. The count is read in the
//     mutation's own transaction after locking the store's merchant_accounts
//     row (PostgreSQL; SQLite's write transactions are serial already), so
//     concurrent creates at the boundary queue: the limit holds exactly.
//
// With billing off the hook does nothing.
func (s *Service) Hook() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if !s.Enabled() {
				return next.Mutate(ctx, m)
			}
			v := viewer.FromContext(ctx)
			if blockable(v, viewer.ActorFromContext(ctx), m) {
				if err := s.checkWrites(ctx, mutationClient(m), v.MerchantID); err != nil {
					return nil, err
				}
			}
			if m.Op().Is(ent.OpCreate) {
				if err := s.checkLimit(ctx, v, m); err != nil {
					return nil, err
				}
			}
			return next.Mutate(ctx, m)
		})
	}
}

// mutationClient returns the client a mutation runs on (its transaction's,
// when it runs in one), or nil for a type this hook does not know.
func mutationClient(m ent.Mutation) *ent.Client {
	if mc, ok := m.(interface{ Client() *ent.Client }); ok {
		return mc.Client()
	}
	return nil
}

// staffWriter reports whether v writes as a store's staff (not as the
// store's own services or its buyers).
func staffWriter(v viewer.Viewer) bool {
	return v.HasMerchant() && (v.Kind == viewer.Staff || v.Kind == viewer.APIKey || v.Kind == viewer.PlatformAdmin)
}

// blockable reports whether the write m of viewer v, started by actor, is
// an admin write that a blocked store refuses: anything staff write
// directly (but sign-in bookkeeping), and the store settings staff change
// through the store's service (checkout's discounts and shipping methods).
// What the store's service writes for an order (staff fulfilling or
// refunding one included) or for a buyer always passes.
func blockable(v, actor viewer.Viewer, m ent.Mutation) bool {
	if staffWriter(v) {
		return !exempt(m)
	}
	if v.Kind == viewer.StoreService && staffWriter(actor) && actor.MerchantID == v.MerchantID {
		return m.Type() == ent.TypeDiscount || m.Type() == ent.TypeShippingMethod
	}
	return false
}

// exempt lists the writes a blocked store's staff still make: signing in
// and out, and the audit trail.
func exempt(m ent.Mutation) bool {
	switch m.Type() {
	case ent.TypeRefreshToken, ent.TypeAuditLog, ent.TypeWebhookEvent:
		return true
	case ent.TypeUser:
		return !m.Op().Is(ent.OpCreate)
	}
	return false
}

// checkLimit refuses a create beyond the plan's limit.
func (s *Service) checkLimit(ctx context.Context, v viewer.Viewer, m ent.Mutation) error {
	var (
		what  string
		limit func(Limits) int
		count func(context.Context, *ent.Client, uuid.UUID) (int, error)
		mid   uuid.UUID
		c     *ent.Client
	)
	switch mm := m.(type) {
	case *ent.ProductMutation:
		what, limit, count, c = "products", func(l Limits) int { return l.Products }, countProducts, mm.Client()
		mid, _ = mm.MerchantID()
	case *ent.APIKeyMutation:
		if k, ok := mm.Kind(); ok && k != apikey.KindSECRET {
			return nil
		}
		what, limit, count, c = "secret API keys", func(l Limits) int { return l.APIKeys }, countKeys, mm.Client()
		mid, _ = mm.MerchantID()
	case *ent.UserMutation:
		what, limit, count, c = "staff users", func(l Limits) int { return l.Staff }, countStaff, mm.Client()
		mid, _ = mm.MerchantID()
	default:
		return nil
	}
	if mid == uuid.Nil {
		mid = v.MerchantID
	}
	if mid == uuid.Nil {
		return nil
	}
	st, err := s.state(ctx, c, mid)
	if err != nil {
		return err
	}
	max := limit(s.Plan(st.Plan).Limits)
	if max == 0 {
		return nil
	}
	sctx := viewer.ActAsStore(ctx, mid, "billing limit")
	// Creates of one store that a limit counts queue on its account row
	// until the transaction ends, so that no two both see room for one.
	if _, err := c.MerchantAccount.Query().Where(merchantaccount.ID(mid)).Modify(forUpdate).IDs(sctx); err != nil {
		return fmt.Errorf("billing: lock store for its limit: %w", err)
	}
	n, err := count(sctx, c, mid)
	if err != nil {
		return err
	}
	if n >= max {
		return limitErr(what, max, st.Plan)
	}
	return nil
}

// forUpdate makes a query lock its rows on PostgreSQL.
func forUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent/intercept"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// This file holds the tenant guard of the data layer: ent interceptors and
// hooks that limit every query and mutation to the viewer's merchant, on
// every backend. (PostgreSQL adds row-level security underneath.)

// wherer is what every generated mutation offers for storage predicates.
type wherer interface {
	WhereP(...func(*sql.Selector))
}

// tenantFilter limits a query, and every step of a graph traversal, to rows
// whose column col is the viewer's merchant. The system context passes.
func tenantFilter(col string) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if _, ok := viewer.IsSystem(ctx); ok {
			return nil
		}
		mid, ok := viewer.MerchantFromContext(ctx)
		if !ok {
			return viewer.ErrNoTenant
		}
		q.WhereP(sql.FieldEQ(col, mid))
		return nil
	})
}

// tenantHook stamps creates with the viewer's merchant (refusing another
// merchant's id) and limits updates and deletes to the viewer's rows. The
// system context passes and must set merchant_id itself.
func tenantHook(col string, stampCreates bool) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if _, ok := viewer.IsSystem(ctx); ok {
				return next.Mutate(ctx, m)
			}
			mid, ok := viewer.MerchantFromContext(ctx)
			if !ok {
				return nil, viewer.ErrNoTenant
			}
			if m.Op().Is(ent.OpCreate) {
				if !stampCreates {
					return nil, viewer.ErrSystemOnly
				}
				if v, ok := m.Field(col); ok {
					if id, _ := v.(uuid.UUID); id != mid {
						return nil, viewer.ErrCrossTenant
					}
				} else if err := m.SetField(col, mid); err != nil {
					return nil, err
				}
				return next.Mutate(ctx, m)
			}
			w, ok := m.(wherer)
			if !ok {
				return nil, viewer.ErrNoTenant
			}
			w.WhereP(sql.FieldEQ(col, mid))
			return next.Mutate(ctx, m)
		})
	}
}

// systemOnly refuses every query and mutation outside the system context.
func systemOnlyFilter() ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, _ intercept.Query) error {
		if _, ok := viewer.IsSystem(ctx); ok {
			return nil
		}
		return viewer.ErrSystemOnly
	})
}

func systemOnlyHook(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if _, ok := viewer.IsSystem(ctx); ok {
			return next.Mutate(ctx, m)
		}
		return nil, viewer.ErrSystemOnly
	})
}

// audience says who besides a store's staff may read a table's rows.
type audience int

const (
	// staffOnly: the store's staff and the system path only (the default).
	staffOnly audience = iota
	// public: catalogue data, readable by every viewer of the store.
	public
	// ownedBy: a customer reads only the rows whose column points at them
	// (directly, or through the parent row named in the rule).
	ownedBy
)

// ownership says how a customer-owned table points at its customer.
type ownership struct {
	column string // the column holding the customer id, or the parent's id
	parent string // the parent table holding customer_id ("" = direct)
}

var (
	publicTables = map[string]bool{
		"products": true, "product_variants": true, "product_categories": true, "product_images": true,
		"inventory": true, "warehouses": true, "storefront_configs": true, "shipping_methods": true,
		"capture_popups": true,
	}
	ownedTables = map[string]ownership{
		"customers":            {column: "id"},
		"orders":               {column: "customer_id"},
		"shopping_carts":       {column: "customer_id"},
		"customer_events":      {column: "customer_id"},
		"discount_redemptions": {column: "customer_id"},
		"order_items":          {column: "order_id", parent: "orders"},
		"order_addresses":      {column: "order_id", parent: "orders"},
		"order_payments":       {column: "order_id", parent: "orders"},
		"refunds":              {column: "order_id", parent: "orders"},
		"cart_items":           {column: "cart_id", parent: "shopping_carts"},
	}
)

// grantedOrders returns the orders the request was granted
// (viewer.GrantOrder: a guest's just-placed order) when table is orders or
// one of its child tables, as query arguments.
func grantedOrders(ctx context.Context, table string, own ownership) []any {
	if table != "orders" && own.parent != "orders" {
		return nil
	}
	ids := viewer.GrantedOrders(ctx)
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// audienceFilter applies, after the tenant filter, what a non-staff viewer
// (a storefront visitor or a signed-in customer) may read: catalogue tables
// in full, a customer's own rows of customer-owned tables, nothing else.
func audienceFilter(table string) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if _, ok := viewer.IsSystem(ctx); ok {
			return nil
		}
		v := viewer.FromContext(ctx)
		if v.IsStaff() || publicTables[table] {
			return nil
		}
		own, owned := ownedTables[table]
		granted := grantedOrders(ctx, table, own)
		customer := owned && v.Kind == viewer.Customer && v.CustomerID != uuid.Nil
		if !customer && len(granted) == 0 {
			return viewer.ErrStaffOnly
		}
		me := v.CustomerID
		q.WhereP(func(s *sql.Selector) {
			var preds []*sql.Predicate
			switch {
			case !customer:
			case own.parent == "":
				preds = append(preds, sql.EQ(s.C(own.column), me))
			default:
				parent := sql.Table(own.parent)
				preds = append(preds, sql.In(s.C(own.column), sql.Select(parent.C("id")).From(parent).Where(sql.EQ(parent.C("customer_id"), me))))
			}
			if len(granted) > 0 {
				col := own.column
				if table == "orders" {
					col = "id"
				}
				preds = append(preds, sql.In(s.C(col), granted...))
			}
			s.Where(sql.Or(preds...))
		})
		return nil
	})
}

// staffWrites refuses writes by viewers that are not the store's staff:
// storefront flows (registration, carts, checkout) write through their
// domain services on the system path, which names what it writes.
func staffWrites(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if _, ok := viewer.IsSystem(ctx); !ok && !viewer.FromContext(ctx).IsStaff() {
			return nil, viewer.ErrStaffOnly
		}
		return next.Mutate(ctx, m)
	})
}

// Interceptors of the TenantMixin.
func (m TenantMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{tenantFilter("merchant_id"), audienceFilter(m.Table)}
}

// Hooks of the TenantMixin.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{tenantHook("merchant_id", true), staffWrites}
}

// Interceptors of the MerchantAccount: a viewer sees its own store only.
func (MerchantAccount) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{tenantFilter("id")}
}

// Hooks of the MerchantAccount: stores are created on the system path
// (registration); staff may update their own store only.
func (MerchantAccount) Hooks() []ent.Hook {
	return []ent.Hook{tenantHook("id", false), staffWrites}
}

// Interceptors of the WebhookEvent: system path only.
func (WebhookEvent) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{systemOnlyFilter()}
}

// Hooks of the WebhookEvent: system path only.
func (WebhookEvent) Hooks() []ent.Hook {
	return []ent.Hook{systemOnlyHook}
}

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

// Interceptors of the TenantMixin.
func (TenantMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{tenantFilter("merchant_id")}
}

// Hooks of the TenantMixin.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{tenantHook("merchant_id", true)}
}

// Interceptors of the MerchantAccount: a viewer sees its own store only.
func (MerchantAccount) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{tenantFilter("id")}
}

// Hooks of the MerchantAccount: stores are created on the system path
// (registration); a viewer may update its own store only.
func (MerchantAccount) Hooks() []ent.Hook {
	return []ent.Hook{tenantHook("id", false)}
}

// Interceptors of the WebhookEvent: system path only.
func (WebhookEvent) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{systemOnlyFilter()}
}

// Hooks of the WebhookEvent: system path only.
func (WebhookEvent) Hooks() []ent.Hook {
	return []ent.Hook{systemOnlyHook}
}

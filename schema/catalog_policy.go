package schema

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"

	"github.com/omnisphere/omnisphere/ent/intercept"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// This file holds the storefront's view of the catalogue: what a viewer who
// is not the catalogue's administrator (a storefront visitor, a customer, a
// key without products permissions) may read. It applies to every query and
// traversal (Query.products, product(slug:), category.products,
// variant.product, counts), so no path reaches a draft.

// storefrontVisible limits a query, for viewers that do not see the whole
// catalogue, with pred. The system context and the catalogue's
// administrators pass.
func storefrontVisible(pred func(now time.Time) []func(*sql.Selector)) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if _, ok := viewer.IsSystem(ctx); ok {
			return nil
		}
		if viewer.FromContext(ctx).SeesWholeCatalogue() {
			return nil
		}
		q.WhereP(pred(time.Now())...)
		return nil
	})
}

// Interceptors of the Product: the storefront sees ACTIVE products whose
// published_at has passed.
func (Product) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{storefrontVisible(func(now time.Time) []func(*sql.Selector) {
		return []func(*sql.Selector){
			sql.FieldEQ("status", "ACTIVE"),
			// NOT (published_at > now), not published_at <= now: the same
			// rows (NULL is neither), but no index range for SQLite's
			// planner, which would otherwise prefer the status index
			// (merchant_id, status, published_at) and sort every published
			// product over the (merchant_id, title|price_min|created_at)
			// index that hands a page over in order.
			func(s *sql.Selector) { s.Where(sql.Not(sql.GT(s.C("published_at"), now))) },
		}
	})}
}

// Interceptors of the ProductCategory: the storefront sees published
// categories. (A published child of an unpublished parent is unreachable
// through the tree; internal/storefront also hides it from the filters.)
func (ProductCategory) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{storefrontVisible(func(time.Time) []func(*sql.Selector) {
		return []func(*sql.Selector){sql.FieldEQ("published", true)}
	})}
}

// staffField marks a generated GraphQL field or edge as the store's only:
// @auth(scope: STAFF, permission: "products:read"). A storefront viewer
// asking for it gets null and a FORBIDDEN error at its path.
func staffField() entgql.Annotation {
	return entgql.Directives(authDirective(scopeStaff, "products:read"))
}

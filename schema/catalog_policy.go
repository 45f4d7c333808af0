package schema

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

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
func storefrontVisible(pred func(v viewer.Viewer, now time.Time) []func(*sql.Selector)) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if _, ok := viewer.IsSystem(ctx); ok {
			return nil
		}
		v := viewer.FromContext(ctx)
		if v.SeesWholeCatalogue() {
			return nil
		}
		q.WhereP(pred(v, time.Now())...)
		return nil
	})
}

// Interceptors of the Product: the storefront sees ACTIVE products whose
// published_at has passed.
func (Product) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{storefrontVisible(func(_ viewer.Viewer, now time.Time) []func(*sql.Selector) {
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

// Interceptors of the ProductCategory: the storefront sees a category when
// it and every category above it are published, so an unpublished category
// hides its whole subtree on every path: the tree (categories, children,
// parent), a product's category, the category filter, counts.
func (ProductCategory) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{storefrontVisible(func(v viewer.Viewer, _ time.Time) []func(*sql.Selector) {
		return []func(*sql.Selector){func(s *sql.Selector) { s.Where(inPublishedTree(s.C("id"), v.MerchantID)) }}
	})}
}

// inPublishedTree is "column is the id of one of merchant's categories
// reachable from a published root through published categories only": a
// recursive walk down the tree inside the statement that asks, so it costs
// no statement of its own (a page's categories stay one statement) and reads
// the same on both backends. UNION, not UNION ALL, ends the walk even on a
// cycle (which internal/catalog never writes).
func inPublishedTree(column string, merchant uuid.UUID) *sql.Predicate {
	return sql.P(func(b *sql.Builder) {
		b.Ident(column).WriteString(` IN (WITH RECURSIVE published_tree(id) AS (` +
			`SELECT id FROM product_categories WHERE merchant_id = `).Arg(merchant).
			WriteString(` AND parent_id IS NULL AND published` +
				` UNION SELECT c.id FROM product_categories c JOIN published_tree t ON c.parent_id = t.id WHERE c.published` +
				`) SELECT id FROM published_tree)`)
	})
}

// staffField marks a generated GraphQL field or edge as the store's only:
// @auth(scope: STAFF, permission: "products:read"). A storefront viewer
// asking for it gets null and a FORBIDDEN error at its path.
func staffField() entgql.Annotation {
	return entgql.Directives(authDirective(scopeStaff, "products:read"))
}

// ordersStaffField marks a generated order field as the store's only
// (@auth(scope: STAFF, permission: "orders:read")): a customer reading their
// own order gets null and FORBIDDEN there.
func ordersStaffField() entgql.Annotation {
	return entgql.Directives(authDirective(scopeStaff, "orders:read"))
}

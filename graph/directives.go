package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/loaders"
)

// AuthDirective implements @auth(scope:, permission:): the first of the three tenancy
// guards. It decides from the viewer alone, before any resolver runs. A
// denial of a store's staff or key is written to the store's audit log.
//
// On a nested field (e.g. ProductVariant.cost, which only staff may read) a
// denial is FORBIDDEN whoever asks: the caller did reach the object, so
// signing in is not what is missing. Such a field repeats on every row of
// a list, so its denial is audited once per operation.
func (r *Resolver) AuthDirective(ctx context.Context, _ any, next graphql.Resolver, scope model.Scope, permission *string) (any, error) {
	v := viewer.FromContext(ctx)
	if err := allow(v, scope, permission); err != nil {
		fc := graphql.GetFieldContext(ctx)
		field, nested := "", false
		if fc != nil {
			field = fc.Object + "." + fc.Field.Name
			nested = fc.Object != "Query" && fc.Object != "Mutation" && fc.Object != "Subscription"
		}
		if nested && !v.IsStaff() {
			err = Forbidden("only the store's staff may read " + field)
		}
		if v.IsStaff() && r.Auth != nil && (!nested || auditOnce(ctx, field)) {
			meta := map[string]any{"scope": string(scope)}
			if permission != nil {
				meta["permission"] = *permission
			}
			r.Auth.Audit(ctx, "permission.denied", "graphql_field", field, meta)
		}
		return nil, err
	}
	return next(ctx)
}

// auditOnce reports whether the denial of field is the first of the
// operation (always true outside an operation with loaders).
func auditOnce(ctx context.Context, field string) bool {
	if l, ok := loaders.From(ctx); ok {
		return l.Once("permission.denied " + field)
	}
	return true
}

// allow is the decision of @auth; nil means allowed.
func allow(v viewer.Viewer, scope model.Scope, permission *string) error {
	switch scope {
	case model.ScopePublic:
		return nil
	case model.ScopeStorefront:
		if v.HasMerchant() {
			if !v.ServedByStorefront() {
				return StoreNotPublished("this store's storefront is not published yet")
			}
			return nil
		}
		if v.Kind == viewer.Staff || v.Kind == viewer.APIKey || v.Kind == viewer.PlatformAdmin {
			return Forbidden("no store selected")
		}
		return Unauthenticated("this field needs a store: send X-Storefront-Key or X-Store-Slug")
	case model.ScopeCustomer:
		if v.Kind == viewer.Customer && v.HasMerchant() {
			return nil
		}
		return Unauthenticated("sign in as a customer of this store")
	case model.ScopeStaff:
		if v.Kind != viewer.Staff && v.Kind != viewer.APIKey && v.Kind != viewer.PlatformAdmin {
			return Unauthenticated("sign in as the store's staff or use a secret API key")
		}
		if !v.HasMerchant() {
			return Forbidden("no store selected")
		}
		if v.Kind == viewer.APIKey && (permission == nil || !v.Can(*permission)) {
			p := "a permission this field does not name"
			if permission != nil {
				p = *permission
			}
			return Forbidden("this API key lacks " + p)
		}
		return nil
	case model.ScopePlatformAdmin:
		if v.Kind == viewer.PlatformAdmin {
			return nil
		}
		return Forbidden("platform administrators only")
	}
	return Forbidden("unknown scope")
}

// RequireScope is a root-field middleware that refuses any root field whose
// definition carries no @auth: a field added without a scope is closed, not
// open (deny by default).
func RequireScope(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	if fc != nil && fc.Field.Field != nil && fc.Field.Definition != nil && !hasAuth(fc.Field.Definition.Directives) {
		// Introspection fields (__schema, __type) are open; no schema field
		// may start with "__".
		if !isIntrospection(fc.Field.Name) {
			graphql.AddError(ctx, Forbidden("field "+fc.Field.Name+" declares no scope"))
			return graphql.Null
		}
	}
	return next(ctx)
}

func isIntrospection(name string) bool {
	return name == "__schema" || name == "__type" || name == "__typename"
}

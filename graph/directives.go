package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// AuthDirective implements @auth(scope:, permission:): the first of the three tenancy
// guards. It decides from the viewer alone, before any resolver runs. A
// denial of a store's staff or key is written to the store's audit log.
func (r *Resolver) AuthDirective(ctx context.Context, _ any, next graphql.Resolver, scope model.Scope, permission *string) (any, error) {
	v := viewer.FromContext(ctx)
	if err := allow(v, scope, permission); err != nil {
		if v.IsStaff() && r.Auth != nil {
			field := ""
			if fc := graphql.GetFieldContext(ctx); fc != nil {
				field = fc.Object + "." + fc.Field.Name
			}
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

// allow is the decision of @auth; nil means allowed.
func allow(v viewer.Viewer, scope model.Scope, permission *string) error {
	switch scope {
	case model.ScopePublic:
		return nil
	case model.ScopeStorefront:
		if v.HasMerchant() {
			return nil
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

package server_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/graph/generated"
)

// TestRootFieldsDeclareAScope is deny by default, checked on the schema: every
// root field of Query, Mutation and Subscription carries exactly one @auth
// with a known scope, so that no field is ever open by omission.
func TestRootFieldsDeclareAScope(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
	require.NotNil(t, schema)
	require.NotNil(t, schema.Query, "the schema has no Query type")

	scopes := map[string]bool{}
	scopeEnum := schema.Types["Scope"]
	require.NotNil(t, scopeEnum, "enum Scope is missing")
	for _, v := range scopeEnum.EnumValues {
		scopes[v.Name] = true
	}
	require.Subset(t, keys(scopes), []string{"PUBLIC", "STOREFRONT", "CUSTOMER", "STAFF", "PLATFORM_ADMIN"})

	checked := 0
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if f.Name == "__schema" || f.Name == "__type" || f.Name == "__typename" {
				continue
			}
			name := root.Name + "." + f.Name
			var auths ast.DirectiveList
			for _, d := range f.Directives {
				if d.Name == "auth" {
					auths = append(auths, d)
				}
			}
			if !assertOneAuth(t, name, auths) {
				continue
			}
			checked++
			scope := auths[0].Arguments.ForName("scope")
			if !assertScope(t, name, scope, scopes) {
				continue
			}
			// A STAFF query that names no permission can never be used by
			// an API key; only these are meant to be staff-users-only.
			staffUsersOnly := map[string]bool{"node": true, "nodes": true, "me": true}
			if scope.Value.Raw == "STAFF" && root == schema.Query && !staffUsersOnly[f.Name] {
				p := auths[0].Arguments.ForName("permission")
				require.Truef(t, p != nil && p.Value.Raw != "", "%s: @auth(scope: STAFF) names no permission", name)
			}
		}
	}
	// Guard against checking an empty schema.
	for _, f := range []string{"node", "nodes", "products", "webhookEvents"} {
		require.NotNil(t, schema.Query.Fields.ForName(f), "Query.%s is missing", f)
	}
	require.Greater(t, checked, 3)
}

func assertOneAuth(t *testing.T, field string, auths ast.DirectiveList) bool {
	t.Helper()
	switch len(auths) {
	case 1:
		return true
	case 0:
		t.Errorf("%s has no @auth: add @auth(scope: …) (deny by default refuses it at run time)", field)
	default:
		t.Errorf("%s has %d @auth directives, want exactly one", field, len(auths))
	}
	return false
}

func assertScope(t *testing.T, field string, scope *ast.Argument, scopes map[string]bool) bool {
	t.Helper()
	if scope == nil || scope.Value == nil {
		t.Errorf("%s: @auth without scope", field)
		return false
	}
	if !scopes[scope.Value.Raw] {
		t.Errorf("%s: @auth(scope: %s) is not a Scope", field, scope.Value.Raw)
		return false
	}
	return true
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

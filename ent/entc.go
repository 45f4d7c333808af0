//go:build ignore

// entc.go generates ./ent from ./schema with the entgql extension, which also
// writes graph/ent.graphql and keeps gqlgen.yml's autobind in step. Run from
// the module root (generate.go does): paths here are root relative.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("graph/ent.graphql"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(scopeNodeQueries),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Target:  "./ent",
		Package: "github.com/omnisphere/omnisphere/ent",
		Features: []gen.Feature{
			gen.FeatureIntercept,
			gen.FeatureExecQuery,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureModifier,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// scopeNodeQueries puts @auth on the generated node/nodes root fields, which
// entgql emits without directives: every root field must declare its scope.
func scopeNodeQueries(_ *gen.Graph, s *ast.Schema) error {
	q := s.Types["Query"]
	if q == nil {
		return nil
	}
	for _, f := range q.Fields {
		if f.Name != "node" && f.Name != "nodes" {
			continue
		}
		f.Directives = append(f.Directives, &ast.Directive{
			Name: "auth",
			Arguments: ast.ArgumentList{
				{Name: "scope", Value: &ast.Value{Raw: "STAFF", Kind: ast.EnumValue}},
			},
		})
	}
	return nil
}

package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"
)

// costSDL is a small schema with the shapes the cost model knows: Relay
// connections, their edges and PageInfo, plain object lists, an interface,
// a mutation.
const costSDL = `
interface Node { id: ID! }
type PageInfo { hasNextPage: Boolean! endCursor: String }
type Product implements Node { id: ID! title: String! variants: [Variant!] category: Category }
type Variant implements Node { id: ID! sku: String! product: Product! }
type Category implements Node { id: ID! products(first: Int, last: Int): ProductConnection! }
type ProductEdge { cursor: String! node: Product }
type ProductConnection { totalCount: Int! pageInfo: PageInfo! edges: [ProductEdge] }
type CategoryEdge { cursor: String! node: Category }
type CategoryConnection { totalCount: Int! pageInfo: PageInfo! edges: [CategoryEdge] }
type UserError { field: [String!] message: String! }
type ProductPayload { product: Product userErrors: [UserError!]! }
type Query {
  products(first: Int, last: Int, after: String): ProductConnection!
  categories(first: Int): CategoryConnection!
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
}
type Mutation { productCreate(title: String!): ProductPayload! }
`

func costSchema(t *testing.T) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "cost.graphql", Input: costSDL})
	require.NoError(t, err)
	return s
}

func analyzeQuery(t *testing.T, schema *ast.Schema, q string, vars map[string]any) analysis {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema, q)
	require.Empty(t, errs, "query: %s", q)
	op := doc.Operations[0]
	coerced, err := validator.VariableValues(schema, op, vars)
	require.NoError(t, err)
	return analyze(schema, op, coerced)
}

func TestAnalyze(t *testing.T) {
	schema := costSchema(t)
	for _, tc := range []struct {
		name                 string
		query                string
		vars                 map[string]any
		cost, depth, aliases int
	}{
		{"typename costs the minimum", `{ __typename }`, nil, 1, 1, 0},
		{"connection: 2 + first x node", `{ products(first: 10) { totalCount pageInfo { hasNextPage } edges { cursor node { id title } } } }`, nil, 12, 4, 0},
		{"no first or last counts 50", `{ products { edges { node { id } } } }`, nil, 52, 4, 0},
		{"first is clamped to 100", `{ products(first: 5000) { edges { node { id } } } }`, nil, 102, 4, 0},
		{"first 0 counts 1", `{ products(first: 0) { edges { node { id } } } }`, nil, 3, 4, 0},
		{"the larger of first and last", `{ products(first: 3, last: 7) { edges { node { id } } } }`, nil, 9, 4, 0},
		{"first from a variable", `query($n: Int) { products(first: $n) { edges { node { id } } } }`, map[string]any{"n": 20}, 22, 4, 0},
		{"an unset variable counts 50", `query($n: Int) { products(first: $n) { edges { node { id } } } }`, nil, 52, 4, 0},
		{"a variable's default", `query($n: Int = 4) { products(first: $n) { edges { node { id } } } }`, nil, 6, 4, 0},
		{"a plain list counts 10", `{ products(first: 10) { edges { node { variants { sku } } } } }`, nil, 112, 5, 0},
		{"nested connections multiply", `{ categories(first: 5) { edges { node { products(first: 4) { edges { node { id } } } } } } }`, nil, 37, 7, 0},
		{"pageInfo and totalCount are not multiplied", `{ categories(first: 5) { totalCount pageInfo { endCursor } edges { node { id } } } }`, nil, 7, 4, 0},
		{"nodes counts its ids", `{ nodes(ids: ["a", "b", "c"]) { id } }`, nil, 3, 2, 0},
		{"nodes from a variable, clamped", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": strings.Split(strings.Repeat("x,", 149)+"x", ",")}, 100, 2, 0},
		{"fragments on other types are alternatives", `{ node(id: "x") { id ... on Product { variants { sku } } ... on Variant { sku product { id } } } }`, nil, 11, 3, 0},
		{"named fragments", `{ products(first: 2) { ...C } } fragment C on ProductConnection { edges { node { ...P } } } fragment P on Product { id variants { sku } }`, nil, 24, 5, 0},
		{"aliases", `{ a: products(first: 1) { totalCount } b: products(first: 1) { totalCount } c: __typename }`, nil, 4, 2, 3},
		{"aliases spread twice count twice", `{ ...F ...G } fragment F on Query { a: __typename } fragment G on Query { ...F }`, nil, 1, 1, 2},
		{"mutation root fields cost 10", `mutation { productCreate(title: "x") { product { id } userErrors { message } } }`, nil, 21, 3, 0},
		{"introspection is flat", `{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }`, nil, 100, 1, 0},
		{"__type is flat", `{ __type(name: "Product") { fields { name } } }`, nil, 10, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := analyzeQuery(t, schema, tc.query, tc.vars)
			require.Equal(t, tc.cost, a.cost, "cost")
			require.Equal(t, tc.depth, a.depth, "depth")
			require.Equal(t, tc.aliases, a.aliases, "aliases")
		})
	}
}

func TestAnalyzeIntrospectionNesting(t *testing.T) {
	schema := costSchema(t)
	a := analyzeQuery(t, schema, `{ __schema { types { fields { type { name } } interfaces { name } possibleTypes { name } } } }`, nil)
	require.Equal(t, 1, a.schemaNesting)
	a = analyzeQuery(t, schema, `{ __schema { types { fields { type { fields { name } } } } } }`, nil)
	require.Equal(t, 2, a.schemaNesting, "refused by maxSchemaListNesting")
	a = analyzeQuery(t, schema, `{ __type(name: "Product") { fields { type { fields { name } } } } }`, nil)
	require.Zero(t, a.schemaNesting, "__type answers one type: gqlparser's rule bounds it")
}

// A fragment bomb (each fragment spreads the next twice) expands to 2^40
// fields; the walk stays linear and saturates instead of overflowing.
func TestAnalyzeFragmentBomb(t *testing.T) {
	schema := costSchema(t)
	const levels = 40
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { a: products(first: 1) { totalCount } }\n", levels)
	doc, errs := gqlparser.LoadQuery(schema, b.String())
	if len(errs) > 0 {
		t.Skipf("the validator refuses the document: %v", errs)
	}
	start := time.Now()
	a := analyze(schema, doc.Operations[0], nil)
	require.Less(t, time.Since(start), time.Second)
	require.Greater(t, a.cost, defaultMaxCost)
	require.Greater(t, a.aliases, defaultMaxAliases)
	require.Equal(t, 2, a.depth)
}

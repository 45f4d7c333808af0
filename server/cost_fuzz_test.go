package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/graph/generated"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
)

// realSchema is the schema the server serves (graph/*.graphqls and
// graph/ent.graphql, as gqlgen embedded them).
var realSchema = sync.OnceValue(func() *ast.Schema {
	return generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
})

// validCostSeeds validate against the real schema (TestCostFuzzSeedsValidate
// keeps them so): real operations of the storefront, the admin and the
// tools, and the shapes the limits are there for.
var validCostSeeds = []string{
	`{ __typename }`,
	`query Products($n: Int, $after: Cursor) { products(first: $n, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title slug priceMin priceMax currency variants { id sku price } images { id } } } } }`,
	`{ products(first: 100) { edges { node { id variants { id images { id } product { variants { id } } } } } } }`,
	`{ products(last: 5000) { edges { node { id } } } }`,
	`query($n: Int = 3) { a: products(first: $n) { totalCount } b: products(last: $n) { totalCount } c: __typename }`,
	`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Product { title variants { sku } } ... on ProductVariant { sku product { title } } } }`,
	`{ node(id: "0189f7a4-5e2b-7006-8000-000000000000") { id ... on Product { ...P } } } fragment P on Product { title category { id } variants { ...V } } fragment V on ProductVariant { id sku price }`,
	`{ products { edges { node { ...A } } } } fragment A on Product { ...B ...B } fragment B on Product { variants { ...C ...C } } fragment C on ProductVariant { product { id title } }`,
	`{ products(first: 1) { edges { node { variants { product { variants { product { variants { product { variants { product { variants { product { id } } } } } } } } } } } } } }`,
	`query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { kind name description fields(includeDeprecated: true) { name args { name type { kind name ofType { kind name ofType { kind name } } } } type { kind name ofType { kind name } } } inputFields { name } interfaces { name } enumValues { name } possibleTypes { name } } directives { name locations args { name } } } }`,
	`{ __schema { types { fields { type { fields { name } } } } } }`,
	`{ __type(name: "Product") { name fields { name type { name kind } } } }`,
	`mutation($input: ProductCreateInput!) { productCreate(input: $input) { product { id title variants { sku } } userErrors { field message } } }`,
	`mutation { cartCreate(input: {}) { cart { id } userErrors { field message } } }`,
}

// invalidCostSeeds fail to parse or to validate.
var invalidCostSeeds = []string{
	``,
	`{`,
	`{ products(first: "ten") { edges { node { id } } } }`,
	`{ noSuchField }`,
	`{ products { edges { node { id } } } } fragment F on Product { ...F }`,
	`query { ...Q } fragment Q on Query { ...Q }`,
	`subscription { __typename }`,
	`{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }`,
	strings.Repeat(`{ a: __typename `, 200) + strings.Repeat(`}`, 200),
	`query($x: Int!) { products(first: $x, last: $x, first: 1) { totalCount } }`,
}

// FuzzQueryCost sends GraphQL documents through what the server does before
// anything executes: the parser with the server's token limit, validation
// against the real schema with gqlgen's default rules, variable coercion,
// the static cost walk (analyze) and the edge limiter's admission
// (MutateOperationContext). Properties:
//
//   - nothing panics, whatever the document;
//   - the walk terminates (also for fragment bombs) and reports a cost in
//     1..MaxInt32, a depth, an alias count and an introspection nesting
//     that are never negative, and the same numbers on a second run;
//   - the depth and the alias count equal those of an independent walk of
//     the document with every fragment spread expanded;
//   - the cost never falls when the page sizes (Int variables) grow;
//   - the limiter refuses exactly the operations whose depth, aliases,
//     introspection nesting or cost exceed the limits, each with a
//     COMPLEXITY_LIMIT_EXCEEDED error naming that limit, and admits the
//     rest (introspection switched on, a full rate-limit bucket).
func FuzzQueryCost(f *testing.F) {
	for _, q := range validCostSeeds {
		f.Add(q, int64(10))
	}
	for _, q := range invalidCostSeeds {
		f.Add(q, int64(-1))
	}
	f.Add(validCostSeeds[1], int64(math.MaxInt64))
	f.Add(validCostSeeds[1], int64(math.MinInt64))
	f.Add(validCostSeeds[4], int64(0))

	schema := realSchema()
	limits := limitsOf(Config{Introspection: true})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, query string, n int64) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Name: "fuzz", Input: query}, limits.maxTokens)
		if err != nil {
			var gerr *gqlerror.Error
			if !errors.As(err, &gerr) {
				t.Fatalf("parse error %T is not a *gqlerror.Error: %v", err, err)
			}
			return
		}
		if errs := validator.ValidateWithRules(schema, doc, rules.NewDefaultRules()); len(errs) > 0 {
			return
		}
		for _, op := range doc.Operations {
			vars, err := validator.VariableValues(schema, op, intVars(op, n))
			if err != nil {
				continue // a required variable of another type: refused before the walk
			}
			a := analyze(schema, op, vars)
			if a.cost < 1 || a.cost > math.MaxInt32 || a.depth < 0 || a.aliases < 0 || a.schemaNesting < 0 {
				t.Fatalf("analysis out of range: %+v\n%s", a, query)
			}
			if again := analyze(schema, op, vars); again != a {
				t.Fatalf("analyze is not deterministic: %+v then %+v", a, again)
			}
			depth, aliases := expandedShape(doc, op)
			if depth != a.depth {
				t.Fatalf("depth %d, the expanded document is %d deep\n%s", a.depth, depth, query)
			}
			if want := int(min(aliases, math.MaxInt32)); want != a.aliases {
				t.Fatalf("aliases %d, the expanded document has %d\n%s", a.aliases, aliases, query)
			}
			if n < math.MaxInt64 {
				if vars2, err := validator.VariableValues(schema, op, intVars(op, n+1)); err == nil {
					if b := analyze(schema, op, vars2); b.cost < a.cost {
						t.Fatalf("cost fell from %d to %d when the Int variables went from %d to %d\n%s", a.cost, b.cost, n, n+1, query)
					}
				}
			}
			checkAdmission(t, limits, log, schema, op, vars, a)
		}
	})
}

// intVars gives every Int variable of op the value n (as a JSON client
// would send it) and leaves the others to their defaults.
func intVars(op *ast.OperationDefinition, n int64) map[string]any {
	vars := map[string]any{}
	for _, v := range op.VariableDefinitions {
		if v.Type != nil && v.Type.Elem == nil && v.Type.NamedType == "Int" {
			vars[v.Variable] = float64(max(min(n, math.MaxInt32), math.MinInt32))
		}
	}
	return vars
}

// checkAdmission runs the limiter on op and checks its verdict against the
// analysis.
func checkAdmission(t *testing.T, limits edgeLimits, log *slog.Logger, schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any, a analysis) {
	t.Helper()
	l := &limiter{limits: limits, schema: schema, buckets: ratelimit.NewMemory(), log: log}
	opCtx := &graphql.OperationContext{Operation: op, Variables: vars}
	gerr := l.MutateOperationContext(context.Background(), opCtx)
	want := ""
	switch {
	case a.depth > limits.maxDepth:
		want = "depth"
	case a.aliases > limits.maxAliases:
		want = "aliases"
	case a.schemaNesting > maxSchemaListNesting:
		want = "introspectionDepth"
	case a.cost > limits.maxCost:
		want = "cost"
	}
	if want == "" {
		if gerr != nil {
			t.Fatalf("an operation within the limits (%+v) was refused: %v", a, gerr)
		}
		if st := costStateOf(graphql.WithOperationContext(context.Background(), opCtx)); st == nil || st.requested != a.cost {
			t.Fatalf("the admitted operation's cost state is %+v, want requested %d", st, a.cost)
		}
		return
	}
	if gerr == nil {
		t.Fatalf("an operation over the %s limit (%+v) was admitted", want, a)
	}
	if code, _ := gerr.Extensions["code"].(string); code != codeComplexityLimit || gerr.Extensions["limit"] != want {
		t.Fatalf("refused with %v (extensions %v), want %s on %q", gerr, gerr.Extensions, codeComplexityLimit, want)
	}
}

// expandedShape is an independent count of what analyze reports as depth
// and aliases: the longest chain of fields (introspection roots count one
// level, __typename one) and the number of aliased fields, with every
// fragment spread expanded where it is spread. Fragments are counted once
// per name (their counts do not depend on where they are spread), so this
// stays linear too.
func expandedShape(doc *ast.QueryDocument, op *ast.OperationDefinition) (depth int, aliases int64) {
	type counts struct {
		depth   int
		aliases int64
	}
	memo := map[string]counts{}
	const sat = 1 << 40
	add := func(a, b int64) int64 { return min(a+b, sat) }
	var walk func(ss ast.SelectionSet, intro bool) counts
	walk = func(ss ast.SelectionSet, intro bool) counts {
		var out counts
		for _, sel := range ss {
			var c counts
			switch s := sel.(type) {
			case *ast.Field:
				if s.Alias != "" && s.Alias != s.Name {
					c.aliases = 1
				}
				switch {
				case s.Name == "__typename":
					c.depth = 1
				case intro:
					c.aliases = add(c.aliases, walk(s.SelectionSet, true).aliases)
				case s.Name == "__schema" || s.Name == "__type":
					c.depth = 1
					c.aliases = add(c.aliases, walk(s.SelectionSet, true).aliases)
				default:
					inner := walk(s.SelectionSet, false)
					c.depth = 1 + inner.depth
					c.aliases = add(c.aliases, inner.aliases)
				}
				if intro {
					c.depth = 0 // inside introspection only the root counts
				}
			case *ast.InlineFragment:
				c = walk(s.SelectionSet, intro)
			case *ast.FragmentSpread:
				def := doc.Fragments.ForName(s.Name)
				if def == nil {
					continue
				}
				key := s.Name
				if intro {
					key += "/intro"
				}
				m, ok := memo[key]
				if !ok {
					m = walk(def.SelectionSet, intro)
					memo[key] = m
				}
				c = m
			}
			out.depth = max(out.depth, c.depth)
			out.aliases = add(out.aliases, c.aliases)
		}
		return out
	}
	c := walk(op.SelectionSet, false)
	return c.depth, c.aliases
}

// TestCostFuzzSeedsValidate keeps the valid seeds of FuzzQueryCost valid
// against the schema as it changes, so that the corpus keeps reaching the
// cost walk and the limiter.
func TestCostFuzzSeedsValidate(t *testing.T) {
	schema := realSchema()
	for _, q := range validCostSeeds {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, defaultMaxTokens)
		if err != nil {
			t.Fatalf("seed does not parse: %v\n%s", err, q)
		}
		if errs := validator.ValidateWithRules(schema, doc, rules.NewDefaultRules()); len(errs) > 0 {
			t.Fatalf("seed does not validate: %v\n%s", errs, q)
		}
	}
}

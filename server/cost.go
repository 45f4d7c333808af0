package server

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// The cost model (docs/edge.md). A static walk of the operation computes,
// before anything runs, the requested cost, the depth and the number of
// aliases; the same weights count the actual cost while the operation runs.
const (
	// maxPageCost and defaultPageCost mirror graph/pagination.go: a page
	// holds 1..100 items, 50 when neither first nor last is given.
	maxPageCost     = 100
	defaultPageCost = 50
	// defaultListCost is the assumed length of a list of objects that has
	// no size argument (an ent edge such as Product.variants).
	defaultListCost = 10
	// objectCost is the weight of each object returned; connectionCost of
	// each connection (its page query and its count); mutationCost of each
	// mutation root field.
	objectCost     = 1
	connectionCost = 2
	mutationCost   = 10
	// schemaCost and typeCost are the flat prices of the introspection
	// roots, whatever they select.
	schemaCost = 100
	typeCost   = 10
	// maxSchemaListNesting bounds how deeply __Type's list fields (fields,
	// inputFields, interfaces, possibleTypes) nest under __schema: the
	// standard introspection query needs 1; each further level multiplies
	// the answer by the size of the schema.
	maxSchemaListNesting = 1
	// saturated is where the walk's arithmetic stops growing, so that a
	// fragment bomb cannot overflow it.
	saturated = 1 << 40
)

// shape is what the static walk learns about a selection set.
type shape struct {
	cost    int64 // requested cost
	depth   int   // longest chain of nested fields (introspection counts 1)
	aliases int64 // aliased fields, each fragment spread counted again
	nesting int   // __Type list fields nested (inside introspection only)
}

// analysis is the outcome of the walk for one operation.
type analysis struct {
	cost, depth, aliases int
	// schemaNesting is the deepest nesting of __Type list fields under
	// __schema.
	schemaNesting int
}

// analyze walks op (of a validated document) with its coerced variables.
// Fragments are walked once each (memoised), so the walk is linear in the
// size of the document even for fragments that spread fragments.
func analyze(schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any) analysis {
	w := &walker{
		schema:  schema,
		vars:    vars,
		memo:    map[fragmentKey]shape{},
		walking: map[string]bool{},
	}
	root := w.rootType(op)
	sh := w.selectionSet(op.SelectionSet, root, root, false)
	a := analysis{
		cost:          clampInt(sh.cost),
		depth:         sh.depth,
		aliases:       clampInt(sh.aliases),
		schemaNesting: w.schemaNesting,
	}
	if a.cost < 1 {
		a.cost = 1 // every operation spends something, even { __typename }
	}
	return a
}

type walker struct {
	schema  *ast.Schema
	vars    map[string]any
	memo    map[fragmentKey]shape
	walking map[string]bool // fragments being walked (cycle guard)
	// schemaNesting is the deepest list nesting seen under __schema.
	schemaNesting int
}

func (w *walker) rootType(op *ast.OperationDefinition) *ast.Definition {
	switch op.Operation {
	case ast.Mutation:
		return w.schema.Mutation
	case ast.Subscription:
		return w.schema.Subscription
	}
	return w.schema.Query
}

// selectionSet combines the shapes of a selection set: fields and fragments
// on the parent type itself always apply; fragments on other types
// (interfaces, unions) are alternatives, of which the dearest counts.
func (w *walker) selectionSet(ss ast.SelectionSet, parent, root *ast.Definition, intro bool) shape {
	var common shape
	alternatives := map[string]shape{}
	add := func(cond string, sh shape) {
		if cond == "" || parent == nil || cond == parent.Name {
			common = merge(common, sh)
			return
		}
		alternatives[cond] = merge(alternatives[cond], sh)
	}
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			add("", w.field(s, parent, root, intro, 0))
		case *ast.InlineFragment:
			add(s.TypeCondition, w.selectionSet(s.SelectionSet, typeOr(w.schema, s.TypeCondition, parent), root, intro))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				add(s.Definition.TypeCondition, w.fragment(s.Definition, parent, root, intro, 0))
			}
		}
	}
	var dearest shape
	for _, sh := range alternatives {
		dearest.cost = max(dearest.cost, sh.cost)
		dearest.depth = max(dearest.depth, sh.depth)
		dearest.aliases = satAdd(dearest.aliases, sh.aliases)
		dearest.nesting = max(dearest.nesting, sh.nesting)
	}
	return merge(common, dearest)
}

// fragmentKey names one walk of a fragment: its shape depends only on the
// fragment, on whether it is inside introspection, and on the page size of
// the connection it is spread in (0 elsewhere).
type fragmentKey struct {
	name     string
	intro    bool
	pageSize int64
}

// fragment walks a named fragment once per key and reuses the shape, so
// that fragments spreading fragments cannot make the walk exponential.
func (w *walker) fragment(f *ast.FragmentDefinition, parent, root *ast.Definition, intro bool, pageSize int64) shape {
	key := fragmentKey{f.Name, intro, pageSize}
	if sh, ok := w.memo[key]; ok {
		return sh
	}
	if w.walking[f.Name] {
		return shape{} // a cycle: refused by validation; never loop here
	}
	w.walking[f.Name] = true
	defer delete(w.walking, f.Name)
	t := typeOr(w.schema, f.TypeCondition, parent)
	var sh shape
	if pageSize > 0 {
		sh = w.connectionChildren(f.SelectionSet, t, root, pageSize)
	} else {
		sh = w.selectionSet(f.SelectionSet, t, root, intro)
	}
	w.memo[key] = sh
	return sh
}

// field is the shape of one field: its own weight plus its children's,
// times the number of items it returns. size, when not 0, is that number
// (handed down by a connection to its edges).
func (w *walker) field(f *ast.Field, parent, root *ast.Definition, intro bool, size int64) shape {
	var sh shape
	if f.Alias != "" && f.Alias != f.Name {
		sh.aliases = 1
	}
	switch {
	case f.Name == "__typename":
		sh.depth = 1
		return sh
	case !intro && (f.Name == "__schema" || f.Name == "__type"):
		// Introspection: a flat price and one level of depth; what it
		// selects is bounded by gqlparser's MaxIntrospectionDepth rule and
		// by maxSchemaListNesting here.
		sh.cost, sh.depth = typeCost, 1
		if f.Name == "__schema" {
			sh.cost = schemaCost
		}
		children := w.selectionSet(f.SelectionSet, w.fieldType(f), root, true)
		sh.aliases = satAdd(sh.aliases, children.aliases)
		if f.Name == "__schema" {
			w.schemaNesting = max(w.schemaNesting, children.nesting)
		}
		return sh
	case intro:
		children := w.selectionSet(f.SelectionSet, w.fieldType(f), root, true)
		sh.aliases = satAdd(sh.aliases, children.aliases)
		sh.nesting = children.nesting
		switch f.Name {
		case "fields", "inputFields", "interfaces", "possibleTypes":
			sh.nesting++
		}
		return sh
	}

	named := w.fieldType(f)
	var childPage int64
	own := int64(objectCost)
	switch {
	case named == nil || named.Kind == ast.Scalar || named.Kind == ast.Enum:
		own = 0
	case isConnection(named):
		own = connectionCost
		childPage = pageSize(f, w.vars)
	case isEdge(named) || named.Name == "PageInfo":
		own = 0 // wrappers: the node inside pays
	}
	if root != nil && parent == root && root == w.schema.Mutation {
		own = mutationCost
	}

	count := int64(1)
	if f.Definition != nil && f.Definition.Type != nil && f.Definition.Type.Elem != nil {
		switch {
		case size > 0:
			count = size // the edges (or nodes) of a connection
		case f.Name == "nodes" && f.Arguments.ForName("ids") != nil:
			count = listLen(f, "ids", w.vars)
		default:
			count = defaultListCost
		}
	}

	var children shape
	if len(f.SelectionSet) > 0 {
		if childPage > 0 {
			children = w.connectionChildren(f.SelectionSet, named, root, childPage)
		} else {
			children = w.selectionSet(f.SelectionSet, named, root, false)
		}
	}
	sh.cost = satMul(count, satAdd(own, children.cost))
	sh.depth = 1 + children.depth
	sh.aliases = satAdd(sh.aliases, children.aliases)
	return sh
}

// connectionChildren walks the selection of a connection: the page size
// multiplies its edges (and nodes), not pageInfo or totalCount.
func (w *walker) connectionChildren(ss ast.SelectionSet, conn, root *ast.Definition, pageSize int64) shape {
	var out shape
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			size := int64(0)
			if s.Name == "edges" || s.Name == "nodes" {
				size = pageSize
			}
			out = merge(out, w.field(s, conn, root, false, size))
		case *ast.InlineFragment:
			out = merge(out, w.connectionChildren(s.SelectionSet, conn, root, pageSize))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				out = merge(out, w.fragment(s.Definition, conn, root, false, pageSize))
			}
		}
	}
	return out
}

func (w *walker) fieldType(f *ast.Field) *ast.Definition {
	if f.Definition == nil || f.Definition.Type == nil {
		return nil
	}
	return w.schema.Types[f.Definition.Type.Name()]
}

func merge(a, b shape) shape {
	return shape{
		cost:    satAdd(a.cost, b.cost),
		depth:   max(a.depth, b.depth),
		aliases: satAdd(a.aliases, b.aliases),
		nesting: max(a.nesting, b.nesting),
	}
}

func typeOr(schema *ast.Schema, name string, def *ast.Definition) *ast.Definition {
	if t := schema.Types[name]; t != nil {
		return t
	}
	return def
}

// isConnection reports whether t is a Relay connection type.
func isConnection(t *ast.Definition) bool {
	return t != nil && t.Kind == ast.Object && strings.HasSuffix(t.Name, "Connection") && t.Fields.ForName("edges") != nil
}

// isEdge reports whether t is the edge wrapper of a connection.
func isEdge(t *ast.Definition) bool {
	return t != nil && t.Kind == ast.Object && strings.HasSuffix(t.Name, "Edge") &&
		t.Fields.ForName("node") != nil && t.Fields.ForName("cursor") != nil
}

// pageSize is the number of items a connection field asks for: first or
// last (the larger when both are given) clamped to 1..100, or 50 when
// neither is given.
func pageSize(f *ast.Field, vars map[string]any) int64 {
	n, given := int64(0), false
	for _, name := range []string{"first", "last"} {
		a := f.Arguments.ForName(name)
		if a == nil {
			continue
		}
		v, err := a.Value.Value(vars)
		if err != nil || v == nil {
			continue
		}
		if i, ok := toInt(v); ok {
			n, given = max(n, i), true
		}
	}
	if !given {
		return defaultPageCost
	}
	return min(max(n, 1), maxPageCost)
}

// listLen is the length of a list argument, clamped to 1..100.
func listLen(f *ast.Field, arg string, vars map[string]any) int64 {
	a := f.Arguments.ForName(arg)
	if a == nil {
		return defaultListCost
	}
	v, err := a.Value.Value(vars)
	if err != nil {
		return maxPageCost
	}
	n := int64(1) // a single value is coerced to a list of one
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		n = int64(rv.Len())
	}
	return min(max(n, 1), maxPageCost)
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x > math.MaxInt32 {
			return math.MaxInt32, true
		}
		return int64(x), true
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return maxPageCost, true
		}
		return i, true
	}
	return 0, false
}

func satAdd(a, b int64) int64 {
	if s := a + b; s < saturated {
		return s
	}
	return saturated
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > saturated/b {
		return saturated
	}
	return min(a*b, saturated)
}

func clampInt(v int64) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

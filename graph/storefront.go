package graph

import (
	"bytes"
	"cmp"
	"context"
	"reflect"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/graph/model"
	"github.com/omnisphere/omnisphere/internal/storefront"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/loaders"
)

// catalogueObjects are the types whose nested connections take a generated
// `where` filter over catalogue rows (ProductCategory.products,
// ProductCategory.children, Warehouse.inventoryLevels).
var catalogueObjects = map[string]bool{
	"ProductCategory": true, "Product": true, "ProductVariant": true,
	"ProductImage": true, "Warehouse": true, "InventoryLevel": true,
}

// GuardCatalogueFilters is a field middleware: a generated `where` filter on
// a nested catalogue connection is for the store's staff (or keys with
// products:read) only. It filters on every column, staff-only ones too
// (cost, stock), so a storefront viewer could otherwise learn them by
// bisecting: `category { products(where: {hasVariantsWith: {costGT: 500}}) }`.
// Query.products makes the same check itself.
func GuardCatalogueFilters(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || len(fc.Args) == 0 || !catalogueObjects[fc.Object] {
		return next(ctx)
	}
	if w, ok := fc.Args["where"]; ok && !isNil(w) && !mayFilterCatalogue(viewer.FromContext(ctx)) {
		return nil, BadUserInput("where is for the store's staff; storefront lists take their own filters")
	}
	return next(ctx)
}

// mayFilterCatalogue: staff users, and secret keys holding products:read.
func mayFilterCatalogue(v viewer.Viewer) bool {
	return v.IsStaff() && v.Can("products:read")
}

// isNil reports whether a coerced argument is absent: nil, or a typed nil
// pointer (gqlgen passes *XWhereInput).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// productFilter converts the GraphQL filter.
func productFilter(f *model.ProductFilter) storefront.Filter {
	if f == nil {
		return storefront.Filter{}
	}
	out := storefront.Filter{CategoryID: f.CategoryID, InStock: f.InStock, Tags: f.Tags}
	if f.PriceMin != nil {
		n := int64(*f.PriceMin)
		out.PriceMin = &n
	}
	if f.PriceMax != nil {
		n := int64(*f.PriceMax)
		out.PriceMax = &n
	}
	return out
}

// storefrontErr maps the storefront package's input errors to
// BAD_USER_INPUT; anything else stays internal.
func storefrontErr(err error) error {
	if e, ok := storefront.IsInputError(err); ok {
		return BadUserInput(e.Field + ": " + e.Message)
	}
	return err
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// selects reports whether the current field selects a field of this name
// (e.g. a connection's totalCount, which costs a statement).
func selects(ctx context.Context, name string) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return true
	}
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

// connectionNode is the edges.node field of the current connection field's
// selection; nil when it selects no node.
func connectionNode(ctx context.Context) *graphql.CollectedField {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	oc := graphql.GetOperationContext(ctx)
	for _, edges := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(oc, edges.Selections, nil) {
			if node.Name == "node" {
				return &node
			}
		}
	}
	return nil
}

// collectConnectionNodes returns a Load step for a product connection
// resolved by hand (storefront.List): entgql's field collection of the
// selection under edges.node, so that variants, images, category and their
// own edges load in one statement each, however long the page. entgql's
// CollectFields collects the current field's selection; the node field is
// made current for it (which is what entgql's own Paginate does inside).
func collectConnectionNodes(ctx context.Context) func(*ent.ProductQuery) (*ent.ProductQuery, error) {
	return func(q *ent.ProductQuery) (*ent.ProductQuery, error) {
		node := connectionNode(ctx)
		if node == nil {
			return q, nil
		}
		return q.CollectFields(graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "ProductEdge", Field: withDisplayOrder(ctx, *node)}))
	}
}

// primeConnection is primeLoaders for a page of products.
func primeConnection(ctx context.Context, conn *ent.ProductConnection) error {
	nodes := make([]*ent.Product, len(conn.Edges))
	for i, e := range conn.Edges {
		nodes[i] = e.Node
	}
	return primeLoaders(ctx, nodes, connectionNode(ctx))
}

// primeLoaders loads, in one statement each, what the selection node asks
// of every product of a page through the dataloaders: featured images and
// the stock of the loaded variants. The field resolvers then find it in the
// loaders' caches, so the statement count of a page never depends on how
// the resolvers happen to be scheduled.
func primeLoaders(ctx context.Context, products []*ent.Product, node *graphql.CollectedField) error {
	l, ok := loaders.From(ctx)
	if !ok || node == nil || len(products) == 0 {
		return nil
	}
	oc := graphql.GetOperationContext(ctx)
	// quantityAvailable needs the stock only when the viewer may read it.
	seesQuantity := viewer.FromContext(ctx).SeesStockQuantity()
	featured, stockOf := false, []string{}
	for _, f := range graphql.CollectFields(oc, node.Selections, nil) {
		switch f.Name {
		case "featuredImage":
			featured = true
		case "variants":
			for _, vf := range graphql.CollectFields(oc, f.Selections, nil) {
				if (vf.Name == "quantityAvailable" && seesQuantity) || vf.Name == "available" {
					stockOf = append(stockOf, f.Alias)
					break
				}
			}
		}
	}
	if featured {
		ids := make([]uuid.UUID, len(products))
		for i, p := range products {
			ids[i] = p.ID
		}
		if err := l.PrimeFeaturedImages(ctx, ids); err != nil {
			return err
		}
	}
	if len(stockOf) > 0 {
		var ids []uuid.UUID
		seen := map[uuid.UUID]bool{}
		for _, p := range products {
			for _, alias := range stockOf {
				vs, err := p.NamedVariants(alias)
				if err != nil {
					continue // not loaded with the page: the resolvers batch it
				}
				for _, v := range vs {
					if !seen[v.ID] {
						seen[v.ID] = true
						ids = append(ids, v.ID)
					}
				}
			}
		}
		if err := l.PrimeVariantStock(ctx, ids); err != nil {
			return err
		}
	}
	return nil
}

// seoDescriptionLen is the most characters of a derived meta description.
const seoDescriptionLen = 160

// productSEO is a product's title and description for search engines: its
// own SEO fields, else its title and the start of its description.
func productSEO(p *ent.Product) *model.Seo {
	title, desc := p.SeoTitle, p.SeoDescription
	if title == "" {
		title = p.Title
	}
	if desc == "" {
		desc = strings.Join(strings.Fields(p.Description), " ")
		if r := []rune(desc); len(r) > seoDescriptionLen {
			cut := string(r[:seoDescriptionLen-1])
			if i := strings.LastIndexByte(cut, ' '); i > seoDescriptionLen/2 {
				cut = cut[:i]
			}
			desc = cut + "…"
		}
	}
	out := &model.Seo{Title: &title}
	if desc != "" {
		out.Description = &desc
	}
	return out
}

// byPosition sorts a product's variants or images into display order:
// position, then id (field collection loads them unordered).
func byPosition[T any](xs []T, key func(T) (int, uuid.UUID)) []T {
	slices.SortStableFunc(xs, func(a, b T) int {
		pa, ia := key(a)
		pb, ib := key(b)
		if pa != pb {
			return cmp.Compare(pa, pb)
		}
		return bytes.Compare(ia[:], ib[:])
	})
	return xs
}

// withDisplayOrder returns a copy of f whose selection also asks for
// `position` under every `variants` and `images` field, at any depth.
// entgql's field collection loads only the columns a query selects; the
// Product.variants and Product.images resolvers sort by position, so it
// must always be loaded. The copy serves the collection only: the response
// follows the operation as written. (Named fragments become inline ones in
// the copy, so that the shared, cached document is never changed.)
func withDisplayOrder(ctx context.Context, f graphql.CollectedField) graphql.CollectedField {
	oc := graphql.GetOperationContext(ctx)
	f.Selections = addPositions(oc.Doc, f.Selections, false)
	return f
}

func addPositions(doc *ast.QueryDocument, set ast.SelectionSet, ordered bool) ast.SelectionSet {
	out := make(ast.SelectionSet, 0, len(set)+1)
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			c := *s
			c.SelectionSet = addPositions(doc, s.SelectionSet, s.Name == "variants" || s.Name == "images")
			out = append(out, &c)
		case *ast.InlineFragment:
			c := *s
			c.SelectionSet = addPositions(doc, s.SelectionSet, false)
			out = append(out, &c)
		case *ast.FragmentSpread:
			def := doc.Fragments.ForName(s.Name)
			if def == nil {
				out = append(out, s)
				continue
			}
			out = append(out, &ast.InlineFragment{
				TypeCondition: def.TypeCondition, Directives: s.Directives,
				SelectionSet: addPositions(doc, def.SelectionSet, false), ObjectDefinition: s.ObjectDefinition,
			})
		default:
			out = append(out, sel)
		}
	}
	if ordered {
		out = append(out, &ast.Field{Alias: "position", Name: "position"})
	}
	return out
}

// collectionContext is ctx with the current field's selection extended by
// withDisplayOrder, for entgql's Paginate and CollectFields.
func collectionContext(ctx context.Context) context.Context {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ctx
	}
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{
		Object: fc.Object, Args: fc.Args, Field: withDisplayOrder(ctx, fc.Field),
		IsMethod: fc.IsMethod, IsResolver: fc.IsResolver,
	})
}

// money is a Money of an amount in minor units.
func money(amount int64, currency string) *model.Money {
	return &model.Money{Amount: int(amount), CurrencyCode: currency}
}

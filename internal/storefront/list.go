package storefront

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productvariant"
)

// SortKey is how a product list is sorted. Every sort breaks ties by id, in
// the sort's direction, so that cursors are exact.
type SortKey string

// The sort keys.
const (
	// SortTitle sorts by title, A to Z.
	SortTitle SortKey = "TITLE"
	// SortPrice sorts by the lowest variant price (products.price_min),
	// cheapest first.
	SortPrice SortKey = "PRICE"
	// SortCreatedAt sorts newest first.
	SortCreatedAt SortKey = "CREATED_AT"
	// SortRelevance sorts the best match of the search query first; without
	// a query it is SortTitle.
	SortRelevance SortKey = "RELEVANCE"
)

// MaxPage is the most products one page holds; DefaultPage is the page size
// when the caller gives neither First nor Last.
const (
	MaxPage     = 100
	DefaultPage = 50
	// MaxTags is the most tags one filter may name.
	MaxTags = 20
)

// Filter narrows a product list. Every set field must hold.
type Filter struct {
	// CategoryID keeps the products of this category and of every category
	// below it (for the storefront: below it through published categories).
	CategoryID *uuid.UUID
	// PriceMin and PriceMax keep products with a variant priced within them
	// (minor units, inclusive).
	PriceMin, PriceMax *int64
	// InStock true keeps products with an available variant (stock on hand
	// minus reserved above zero over all warehouses, or not tracked, or
	// backorder allowed); false keeps those with none.
	InStock *bool
	// Tags keeps products carrying at least one of them (exact match).
	Tags []string
}

// ListInput is one page request of List.
type ListInput struct {
	// First or Last is the page size (0..MaxPage); not both. Neither means
	// the first DefaultPage.
	First, Last *int
	// After and Before are cursors of an earlier page of the same sort.
	After, Before *ent.Cursor
	// Query is the text search (see Terms); empty lists everything.
	Query   string
	Filter  Filter
	SortKey SortKey
	// Reverse flips the sort's direction.
	Reverse bool
	// Where is an additional filter (the admin's where input); nil for none.
	// The caller checks that the viewer may use it.
	Where func(*ent.ProductQuery) (*ent.ProductQuery, error)
	// Count asks for the connection's TotalCount (one more statement).
	Count bool
	// Load prepares the page query before it runs, e.g. the eager loading
	// of the edges the caller will read; nil for none.
	Load func(*ent.ProductQuery) (*ent.ProductQuery, error)
}

// List returns one page of the store's products, as the viewer of ctx may
// see them. Statements: one for the page, one more for the count (when
// asked), one for a category filter; plus what Load adds.
func (s *Service) List(ctx context.Context, in ListInput) (*ent.ProductConnection, error) {
	if in.First != nil && in.Last != nil {
		return nil, inputErr("first", "give first or last, not both")
	}
	for _, n := range []*int{in.First, in.Last} {
		if n != nil && (*n < 0 || *n > MaxPage) {
			return nil, inputErr("first", "first and last must be between 0 and %d", MaxPage)
		}
	}
	if in.First == nil && in.Last == nil {
		n := DefaultPage
		in.First = &n
	}
	terms := Terms(in.Query)
	ord, err := newOrder(in.SortKey, in.Reverse, terms)
	if err != nil {
		return nil, err
	}
	after, err := ord.decode("after", in.After)
	if err != nil {
		return nil, err
	}
	before, err := ord.decode("before", in.Before)
	if err != nil {
		return nil, err
	}

	q := s.client.Product.Query()
	preds, err := s.predicates(ctx, in.Filter, terms)
	if err != nil {
		return nil, err
	}
	q = q.Where(preds...)
	if in.Where != nil {
		if q, err = in.Where(q); err != nil {
			return nil, err
		}
	}

	conn := &ent.ProductConnection{Edges: []*ent.ProductEdge{}}
	if in.Count {
		if conn.TotalCount, err = q.Clone().Count(ctx); err != nil {
			return nil, fmt.Errorf("storefront: count products: %w", err)
		}
	}
	forward := in.Last == nil
	var limit int
	if forward {
		limit = *in.First
	} else {
		limit = *in.Last
	}
	conn.PageInfo.HasNextPage = in.Before != nil
	conn.PageInfo.HasPreviousPage = in.After != nil
	if limit == 0 {
		return conn, nil
	}

	if after != nil {
		q = q.Where(ord.seek(after, true))
	}
	if before != nil {
		q = q.Where(ord.seek(before, false))
	}
	q.Modify(ord.selectAndSort(forward))
	q = q.Limit(limit + 1)
	if in.Load != nil {
		if q, err = in.Load(q); err != nil {
			return nil, err
		}
	}
	nodes, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("storefront: list products: %w", err)
	}
	if len(nodes) > limit {
		nodes = nodes[:limit]
		if forward {
			conn.PageInfo.HasNextPage = true
		} else {
			conn.PageInfo.HasPreviousPage = true
		}
	}
	if !forward {
		slices.Reverse(nodes)
	}
	conn.Edges = make([]*ent.ProductEdge, len(nodes))
	for i, p := range nodes {
		c, err := ord.cursor(p)
		if err != nil {
			return nil, err
		}
		conn.Edges[i] = &ent.ProductEdge{Node: p, Cursor: c}
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

// predicates turns a filter and search terms into product predicates.
func (s *Service) predicates(ctx context.Context, f Filter, terms []string) ([]predicate.Product, error) {
	var preds []predicate.Product
	if len(terms) > 0 {
		preds = append(preds, predicate.Product(matches(terms)))
	}
	if f.CategoryID != nil {
		ids, err := s.categoryAndDescendants(ctx, *f.CategoryID)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			preds = append(preds, predicate.Product(func(s *sql.Selector) { s.Where(sql.False()) }))
		} else {
			preds = append(preds, product.CategoryIDIn(ids...))
		}
	}
	if f.PriceMin != nil || f.PriceMax != nil {
		var vp []predicate.ProductVariant
		if f.PriceMin != nil {
			vp = append(vp, productvariant.PriceGTE(*f.PriceMin))
		}
		if f.PriceMax != nil {
			vp = append(vp, productvariant.PriceLTE(*f.PriceMax))
		}
		preds = append(preds, product.HasVariantsWith(vp...))
	}
	if f.InStock != nil {
		preds = append(preds, predicate.Product(inStock(*f.InStock)))
	}
	if len(f.Tags) > MaxTags {
		return nil, inputErr("filter.tags", "at most %d tags", MaxTags)
	}
	if len(f.Tags) > 0 {
		preds = append(preds, predicate.Product(hasAnyTag(f.Tags)))
	}
	return preds, nil
}

// inStock keeps products that have (want) or lack (!want) a variant that
// can be bought now: the rule of loaders.Stock and ProductVariant.available.
func inStock(want bool) func(*sql.Selector) {
	return func(s *sql.Selector) {
		exists := sql.ExprP(`EXISTS (SELECT 1 FROM product_variants sv WHERE sv.product_id = ` + s.C(product.FieldID) +
			` AND (NOT sv.track_inventory OR sv.allow_backorder OR COALESCE((SELECT SUM(si.quantity_on_hand - si.quantity_reserved)` +
			` FROM inventory si WHERE si.variant_id = sv.id), 0) > 0))`)
		if !want {
			exists = sql.Not(exists)
		}
		s.Where(exists)
	}
}

// hasAnyTag keeps products whose tags hold one of tags.
func hasAnyTag(tags []string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		ps := make([]*sql.Predicate, len(tags))
		for i, t := range tags {
			ps[i] = sqljson.ValueContains(product.FieldTags, t)
		}
		s.Where(sql.Or(ps...))
	}
}

// Predicates returns the product predicates of a search query and a filter,
// for callers that paginate with another order (the admin's orderBy).
func (s *Service) Predicates(ctx context.Context, query string, f Filter) ([]predicate.Product, error) {
	return s.predicates(ctx, f, Terms(query))
}

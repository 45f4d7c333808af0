// Package storefront owns the read side of a store's catalogue: listing,
// searching, filtering and sorting products with stable Relay cursors, and
// the category tree the filters walk. It serves the public storefront and
// the admin alike: what a viewer may see (every status for the catalogue's
// administrators, active and published products for everyone else) is
// decided by the ent interceptors of schema/catalog_policy.go, on every
// query this package runs.
//
// Text search is PostgreSQL full-text search on PostgreSQL (GIN expression
// indexes, internal/db/migrations/postgres/00003_storefront_search.sql) and
// an FTS5 table kept in step by triggers on SQLite (internal/db/search.go);
// docs/storefront.md describes both. The package knows nothing of GraphQL.
package storefront

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
)

// Service lists and finds a store's products.
type Service struct {
	client *ent.Client
}

// New returns a Service reading through client (the tenant-fenced client:
// every statement is limited to the viewer's store).
func New(client *ent.Client) *Service { return &Service{client: client} }

// InputError is a problem with the caller's arguments (a malformed cursor,
// first and last together, too many tags): the caller can fix it.
type InputError struct {
	// Field names the argument at fault, e.g. "after".
	Field   string
	Message string
}

func (e *InputError) Error() string { return fmt.Sprintf("storefront: %s: %s", e.Field, e.Message) }

// IsInputError reports whether err is (or wraps) an *InputError.
func IsInputError(err error) (*InputError, bool) {
	var e *InputError
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

func inputErr(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound: the store has no such product, or the viewer may not see it.
var ErrNotFound = errors.New("storefront: no such product")

// Product returns one product by id or by slug (exactly one of them), as the
// viewer of ctx may see it; ErrNotFound otherwise. load prepares the query
// (eager loading), nil for none.
func (s *Service) Product(ctx context.Context, id *uuid.UUID, slug *string, load func(*ent.ProductQuery) (*ent.ProductQuery, error)) (*ent.Product, error) {
	q := s.client.Product.Query()
	switch {
	case id != nil && slug != nil, id == nil && slug == nil:
		return nil, inputErr("id", "give id or slug, exactly one")
	case id != nil:
		q = q.Where(product.ID(*id))
	default:
		q = q.Where(product.Slug(*slug))
	}
	if load != nil {
		var err error
		if q, err = load(q); err != nil {
			return nil, err
		}
	}
	p, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storefront: product: %w", err)
	}
	return p, nil
}

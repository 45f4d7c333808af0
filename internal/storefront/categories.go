package storefront

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent/productcategory"
)

// categoryAndDescendants returns id and the ids of every category below it,
// as the viewer sees the tree: for the storefront only the categories whose
// every ancestor is published exist (schema/catalog_policy.go), so a
// category under an unpublished one counts as absent (the walk from the
// roots below checks it once more). An unknown (or hidden) id gives no ids. One statement: a store's category tree is small, and
// walking it in Go keeps the SQL the same on both backends.
func (s *Service) categoryAndDescendants(ctx context.Context, id uuid.UUID) ([]uuid.UUID, error) {
	cats, err := s.client.ProductCategory.Query().
		Select(productcategory.FieldID, productcategory.FieldParentID).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("storefront: category tree: %w", err)
	}
	children := make(map[uuid.UUID][]uuid.UUID, len(cats))
	var roots []uuid.UUID
	for _, c := range cats {
		if c.ParentID == nil {
			roots = append(roots, c.ID)
		} else {
			children[*c.ParentID] = append(children[*c.ParentID], c.ID)
		}
	}
	// The categories reachable from a root, each with its subtree once.
	subtree := func(from uuid.UUID, seen map[uuid.UUID]bool) []uuid.UUID {
		var out []uuid.UUID
		stack := []uuid.UUID{from}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[n] {
				continue // a cycle (never written by internal/catalog): stop
			}
			seen[n] = true
			out = append(out, n)
			stack = append(stack, children[n]...)
		}
		return out
	}
	reachable := make(map[uuid.UUID]bool, len(cats))
	for _, r := range roots {
		subtree(r, reachable)
	}
	if !reachable[id] {
		return nil, nil
	}
	return subtree(id, map[uuid.UUID]bool{}), nil
}

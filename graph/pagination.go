package graph

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/ids"
)

// maxPage is the most items one connection page (or nodes) returns.
const maxPage = 100

// defaultPage is the page size when a caller gives neither first nor last.
const defaultPage = 50

// checkPage refuses page sizes outside 0..maxPage.
func checkPage(first, last *int) error {
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > maxPage) {
			return BadUserInput(fmt.Sprintf("first and last must be between 0 and %d", maxPage))
		}
	}
	return nil
}

// defaultFirst returns first, or defaultPage when the caller asked for
// neither end, so that no list is ever unbounded.
func defaultFirst(first, last *int) *int {
	if first == nil && last == nil {
		n := defaultPage
		return &n
	}
	return first
}

// nodeType finds the table of a node id from the id itself (internal/ids).
func nodeType(_ context.Context, id uuid.UUID) (string, error) {
	table, ok := ids.TableOf(id)
	if !ok {
		return "", NotFound(fmt.Sprintf("no node with id %s", id))
	}
	return table, nil
}

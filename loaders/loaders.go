// Package loaders holds the per-operation dataloaders the resolvers use for
// what ent's edge loading does not cover (stock totals, counts, LTV…). A
// fresh set is made for every GraphQL operation, so caches never outlive one
// viewer's request and each batch runs under that viewer's tenant fence.
package loaders

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
)

// wait is how long a loader collects keys before it runs its batch.
const wait = 2 * time.Millisecond

// Stock is a variant's inventory summed over its warehouses.
type Stock struct {
	OnHand   int
	Reserved int
}

// Available is what can be sold now: on hand minus reserved, never negative.
func (s Stock) Available() int {
	if a := s.OnHand - s.Reserved; a > 0 {
		return a
	}
	return 0
}

// Loaders are the dataloaders of one operation.
type Loaders struct {
	// VariantStock loads Stock by product variant id.
	VariantStock *dataloader.Loader[uuid.UUID, Stock]
}

// New returns a fresh set of loaders reading through client.
func New(client *ent.Client) *Loaders {
	return &Loaders{
		VariantStock: dataloader.NewBatchedLoader(variantStock(client), dataloader.WithWait[uuid.UUID, Stock](wait)),
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying a fresh set of loaders.
func NewContext(ctx context.Context, client *ent.Client) context.Context {
	return context.WithValue(ctx, ctxKey{}, New(client))
}

// For returns the loaders of ctx. It panics when the operation was not set up
// with NewContext: a wiring error, caught by the first test that resolves a
// loaded field.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in context (missing loaders.NewContext)")
	}
	return l
}

// variantStock sums inventory per variant in one grouped query.
func variantStock(client *ent.Client) dataloader.BatchFunc[uuid.UUID, Stock] {
	return func(ctx context.Context, keys []uuid.UUID) []*dataloader.Result[Stock] {
		var rows []struct {
			VariantID uuid.UUID `json:"variant_id"`
			OnHand    int       `json:"on_hand"`
			Reserved  int       `json:"reserved"`
		}
		err := client.InventoryLevel.Query().
			Where(inventorylevel.VariantIDIn(keys...)).
			GroupBy(inventorylevel.FieldVariantID).
			Aggregate(
				ent.As(ent.Sum(inventorylevel.FieldQuantityOnHand), "on_hand"),
				ent.As(ent.Sum(inventorylevel.FieldQuantityReserved), "reserved"),
			).
			Scan(ctx, &rows)
		out := make([]*dataloader.Result[Stock], len(keys))
		if err != nil {
			err = fmt.Errorf("loaders: variant stock: %w", err)
			for i := range out {
				out[i] = &dataloader.Result[Stock]{Error: err}
			}
			return out
		}
		byID := make(map[uuid.UUID]Stock, len(rows))
		for _, r := range rows {
			byID[r.VariantID] = Stock{OnHand: r.OnHand, Reserved: r.Reserved}
		}
		for i, k := range keys {
			out[i] = &dataloader.Result[Stock]{Data: byID[k]} // no rows: nothing in stock
		}
		return out
	}
}

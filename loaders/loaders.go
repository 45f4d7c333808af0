// Package loaders holds the per-operation dataloaders the resolvers use for
// what ent's edge loading does not cover (stock totals, counts, LTV…). A
// fresh set is made for every GraphQL operation, so caches never outlive one
// viewer's request and each batch runs under that viewer's tenant fence.
package loaders

import (
	"context"
	"fmt"
	"sync"
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
	// FeaturedImage loads a product's featured image (nil when it has no
	// image) by product id.
	FeaturedImage *dataloader.Loader[uuid.UUID, *ent.ProductImage]

	// once remembers what happened once in this operation (see Once).
	once sync.Map

	variantStock  dataloader.BatchFunc[uuid.UUID, Stock]
	featuredImage dataloader.BatchFunc[uuid.UUID, *ent.ProductImage]
}

// PrimeVariantStock loads the stock of the variants ids now, in one query,
// into VariantStock's cache. A resolver that holds a whole page calls it so
// that the page's stock is one statement whatever the scheduling of the
// field resolvers (a batch otherwise collects the keys that arrive within
// its wait), and without the wait.
func (l *Loaders) PrimeVariantStock(ctx context.Context, ids []uuid.UUID) error {
	return prime(ctx, l.VariantStock, l.variantStock, ids)
}

// PrimeFeaturedImages is PrimeVariantStock for FeaturedImage, by product id.
func (l *Loaders) PrimeFeaturedImages(ctx context.Context, ids []uuid.UUID) error {
	return prime(ctx, l.FeaturedImage, l.featuredImage, ids)
}

func prime[V any](ctx context.Context, l *dataloader.Loader[uuid.UUID, V], batch dataloader.BatchFunc[uuid.UUID, V], ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	for i, r := range batch(ctx, ids) {
		if r.Error != nil {
			return r.Error
		}
		l.Prime(ctx, ids[i], r.Data)
	}
	return nil
}

// Once reports whether key is seen for the first time in this operation:
// for what must happen at most once per operation (e.g. auditing a denied
// field that a list repeats for every row).
func (l *Loaders) Once(key string) bool {
	_, seen := l.once.LoadOrStore(key, struct{}{})
	return !seen
}

// New returns a fresh set of loaders reading through client.
func New(client *ent.Client) *Loaders {
	stock, featured := variantStock(client), featuredImage(client)
	return &Loaders{
		VariantStock:  dataloader.NewBatchedLoader(stock, dataloader.WithWait[uuid.UUID, Stock](wait)),
		FeaturedImage: dataloader.NewBatchedLoader(featured, dataloader.WithWait[uuid.UUID, *ent.ProductImage](wait)),
		variantStock:  stock,
		featuredImage: featured,
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying a fresh set of loaders.
func NewContext(ctx context.Context, client *ent.Client) context.Context {
	return context.WithValue(ctx, ctxKey{}, New(client))
}

// From returns the loaders of ctx, if the operation has them.
func From(ctx context.Context) (*Loaders, bool) {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	return l, ok
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

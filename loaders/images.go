package loaders

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/productimage"
)

// featuredImage loads each product's featured image in one query: the image
// marked featured, else the first by position (then id); nil when the
// product has none.
func featuredImage(client *ent.Client) dataloader.BatchFunc[uuid.UUID, *ent.ProductImage] {
	return func(ctx context.Context, keys []uuid.UUID) []*dataloader.Result[*ent.ProductImage] {
		imgs, err := client.ProductImage.Query().
			Where(productimage.ProductIDIn(keys...)).
			Order(
				productimage.ByProductID(),
				ent.Desc(productimage.FieldFeatured),
				productimage.ByPosition(),
				productimage.ByID(),
			).
			All(ctx)
		out := make([]*dataloader.Result[*ent.ProductImage], len(keys))
		if err != nil {
			err = fmt.Errorf("loaders: featured image: %w", err)
			for i := range out {
				out[i] = &dataloader.Result[*ent.ProductImage]{Error: err}
			}
			return out
		}
		first := make(map[uuid.UUID]*ent.ProductImage, len(keys))
		for _, img := range imgs {
			if _, ok := first[img.ProductID]; !ok {
				first[img.ProductID] = img
			}
		}
		for i, k := range keys {
			out[i] = &dataloader.Result[*ent.ProductImage]{Data: first[k]}
		}
		return out
	}
}

package loaders_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/loaders"
)

func TestFeaturedImageAndPriming(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLite)
	c := d.Client
	m, err := c.MerchantAccount.Create().SetName("a").SetSlug("a").Save(viewer.SystemContext(context.Background(), "test seed"))
	require.NoError(t, err)
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID})
	product := func(slug string, images ...struct {
		url      string
		pos      int
		featured bool
	}) uuid.UUID {
		p, err := c.Product.Create().SetTitle(slug).SetSlug(slug).Save(ctx)
		require.NoError(t, err)
		for _, img := range images {
			_, err := c.ProductImage.Create().SetProductID(p.ID).SetURL(img.url).SetPosition(img.pos).SetFeatured(img.featured).Save(ctx)
			require.NoError(t, err)
		}
		return p.ID
	}
	type img = struct {
		url      string
		pos      int
		featured bool
	}
	featured := product("featured", img{"a", 0, false}, img{"b", 1, true}, img{"c", 2, false})
	first := product("first", img{"z", 2, false}, img{"y", 1, false})
	none := product("none")

	counter := &countingDriver{Driver: entsql.OpenDB(dialect.SQLite, d.SQL)}
	l := loaders.New(ent.NewClient(ent.Driver(counter)))
	want := map[uuid.UUID]string{featured: "b", first: "y", none: ""}

	// Primed with the page, the loads run no query.
	ids := []uuid.UUID{featured, first, none}
	require.NoError(t, l.PrimeFeaturedImages(ctx, ids))
	require.EqualValues(t, 1, counter.queries.Load())
	for id, url := range want {
		got, err := l.FeaturedImage.Load(ctx, id)()
		require.NoError(t, err)
		if url == "" {
			require.Nil(t, got)
			continue
		}
		require.Equal(t, url, got.URL)
	}
	require.EqualValues(t, 1, counter.queries.Load(), "loads after priming hit the cache")

	// Stock primes the same way.
	require.NoError(t, l.PrimeVariantStock(ctx, []uuid.UUID{uuid.New()}))
	require.EqualValues(t, 2, counter.queries.Load())
	require.NoError(t, l.PrimeVariantStock(ctx, nil), "nothing to prime: no query")
	require.EqualValues(t, 2, counter.queries.Load())

	require.True(t, l.Once("x"))
	require.False(t, l.Once("x"))
}

package storefront

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func TestTerms(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"empty", "", nil},
		{"only punctuation", " -- !! ", nil},
		{"lower-cased words", "Alpha SHIRT", []string{"alpha", "shirt"}},
		{"split at punctuation", "SKU-0001-S", []string{"sku", "0001", "s"}},
		{"tsquery and fts syntax is not a word", `a:* & "b" | !c (d) NEAR(e)`, []string{"a", "b", "c", "d", "near", "e"}},
		{"repeats once", "tee Tee TEE", []string{"tee"}},
		{"letters of any script", "Café crème", []string{"café", "crème"}},
		{"at most MaxTerms", "a b c d e f g h i j k l", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}},
		{"long words are cut", strings.Repeat("x", 100), []string{strings.Repeat("x", MaxTermLen)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Terms(tc.query))
		})
	}
}

func TestQueries(t *testing.T) {
	terms := []string{"sku", "0001"}
	require.Equal(t, "sku:* & 0001:*", pgQuery(terms))
	require.Equal(t, `"sku"* AND "0001"*`, ftsQuery(terms))
}

func TestCursors(t *testing.T) {
	id := uuid.New()
	created := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.FixedZone("", 3600))
	p := &ent.Product{ID: id, Title: "Alpha: Shirt", PriceMin: 1500, CreatedAt: created}
	for _, key := range []SortKey{SortTitle, SortPrice, SortCreatedAt} {
		t.Run(string(key), func(t *testing.T) {
			o, err := newOrder(key, false, nil)
			require.NoError(t, err)
			c, err := o.cursor(p)
			require.NoError(t, err)
			pos, err := o.decode("after", &c)
			require.NoError(t, err)
			require.Equal(t, id, pos.id)
			switch key {
			case SortTitle:
				require.Equal(t, "Alpha: Shirt", pos.value)
			case SortPrice:
				require.Equal(t, int64(1500), pos.value)
			case SortCreatedAt:
				require.True(t, created.Equal(pos.value.(time.Time)))
				_, off := pos.value.(time.Time).Zone()
				require.Equal(t, 3600, off, "the zone offset is kept")
			}
			// Reverse keeps the cursors of its sort.
			r, err := newOrder(key, true, nil)
			require.NoError(t, err)
			_, err = r.decode("before", &c)
			require.NoError(t, err)
		})
	}

	t.Run("a cursor of another sort is an input error", func(t *testing.T) {
		title, _ := newOrder(SortTitle, false, nil)
		price, _ := newOrder(SortPrice, false, nil)
		c, err := title.cursor(p)
		require.NoError(t, err)
		_, err = price.decode("after", &c)
		e, ok := IsInputError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, "after", e.Field)
	})

	t.Run("malformed cursors are input errors", func(t *testing.T) {
		price, _ := newOrder(SortPrice, false, nil)
		rel, _ := newOrder(SortRelevance, false, []string{"x"})
		for name, tc := range map[string]struct {
			o order
			c ent.Cursor
		}{
			"not a string":  {price, ent.Cursor{ID: id, Value: 12}},
			"no tag":        {price, ent.Cursor{ID: id, Value: "12"}},
			"bad price":     {price, ent.Cursor{ID: id, Value: "PRICE:twelve"}},
			"no id":         {price, ent.Cursor{Value: "PRICE:12"}},
			"nan rank":      {rel, ent.Cursor{ID: id, Value: "RELEVANCE:NaN"}},
			"infinite rank": {rel, ent.Cursor{ID: id, Value: "RELEVANCE:+Inf"}},
		} {
			_, err := tc.o.decode("after", &tc.c)
			_, ok := IsInputError(err)
			require.True(t, ok, "%s: %v", name, err)
		}
	})

	t.Run("relevance without a query sorts by title", func(t *testing.T) {
		o, err := newOrder(SortRelevance, false, nil)
		require.NoError(t, err)
		require.Equal(t, SortTitle, o.key)
		_, err = newOrder("NAME", false, nil)
		_, ok := IsInputError(err)
		require.True(t, ok)
	})
}

// store is a seeded catalogue of two stores.
type store struct {
	svc               *Service
	a, b              uuid.UUID
	visitor, staff    context.Context
	visitorB          context.Context
	clothing, shirts  uuid.UUID
	tees, hats        uuid.UUID
	hidden, underHide uuid.UUID
}

// newStore seeds store A with visible and hidden products and a category
// tree, and store B with one product whose words match A's.
//
//	Clothing > Shirts > Tees, Clothing > Hats, Hidden (unpublished) > Under hidden
func newStore(t *testing.T, b dbtest.Backend) *store {
	t.Helper()
	d := dbtest.Open(t, b)
	c := d.Client
	ctx := context.Background()
	sys := viewer.SystemContext(ctx, "test seed")
	ma, err := c.MerchantAccount.Create().SetName("Acme").SetSlug("acme").Save(sys)
	require.NoError(t, err)
	mb, err := c.MerchantAccount.Create().SetName("Bolt").SetSlug("bolt").Save(sys)
	require.NoError(t, err)
	s := &store{
		svc: New(c), a: ma.ID, b: mb.ID,
		visitor:  viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Anonymous, MerchantID: ma.ID}),
		visitorB: viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Anonymous, MerchantID: mb.ID}),
		staff:    viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: ma.ID, UserID: uuid.New()}),
	}
	staffB := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: mb.ID, UserID: uuid.New()})

	cat := func(name string, parent *uuid.UUID, published bool) uuid.UUID {
		q := c.ProductCategory.Create().SetName(name).SetSlug(strings.ToLower(strings.ReplaceAll(name, " ", "-"))).
			SetPublished(published)
		if parent != nil {
			q.SetParentID(*parent)
		}
		cc, err := q.Save(s.staff)
		require.NoError(t, err)
		return cc.ID
	}
	s.clothing = cat("Clothing", nil, true)
	s.shirts = cat("Shirts", &s.clothing, true)
	s.tees = cat("Tees", &s.shirts, true)
	s.hats = cat("Hats", &s.clothing, true)
	s.hidden = cat("Hidden", nil, false)
	s.underHide = cat("Under hidden", &s.hidden, true)

	wh, err := c.Warehouse.Create().SetName("Main").SetCode("MAIN").Save(s.staff)
	require.NoError(t, err)
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(24 * time.Hour)
	base := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	n := 0
	type variant struct {
		sku                  string
		price                int64
		onHand, reserved     int
		untracked, backorder bool
	}
	add := func(ctx context.Context, title, desc string, status product.Status, published *time.Time, category *uuid.UUID, tags []string, vs ...variant) {
		n++
		minP, maxP := vs[0].price, vs[0].price
		for _, v := range vs {
			minP, maxP = min(minP, v.price), max(maxP, v.price)
		}
		q := c.Product.Create().SetTitle(title).SetSlug(strings.ToLower(strings.ReplaceAll(title, " ", "-"))).
			SetDescription(desc).SetStatus(status).SetNillablePublishedAt(published).SetNillableCategoryID(category).
			SetTags(tags).SetPriceMin(minP).SetPriceMax(maxP).SetCreatedAt(base.Add(time.Duration(n) * time.Minute))
		p, err := q.Save(ctx)
		require.NoError(t, err)
		for i, v := range vs {
			pv, err := c.ProductVariant.Create().SetProductID(p.ID).SetSku(v.sku).SetPrice(v.price).SetPosition(i).
				SetTrackInventory(!v.untracked).SetAllowBackorder(v.backorder).Save(ctx)
			require.NoError(t, err)
			if v.onHand != 0 || v.reserved != 0 {
				_, err = c.InventoryLevel.Create().SetVariantID(pv.ID).SetWarehouseID(wh.ID).
					SetQuantityOnHand(v.onHand).SetQuantityReserved(v.reserved).Save(ctx)
				require.NoError(t, err)
			}
		}
	}
	act := product.StatusACTIVE
	add(s.staff, "Alpha Shirt", "Soft cotton tee for warm days", act, &past, &s.shirts, []string{"summer", "cotton"},
		variant{sku: "SKU-AS-S", price: 1500, onHand: 5, reserved: 5}, variant{sku: "SKU-AS-M", price: 1700, onHand: 3})
	add(s.staff, "Beta Mug", "Ceramic mug for coffee", act, &past, nil, []string{"kitchen"},
		variant{sku: "MUG-1", price: 900})
	add(s.staff, "Gamma Hat", "Straw hat", act, &past, &s.hats, []string{"summer"},
		variant{sku: "HAT-1", price: 2500, untracked: true})
	add(s.staff, "Delta Tee", "Plain", act, &past, &s.tees, nil,
		variant{sku: "TEE-1", price: 1200, backorder: true})
	add(s.staff, "Secret Sock", "Warm wool", act, &past, &s.underHide, nil,
		variant{sku: "SOCK-1", price: 500, onHand: 1})
	add(s.staff, "Draft Jacket", "Summer jacket", product.StatusDRAFT, &past, &s.shirts, []string{"summer"},
		variant{sku: "JKT-1", price: 9000, onHand: 9})
	add(s.staff, "Archived Scarf", "Old scarf", product.StatusARCHIVED, &past, nil, nil,
		variant{sku: "SCF-1", price: 800, onHand: 9})
	add(s.staff, "Future Boots", "Not yet", act, &future, nil, nil,
		variant{sku: "BOOT-1", price: 7000, onHand: 9})
	add(s.staff, "Unpublished Cap", "No date", act, nil, nil, nil,
		variant{sku: "CAP-1", price: 700, onHand: 9})
	add(staffB, "Alpha Bolt Shirt", "Soft cotton tee of another store", act, &past, nil, []string{"summer", "cotton", "kitchen"},
		variant{sku: "SKU-AS-S", price: 100, onHand: 9})
	return s
}

// titles lists a page's product titles.
func titles(conn *ent.ProductConnection) []string {
	out := []string{}
	for _, e := range conn.Edges {
		out = append(out, e.Node.Title)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestList(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			testList(t, newStore(t, b))
		})
	}
}

func testList(t *testing.T, s *store) {
	list := func(t *testing.T, ctx context.Context, in ListInput) []string {
		t.Helper()
		if in.First == nil && in.Last == nil {
			in.First = ptr(MaxPage)
		}
		conn, err := s.svc.List(ctx, in)
		require.NoError(t, err)
		return titles(conn)
	}
	visible := []string{"Alpha Shirt", "Beta Mug", "Delta Tee", "Gamma Hat", "Secret Sock"}

	t.Run("the storefront sees active, published products of its store", func(t *testing.T) {
		require.Equal(t, visible, list(t, s.visitor, ListInput{}))
		conn, err := s.svc.List(s.visitor, ListInput{Count: true, First: ptr(2)})
		require.NoError(t, err)
		require.Equal(t, 5, conn.TotalCount)
		require.Equal(t, []string{"Alpha Bolt Shirt"}, list(t, s.visitorB, ListInput{}))
	})

	t.Run("staff see every status", func(t *testing.T) {
		require.Equal(t, []string{"Alpha Shirt", "Archived Scarf", "Beta Mug", "Delta Tee", "Draft Jacket",
			"Future Boots", "Gamma Hat", "Secret Sock", "Unpublished Cap"}, list(t, s.staff, ListInput{}))
		// A key without products permissions is a storefront reader.
		key := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.APIKey, MerchantID: s.a, Permissions: []string{"orders:read"}})
		require.Equal(t, visible, list(t, key, ListInput{}))
	})

	t.Run("product by id or slug", func(t *testing.T) {
		p, err := s.svc.Product(s.visitor, nil, ptr("alpha-shirt"), nil)
		require.NoError(t, err)
		require.Equal(t, "Alpha Shirt", p.Title)
		p2, err := s.svc.Product(s.visitor, &p.ID, nil, nil)
		require.NoError(t, err)
		require.Equal(t, p.ID, p2.ID)
		for _, slug := range []string{"draft-jacket", "future-boots", "unpublished-cap", "archived-scarf", "alpha-bolt-shirt", "nope"} {
			_, err = s.svc.Product(s.visitor, nil, &slug, nil)
			require.ErrorIs(t, err, ErrNotFound, slug)
		}
		_, err = s.svc.Product(s.staff, nil, ptr("draft-jacket"), nil)
		require.NoError(t, err)
		_, err = s.svc.Product(s.visitor, &p.ID, ptr("alpha-shirt"), nil)
		_, ok := IsInputError(err)
		require.True(t, ok)
		_, err = s.svc.Product(s.visitor, nil, nil, nil)
		_, ok = IsInputError(err)
		require.True(t, ok)
	})

	t.Run("search", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"shirt", []string{"Alpha Shirt"}},
			{"SHI", []string{"Alpha Shirt"}},                 // prefix, any case
			{"cotton", []string{"Alpha Shirt"}},              // tags and description
			{"coffee", []string{"Beta Mug"}},                 // description
			{"kitchen", []string{"Beta Mug"}},                // tags
			{"SKU-AS-M", []string{"Alpha Shirt"}},            // a SKU
			{"mug-1", []string{"Beta Mug"}},                  // a SKU, any case
			{"mug coffee", []string{"Beta Mug"}},             // every word must match
			{"mug shirt", []string{}},                        // ... or nothing
			{"summer", []string{"Alpha Shirt", "Gamma Hat"}}, // not the draft, not store B
			{"jacket", []string{}},                           // drafts stay hidden
			{"  !!  ", visible},                              // no words: no search
			{`x" OR 1=1 --`, []string{}},                     // syntax is text
		} {
			t.Run(tc.query, func(t *testing.T) {
				require.Equal(t, tc.want, list(t, s.visitor, ListInput{Query: tc.query}))
			})
		}
		require.Equal(t, []string{"Draft Jacket"}, list(t, s.staff, ListInput{Query: "jacket"}))
		require.Equal(t, []string{"Alpha Bolt Shirt"}, list(t, s.visitorB, ListInput{Query: "shirt"}))
	})

	t.Run("relevance", func(t *testing.T) {
		// "tee": Delta Tee by its title, Alpha Shirt by its description.
		got := list(t, s.visitor, ListInput{Query: "tee", SortKey: SortRelevance})
		require.Equal(t, []string{"Delta Tee", "Alpha Shirt"}, got)
		got = list(t, s.visitor, ListInput{Query: "tee", SortKey: SortRelevance, Reverse: true})
		require.Equal(t, []string{"Alpha Shirt", "Delta Tee"}, got)
		// Title order when asked for, even with a query.
		require.Equal(t, []string{"Alpha Shirt", "Delta Tee"}, list(t, s.visitor, ListInput{Query: "tee"}))
		// A SKU search finds its product first.
		got = list(t, s.visitor, ListInput{Query: "hat 1", SortKey: SortRelevance})
		require.Equal(t, []string{"Gamma Hat"}, got)
	})

	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			ctx    context.Context
			filter Filter
			want   []string
		}{
			{"category with descendants", s.visitor, Filter{CategoryID: &s.shirts}, []string{"Alpha Shirt", "Delta Tee"}},
			{"category root", s.visitor, Filter{CategoryID: &s.clothing}, []string{"Alpha Shirt", "Delta Tee", "Gamma Hat"}},
			{"category leaf", s.visitor, Filter{CategoryID: &s.tees}, []string{"Delta Tee"}},
			{"staff see drafts in a category", s.staff, Filter{CategoryID: &s.shirts}, []string{"Alpha Shirt", "Delta Tee", "Draft Jacket"}},
			{"unpublished category", s.visitor, Filter{CategoryID: &s.hidden}, []string{}},
			{"under an unpublished category", s.visitor, Filter{CategoryID: &s.underHide}, []string{}},
			{"staff see unpublished categories", s.staff, Filter{CategoryID: &s.hidden}, []string{"Secret Sock"}},
			{"unknown category", s.visitor, Filter{CategoryID: ptr(uuid.New())}, []string{}},
			{"another store's category", s.visitorB, Filter{CategoryID: &s.shirts}, []string{}},
			{"price at least", s.visitor, Filter{PriceMin: ptr(int64(1600))}, []string{"Alpha Shirt", "Gamma Hat"}},
			{"price at most", s.visitor, Filter{PriceMax: ptr(int64(900))}, []string{"Beta Mug", "Secret Sock"}},
			{"price within", s.visitor, Filter{PriceMin: ptr(int64(1600)), PriceMax: ptr(int64(1800))}, []string{"Alpha Shirt"}},
			{"price range empty", s.visitor, Filter{PriceMin: ptr(int64(1800)), PriceMax: ptr(int64(1600))}, []string{}},
			{"in stock", s.visitor, Filter{InStock: ptr(true)}, []string{"Alpha Shirt", "Delta Tee", "Gamma Hat", "Secret Sock"}},
			{"out of stock", s.visitor, Filter{InStock: ptr(false)}, []string{"Beta Mug"}},
			{"any of the tags", s.visitor, Filter{Tags: []string{"kitchen", "cotton"}}, []string{"Alpha Shirt", "Beta Mug"}},
			{"tags match exactly", s.visitor, Filter{Tags: []string{"Summer"}}, []string{}},
			{"filters combine", s.visitor, Filter{Tags: []string{"summer"}, InStock: ptr(true), CategoryID: &s.clothing}, []string{"Alpha Shirt", "Gamma Hat"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.want, list(t, tc.ctx, ListInput{Filter: tc.filter}))
			})
		}
		require.Equal(t, []string{"Alpha Shirt"}, list(t, s.visitor, ListInput{Query: "cotton", Filter: Filter{InStock: ptr(true)}}))
		_, err := s.svc.List(s.visitor, ListInput{Filter: Filter{Tags: make([]string, MaxTags+1)}})
		_, ok := IsInputError(err)
		require.True(t, ok)
	})

	t.Run("sorts", func(t *testing.T) {
		for _, tc := range []struct {
			key     SortKey
			reverse bool
			want    []string
		}{
			{SortTitle, false, visible},
			{SortTitle, true, []string{"Secret Sock", "Gamma Hat", "Delta Tee", "Beta Mug", "Alpha Shirt"}},
			{SortPrice, false, []string{"Secret Sock", "Beta Mug", "Delta Tee", "Alpha Shirt", "Gamma Hat"}},
			{SortPrice, true, []string{"Gamma Hat", "Alpha Shirt", "Delta Tee", "Beta Mug", "Secret Sock"}},
			{SortCreatedAt, false, []string{"Secret Sock", "Delta Tee", "Gamma Hat", "Beta Mug", "Alpha Shirt"}},
			{SortCreatedAt, true, []string{"Alpha Shirt", "Beta Mug", "Gamma Hat", "Delta Tee", "Secret Sock"}},
			{SortRelevance, false, visible},
		} {
			t.Run(fmt.Sprintf("%s reverse=%v", tc.key, tc.reverse), func(t *testing.T) {
				require.Equal(t, tc.want, list(t, s.visitor, ListInput{SortKey: tc.key, Reverse: tc.reverse}))
			})
		}
	})

	t.Run("pagination walks every sort exactly", func(t *testing.T) {
		for _, tc := range []struct {
			key     SortKey
			query   string
			reverse bool
		}{
			{SortTitle, "", false}, {SortTitle, "", true},
			{SortPrice, "", false}, {SortPrice, "", true},
			{SortCreatedAt, "", false}, {SortCreatedAt, "", true},
			{SortRelevance, "summer cotton", false}, {SortRelevance, "s", false}, {SortRelevance, "s", true},
		} {
			t.Run(fmt.Sprintf("%s %q reverse=%v", tc.key, tc.query, tc.reverse), func(t *testing.T) {
				for _, ctx := range []context.Context{s.visitor, s.staff} {
					all := list(t, ctx, ListInput{SortKey: tc.key, Query: tc.query, Reverse: tc.reverse})
					require.NotEmpty(t, all)
					for _, size := range []int{1, 2, 3} {
						// Forward with first/after.
						var got []string
						var after *ent.Cursor
						for {
							conn, err := s.svc.List(ctx, ListInput{First: ptr(size), After: after, SortKey: tc.key, Query: tc.query, Reverse: tc.reverse})
							require.NoError(t, err)
							require.LessOrEqual(t, len(conn.Edges), size)
							got = append(got, titles(conn)...)
							require.Equal(t, after != nil, conn.PageInfo.HasPreviousPage)
							if !conn.PageInfo.HasNextPage {
								break
							}
							after = conn.PageInfo.EndCursor
						}
						require.Equal(t, all, got, "forward by %d", size)

						// Backward with last/before.
						got = nil
						var before *ent.Cursor
						for {
							conn, err := s.svc.List(ctx, ListInput{Last: ptr(size), Before: before, SortKey: tc.key, Query: tc.query, Reverse: tc.reverse})
							require.NoError(t, err)
							got = append(titles(conn), got...)
							require.Equal(t, before != nil, conn.PageInfo.HasNextPage)
							if !conn.PageInfo.HasPreviousPage {
								break
							}
							before = conn.PageInfo.StartCursor
						}
						require.Equal(t, all, got, "backward by %d", size)
					}
				}
			})
		}
	})

	t.Run("page bounds and cursors", func(t *testing.T) {
		conn, err := s.svc.List(s.visitor, ListInput{})
		require.NoError(t, err)
		require.Len(t, conn.Edges, 5, "the default page holds everything here")
		conn, err = s.svc.List(s.visitor, ListInput{First: ptr(0), Count: true})
		require.NoError(t, err)
		require.Empty(t, conn.Edges)
		require.Equal(t, 5, conn.TotalCount)
		for _, in := range []ListInput{
			{First: ptr(1), Last: ptr(1)},
			{First: ptr(MaxPage + 1)},
			{Last: ptr(-1)},
			{SortKey: "NAME"},
		} {
			_, err := s.svc.List(s.visitor, in)
			_, ok := IsInputError(err)
			require.True(t, ok, "%+v: %v", in, err)
		}
		// A title cursor is no price cursor.
		conn, err = s.svc.List(s.visitor, ListInput{First: ptr(1)})
		require.NoError(t, err)
		_, err = s.svc.List(s.visitor, ListInput{First: ptr(1), After: conn.PageInfo.EndCursor, SortKey: SortPrice})
		_, ok := IsInputError(err)
		require.True(t, ok, "%v", err)
		// Between two cursors.
		all, err := s.svc.List(s.visitor, ListInput{})
		require.NoError(t, err)
		conn, err = s.svc.List(s.visitor, ListInput{After: &all.Edges[0].Cursor, Before: &all.Edges[4].Cursor, First: ptr(10)})
		require.NoError(t, err)
		require.Equal(t, []string{"Beta Mug", "Delta Tee", "Gamma Hat"}, titles(conn))
		require.True(t, conn.PageInfo.HasNextPage && conn.PageInfo.HasPreviousPage)
	})

	t.Run("where adds to the filters", func(t *testing.T) {
		got := list(t, s.staff, ListInput{Query: "summer", Where: func(q *ent.ProductQuery) (*ent.ProductQuery, error) {
			return q.Where(product.StatusEQ(product.StatusDRAFT)), nil
		}})
		require.Equal(t, []string{"Draft Jacket"}, got)
	})

	t.Run("search index follows edits", func(t *testing.T) {
		c := s.svc.client
		p, err := c.Product.Query().Where(product.Slug("beta-mug")).Only(s.staff)
		require.NoError(t, err)
		require.NoError(t, c.Product.UpdateOne(p).SetTitle("Beta Teacup").SetTags([]string{"porcelain"}).Exec(s.staff))
		require.Equal(t, []string{"Beta Teacup"}, list(t, s.visitor, ListInput{Query: "teacup porcelain"}))
		require.Equal(t, []string{}, list(t, s.visitor, ListInput{Query: "kitchen"}))
		v, err := c.ProductVariant.Query().Where().All(s.staff)
		require.NoError(t, err)
		for _, pv := range v {
			if pv.Sku == "MUG-1" {
				require.NoError(t, c.ProductVariant.UpdateOne(pv).SetSku("CUP-7").Exec(s.staff))
			}
		}
		require.Equal(t, []string{"Beta Teacup"}, list(t, s.visitor, ListInput{Query: "cup-7"}))
		require.Equal(t, []string{}, list(t, s.visitor, ListInput{Query: "mug-1"}))
		_, err = c.ProductVariant.Create().SetProductID(p.ID).SetSku("SAUCER-2").SetPrice(100).Save(s.staff)
		require.NoError(t, err)
		require.Equal(t, []string{"Beta Teacup"}, list(t, s.visitor, ListInput{Query: "saucer"}))
	})
}

// TestSearchUsesTheGINIndexes checks that PostgreSQL finds search matches
// through the GIN indexes of migration 00003: the expressions of search.go
// and of the migration agree.
func TestSearchUsesTheGINIndexes(t *testing.T) {
	d := dbtest.Open(t, dbtest.Postgres)
	sel := sql.Dialect(dialect.Postgres).Select("id").From(sql.Table(product.Table))
	matches([]string{"alpha", "sku"})(sel)
	query, args := sel.Query()
	tx, err := d.SQL.Begin()
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Exec(`SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	rows, err := tx.Query("EXPLAIN "+query, args...)
	require.NoError(t, err)
	var plan strings.Builder
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan.WriteString(line + "\n")
	}
	require.NoError(t, rows.Err())
	require.Contains(t, plan.String(), "products_search", plan.String())
	require.Contains(t, plan.String(), "product_variants_sku_search", plan.String())
}

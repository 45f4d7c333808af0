package popup_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func TestActiveAndImpressions(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testActive(t, b) })
	}
}

func names(ps []*ent.CapturePopup) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func testActive(t *testing.T, b dbtest.Backend) {
	d := dbtest.Open(t, b)
	c := d.Client
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	now := clk.now()
	a := newStore(t, c, "a", now)
	other := newStore(t, c, "b", now)
	svc := newService(t, d, clk)
	active := ptr(capturepopup.StatusACTIVE)
	mk := func(s *store, in popup.Input) *ent.CapturePopup {
		t.Helper()
		p, err := svc.Create(s.staff, s.id, in)
		require.NoError(t, err)
		return p
	}
	products := mk(a, popup.Input{Name: ptr("products"), Status: active, Priority: ptr(5),
		IncludePaths: &[]string{"/products/*"}, Frequency: &popup.Frequency{Mode: popup.FrequencyEveryPageView}})
	site := mk(a, popup.Input{Name: ptr("site"), Status: active, Priority: ptr(10),
		ExcludePaths: &[]string{"/cart", "/checkout/**"}, Frequency: &popup.Frequency{Mode: popup.FrequencyOncePerSession}})
	home := mk(a, popup.Input{Name: ptr("home"), Status: active, IncludePaths: &[]string{"/"},
		Frequency: &popup.Frequency{Mode: popup.FrequencyEveryNDays, Days: 3}})
	mk(a, popup.Input{Name: ptr("draft")})
	paused := mk(a, popup.Input{Name: ptr("paused"), Status: ptr(capturepopup.StatusPAUSED)})
	mk(a, popup.Input{Name: ptr("later"), Status: active, StartsAt: ptr(now.Add(time.Hour))})
	mk(a, popup.Input{Name: ptr("ending"), Status: active, EndsAt: ptr(now.Add(30 * time.Minute)), Priority: ptr(-1),
		Frequency: &popup.Frequency{Mode: popup.FrequencyOncePerVisitor}})
	theirs := mk(other, popup.Input{Name: ptr("theirs"), Status: active, Priority: ptr(100)})

	anon := viewer.NewContext(t.Context(), viewer.Viewer{Kind: viewer.Anonymous, MerchantID: a.id})
	fresh := popup.VisitorState{SessionID: "s1"}
	for _, tc := range []struct {
		name    string
		path    string
		visitor popup.VisitorState
		want    []string
	}{
		{"product page", "/products/shirt?variant=2", fresh, []string{"site", "products", "ending"}},
		{"home", "/", fresh, []string{"site", "home", "ending"}},
		{"home as a URL", "https://shop.test/?utm_source=x#top", fresh, []string{"site", "home", "ending"}},
		{"cart excluded", "/cart/", fresh, []string{"ending"}},
		{"checkout excluded", "/checkout/pay", fresh, []string{"ending"}},
		{"product listing is not a product", "/products", fresh, []string{"site", "ending"}},
		{"site shown this session", "/products/shirt", popup.VisitorState{SessionID: "s1",
			LastShown: map[uuid.UUID]popup.Shown{site.ID: {At: now.Add(-time.Minute), SessionID: "s1"}}}, []string{"products", "ending"}},
		{"site shown last session", "/products/shirt", popup.VisitorState{SessionID: "s2",
			LastShown: map[uuid.UUID]popup.Shown{site.ID: {At: now.Add(-time.Hour), SessionID: "s1"}}}, []string{"site", "products", "ending"}},
		{"home shown yesterday", "/", popup.VisitorState{
			LastShown: map[uuid.UUID]popup.Shown{home.ID: {At: now.Add(-24 * time.Hour)}}}, []string{"site", "ending"}},
		{"submitted products", "/products/x", popup.VisitorState{SubmittedPopupIDs: []uuid.UUID{products.ID}}, []string{"site", "ending"}},
	} {
		got, err := svc.Active(anon, a.id, tc.path, tc.visitor)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, names(got), tc.name)
	}

	// Time passes: "ending" ends, "later" starts.
	clk.add(time.Hour)
	got, err := svc.Active(anon, a.id, "/about", fresh)
	require.NoError(t, err)
	require.Equal(t, []string{"site", "later"}, names(got))

	// Tenant isolation: the other store sees its own popup only, and a
	// visitor of store a cannot ask for store b.
	got, err = svc.Active(other.staff, other.id, "/", fresh)
	require.NoError(t, err)
	require.Equal(t, []string{"theirs"}, names(got))
	_, err = svc.Active(anon, other.id, "/", fresh)
	require.ErrorIs(t, err, viewer.ErrCrossTenant)

	t.Run("impressions", func(t *testing.T) {
		require.NoError(t, svc.RecordImpression(anon, a.id, site.ID))
		require.NoError(t, svc.RecordImpression(anon, a.id, site.ID))
		require.ErrorIs(t, svc.RecordImpression(anon, a.id, theirs.ID), popup.ErrNotFound)
		require.ErrorIs(t, svc.RecordImpression(anon, a.id, uuid.New()), popup.ErrNotFound)
		require.NoError(t, svc.RecordImpression(anon, a.id, paused.ID), "a paused popup answers nil")

		// Concurrent reports all count.
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- svc.RecordImpression(anon, a.id, products.ID)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for id, want := range map[uuid.UUID]int{site.ID: 2, products.ID: n, paused.ID: 0} {
			p, err := svc.Get(a.staff, a.id, id)
			require.NoError(t, err)
			require.Equal(t, want, p.ViewsCount, p.Name)
		}
		p, err := svc.Get(other.staff, other.id, theirs.ID)
		require.NoError(t, err)
		require.Zero(t, p.ViewsCount)
	})
}

package popup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent/capturepopup"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// BenchmarkTargetingMatches: one page checked against 20 include and 10
// exclude patterns with wildcards (the pure part of Active).
func BenchmarkTargetingMatches(b *testing.B) {
	var s popup.Settings
	for i := range 20 {
		s.IncludePaths = append(s.IncludePaths, fmt.Sprintf("/collections/c%d/**/x*y*z", i))
	}
	for i := range 10 {
		s.ExcludePaths = append(s.ExcludePaths, fmt.Sprintf("/**/e%d-*", i))
	}
	tg := popup.TargetingOf(s)
	path := "/collections/c19/a/b/c/d/xaaybbz?utm_source=news"
	if !tg.Matches(path) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	for b.Loop() {
		tg.Matches(path)
	}
}

// BenchmarkActive: activePopups for one page of a store with 50 live
// popups, each with include/exclude patterns.
func BenchmarkActive(b *testing.B) {
	for _, be := range dbtest.Backends() {
		b.Run(string(be), func(b *testing.B) {
			d := dbtest.Open(b, be)
			clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			ctx := context.Background()
			m, err := d.Client.MerchantAccount.Create().SetName("Bench").SetSlug("bench").Save(viewer.SystemContext(ctx, "bench seed"))
			if err != nil {
				b.Fatal(err)
			}
			staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()})
			svc := newService(b, d, clk)
			for i := range 50 {
				_, err := svc.Create(staff, m.ID, popup.Input{Name: ptr(fmt.Sprintf("p%d", i)), Status: ptr(capturepopup.StatusACTIVE),
					Priority: ptr(i % 7), IncludePaths: &[]string{"/products/*", fmt.Sprintf("/collections/c%d/**", i)},
					ExcludePaths: &[]string{"/cart", "/checkout/**"}})
				if err != nil {
					b.Fatal(err)
				}
			}
			visitor := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Anonymous, MerchantID: m.ID})
			b.ResetTimer()
			for b.Loop() {
				got, err := svc.Active(visitor, m.ID, "/products/shirt?x=1", popup.VisitorState{SessionID: "s"})
				if err != nil || len(got) != 50 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}

package popup_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/capturepopup"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func TestCRUD(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { testCRUD(t, b) })
	}
}

func testCRUD(t *testing.T, b dbtest.Backend) {
	d := dbtest.Open(t, b)
	c := d.Client
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	now := clk.now()
	a := newStore(t, c, "a", now)
	other := newStore(t, c, "b", now)
	svc := newService(t, d, clk)
	archived := a.archived(t, c)

	t.Run("validation", func(t *testing.T) {
		many := make([]string, 51)
		for i := range many {
			many[i] = fmt.Sprintf("/p%d", i)
		}
		for _, tc := range []struct {
			name string
			in   popup.Input
			want []string // nil: valid
		}{
			{"minimal", popup.Input{Name: ptr("Welcome")}, nil},
			{"name missing", popup.Input{}, []string{"input.name:REQUIRED"}},
			{"name blank", popup.Input{Name: ptr("   ")}, []string{"input.name:REQUIRED"}},
			{"name too long", popup.Input{Name: ptr(strings.Repeat("n", 201))}, []string{"input.name:TOO_LONG"}},
			{"name at the limit", popup.Input{Name: ptr(strings.Repeat("n", 200))}, nil},
			{"title too long", popup.Input{Name: ptr("x"), Title: ptr(strings.Repeat("t", 201))}, []string{"input.title:TOO_LONG"}},
			{"title control char", popup.Input{Name: ptr("x"), Title: ptr("a\x01b")}, []string{"input.title:INVALID"}},
			{"title newline", popup.Input{Name: ptr("x"), Title: ptr("a\nb")}, []string{"input.title:INVALID"}},
			{"body multiline ok", popup.Input{Name: ptr("x"), Body: ptr("line 1\nline 2\ttab")}, nil},
			{"body too long", popup.Input{Name: ptr("x"), Body: ptr(strings.Repeat("b", 5001))}, []string{"input.body:TOO_LONG"}},
			{"body at the limit", popup.Input{Name: ptr("x"), Body: ptr(strings.Repeat("b", 5000))}, nil},
			{"body NUL", popup.Input{Name: ptr("x"), Body: ptr("a\x00")}, []string{"input.body:INVALID"}},
			{"body bad UTF-8", popup.Input{Name: ptr("x"), Body: ptr("a\xff")}, []string{"input.body:INVALID"}},
			{"cta empty", popup.Input{Name: ptr("x"), CTAText: ptr(" ")}, []string{"input.ctaText:REQUIRED"}},
			{"cta too long", popup.Input{Name: ptr("x"), CTAText: ptr(strings.Repeat("c", 101))}, []string{"input.ctaText:TOO_LONG"}},
			{"success too long", popup.Input{Name: ptr("x"), SuccessMessage: ptr(strings.Repeat("s", 1001))}, []string{"input.successMessage:TOO_LONG"}},
			{"status archived (not in the schema)", popup.Input{Name: ptr("x"), Status: ptr(capturepopup.Status("ARCHIVED"))}, []string{"input.status:INVALID"}},
			{"status active", popup.Input{Name: ptr("x"), Status: ptr(capturepopup.StatusACTIVE)}, nil},
			{"kind unknown", popup.Input{Name: ptr("x"), Kind: ptr(capturepopup.Kind("POPOVER"))}, []string{"input.kind:INVALID"}},
			{"delay negative", popup.Input{Name: ptr("x"), DelaySeconds: ptr(-1)}, []string{"input.delaySeconds:INVALID"}},
			{"delay too long", popup.Input{Name: ptr("x"), DelaySeconds: ptr(3601)}, []string{"input.delaySeconds:INVALID"}},
			{"delay at the limit", popup.Input{Name: ptr("x"), DelaySeconds: ptr(3600)}, nil},
			{"scroll over 100", popup.Input{Name: ptr("x"), ScrollDepthPercent: ptr(101)}, []string{"input.scrollDepthPercent:INVALID"}},
			{"scroll negative", popup.Input{Name: ptr("x"), ScrollDepthPercent: ptr(-1)}, []string{"input.scrollDepthPercent:INVALID"}},
			{"scroll 100", popup.Input{Name: ptr("x"), ScrollDepthPercent: ptr(100), ExitIntent: ptr(true)}, nil},
			{"frequency days 0", popup.Input{Name: ptr("x"), Frequency: &popup.Frequency{Mode: popup.FrequencyEveryNDays}}, []string{"input.frequency.days:INVALID"}},
			{"frequency days 366", popup.Input{Name: ptr("x"), Frequency: &popup.Frequency{Mode: popup.FrequencyEveryNDays, Days: 366}}, []string{"input.frequency.days:INVALID"}},
			{"frequency days with session", popup.Input{Name: ptr("x"), Frequency: &popup.Frequency{Mode: popup.FrequencyOncePerSession, Days: 3}}, []string{"input.frequency.days:INVALID"}},
			{"frequency mode unknown", popup.Input{Name: ptr("x"), Frequency: &popup.Frequency{Mode: "HOURLY"}}, []string{"input.frequency.mode:INVALID"}},
			{"frequency once per visitor", popup.Input{Name: ptr("x"), Frequency: &popup.Frequency{Mode: popup.FrequencyOncePerVisitor}}, nil},
			{"include bad pattern", popup.Input{Name: ptr("x"), IncludePaths: &[]string{"/ok", "no-slash", "/a?b"}},
				[]string{"input.includePaths.1:INVALID", "input.includePaths.2:INVALID"}},
			{"exclude bad pattern", popup.Input{Name: ptr("x"), ExcludePaths: &[]string{"/a/**b"}}, []string{"input.excludePaths.0:INVALID"}},
			{"pattern too long", popup.Input{Name: ptr("x"), IncludePaths: &[]string{"/" + strings.Repeat("a", 600)}}, []string{"input.includePaths.0:TOO_LONG"}},
			{"too many patterns", popup.Input{Name: ptr("x"), IncludePaths: &many}, []string{"input.includePaths:TOO_MANY"}},
			{"window reversed", popup.Input{Name: ptr("x"), StartsAt: ptr(now.Add(48 * time.Hour)), EndsAt: ptr(now.Add(24 * time.Hour))}, []string{"input.endsAt:INVALID"}},
			{"window equal", popup.Input{Name: ptr("x"), StartsAt: ptr(now.Add(time.Hour)), EndsAt: ptr(now.Add(time.Hour))}, []string{"input.endsAt:INVALID"}},
			{"ends in the past", popup.Input{Name: ptr("x"), EndsAt: ptr(now.Add(-time.Minute))}, []string{"input.endsAt:INVALID"}},
			{"window ok", popup.Input{Name: ptr("x"), StartsAt: ptr(now.Add(-time.Hour)), EndsAt: ptr(now.Add(time.Hour))}, nil},
			{"priority too high", popup.Input{Name: ptr("x"), Priority: ptr(1001)}, []string{"input.priority:INVALID"}},
			{"priority too low", popup.Input{Name: ptr("x"), Priority: ptr(-1001)}, []string{"input.priority:INVALID"}},
			{"discount ok (lower case)", popup.Input{Name: ptr("x"), DiscountCode: ptr(" save10 ")}, nil},
			{"discount unknown", popup.Input{Name: ptr("x"), DiscountCode: ptr("NOPE")}, []string{"input.discountCode:NOT_FOUND"}},
			{"discount of another store", popup.Input{Name: ptr("x"), DiscountCode: ptr("B10")}, []string{"input.discountCode:NOT_FOUND"}},
			{"discount inactive", popup.Input{Name: ptr("x"), DiscountCode: ptr("OLD")}, []string{"input.discountCode:DISCOUNT_INVALID"}},
			{"discount expired", popup.Input{Name: ptr("x"), DiscountCode: ptr("GONE")}, []string{"input.discountCode:DISCOUNT_INVALID"}},
			{"discount used up", popup.Input{Name: ptr("x"), DiscountCode: ptr("USED")}, []string{"input.discountCode:DISCOUNT_INVALID"}},
			{"discount not valid yet", popup.Input{Name: ptr("x"), DiscountCode: ptr("LATER")}, []string{"input.discountCode:DISCOUNT_INVALID"}},
			{"discount valid when the popup starts", popup.Input{Name: ptr("x"), DiscountCode: ptr("LATER"), StartsAt: ptr(now.Add(72 * time.Hour))}, nil},
			{"discount too long", popup.Input{Name: ptr("x"), DiscountCode: ptr(strings.Repeat("D", 65))}, []string{"input.discountCode:TOO_LONG"}},
			{"segment ok", popup.Input{Name: ptr("x"), SegmentID: &a.seg.ID}, nil},
			{"segment archived", popup.Input{Name: ptr("x"), SegmentID: &archived}, []string{"input.segmentId:INVALID"}},
			{"segment of another store", popup.Input{Name: ptr("x"), SegmentID: &other.seg.ID}, []string{"input.segmentId:NOT_FOUND"}},
			{"segment unknown", popup.Input{Name: ptr("x"), SegmentID: ptr(uuid.New())}, []string{"input.segmentId:NOT_FOUND"}},
			{"every problem at once", popup.Input{Title: ptr(strings.Repeat("t", 201)), DelaySeconds: ptr(-5), DiscountCode: ptr("NOPE")},
				[]string{"input.delaySeconds:INVALID", "input.discountCode:NOT_FOUND", "input.name:REQUIRED", "input.title:TOO_LONG"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, err := c.CapturePopup.Query().Count(a.staff)
				require.NoError(t, err)
				p, err := svc.Create(a.staff, a.id, tc.in)
				after, err2 := c.CapturePopup.Query().Count(a.staff)
				require.NoError(t, err2)
				if tc.want == nil {
					require.NoError(t, err)
					require.Equal(t, a.id, p.MerchantID)
					require.Equal(t, before+1, after)
					return
				}
				require.Equal(t, tc.want, codes(t, err))
				require.Equal(t, before, after, "nothing is written on invalid input")
			})
		}
	})

	t.Run("create stores everything", func(t *testing.T) {
		p, err := svc.Create(a.staff, a.id, popup.Input{
			Name: ptr(" Spring "), Status: ptr(capturepopup.StatusACTIVE), Kind: ptr(capturepopup.KindSLIDE_IN),
			Title: ptr("Get 10%"), Body: ptr("Join us"), CTAText: ptr("Join"), SuccessMessage: ptr("Thanks!"),
			DiscountCode: ptr("save10"), DoubleOptIn: ptr(true), ScrollDepthPercent: ptr(50), ExitIntent: ptr(true),
			Frequency:    &popup.Frequency{Mode: popup.FrequencyOncePerSession},
			IncludePaths: &[]string{"/Products/*", "/products/*/", "/"}, ExcludePaths: &[]string{"/cart/"},
			StartsAt: ptr(now.Add(-time.Hour)), EndsAt: ptr(now.Add(time.Hour)), Priority: ptr(7), SegmentID: &a.seg.ID,
		})
		require.NoError(t, err)
		require.Equal(t, "Spring", p.Name)
		require.Equal(t, capturepopup.StatusACTIVE, p.Status)
		require.Equal(t, capturepopup.KindSLIDE_IN, p.Kind)
		require.Equal(t, "SAVE10", p.IncentiveDiscountCode)
		require.True(t, p.DoubleOptIn)
		require.Equal(t, capturepopup.TriggerSCROLL, p.Trigger)
		require.Equal(t, 50, p.TriggerValue)
		require.Equal(t, 0, p.FrequencyCapDays)
		require.Equal(t, 7, p.Priority)
		require.Equal(t, a.seg.ID, *p.SegmentID)
		st := popup.SettingsOf(p)
		require.Equal(t, []string{"/products/*", "/"}, st.IncludePaths, "canonical, deduplicated")
		require.Equal(t, []string{"/cart"}, st.ExcludePaths)
		require.Equal(t, popup.Frequency{Mode: popup.FrequencyOncePerSession}, st.Frequency)
		require.True(t, st.ExitIntent)
		require.Equal(t, 50, st.ScrollDepthPercent)
		// Read back from the database.
		got, err := svc.Get(a.staff, a.id, p.ID)
		require.NoError(t, err)
		require.Equal(t, st, popup.SettingsOf(got))

		// Defaults.
		def, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Defaults")})
		require.NoError(t, err)
		require.Equal(t, capturepopup.StatusDRAFT, def.Status)
		require.Equal(t, "Subscribe", def.CtaText)
		require.Equal(t, capturepopup.TriggerON_LOAD, def.Trigger)
		require.Equal(t, 7, def.FrequencyCapDays)
		require.Equal(t, popup.Frequency{Mode: popup.FrequencyEveryNDays, Days: 7}, popup.SettingsOf(def).Frequency)
	})

	t.Run("partial update", func(t *testing.T) {
		p, err := svc.Create(a.staff, a.id, popup.Input{Name: ptr("Partial"), Title: ptr("T1"), Body: ptr("B1"),
			DiscountCode: ptr("SAVE10"), DelaySeconds: ptr(5), IncludePaths: &[]string{"/a"}, ExcludePaths: &[]string{"/b"},
			StartsAt: ptr(now.Add(-time.Hour)), SegmentID: &a.seg.ID, Priority: ptr(3)})
		require.NoError(t, err)

		u, err := svc.Update(a.staff, a.id, p.ID, popup.Input{Title: ptr("T2")})
		require.NoError(t, err)
		require.Equal(t, "T2", u.Title)
		require.Equal(t, "B1", u.Body)
		require.Equal(t, "Partial", u.Name)
		require.Equal(t, "SAVE10", u.IncentiveDiscountCode)
		require.Equal(t, 3, u.Priority)
		require.Equal(t, popup.SettingsOf(p), popup.SettingsOf(u))
		require.NotNil(t, u.StartsAt)

		u, err = svc.Update(a.staff, a.id, p.ID, popup.Input{IncludePaths: &[]string{}, ScrollDepthPercent: ptr(30),
			DiscountCode: ptr(""), StartsAt: &time.Time{}, SegmentID: &uuid.Nil})
		require.NoError(t, err)
		st := popup.SettingsOf(u)
		require.Empty(t, st.IncludePaths)
		require.Equal(t, []string{"/b"}, st.ExcludePaths)
		require.Equal(t, 5, st.DelaySeconds)
		require.Equal(t, 30, st.ScrollDepthPercent)
		require.Equal(t, capturepopup.TriggerTIME_DELAY, u.Trigger)
		require.Empty(t, u.IncentiveDiscountCode)
		require.Nil(t, u.StartsAt)
		require.Nil(t, u.SegmentID)

		// An invalid update changes nothing.
		_, err = svc.Update(a.staff, a.id, p.ID, popup.Input{Title: ptr("T3"), Name: ptr("")})
		require.Equal(t, []string{"input.name:REQUIRED"}, codes(t, err))
		got, err := svc.Get(a.staff, a.id, p.ID)
		require.NoError(t, err)
		require.Equal(t, "T2", got.Title)

		// startsAt after the stored endsAt is refused on startsAt.
		_, err = svc.Update(a.staff, a.id, p.ID, popup.Input{EndsAt: ptr(now.Add(time.Hour))})
		require.NoError(t, err)
		_, err = svc.Update(a.staff, a.id, p.ID, popup.Input{StartsAt: ptr(now.Add(2 * time.Hour))})
		require.Equal(t, []string{"input.startsAt:INVALID"}, codes(t, err))

		// Activating re-checks the stored discount code.
		_, err = svc.Update(a.staff, a.id, p.ID, popup.Input{DiscountCode: ptr("A10")})
		require.NoError(t, err)
		_, err = c.Discount.Update().SetActive(false).Where().Save(a.staff) // every code of the store
		require.NoError(t, err)
		_, err = svc.Update(a.staff, a.id, p.ID, popup.Input{Status: ptr(capturepopup.StatusACTIVE)})
		require.Equal(t, []string{"input.discountCode:DISCOUNT_INVALID"}, codes(t, err))
		_, err = svc.Update(a.staff, a.id, p.ID, popup.Input{Status: ptr(capturepopup.StatusACTIVE), DiscountCode: ptr("")})
		require.NoError(t, err)
	})

	t.Run("tenant isolation", func(t *testing.T) {
		theirs, err := svc.Create(other.staff, other.id, popup.Input{Name: ptr("Theirs")})
		require.NoError(t, err)
		_, err = svc.Update(a.staff, a.id, theirs.ID, popup.Input{Title: ptr("mine now")})
		require.ErrorIs(t, err, popup.ErrNotFound)
		_, err = svc.Get(a.staff, a.id, theirs.ID)
		require.ErrorIs(t, err, popup.ErrNotFound)
		require.ErrorIs(t, svc.Delete(a.staff, a.id, theirs.ID), popup.ErrNotFound)
		_, err = svc.Update(a.staff, a.id, uuid.New(), popup.Input{Title: ptr("x")})
		require.ErrorIs(t, err, popup.ErrNotFound)
		// Naming another store than the viewer's is refused outright.
		_, err = svc.Create(a.staff, other.id, popup.Input{Name: ptr("sneaky")})
		require.ErrorIs(t, err, viewer.ErrCrossTenant)
		_, err = svc.Update(a.staff, other.id, theirs.ID, popup.Input{Title: ptr("x")})
		require.ErrorIs(t, err, viewer.ErrCrossTenant)
		got, err := svc.Get(other.staff, other.id, theirs.ID)
		require.NoError(t, err)
		require.Empty(t, got.Title)

		require.NoError(t, svc.Delete(other.staff, other.id, theirs.ID))
		_, err = svc.Get(other.staff, other.id, theirs.ID)
		require.True(t, errors.Is(err, popup.ErrNotFound))
	})
}

package popup_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

var testKey = []byte(strings.Repeat("popup-test-key-", 3))

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// store is one merchant's fixture: discounts and segments.
type store struct {
	id    uuid.UUID
	staff context.Context
	seg   *ent.CustomerSegment
}

func newStore(t *testing.T, c *ent.Client, slug string, now time.Time) *store {
	t.Helper()
	ctx := context.Background()
	m, err := c.MerchantAccount.Create().SetName("Shop " + slug).SetSlug(slug).Save(viewer.SystemContext(ctx, "test seed"))
	require.NoError(t, err)
	s := &store{id: m.ID, staff: viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()})}
	mk := func(code string, f func(*ent.DiscountCreate)) {
		cr := c.Discount.Create().SetCode(code).SetKind(discount.KindPERCENTAGE).SetValue(1000).SetStartsAt(now.Add(-24 * time.Hour))
		if f != nil {
			f(cr)
		}
		_, err := cr.Save(s.staff)
		require.NoError(t, err)
	}
	mk(strings.ToUpper(slug)+"10", nil)
	mk("SAVE10", nil)
	mk("OLD", func(d *ent.DiscountCreate) { d.SetActive(false) })
	mk("GONE", func(d *ent.DiscountCreate) { d.SetEndsAt(now.Add(-time.Hour)) })
	mk("USED", func(d *ent.DiscountCreate) { d.SetUsageLimit(5).SetUsageCount(5) })
	mk("LATER", func(d *ent.DiscountCreate) { d.SetStartsAt(now.Add(48 * time.Hour)) })
	s.seg, err = c.CustomerSegment.Create().SetName("Popup subscribers").SetKind(customersegment.KindSTATIC).Save(s.staff)
	require.NoError(t, err)
	_, err = c.CustomerSegment.Create().SetName("Old").SetKind(customersegment.KindSTATIC).
		SetStatus(customersegment.StatusARCHIVED).Save(s.staff)
	require.NoError(t, err)
	return s
}

func (s *store) archived(t *testing.T, c *ent.Client) uuid.UUID {
	t.Helper()
	seg, err := c.CustomerSegment.Query().Where(customersegment.StatusEQ(customersegment.StatusARCHIVED)).Only(s.staff)
	require.NoError(t, err)
	return seg.ID
}

func newService(t testing.TB, d *db.DB, clk *clock) *popup.Service {
	t.Helper()
	svc, err := popup.New(d.Client, d.Dialect, popup.Config{TokenKey: testKey, ConfirmationTTL: 24 * time.Hour})
	require.NoError(t, err)
	svc.SetClock(clk.now)
	return svc
}

func outbox(t *testing.T, c *ent.Client, s *store, topic string) []*ent.OutboxEvent {
	t.Helper()
	rows, err := c.OutboxEvent.Query().Where(outboxevent.Topic(topic)).Order(outboxevent.ByCreatedAt(), outboxevent.ByID()).All(s.staff)
	require.NoError(t, err)
	return rows
}

// codes lists "field.path:CODE" of a user error, sorted.
func codes(t *testing.T, err error) []string {
	t.Helper()
	ue, ok := popup.IsUserError(err)
	require.True(t, ok, "want a user error, got %v", err)
	var out []string
	for _, fe := range ue.Errors {
		out = append(out, strings.Join(fe.Field, ".")+":"+string(fe.Code))
	}
	slices.Sort(out)
	return out
}

func ptr[T any](v T) *T { return &v }

package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/refund"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// fixture writes orders, lines, refunds and events of a store through ent,
// acting as the store.
type fixture struct {
	t      *testing.T
	c      *ent.Client
	ctx    context.Context
	m      uuid.UUID
	number int
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func (f *fixture) customer(email string) *uuid.UUID {
	f.t.Helper()
	c, err := f.c.Customer.Create().SetEmail(email).Save(f.ctx)
	require.NoError(f.t, err)
	return &c.ID
}

func (f *fixture) product(title string) *uuid.UUID {
	f.t.Helper()
	p, err := f.c.Product.Create().SetTitle(title).SetSlug(fmt.Sprintf("p-%d-%s", f.number, uuid.NewString()[:8])).Save(f.ctx)
	require.NoError(f.t, err)
	return &p.ID
}

// orderSpec is one order of the fixture; paid nil leaves it unpaid.
type orderSpec struct {
	customer *uuid.UUID
	email    string
	total    int64
	paid     *time.Time
	status   order.Status
	currency string
	lines    []lineSpec
}

type lineSpec struct {
	product *uuid.UUID
	title   string
	qty     int
	total   int64
}

func (f *fixture) order(s orderSpec) uuid.UUID {
	f.t.Helper()
	f.number++
	if s.status == "" {
		s.status = order.StatusPAID
		if s.paid == nil {
			s.status = order.StatusPENDING
		}
	}
	if s.currency == "" {
		s.currency = "USD"
	}
	placed := utc(2025, 1, 1, 0, 0)
	if s.paid != nil {
		placed = s.paid.Add(-time.Minute)
	}
	o, err := f.c.Order.Create().SetOrderNumber(f.number).SetNillableCustomerID(s.customer).SetEmail(s.email).
		SetTotalAmount(s.total).SetSubtotalAmount(s.total).SetNillablePaidAt(s.paid).SetStatus(s.status).
		SetCurrency(s.currency).SetPlacedAt(placed).Save(f.ctx)
	require.NoError(f.t, err)
	for _, l := range s.lines {
		_, err := f.c.OrderItem.Create().SetOrderID(o.ID).SetNillableProductID(l.product).SetProductTitle(l.title).
			SetQuantity(l.qty).SetUnitPrice(l.total / int64(l.qty)).SetLineTotalAmount(l.total).SetCurrency(s.currency).Save(f.ctx)
		require.NoError(f.t, err)
	}
	return o.ID
}

func (f *fixture) refund(orderID uuid.UUID, amount int64, status refund.Status, processed *time.Time) {
	f.t.Helper()
	pay, err := f.c.OrderPayment.Create().SetOrderID(orderID).SetAmount(amount).Save(f.ctx)
	require.NoError(f.t, err)
	_, err = f.c.Refund.Create().SetOrderID(orderID).SetPaymentID(pay.ID).SetAmount(amount).SetStatus(status).
		SetNillableProcessedAt(processed).Save(f.ctx)
	require.NoError(f.t, err)
}

func (f *fixture) event(session, typ string, at time.Time) {
	f.t.Helper()
	q := f.c.CustomerEvent.Create().SetType(typ).SetOccurredAt(at)
	if session != "-" {
		q.SetSessionID(session)
	}
	_, err := q.Save(f.ctx)
	require.NoError(f.t, err)
}

func at(t time.Time) *time.Time { return &t }

// world is two stores: A (New York time) with the orders the cases look at,
// B with orders, refunds, lines and sessions that must never show in A.
type world struct {
	d                 *db.DB
	a, b              uuid.UUID
	staffA, staffB    context.Context
	p1, p2, p3        *uuid.UUID
	bOrders, bRevenue int64
}

func newWorld(t *testing.T, backend dbtest.Backend) *world {
	t.Helper()
	d := dbtest.Open(t, backend)
	bg := context.Background()
	sys := viewer.SystemContext(bg, "test seed")
	ma, err := d.Client.MerchantAccount.Create().SetName("Acme").SetSlug("acme").SetTimezone("America/New_York").Save(sys)
	require.NoError(t, err)
	mb, err := d.Client.MerchantAccount.Create().SetName("Bolt").SetSlug("bolt").Save(sys)
	require.NoError(t, err)
	w := &world{d: d, a: ma.ID, b: mb.ID,
		staffA: viewer.NewContext(bg, viewer.Viewer{Kind: viewer.Staff, MerchantID: ma.ID, UserID: uuid.New()}),
		staffB: viewer.NewContext(bg, viewer.Viewer{Kind: viewer.Staff, MerchantID: mb.ID, UserID: uuid.New()}),
	}
	fa := &fixture{t: t, c: d.Client, ctx: viewer.ActAsStore(bg, ma.ID, "test seed"), m: ma.ID}
	fb := &fixture{t: t, c: d.Client, ctx: viewer.ActAsStore(bg, mb.ID, "test seed"), m: mb.ID}

	// Store B first: a guest erin@example.com who bought before the range,
	// a customer, lines of its own product, a refund and sessions, one of
	// them with the same session id as one of A's.
	pb := fb.product("Bolt widget")
	fb.order(orderSpec{email: "erin@example.com", total: 900, paid: at(utc(2025, 12, 1, 12, 0))})
	bob := fb.customer("bob@example.com")
	ob := fb.order(orderSpec{customer: bob, email: "bob@example.com", total: 123456, paid: at(utc(2026, 1, 6, 12, 0)),
		lines: []lineSpec{{pb, "Bolt widget", 100, 123456}}})
	fb.order(orderSpec{email: "zed@example.com", total: 1000, paid: at(utc(2026, 1, 7, 12, 0))})
	fb.refund(ob, 456, refund.StatusSUCCEEDED, at(utc(2026, 1, 7, 12, 0)))
	fb.event("s1", "order_placed", utc(2026, 1, 5, 14, 0))
	fb.event("sB", "page_viewed", utc(2026, 1, 6, 10, 0))
	w.bOrders, w.bRevenue = 2, 123456+1000-456

	// Store A.
	w.p1, w.p2, w.p3 = fa.product("Tee"), fa.product("Hat"), fa.product("Scarf")
	alice, bobA := fa.customer("alice@example.com"), fa.customer("bob@example.com")
	frank, dave, hank, gina := fa.customer("frank@example.com"), fa.customer("dave@example.com"),
		fa.customer("hank@example.com"), fa.customer("gina@example.com")
	o1 := fa.order(orderSpec{customer: alice, total: 5000, paid: at(utc(2025, 12, 20, 10, 0))}) // before: alice returns
	o2 := fa.order(orderSpec{customer: alice, total: 10000, paid: at(utc(2026, 1, 5, 15, 0)), status: order.StatusFULFILLED,
		lines: []lineSpec{{w.p1, "Tee (old name)", 2, 8000}, {w.p2, "Hat", 1, 2000}}})
	fa.order(orderSpec{customer: bobA, total: 3000, paid: at(utc(2026, 1, 5, 3, 0)), // Jan 4 22:00 in New York
		lines: []lineSpec{{w.p2, "Hat", 3, 3000}}})
	fa.order(orderSpec{customer: bobA, total: 2000, paid: at(utc(2026, 1, 7, 12, 0)), status: order.StatusDELIVERED,
		lines: []lineSpec{{w.p3, "Scarf", 1, 2000}}})
	fa.order(orderSpec{email: "carol@example.com", total: 1000, paid: at(utc(2025, 11, 1, 9, 0))}) // guest, before
	fa.order(orderSpec{email: "Carol@Example.com", total: 4000, paid: at(utc(2026, 1, 6, 12, 0)),
		lines: []lineSpec{{nil, "Old mug", 4, 4000}}}) // the product was deleted
	fa.order(orderSpec{total: 1500, paid: at(utc(2026, 1, 6, 13, 0)), status: order.StatusPARTIALLY_REFUNDED,
		lines: []lineSpec{{w.p1, "Tee", 1, 1500}}}) // no customer, no email
	fa.order(orderSpec{customer: alice, total: 99999, lines: []lineSpec{{w.p1, "Tee", 50, 99999}}}) // pending
	fa.order(orderSpec{customer: gina, total: 88888, status: order.StatusCANCELLED})                // cancelled unpaid
	o9 := fa.order(orderSpec{customer: dave, total: 6000, paid: at(utc(2026, 1, 8, 10, 0)), status: order.StatusCANCELLED,
		lines: []lineSpec{{w.p3, "Scarf", 2, 6000}}}) // paid, then cancelled and refunded
	fa.refund(o9, 6000, refund.StatusSUCCEEDED, at(utc(2026, 1, 8, 11, 0)))
	fa.order(orderSpec{customer: alice, total: 7777, paid: at(utc(2026, 1, 6, 12, 0)), currency: "EUR",
		lines: []lineSpec{{w.p1, "Tee", 100, 7777}}}) // another currency
	fa.refund(o1, 500, refund.StatusSUCCEEDED, at(utc(2026, 1, 6, 9, 0)))                         // refund in range of an order before it
	fa.refund(o2, 1000, refund.StatusPENDING, nil)                                                // not settled
	fa.refund(o2, 300, refund.StatusFAILED, at(utc(2026, 1, 6, 9, 0)))                            // failed
	fa.refund(o2, 700, refund.StatusSUCCEEDED, at(utc(2026, 1, 12, 9, 0)))                        // after the range
	fa.order(orderSpec{email: "erin@example.com", total: 2500, paid: at(utc(2026, 1, 9, 20, 0))}) // new: B's erin is not A's
	fa.order(orderSpec{customer: frank, total: 1000, paid: at(utc(2026, 1, 4, 5, 0))})            // exactly at from
	fa.order(orderSpec{customer: gina, total: 111, paid: at(utc(2026, 1, 11, 5, 0))})             // exactly at to
	fa.order(orderSpec{customer: hank, total: 800, paid: at(utc(2026, 1, 11, 3, 0))})             // Jan 10 22:00 in New York
	ivan, judy := fa.customer("ivan@example.com"), fa.customer("judy@example.com")
	fa.order(orderSpec{customer: ivan, total: 100, paid: at(utc(2026, 3, 8, 4, 30))}) // Mar 7 23:30 EST
	fa.order(orderSpec{customer: judy, total: 200, paid: at(utc(2026, 3, 9, 4, 30))}) // Mar 9 00:30 EDT

	fa.event("s1", "page_viewed", utc(2026, 1, 5, 14, 0))
	fa.event("s1", "order_placed", utc(2026, 1, 5, 14, 50))
	fa.event("s2", "page_viewed", utc(2026, 1, 6, 10, 0))
	fa.event("s3", "page_viewed", utc(2026, 1, 7, 10, 0))
	fa.event("s3", "added_to_cart", utc(2026, 1, 7, 10, 5))
	fa.event("s4", "order_placed", utc(2026, 1, 9, 19, 55))
	fa.event("s5", "order_placed", utc(2026, 1, 1, 10, 0)) // before the range
	fa.event("", "page_viewed", utc(2026, 1, 6, 10, 0))    // no session
	fa.event("-", "order_placed", utc(2026, 1, 6, 10, 0))  // no session either (NULL)
	return w
}

// ny is midnight of a day in New York.
func ny(t *testing.T, mo time.Month, d int) time.Time {
	loc, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	return time.Date(2026, mo, d, 0, 0, 0, 0, loc)
}

// pt is a series point with only the figures the cases set.
type pt struct {
	date                 string
	orders, newCustomers int
	gross, refunds       int64
}

func points(ds []DailyPoint) []pt {
	out := make([]pt, len(ds))
	for i, d := range ds {
		out[i] = pt{d.Date, d.Orders, d.NewCustomers, d.GrossSales, d.Refunds}
		if d.Revenue != d.GrossSales-d.Refunds {
			out[i].date += " (revenue is not gross - refunds)"
		}
	}
	return out
}

type top struct {
	title          string
	units, revenue int64
}

func tops(ps []ProductSales) []top {
	out := []top{}
	for _, p := range ps {
		out = append(out, top{p.Title, p.Units, p.Revenue})
	}
	return out
}

// want is what a case checks of an Overview.
type want struct {
	zone                         string
	revenue, gross, refunds, aov int64
	orders, newC, returning      int
	sessions, converted          int
	byRevenue, byUnits           []top
	daily                        []pt
}

func TestGrowthOverview(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(string(backend), func(t *testing.T) {
			w := newWorld(t, backend)
			week := []pt{
				{"2026-01-04", 2, 2, 4000, 0},  // bob 22:00 local, frank exactly at from
				{"2026-01-05", 1, 0, 10000, 0}, // alice, returning
				{"2026-01-06", 2, 0, 5500, 500},
				{"2026-01-07", 1, 0, 2000, 0},    // bob again: not new twice
				{"2026-01-08", 1, 1, 6000, 6000}, // dave paid, then refunded in full
				{"2026-01-09", 1, 1, 2500, 0},    // erin, a guest
				{"2026-01-10", 1, 1, 800, 0},     // hank, 03:00 UTC on the 11th; gina at `to` is out
			}
			cases := []struct {
				name     string
				from, to time.Time
				opts     Options
				want     want
			}{
				{
					name: "week in the store's zone",
					from: ny(t, 1, 4), to: ny(t, 1, 11),
					want: want{
						zone: "America/New_York", revenue: 24300, gross: 30800, refunds: 6500, aov: 3422,
						orders: 9, newC: 5, returning: 2, sessions: 4, converted: 2,
						byRevenue: []top{{"Tee", 3, 9500}, {"Scarf", 3, 8000}, {"Hat", 4, 5000}, {"Old mug", 4, 4000}},
						byUnits:   []top{{"Hat", 4, 5000}, {"Old mug", 4, 4000}, {"Tee", 3, 9500}, {"Scarf", 3, 8000}},
						daily:     week,
					},
				},
				{
					name: "top two",
					from: ny(t, 1, 4), to: ny(t, 1, 11), opts: Options{Top: 2},
					want: want{
						zone: "America/New_York", revenue: 24300, gross: 30800, refunds: 6500, aov: 3422,
						orders: 9, newC: 5, returning: 2, sessions: 4, converted: 2,
						byRevenue: []top{{"Tee", 3, 9500}, {"Scarf", 3, 8000}},
						byUnits:   []top{{"Hat", 4, 5000}, {"Old mug", 4, 4000}},
						daily:     week,
					},
				},
				{
					name: "UTC days",
					from: utc(2026, 1, 4, 0, 0), to: utc(2026, 1, 6, 0, 0), opts: Options{TimeZone: "UTC"},
					want: want{
						zone: "UTC", revenue: 14000, gross: 14000, aov: 4667,
						orders: 3, newC: 2, returning: 1, sessions: 1, converted: 1,
						byRevenue: []top{{"Tee", 2, 8000}, {"Hat", 4, 5000}},
						byUnits:   []top{{"Hat", 4, 5000}, {"Tee", 2, 8000}},
						daily:     []pt{{"2026-01-04", 1, 1, 1000, 0}, {"2026-01-05", 2, 1, 13000, 0}},
					},
				},
				{
					name: "partial days at both ends",
					from: ny(t, 1, 4).Add(12 * time.Hour), to: ny(t, 1, 5).Add(12 * time.Hour),
					want: want{
						zone: "America/New_York", revenue: 13000, gross: 13000, aov: 6500,
						orders: 2, newC: 1, returning: 1, sessions: 1, converted: 1,
						byRevenue: []top{{"Tee", 2, 8000}, {"Hat", 4, 5000}},
						byUnits:   []top{{"Hat", 4, 5000}, {"Tee", 2, 8000}},
						daily:     []pt{{"2026-01-04", 1, 1, 3000, 0}, {"2026-01-05", 1, 0, 10000, 0}},
					},
				},
				{
					name: "quiet days are zeros",
					from: ny(t, 1, 20), to: ny(t, 1, 23),
					want: want{
						zone: "America/New_York", byRevenue: []top{}, byUnits: []top{},
						daily: []pt{{"2026-01-20", 0, 0, 0, 0}, {"2026-01-21", 0, 0, 0, 0}, {"2026-01-22", 0, 0, 0, 0}},
					},
				},
				{
					name: "daylight saving: March 8 has 23 hours",
					from: ny(t, 3, 7), to: ny(t, 3, 10),
					want: want{
						zone: "America/New_York", revenue: 300, gross: 300, aov: 150, orders: 2, newC: 2,
						byRevenue: []top{}, byUnits: []top{},
						daily: []pt{{"2026-03-07", 1, 1, 100, 0}, {"2026-03-08", 0, 0, 0, 0}, {"2026-03-09", 1, 1, 200, 0}},
					},
				},
				{
					name: "another zone moves the day boundary",
					from: utc(2026, 1, 4, 0, 0), to: utc(2026, 1, 6, 0, 0), opts: Options{TimeZone: "Asia/Tokyo"},
					want: want{
						zone: "Asia/Tokyo", revenue: 14000, gross: 14000, aov: 4667,
						orders: 3, newC: 2, returning: 1, sessions: 1, converted: 1,
						byRevenue: []top{{"Tee", 2, 8000}, {"Hat", 4, 5000}},
						byUnits:   []top{{"Hat", 4, 5000}, {"Tee", 2, 8000}},
						// Tokyo is UTC+9: Jan 4 00:00Z is 09:00 on the 4th; bob (Jan 5 03:00Z)
						// and frank (Jan 4 05:00Z) fall on the 5th and 4th, alice (15:00Z) on the 6th.
						daily: []pt{{"2026-01-04", 1, 1, 1000, 0}, {"2026-01-05", 1, 1, 3000, 0}, {"2026-01-06", 1, 0, 10000, 0}},
					},
				},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got, err := GrowthOverview(w.staffA, w.d, w.a, c.from, c.to, c.opts)
					require.NoError(t, err)
					g := want{
						zone: got.TimeZone, revenue: got.Revenue, gross: got.GrossSales, refunds: got.Refunds,
						aov: got.AverageOrderValue, orders: got.Orders, newC: got.NewCustomers, returning: got.ReturningCustomers,
						sessions: got.Sessions, converted: got.ConvertedSessions,
						byRevenue: tops(got.TopByRevenue), byUnits: tops(got.TopByUnits), daily: points(got.Daily),
					}
					if diff := cmp.Diff(c.want, g, cmp.AllowUnexported(want{}, top{}, pt{})); diff != "" {
						t.Errorf("overview mismatch (-want +got):\n%s", diff)
					}
					require.Equal(t, "USD", got.Currency)
					require.True(t, got.From.Equal(c.from) && got.To.Equal(c.to))
					if got.Sessions > 0 {
						require.Equal(t, float64(got.ConvertedSessions)/float64(got.Sessions), got.ConversionRate)
					} else {
						require.Zero(t, got.ConversionRate)
					}
					// The days tile the range.
					require.True(t, got.Daily[0].Start.Equal(c.from))
					require.True(t, got.Daily[len(got.Daily)-1].End.Equal(c.to))
					for i := 1; i < len(got.Daily); i++ {
						require.True(t, got.Daily[i].Start.Equal(got.Daily[i-1].End))
					}
				})
			}

			t.Run("top products name the product", func(t *testing.T) {
				got, err := GrowthOverview(w.staffA, w.d, w.a, ny(t, 1, 4), ny(t, 1, 11), Options{})
				require.NoError(t, err)
				require.Equal(t, *w.p1, *got.TopByRevenue[0].ProductID)
				require.Equal(t, *w.p3, *got.TopByRevenue[1].ProductID)
				require.Nil(t, got.TopByRevenue[3].ProductID) // the deleted product
			})

			t.Run("tenant isolation", func(t *testing.T) {
				got, err := GrowthOverview(w.staffB, w.d, w.b, ny(t, 1, 4), ny(t, 1, 11), Options{TimeZone: "UTC"})
				require.NoError(t, err)
				require.Equal(t, int(w.bOrders), got.Orders)
				require.Equal(t, w.bRevenue, got.Revenue)
				require.Equal(t, 2, got.NewCustomers) // bob and zed; B's erin bought nothing in range
				require.Equal(t, 0, got.ReturningCustomers)
				require.Equal(t, 2, got.Sessions)
				require.Equal(t, 1, got.ConvertedSessions)
				require.Equal(t, []top{{"Bolt widget", 100, 123456}}, tops(got.TopByRevenue))

				// A staff of A asking for B is refused, and so is a context
				// without a store.
				_, err = GrowthOverview(w.staffA, w.d, w.b, ny(t, 1, 4), ny(t, 1, 11), Options{})
				require.ErrorIs(t, err, viewer.ErrCrossTenant)
				_, err = GrowthOverview(context.Background(), w.d, w.a, ny(t, 1, 4), ny(t, 1, 11), Options{})
				require.ErrorIs(t, err, viewer.ErrNoTenant)
				// A system context reads the store it names.
				sys := viewer.SystemContext(context.Background(), "test")
				got, err = GrowthOverview(sys, w.d, w.b, ny(t, 1, 4), ny(t, 1, 11), Options{})
				require.NoError(t, err)
				require.Equal(t, int(w.bOrders), got.Orders)
				// An unknown store.
				_, err = GrowthOverview(sys, w.d, uuid.New(), ny(t, 1, 4), ny(t, 1, 11), Options{})
				require.ErrorIs(t, err, ErrNotFound)
			})
		})
	}
}

func TestValidate(t *testing.T) {
	from := utc(2026, 1, 1, 0, 0)
	type problem struct {
		field string
		code  Code
	}
	for _, c := range []struct {
		name     string
		from, to time.Time
		opts     Options
		want     []problem
	}{
		{"ok", from, from.Add(time.Hour), Options{}, nil},
		{"exactly 366 days", from, from.Add(MaxRange), Options{TimeZone: "Europe/Paris", Top: MaxTop}, nil},
		{"missing from", time.Time{}, from, Options{}, []problem{{"from", CodeRequired}}},
		{"missing to", from, time.Time{}, Options{}, []problem{{"to", CodeRequired}}},
		{"missing both", time.Time{}, time.Time{}, Options{}, []problem{{"from", CodeRequired}, {"to", CodeRequired}}},
		{"to equals from", from, from, Options{}, []problem{{"to", CodeInvalid}}},
		{"to before from", from, from.Add(-time.Second), Options{}, []problem{{"to", CodeInvalid}}},
		{"longer than 366 days", from, from.Add(MaxRange + time.Second), Options{}, []problem{{"to", CodeTooLong}}},
		{"unknown zone", from, from.Add(time.Hour), Options{TimeZone: "Mars/Olympus"}, []problem{{"timeZone", CodeInvalid}}},
		{"Local is no zone", from, from.Add(time.Hour), Options{TimeZone: "Local"}, []problem{{"timeZone", CodeInvalid}}},
		{"path in zone", from, from.Add(time.Hour), Options{TimeZone: "../../etc/passwd"}, []problem{{"timeZone", CodeInvalid}}},
		{"top too big", from, from.Add(time.Hour), Options{Top: MaxTop + 1}, []problem{{"top", CodeInvalid}}},
		{"top negative", from, from.Add(time.Hour), Options{Top: -1}, []problem{{"top", CodeInvalid}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			err := validate(c.from, c.to, &opts)
			var got []problem
			if err != nil {
				e, ok := IsUserError(err)
				require.True(t, ok, "not a user error: %v", err)
				for _, fe := range e.Errors {
					got = append(got, problem{fe.Field[0], fe.Code})
				}
			}
			require.Equal(t, c.want, got)
			if c.want == nil && c.opts.Top == 0 {
				require.Equal(t, DefaultTop, opts.Top)
			}
		})
	}
	// GrowthOverview answers the same before touching the database.
	_, err := GrowthOverview(context.Background(), nil, uuid.New(), from, from, Options{})
	_, ok := IsUserError(err)
	require.True(t, ok)
}

func TestDays(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	for _, c := range []struct {
		name     string
		from, to time.Time
		loc      *time.Location
		want     []string // date start end, in UTC
	}{
		{"one UTC day", utc(2026, 1, 1, 0, 0), utc(2026, 1, 2, 0, 0), time.UTC,
			[]string{"2026-01-01 00:00 00:00"}},
		{"partial ends", utc(2026, 1, 1, 6, 0), utc(2026, 1, 2, 6, 0), time.UTC,
			[]string{"2026-01-01 06:00 00:00", "2026-01-02 00:00 06:00"}},
		{"New York winter", time.Date(2026, 1, 1, 0, 0, 0, 0, ny), time.Date(2026, 1, 3, 0, 0, 0, 0, ny), ny,
			[]string{"2026-01-01 05:00 05:00", "2026-01-02 05:00 05:00"}},
		{"spring forward", time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Date(2026, 3, 10, 0, 0, 0, 0, ny), ny,
			[]string{"2026-03-08 05:00 04:00", "2026-03-09 04:00 04:00"}},
		{"fall back", time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny), ny,
			[]string{"2026-11-01 04:00 05:00"}},
		{"a second", utc(2026, 1, 1, 23, 59).Add(59 * time.Second), utc(2026, 1, 2, 0, 0), time.UTC,
			[]string{"2026-01-01 23:59 00:00"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := days(c.from.UTC(), c.to.UTC(), c.loc)
			var got []string
			for _, d := range ds {
				got = append(got, d.date+" "+d.start.UTC().Format("15:04")+" "+d.end.UTC().Format("15:04"))
			}
			require.Equal(t, c.want, got)
			for i, d := range ds {
				require.Equal(t, i, bucketOf(ds, d.start))
				require.Equal(t, i, bucketOf(ds, d.end.Add(-time.Nanosecond)))
			}
			require.Equal(t, -1, bucketOf(ds, c.from.Add(-time.Nanosecond)))
			require.Equal(t, -1, bucketOf(ds, c.to))
		})
	}
	require.Len(t, days(utc(2024, 1, 1, 0, 0), utc(2024, 1, 1, 0, 0).Add(MaxRange), time.UTC), 366)
}

func TestHalfUp(t *testing.T) {
	for _, c := range []struct {
		sum  int64
		n    int
		want int64
	}{{0, 0, 0}, {100, 0, 0}, {10, 4, 3}, {10, 3, 3}, {11, 2, 6}, {9, 2, 5}, {30800, 9, 3422}, {14000, 3, 4667}, {1, 3, 0}} {
		require.Equal(t, c.want, halfUp(c.sum, c.n), "%d/%d", c.sum, c.n)
	}
}

func TestInstantScan(t *testing.T) {
	want := time.Date(2026, 1, 5, 3, 0, 0, 500, time.UTC)
	for _, src := range []any{
		want,
		want.String(),
		"2026-01-05 03:00:00.0000005 +0000 UTC m=+0.000000001",
		[]byte("2026-01-05 03:00:00.0000005+00:00"),
		"2026-01-05T03:00:00.0000005Z",
		"2026-01-04 22:00:00.0000005 -0500 EST",
	} {
		var i instant
		require.NoError(t, i.Scan(src), "%v", src)
		require.True(t, i.t.Equal(want), "%v read as %v", src, i.t)
	}
	var i instant
	require.Error(t, i.Scan(42))
	require.Error(t, i.Scan("yesterday"))
}

// FuzzValidate: any time zone string and top count from a request is
// either refused with a user error or yields a zone that buckets the range
// into days tiling it.
func FuzzValidate(f *testing.F) {
	for _, z := range []string{"", "UTC", "Europe/Paris", "America/New_York", "Local", "../etc/passwd", "/etc/localtime", "Asia/Kathmandu", "\x00"} {
		f.Add(z, 0, int64(3*24*3600))
	}
	f.Fuzz(func(t *testing.T, zone string, topN int, seconds int64) {
		from := utc(2026, 3, 1, 0, 0)
		to := from.Add(time.Duration(seconds%int64(400*24*3600)) * time.Second)
		opts := Options{TimeZone: zone, Top: topN}
		err := validate(from, to, &opts)
		if err != nil {
			if _, ok := IsUserError(err); !ok {
				t.Fatalf("not a user error: %v", err)
			}
			return
		}
		loc := time.UTC
		if zone != "" {
			var lerr error
			if loc, lerr = loadZone(zone); lerr != nil {
				t.Fatalf("accepted zone %q does not load: %v", zone, lerr)
			}
		}
		ds := days(from, to, loc)
		if len(ds) == 0 || !ds[0].start.Equal(from) || !ds[len(ds)-1].end.Equal(to) || len(ds) > 368 {
			t.Fatalf("days of %q do not tile the range: %d days", zone, len(ds))
		}
		for i := 1; i < len(ds); i++ {
			if !ds[i].start.Equal(ds[i-1].end) || ds[i].date <= ds[i-1].date {
				t.Fatalf("days of %q out of order at %d", zone, i)
			}
		}
	})
}

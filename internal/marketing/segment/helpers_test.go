package segment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// env is a test database with one store.
type env struct {
	*db.DB
	merchant uuid.UUID
	ctx      context.Context // staff of the store
	now      time.Time
	svc      *Service
	orderNo  int
}

func newEnv(t testing.TB, b dbtest.Backend) *env {
	t.Helper()
	d := dbtest.Open(t, b)
	sys := viewer.SystemContext(context.Background(), "test seed")
	slug := "shop-" + uuid.NewString()[:8]
	m, err := d.Client.MerchantAccount.Create().SetName(slug).SetSlug(slug).Save(sys)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &env{
		DB: d, merchant: m.ID, now: now,
		ctx: viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()}),
		svc: New(d.Client, WithClock(func() time.Time { return now })),
	}
}

func (e *env) daysAgo(d float64) time.Time {
	return e.now.Add(-time.Duration(d * 24 * float64(time.Hour)))
}

// mustParse parses a rule written as JSON text.
func mustParse(t testing.TB, s string) *Rule {
	t.Helper()
	r, errs := Parse(json.RawMessage(s))
	require.Empty(t, errs, "rule %s", s)
	return r
}

// product creates a product in category cat (nil: none).
func (e *env) product(t testing.TB, cat *uuid.UUID) uuid.UUID {
	t.Helper()
	slug := "p-" + uuid.NewString()[:8]
	p, err := e.Client.Product.Create().SetTitle(slug).SetSlug(slug).SetNillableCategoryID(cat).Save(e.ctx)
	require.NoError(t, err)
	return p.ID
}

func (e *env) category(t testing.TB) uuid.UUID {
	t.Helper()
	slug := "c-" + uuid.NewString()[:8]
	c, err := e.Client.ProductCategory.Create().SetName(slug).SetSlug(slug).Save(e.ctx)
	require.NoError(t, err)
	return c.ID
}

// order records an order of status for the customer with one line per
// product.
func (e *env) order(t testing.TB, cust uuid.UUID, status order.Status, products ...uuid.UUID) {
	t.Helper()
	e.orderNo++
	o, err := e.Client.Order.Create().SetOrderNumber(e.orderNo).SetCustomerID(cust).SetStatus(status).Save(e.ctx)
	require.NoError(t, err)
	for _, p := range products {
		require.NoError(t, e.Client.OrderItem.Create().SetOrderID(o.ID).SetProductID(p).SetProductTitle("x").
			SetQuantity(1).SetUnitPrice(100).Exec(e.ctx))
	}
}

func (e *env) event(t testing.TB, cust uuid.UUID, typ string, at time.Time, props map[string]any) {
	t.Helper()
	require.NoError(t, e.Client.CustomerEvent.Create().SetCustomerID(cust).SetType(typ).SetOccurredAt(at).
		SetReceivedAt(at).SetProperties(props).Exec(e.ctx))
}

// goMatching evaluates r in Go over every customer of the store.
func (e *env) goMatching(t testing.TB, rules ...*Rule) [][]uuid.UUID {
	t.Helper()
	ids, err := e.Client.Customer.Query().IDs(e.ctx)
	require.NoError(t, err)
	out := make([][]uuid.UUID, len(rules))
	for _, id := range ids {
		sub, err := e.svc.LoadSubject(e.ctx, e.merchant, id, rules...)
		require.NoError(t, err)
		for i, r := range rules {
			if Evaluate(r, sub) {
				out[i] = append(out[i], id)
			}
		}
	}
	for i := range out {
		sortIDs(out[i])
	}
	return out
}

func (e *env) sqlMatching(t testing.TB, r *Rule) []uuid.UUID {
	t.Helper()
	ids, err := e.svc.Matching(e.ctx, e.merchant, r)
	require.NoError(t, err)
	sortIDs(ids)
	return ids
}

func sortIDs(ids []uuid.UUID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
}

// names maps customer ids to their first names, sorted.
func names(t testing.TB, e *env, ids []uuid.UUID) []string {
	t.Helper()
	out := []string{}
	for _, id := range ids {
		c, err := e.Client.Customer.Query().Where(customer.ID(id)).Only(e.ctx)
		require.NoError(t, err)
		out = append(out, c.FirstName)
	}
	slices.Sort(out)
	return out
}

// newCustomer starts a customer with the given first name.
func (e *env) newCustomer(name string) *ent.CustomerCreate {
	return e.Client.Customer.Create().SetEmail(fmt.Sprintf("%s-%s@example.com", name, uuid.NewString()[:6])).
		SetFirstName(name).SetCreatedAt(e.daysAgo(30)).SetUpdatedAt(e.now)
}

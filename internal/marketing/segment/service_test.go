package segment

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/events"
)

func (e *env) segment(t testing.TB, rule string) *ent.CustomerSegment {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(rule), &m))
	s, err := e.Client.CustomerSegment.Create().SetName("s-" + uuid.NewString()[:8]).SetRules(m).Save(e.ctx)
	require.NoError(t, err)
	return s
}

func (e *env) members(t testing.TB, seg uuid.UUID) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	ms, err := e.Client.SegmentMember.Query().Where(segmentmember.SegmentID(seg)).All(e.ctx)
	require.NoError(t, err)
	for _, m := range ms {
		ids = append(ids, m.CustomerID)
	}
	sortIDs(ids)
	return ids
}

func (e *env) entered(t testing.TB, seg uuid.UUID) map[uuid.UUID]int {
	t.Helper()
	rows, err := e.Client.OutboxEvent.Query().Where(outboxevent.Topic(events.TopicSegmentEntered)).All(e.ctx)
	require.NoError(t, err)
	out := map[uuid.UUID]int{}
	for _, r := range rows {
		raw, _ := json.Marshal(r.Payload)
		var ev events.SegmentEntered
		require.NoError(t, json.Unmarshal(raw, &ev))
		if ev.SegmentID == seg {
			out[ev.CustomerID]++
		}
	}
	return out
}

func TestRefreshAndReevaluate(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			f := newFixture(t, b)
			e := f.env
			seg := e.segment(t, leaf(`{"kind":"tag","operator":"has","value":"newsletter"}`))

			res, err := e.svc.Refresh(e.ctx, e.merchant, seg.ID)
			require.NoError(t, err)
			require.Equal(t, RefreshResult{Joined: 2, Left: 0, Members: 2}, res)
			require.Equal(t, []string{"ann", "bob"}, names(t, e, e.members(t, seg.ID)))
			got, err := e.Client.CustomerSegment.Get(e.ctx, seg.ID)
			require.NoError(t, err)
			require.Equal(t, 2, got.MemberCount)
			require.NotNil(t, got.LastEvaluatedAt)
			require.Len(t, e.entered(t, seg.ID), 2)

			// Nothing changed: nothing joins, no new event.
			res, err = e.svc.Refresh(e.ctx, e.merchant, seg.ID)
			require.NoError(t, err)
			require.Equal(t, RefreshResult{Members: 2}, res)

			// bob loses the tag, cat gets it; cat is also a MANUAL member
			// of nothing yet. A refresh swaps them.
			bob, err := e.Client.Customer.Query().Where(customer.FirstName("bob")).Only(e.ctx)
			require.NoError(t, err)
			cat, err := e.Client.Customer.Query().Where(customer.FirstName("cat")).Only(e.ctx)
			require.NoError(t, err)
			require.NoError(t, bob.Update().SetTags([]string{}).Exec(e.ctx))
			require.NoError(t, cat.Update().SetTags([]string{"newsletter"}).Exec(e.ctx))
			res, err = e.svc.Refresh(e.ctx, e.merchant, seg.ID)
			require.NoError(t, err)
			require.Equal(t, RefreshResult{Joined: 1, Left: 1, Members: 2}, res)
			require.Equal(t, []string{"ann", "cat"}, names(t, e, e.members(t, seg.ID)))
			require.Equal(t, 1, e.entered(t, seg.ID)[cat.ID])

			// Incremental: bob gets the tag back.
			require.NoError(t, bob.Update().SetTags([]string{"newsletter"}).Exec(e.ctx))
			entered, left, err := e.svc.ReevaluateCustomer(e.ctx, e.merchant, bob.ID)
			require.NoError(t, err)
			require.Equal(t, []uuid.UUID{seg.ID}, entered)
			require.Empty(t, left)
			require.Equal(t, 2, e.entered(t, seg.ID)[bob.ID])
			// Again: no change.
			entered, left, err = e.svc.ReevaluateCustomer(e.ctx, e.merchant, bob.ID)
			require.NoError(t, err)
			require.Empty(t, entered)
			require.Empty(t, left)
			// cat loses it.
			require.NoError(t, cat.Update().SetTags([]string{}).Exec(e.ctx))
			entered, left, err = e.svc.ReevaluateCustomer(e.ctx, e.merchant, cat.ID)
			require.NoError(t, err)
			require.Empty(t, entered)
			require.Equal(t, []uuid.UUID{seg.ID}, left)
			got, err = e.Client.CustomerSegment.Get(e.ctx, seg.ID)
			require.NoError(t, err)
			require.Equal(t, 2, got.MemberCount)
			require.Equal(t, []string{"ann", "bob"}, names(t, e, e.members(t, seg.ID)))

			// A MANUAL member stays when the rule does not match.
			require.NoError(t, e.Client.SegmentMember.Create().SetSegmentID(seg.ID).SetCustomerID(cat.ID).
				SetSource(segmentmember.SourceMANUAL).Exec(e.ctx))
			res, err = e.svc.Refresh(e.ctx, e.merchant, seg.ID)
			require.NoError(t, err)
			require.Equal(t, RefreshResult{Members: 3}, res)
			_, left, err = e.svc.ReevaluateCustomer(e.ctx, e.merchant, cat.ID)
			require.NoError(t, err)
			require.Empty(t, left)

			// Errors.
			static, err := e.Client.CustomerSegment.Create().SetName("static").SetKind(customersegment.KindSTATIC).Save(e.ctx)
			require.NoError(t, err)
			_, err = e.svc.Refresh(e.ctx, e.merchant, static.ID)
			require.ErrorIs(t, err, ErrNotDynamic)
			_, err = e.svc.Refresh(e.ctx, e.merchant, uuid.New())
			require.ErrorIs(t, err, ErrNotFound)
			bad := e.segment(t, `{"match":"all","conditions":[{"kind":"tag","operator":"is","value":"x"}]}`)
			_, err = e.svc.Refresh(e.ctx, e.merchant, bad.ID)
			var re *RuleError
			require.True(t, errors.As(err, &re), "%v", err)
			require.Equal(t, []string{"conditions", "0", "operator"}, re.Errors[0].Field)
			got, err = e.Client.CustomerSegment.Get(e.ctx, bad.ID)
			require.NoError(t, err)
			require.Equal(t, customersegment.EvaluationStateFAILED, got.EvaluationState)
			// Another store's id is refused.
			_, err = e.svc.Refresh(e.ctx, uuid.New(), seg.ID)
			require.Error(t, err)
		})
	}
}

// TestAgreement generates a random store and random rules, and checks that
// full evaluation in SQL and per-customer evaluation in Go give the same
// members on every backend.
func TestAgreement(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b)
			rng := rand.New(rand.NewPCG(1, uint64(len(b))))
			pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
			cats := []uuid.UUID{e.category(t), e.category(t), e.category(t)}
			var prods []uuid.UUID
			for i := 0; i < 6; i++ {
				prods = append(prods, e.product(t, &cats[i%3]))
			}
			words := []string{"alpha", "beta", "gamma", "delta", "Alpha", "al"}
			for i := 0; i < 250; i++ {
				c := e.newCustomer(pick(words...) + fmt.Sprint(i%7)).
					SetTags(randSubset(rng, []string{"vip", "new", "wholesale", "eu"})).
					SetEmailConsent(customer.EmailConsent(pick("SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "BOUNCED", "COMPLAINED"))).
					SetStatus(customer.Status(pick("ACTIVE", "ACTIVE", "ACTIVE", "DISABLED", "DELETED"))).
					SetLifetimeValueAmount(int64(rng.IntN(5) * 1000)).SetOrderCount(rng.IntN(4)).
					SetAverageOrderValueAmount(int64(rng.IntN(3) * 500)).SetCreatedAt(e.daysAgo(rng.Float64() * 60))
				if rng.IntN(2) == 0 {
					c.SetCountry(pick("FR", "US", "DE"))
				}
				if rng.IntN(2) == 0 {
					c.SetCity(pick(words...))
				}
				if rng.IntN(2) == 0 {
					c.SetLastOrderAt(e.daysAgo(rng.Float64() * 60))
				}
				if rng.IntN(2) == 0 {
					c.SetLastSeenAt(e.daysAgo(rng.Float64() * 60))
				}
				if rng.IntN(4) > 0 {
					c.SetProperties(randProps(rng, words))
				}
				cu, err := c.Save(e.ctx)
				require.NoError(t, err)
				for j := rng.IntN(6); j > 0; j-- {
					e.event(t, cu.ID, pick("viewed", "added", "searched"), e.daysAgo(rng.Float64()*60), randProps(rng, words))
				}
				if rng.IntN(3) == 0 {
					e.order(t, cu.ID, order.Status(pick("PAID", "CANCELLED", "DELIVERED", "PENDING", "REFUNDED")),
						prods[rng.IntN(len(prods))], prods[rng.IntN(len(prods))])
				}
			}
			g := &ruleGen{rng: rng, words: words, prods: prods, cats: cats}
			var rules []*Rule
			for i := 0; i < 80; i++ {
				raw, err := json.Marshal(g.group(1))
				require.NoError(t, err)
				r, errs := Parse(raw)
				require.Empty(t, errs, "%s", raw)
				// The canonical form parses to the same rule.
				again, errs := ParseMap(r.Map())
				require.Empty(t, errs)
				require.Equal(t, r, again)
				rules = append(rules, r)
			}
			goSets := e.goMatching(t, rules...)
			nonEmpty := 0
			for i, r := range rules {
				sqlSet := e.sqlMatching(t, r)
				raw, _ := json.Marshal(r)
				require.Equal(t, sqlSet, goSets[i], "rule %s", raw)
				if len(sqlSet) > 0 {
					nonEmpty++
				}
			}
			// The generated rules are not all trivially empty.
			require.Greater(t, nonEmpty, len(rules)/4)
		})
	}
}

func randSubset(rng *rand.Rand, xs []string) []string {
	out := []string{}
	for _, x := range xs {
		if rng.IntN(3) == 0 {
			out = append(out, x)
		}
	}
	return out
}

func randProps(rng *rand.Rand, words []string) map[string]any {
	m := map[string]any{}
	for _, k := range []string{"s", "n", "b", "x"} {
		switch rng.IntN(5) {
		case 0:
			m[k] = words[rng.IntN(len(words))]
		case 1:
			m[k] = float64(rng.IntN(10))
		case 2:
			m[k] = rng.IntN(2) == 0
		case 3:
			m[k] = float64(rng.IntN(20)) / 4
		}
	}
	if rng.IntN(10) == 0 {
		m["s"] = nil
	}
	return m
}

// ruleGen makes random valid rules over the generated store's values.
type ruleGen struct {
	rng   *rand.Rand
	words []string
	prods []uuid.UUID
	cats  []uuid.UUID
}

func (g *ruleGen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *ruleGen) group(depth int) map[string]any {
	n := 1 + g.rng.IntN(3)
	conds := make([]any, n)
	for i := range conds {
		if depth < 3 && g.rng.IntN(4) == 0 {
			conds[i] = g.group(depth + 1)
		} else {
			conds[i] = g.leaf()
		}
	}
	return map[string]any{"match": g.pick("all", "any"), "conditions": conds}
}

func (g *ruleGen) jsonCond(m map[string]any) map[string]any {
	op := g.pick("equals", "not_equals", "contains", "not_contains", "starts_with", "greater_than", "less_than", "in", "not_in", "exists", "not_exists")
	m["operator"] = op
	num := func() any { return float64(g.rng.IntN(20)) / 4 }
	switch op {
	case "equals", "not_equals":
		switch g.rng.IntN(3) {
		case 0:
			m["value"] = g.pick(g.words...)
		case 1:
			m["value"] = num()
		default:
			m["value"] = g.rng.IntN(2) == 0
		}
	case "contains", "not_contains", "starts_with":
		m["value"] = g.pick("al", "a", "Al", "ta", "beta")
	case "greater_than", "less_than":
		m["value"] = num()
	case "in", "not_in":
		if g.rng.IntN(2) == 0 {
			m["value"] = []any{g.pick(g.words...), g.pick(g.words...)}
		} else {
			m["value"] = []any{num(), num(), float64(g.rng.IntN(10))}
		}
	}
	return m
}

func (g *ruleGen) leaf() map[string]any {
	switch g.rng.IntN(7) {
	case 0:
		field := g.pick("first_name", "city", "country", "created_at", "last_seen_at", "order_count", "status", "email")
		m := map[string]any{"kind": "profile", "field": field}
		switch field {
		case "created_at", "last_seen_at":
			m["operator"] = g.pick("greater_than", "less_than", "exists", "not_exists")
			if field == "created_at" && (m["operator"] == "exists" || m["operator"] == "not_exists") {
				m["operator"] = "less_than"
			}
			if m["operator"] == "greater_than" || m["operator"] == "less_than" {
				m["value"] = map[string]any{"days_ago": g.rng.IntN(60)}
			}
		case "order_count":
			m["operator"] = g.pick("equals", "not_equals", "greater_than", "less_than", "in", "not_in")
			if m["operator"] == "in" || m["operator"] == "not_in" {
				m["value"] = []any{g.rng.IntN(4), g.rng.IntN(4)}
			} else {
				m["value"] = float64(g.rng.IntN(8)) / 2
			}
		case "status":
			m["operator"] = g.pick("equals", "not_equals", "in", "not_in")
			if m["operator"] == "in" || m["operator"] == "not_in" {
				m["value"] = []any{"ACTIVE", g.pick("DISABLED", "DELETED")}
			} else {
				m["value"] = g.pick("ACTIVE", "DISABLED")
			}
		default:
			m["operator"] = g.pick("equals", "not_equals", "contains", "not_contains", "starts_with", "in", "not_in", "exists", "not_exists")
			v := g.pick(append([]string{"FR", "US", "al", "a", "1"}, g.words...)...)
			switch m["operator"] {
			case "in", "not_in":
				m["value"] = []any{v, g.pick("FR", "alpha3", "beta0")}
			case "exists", "not_exists":
			default:
				m["value"] = v
			}
		}
		return m
	case 1:
		return g.jsonCond(map[string]any{"kind": "attribute", "key": g.pick("s", "n", "b", "x", "missing")})
	case 2:
		return map[string]any{"kind": "tag", "operator": g.pick("has", "has_not"), "value": g.pick("vip", "new", "wholesale", "eu")}
	case 3:
		m := map[string]any{"kind": "event", "event": g.pick("viewed", "added", "searched"),
			"count": map[string]any{"operator": g.pick("at_least", "at_most"), "value": g.rng.IntN(4)}}
		if g.rng.IntN(2) == 0 {
			m["within_days"] = 1 + g.rng.IntN(60)
		}
		if g.rng.IntN(2) == 0 {
			m["filters"] = []any{g.jsonCond(map[string]any{"property": g.pick("s", "n", "b")})}
		}
		return m
	case 4:
		switch field := g.pick("total_spent", "orders_count", "average_order_value", "last_order_within_days", "no_order_within_days", "bought_product", "bought_category"); field {
		case "last_order_within_days", "no_order_within_days":
			return map[string]any{"kind": "order", "field": field, "value": 1 + g.rng.IntN(60)}
		case "bought_product":
			return map[string]any{"kind": "order", "field": field, "operator": g.pick("in", "not_in"),
				"value": []any{g.prods[g.rng.IntN(len(g.prods))].String(), g.prods[g.rng.IntN(len(g.prods))].String()}}
		case "bought_category":
			return map[string]any{"kind": "order", "field": field, "operator": g.pick("in", "not_in"),
				"value": []any{g.cats[g.rng.IntN(len(g.cats))].String()}}
		default:
			return map[string]any{"kind": "order", "field": field, "operator": g.pick("greater_than", "less_than", "equals", "not_equals"),
				"value": float64(g.rng.IntN(5) * 500)}
		}
	default:
		op := g.pick("equals", "not_equals", "in", "not_in")
		m := map[string]any{"kind": "consent", "operator": op}
		if op == "in" || op == "not_in" {
			m["value"] = []any{g.pick("SUBSCRIBED", "PENDING"), g.pick("BOUNCED", "UNSUBSCRIBED")}
		} else {
			m["value"] = g.pick("SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "BOUNCED", "COMPLAINED")
		}
		return m
	}
}

package segment

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/internal/dbtest"
)

// fixture is a small store whose customers differ in every dimension a
// rule can read: ann, bob and cat, plus dan who is DELETED.
type fixture struct {
	*env
	p1, p2, c1, c2 uuid.UUID
}

func newFixture(t *testing.T, b dbtest.Backend) *fixture {
	e := newEnv(t, b)
	f := &fixture{env: e}
	f.c1, f.c2 = e.category(t), e.category(t)
	f.p1, f.p2 = e.product(t, &f.c1), e.product(t, &f.c2)

	ann, err := e.newCustomer("ann").SetEmail("ann@example.com").SetLastName("Lovelace").SetCountry("FR").SetCity("Paris").
		SetLocale("en-US").SetPhone("+33100000000").SetTags([]string{"vip", "newsletter"}).
		SetProperties(map[string]any{"plan": "pro", "age": 34, "beta": true, "score": 7.5}).
		SetEmailConsent(customer.EmailConsentSUBSCRIBED).SetSmsConsent(customer.SmsConsentSUBSCRIBED).
		SetLifetimeValueAmount(50000).SetOrderCount(5).SetAverageOrderValueAmount(10000).
		SetLastOrderAt(e.daysAgo(10)).SetFirstOrderAt(e.daysAgo(300)).SetCreatedAt(e.daysAgo(400)).
		SetLastSeenAt(e.daysAgo(1)).SetEmailVerified(true).SetSource(customer.SourceCHECKOUT).
		SetEmailOptInLevel(customer.EmailOptInLevelCONFIRMED_OPT_IN).Save(e.ctx)
	require.NoError(t, err)
	bob, err := e.newCustomer("bob").SetEmail("bob@test.org").SetLastName("Smith").SetCountry("US").
		SetTags([]string{"newsletter"}).SetProperties(map[string]any{"plan": "free", "age": 19, "beta": false}).
		SetEmailConsent(customer.EmailConsentUNSUBSCRIBED).SetCreatedAt(e.daysAgo(20)).
		SetSource(customer.SourcePOPUP).SetLastSeenAt(e.daysAgo(15)).Save(e.ctx)
	require.NoError(t, err)
	cat, err := e.newCustomer("cat").SetEmail("cat@example.com").SetTags([]string{}).
		SetEmailConsent(customer.EmailConsentPENDING).SetLifetimeValueAmount(2000).SetOrderCount(1).
		SetAverageOrderValueAmount(2000).SetLastOrderAt(e.daysAgo(100)).SetFirstOrderAt(e.daysAgo(100)).
		SetCreatedAt(e.daysAgo(5)).SetStatus(customer.StatusDISABLED).Save(e.ctx)
	require.NoError(t, err)
	dan, err := e.newCustomer("dan").SetEmail("dan@example.com").SetStatus(customer.StatusDELETED).
		SetTags([]string{"vip"}).SetCountry("FR").Save(e.ctx)
	require.NoError(t, err)

	for i := 0; i < 3; i++ {
		e.event(t, ann.ID, "product_viewed", e.daysAgo(float64(i+1)), map[string]any{"category": "shoes", "price": 120})
	}
	e.event(t, ann.ID, "product_viewed", e.daysAgo(60), map[string]any{"category": "hats", "price": 20})
	e.event(t, ann.ID, "order_placed", e.daysAgo(10), nil)
	e.event(t, bob.ID, "product_viewed", e.daysAgo(2), map[string]any{"category": "shoes", "price": 40, "sale": true})
	e.event(t, dan.ID, "product_viewed", e.daysAgo(2), map[string]any{"category": "shoes", "price": 40})

	e.order(t, ann.ID, order.StatusPAID, f.p1)
	e.order(t, bob.ID, order.StatusCANCELLED, f.p2)
	e.order(t, cat.ID, order.StatusFULFILLED, f.p2)
	e.order(t, dan.ID, order.StatusPAID, f.p1)
	return f
}

func leaf(s string) string { return `{"match":"all","conditions":[` + s + `]}` }

func profile(field, op, value string) string {
	if value == "" {
		return leaf(fmt.Sprintf(`{"kind":"profile","field":%q,"operator":%q}`, field, op))
	}
	return leaf(fmt.Sprintf(`{"kind":"profile","field":%q,"operator":%q,"value":%s}`, field, op, value))
}

func attr(key, op, value string) string {
	if value == "" {
		return leaf(fmt.Sprintf(`{"kind":"attribute","key":%q,"operator":%q}`, key, op))
	}
	return leaf(fmt.Sprintf(`{"kind":"attribute","key":%q,"operator":%q,"value":%s}`, key, op, value))
}

func ordr(field, op, value string) string {
	if op == "" {
		return leaf(fmt.Sprintf(`{"kind":"order","field":%q,"value":%s}`, field, value))
	}
	return leaf(fmt.Sprintf(`{"kind":"order","field":%q,"operator":%q,"value":%s}`, field, op, value))
}

// TestOperators runs every operator of every kind on the fixture, in Go
// (Evaluate over LoadSubject) and in SQL (Matching), on every backend.
func TestOperators(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			f := newFixture(t, b)
			cases := []struct {
				name, rule string
				want       string // comma-separated first names
			}{
				// profile: strings
				{"profile equals", profile("country", "equals", `"FR"`), "ann"},
				{"profile not_equals", profile("country", "not_equals", `"FR"`), "bob,cat"},
				{"profile contains", profile("email", "contains", `"example"`), "ann,cat"},
				{"profile not_contains", profile("email", "not_contains", `"example"`), "bob"},
				{"profile starts_with", profile("email", "starts_with", `"bob@"`), "bob"},
				{"profile starts_with not inside", profile("email", "starts_with", `"test"`), ""},
				{"profile in", profile("country", "in", `["US","DE"]`), "bob"},
				{"profile not_in", profile("country", "not_in", `["US","DE"]`), "ann,cat"},
				{"profile exists", profile("city", "exists", ""), "ann"},
				{"profile not_exists", profile("city", "not_exists", ""), "bob,cat"},
				{"profile exists empty default", profile("last_name", "exists", ""), "ann,bob"},
				// profile: enums, bool, numbers, times
				{"profile enum equals", profile("status", "equals", `"DISABLED"`), "cat"},
				{"profile enum not_in", profile("source", "not_in", `["POPUP"]`), "ann,cat"},
				{"profile bool equals", profile("email_verified", "equals", `true`), "ann"},
				{"profile bool not_equals", profile("email_verified", "not_equals", `true`), "bob,cat"},
				{"profile number greater_than", profile("order_count", "greater_than", `1`), "ann"},
				{"profile number less_than", profile("lifetime_value_amount", "less_than", `2000.5`), "bob,cat"},
				{"profile number equals", profile("order_count", "equals", `1`), "cat"},
				{"profile number not_equals", profile("order_count", "not_equals", `1`), "ann,bob"},
				{"profile number in", profile("order_count", "in", `[0,5]`), "ann,bob"},
				{"profile number not_in", profile("order_count", "not_in", `[0,5]`), "cat"},
				{"profile time greater_than days_ago", profile("created_at", "greater_than", `{"days_ago":30}`), "bob,cat"},
				{"profile time less_than days_ago", profile("created_at", "less_than", `{"days_ago":10}`), "ann,bob"},
				{"profile time greater_than absolute", profile("last_seen_at", "greater_than", fmt.Sprintf("%q", f.daysAgo(3).Format("2006-01-02T15:04:05Z07:00"))), "ann"},
				{"profile time null never compares", profile("last_seen_at", "less_than", `{"days_ago":0}`), "ann,bob"},
				{"profile time exists", profile("last_seen_at", "exists", ""), "ann,bob"},
				{"profile time not_exists", profile("last_seen_at", "not_exists", ""), "cat"},
				// attribute
				{"attribute equals string", attr("plan", "equals", `"pro"`), "ann"},
				{"attribute equals number", attr("age", "equals", `34`), "ann"},
				{"attribute equals number float", attr("score", "equals", `7.5`), "ann"},
				{"attribute equals bool", attr("beta", "equals", `false`), "bob"},
				{"attribute equals type-strict", attr("age", "equals", `"34"`), ""},
				{"attribute not_equals includes missing", attr("plan", "not_equals", `"pro"`), "bob,cat"},
				{"attribute contains", attr("plan", "contains", `"re"`), "bob"},
				{"attribute not_contains", attr("plan", "not_contains", `"re"`), "ann,cat"},
				{"attribute starts_with", attr("plan", "starts_with", `"p"`), "ann"},
				{"attribute greater_than", attr("age", "greater_than", `20`), "ann"},
				{"attribute less_than", attr("age", "less_than", `20`), "bob"},
				{"attribute less_than ignores strings", attr("plan", "less_than", `20`), ""},
				{"attribute in strings", attr("plan", "in", `["free","trial"]`), "bob"},
				{"attribute in numbers", attr("age", "in", `[19,20]`), "bob"},
				{"attribute not_in", attr("plan", "not_in", `["free"]`), "ann,cat"},
				{"attribute exists", attr("score", "exists", ""), "ann"},
				{"attribute not_exists", attr("score", "not_exists", ""), "bob,cat"},
				// tag
				{"tag has", leaf(`{"kind":"tag","operator":"has","value":"vip"}`), "ann"},
				{"tag has_not", leaf(`{"kind":"tag","operator":"has_not","value":"vip"}`), "bob,cat"},
				{"tag has shared", leaf(`{"kind":"tag","operator":"has","value":"newsletter"}`), "ann,bob"},
				// event
				{"event at_least default 1", leaf(`{"kind":"event","event":"product_viewed"}`), "ann,bob"},
				{"event at_least 3 within 7", leaf(`{"kind":"event","event":"product_viewed","count":{"operator":"at_least","value":3},"within_days":7}`), "ann"},
				{"event at_least 4 within 90", leaf(`{"kind":"event","event":"product_viewed","count":{"operator":"at_least","value":4},"within_days":90}`), "ann"},
				{"event at_least 4 within 30", leaf(`{"kind":"event","event":"product_viewed","count":{"operator":"at_least","value":4},"within_days":30}`), ""},
				{"event at_most 0", leaf(`{"kind":"event","event":"product_viewed","count":{"operator":"at_most","value":0}}`), "cat"},
				{"event at_most 1", leaf(`{"kind":"event","event":"product_viewed","count":{"operator":"at_most","value":1}}`), "bob,cat"},
				{"event at_least 0", leaf(`{"kind":"event","event":"nothing","count":{"operator":"at_least","value":0}}`), "ann,bob,cat"},
				{"event filter equals", leaf(`{"kind":"event","event":"product_viewed","filters":[{"property":"category","operator":"equals","value":"hats"}]}`), "ann"},
				{"event filter contains", leaf(`{"kind":"event","event":"product_viewed","filters":[{"property":"category","operator":"contains","value":"hoe"}]}`), "ann,bob"},
				{"event filter greater_than", leaf(`{"kind":"event","event":"product_viewed","filters":[{"property":"price","operator":"greater_than","value":100}]}`), "ann"},
				{"event filter less_than", leaf(`{"kind":"event","event":"product_viewed","filters":[{"property":"price","operator":"less_than","value":100}]}`), "ann,bob"},
				{"event filter bool and count", leaf(`{"kind":"event","event":"product_viewed","filters":[{"property":"sale","operator":"equals","value":true},{"property":"price","operator":"less_than","value":50}],"count":{"operator":"at_least","value":1},"within_days":3}`), "bob"},
				// order
				{"order total_spent greater_than", ordr("total_spent", "greater_than", `1000`), "ann,cat"},
				{"order orders_count equals", ordr("orders_count", "equals", `0`), "bob"},
				{"order average_order_value less_than", ordr("average_order_value", "less_than", `5000`), "bob,cat"},
				{"order last_order_within_days", ordr("last_order_within_days", "", `30`), "ann"},
				{"order no_order_within_days", ordr("no_order_within_days", "", `30`), "bob,cat"},
				{"order bought_product in", ordr("bought_product", "in", fmt.Sprintf(`[%q]`, f.p1)), "ann"},
				{"order bought_product ignores cancelled", ordr("bought_product", "in", fmt.Sprintf(`[%q]`, f.p2)), "cat"},
				{"order bought_product not_in", ordr("bought_product", "not_in", fmt.Sprintf(`[%q]`, f.p1)), "bob,cat"},
				{"order bought_category in", ordr("bought_category", "in", fmt.Sprintf(`[%q,%q]`, f.c1, f.c2)), "ann,cat"},
				{"order bought_category not_in", ordr("bought_category", "not_in", fmt.Sprintf(`[%q]`, f.c2)), "ann,bob"},
				// consent
				{"consent equals", leaf(`{"kind":"consent","operator":"equals","value":"SUBSCRIBED"}`), "ann"},
				{"consent not_equals", leaf(`{"kind":"consent","operator":"not_equals","value":"SUBSCRIBED"}`), "bob,cat"},
				{"consent in", leaf(`{"kind":"consent","operator":"in","value":["PENDING","UNSUBSCRIBED"]}`), "bob,cat"},
				{"consent not_in", leaf(`{"kind":"consent","operator":"not_in","value":["PENDING"]}`), "ann,bob"},
				{"consent sms", leaf(`{"kind":"consent","channel":"sms","operator":"equals","value":"SUBSCRIBED"}`), "ann"},
				// groups
				{"group any", `{"match":"any","conditions":[{"kind":"tag","operator":"has","value":"vip"},{"kind":"profile","field":"status","operator":"equals","value":"DISABLED"}]}`, "ann,cat"},
				{"group nested", `{"match":"all","conditions":[{"kind":"tag","operator":"has","value":"newsletter"},{"match":"any","conditions":[{"kind":"profile","field":"country","operator":"equals","value":"US"},{"kind":"consent","operator":"equals","value":"SUBSCRIBED"}]}]}`, "ann,bob"},
				{"group all empty result", `{"match":"all","conditions":[{"kind":"tag","operator":"has","value":"vip"},{"kind":"profile","field":"country","operator":"equals","value":"US"}]}`, ""},
			}
			rules := make([]*Rule, len(cases))
			for i, c := range cases {
				rules[i] = mustParse(t, c.rule)
			}
			goSets := f.goMatching(t, rules...)
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					want := []string{}
					if c.want != "" {
						want = strings.Split(c.want, ",")
					}
					require.Equal(t, want, names(t, f.env, f.sqlMatching(t, rules[i])), "SQL")
					require.Equal(t, want, names(t, f.env, goSets[i]), "Go")
				})
			}
		})
	}
}

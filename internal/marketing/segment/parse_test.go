package segment

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseErrors(t *testing.T) {
	deep := `{"kind":"tag","operator":"has","value":"x"}`
	for i := 0; i < 5; i++ { // the root is depth 1: five groups are one too many
		deep = `{"match":"all","conditions":[` + deep + `]}`
	}
	half := `{"match":"all","conditions":[` + strings.Repeat(`{"kind":"tag","operator":"has","value":"x"},`, 25) +
		`{"kind":"tag","operator":"has","value":"y"}]}`
	many := `{"match":"any","conditions":[` + half + `,` + half + `]}` // 52 conditions
	cases := []struct {
		name, rule string
		path       string // dot-joined
		code       string
	}{
		{"not json", `{`, "", CodeInvalid},
		{"trailing", `{"match":"all","conditions":[{"kind":"tag","operator":"has","value":"x"}]} {}`, "", CodeInvalid},
		{"root not object", `[]`, "", CodeInvalid},
		{"root leaf", `{"kind":"tag","operator":"has","value":"x"}`, "kind", CodeInvalid},
		{"match missing", `{"conditions":[{"kind":"tag","operator":"has","value":"x"}]}`, "match", CodeRequired},
		{"match bad", `{"match":"some","conditions":[{"kind":"tag","operator":"has","value":"x"}]}`, "match", CodeInvalid},
		{"unknown member", `{"match":"all","conditions":[{"kind":"tag","operator":"has","value":"x"}],"extra":1}`, "extra", CodeInvalid},
		{"empty group", `{"match":"all","conditions":[]}`, "conditions", CodeRequired},
		{"too deep", deep, "conditions.0.conditions.0.conditions.0.conditions.0", CodeTooComplex},
		{"too many", many, "", CodeTooComplex},
		{"kind missing", `{"match":"all","conditions":[{"operator":"has"}]}`, "conditions.0.kind", CodeRequired},
		{"kind unknown", `{"match":"all","conditions":[{"kind":"weather"}]}`, "conditions.0.kind", CodeInvalid},
		{"profile field unknown", profile("password_hash", "equals", `"x"`), "conditions.0.field", CodeInvalid},
		{"profile field missing", leaf(`{"kind":"profile","operator":"equals","value":"x"}`), "conditions.0.field", CodeRequired},
		{"profile operator unknown", profile("email", "like", `"x"`), "conditions.0.operator", CodeInvalid},
		{"profile operator wrong type", profile("email", "greater_than", `"x"`), "conditions.0.operator", CodeInvalid},
		{"profile operator missing", leaf(`{"kind":"profile","field":"email","value":"x"}`), "conditions.0.operator", CodeRequired},
		{"profile value missing", leaf(`{"kind":"profile","field":"email","operator":"equals"}`), "conditions.0.value", CodeRequired},
		{"profile value wrong type", profile("email", "equals", `3`), "conditions.0.value", CodeInvalid},
		{"profile value empty", profile("email", "equals", `""`), "conditions.0.value", CodeInvalid},
		{"profile value too long", profile("email", "equals", `"`+strings.Repeat("a", 256)+`"`), "conditions.0.value", CodeTooLong},
		{"profile exists with value", profile("city", "exists", `"x"`), "conditions.0.value", CodeInvalid},
		{"profile exists on non-null time", profile("created_at", "exists", ""), "conditions.0.operator", CodeInvalid},
		{"profile enum value", profile("status", "equals", `"GONE"`), "conditions.0.value", CodeInvalid},
		{"profile in empty", profile("country", "in", `[]`), "conditions.0.value", CodeInvalid},
		{"profile in element", profile("country", "in", `["FR", 3]`), "conditions.0.value.1", CodeInvalid},
		{"profile number not number", profile("order_count", "greater_than", `"3"`), "conditions.0.value", CodeInvalid},
		{"profile number too big", profile("order_count", "greater_than", `1e300`), "conditions.0.value", CodeInvalid},
		{"profile time bad", profile("created_at", "greater_than", `"yesterday"`), "conditions.0.value", CodeInvalid},
		{"profile time days_ago negative", profile("created_at", "greater_than", `{"days_ago":-1}`), "conditions.0.value.days_ago", CodeInvalid},
		{"profile time days_ago extra", profile("created_at", "greater_than", `{"days_ago":1,"hours":2}`), "conditions.0.value.hours", CodeInvalid},
		{"profile bool value", profile("email_verified", "equals", `"yes"`), "conditions.0.value", CodeInvalid},
		{"attribute key bad", attr("a\"b", "equals", `"x"`), "conditions.0.key", CodeInvalid},
		{"attribute key missing", leaf(`{"kind":"attribute","operator":"exists"}`), "conditions.0.key", CodeRequired},
		{"attribute greater string", attr("age", "greater_than", `"3"`), "conditions.0.value", CodeInvalid},
		{"attribute contains number", attr("plan", "contains", `3`), "conditions.0.value", CodeInvalid},
		{"attribute in mixed", attr("plan", "in", `[1,"a"]`), "conditions.0.value.1", CodeInvalid},
		{"attribute equals object", attr("plan", "equals", `{"a":1}`), "conditions.0.value", CodeInvalid},
		{"tag operator", leaf(`{"kind":"tag","operator":"equals","value":"x"}`), "conditions.0.operator", CodeInvalid},
		{"tag value missing", leaf(`{"kind":"tag","operator":"has"}`), "conditions.0.value", CodeRequired},
		{"event missing type", leaf(`{"kind":"event"}`), "conditions.0.event", CodeRequired},
		{"event bad type", leaf(`{"kind":"event","event":"a b"}`), "conditions.0.event", CodeInvalid},
		{"event count operator", leaf(`{"kind":"event","event":"a","count":{"operator":"exactly","value":1}}`), "conditions.0.count.operator", CodeInvalid},
		{"event count negative", leaf(`{"kind":"event","event":"a","count":{"operator":"at_least","value":-1}}`), "conditions.0.count.value", CodeInvalid},
		{"event count fraction", leaf(`{"kind":"event","event":"a","count":{"operator":"at_least","value":1.5}}`), "conditions.0.count.value", CodeInvalid},
		{"event within zero", leaf(`{"kind":"event","event":"a","within_days":0}`), "conditions.0.within_days", CodeInvalid},
		{"event filter property", leaf(`{"kind":"event","event":"a","filters":[{"property":"","operator":"exists"}]}`), "conditions.0.filters.0.property", CodeInvalid},
		{"event filter operator", leaf(`{"kind":"event","event":"a","filters":[{"property":"p","operator":"has"}]}`), "conditions.0.filters.0.operator", CodeInvalid},
		{"event too many filters", leaf(`{"kind":"event","event":"a","filters":[{},{},{},{},{},{}]}`), "conditions.0.filters", CodeTooComplex},
		{"order field unknown", ordr("refunds", "equals", `1`), "conditions.0.field", CodeInvalid},
		{"order days operator", ordr("last_order_within_days", "equals", `1`), "conditions.0.operator", CodeInvalid},
		{"order days zero", ordr("no_order_within_days", "", `0`), "conditions.0.value", CodeInvalid},
		{"order bought operator", ordr("bought_product", "equals", `["x"]`), "conditions.0.operator", CodeInvalid},
		{"order bought bad id", ordr("bought_product", "in", `["x"]`), "conditions.0.value.0", CodeInvalid},
		{"consent channel", leaf(`{"kind":"consent","channel":"fax","operator":"equals","value":"SUBSCRIBED"}`), "conditions.0.channel", CodeInvalid},
		{"consent sms value", leaf(`{"kind":"consent","channel":"sms","operator":"equals","value":"BOUNCED"}`), "conditions.0.value", CodeInvalid},
		{"consent operator", leaf(`{"kind":"consent","operator":"contains","value":"SUB"}`), "conditions.0.operator", CodeInvalid},
		{"nested path", `{"match":"all","conditions":[{"kind":"tag","operator":"has","value":"x"},{"match":"any","conditions":[{"kind":"profile","field":"email","operator":"equals","value":1}]}]}`, "conditions.1.conditions.0.value", CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, errs := Parse(json.RawMessage(c.rule))
			require.Nil(t, r)
			require.NotEmpty(t, errs)
			found := false
			for _, e := range errs {
				if strings.Join(e.Field, ".") == c.path && e.Code == c.code {
					found = true
				}
			}
			require.True(t, found, "want %s at %q, got %+v", c.code, c.path, errs)
		})
	}
}

func TestParseValid(t *testing.T) {
	r := mustParse(t, `{"match":"any","conditions":[
		{"kind":"profile","field":"created_at","operator":"greater_than","value":"2026-01-31T10:00:00+02:00"},
		{"kind":"event","event":"product_viewed","within_days":30,
		 "filters":[{"property":"price","operator":"greater_than","value":10}],
		 "count":{"operator":"at_least","value":3}},
		{"kind":"consent","operator":"equals","value":"SUBSCRIBED"},
		{"match":"all","conditions":[{"kind":"order","field":"last_order_within_days","value":7}]}]}`)
	require.Equal(t, MatchAny, r.Root.Match)
	require.Len(t, r.Root.Conditions, 4)
	require.Equal(t, time.Date(2026, 1, 31, 8, 0, 0, 0, time.UTC), r.Root.Conditions[0].Value.Time)
	ev := r.Root.Conditions[1]
	require.Equal(t, Count{Operator: OpAtLeast, N: 3}, ev.Count)
	require.Equal(t, 30, ev.WithinDays)
	require.Equal(t, "email", r.Root.Conditions[2].Channel)
	// An event condition without a count means at least once.
	r = mustParse(t, leaf(`{"kind":"event","event":"x"}`))
	require.Equal(t, Count{Operator: OpAtLeast, N: 1}, r.Root.Conditions[0].Count)
	// Canonical form round trip.
	raw, err := json.Marshal(r)
	require.NoError(t, err)
	again := mustParse(t, string(raw))
	require.Equal(t, r, again)
}

// FuzzParse feeds arbitrary text to Parse: it never panics, returns either
// a rule or errors, and a rule's canonical form parses to the same rule.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"match":"all","conditions":[{"kind":"tag","operator":"has","value":"vip"}]}`,
		profile("created_at", "greater_than", `{"days_ago":3}`),
		attr("plan", "in", `["a","b"]`),
		attr("n", "in", `[1,2.5]`),
		leaf(`{"kind":"event","event":"x","filters":[{"property":"p","operator":"equals","value":true}],"count":{"operator":"at_most","value":2},"within_days":9}`),
		ordr("bought_category", "not_in", `["0190f5b8-0000-7000-8000-000000000000"]`),
		leaf(`{"kind":"consent","channel":"sms","operator":"in","value":["PENDING"]}`),
		`{"match":"any","conditions":[{"match":"all","conditions":[{"kind":"order","field":"total_spent","operator":"less_than","value":-3}]}]}`,
		`null`, `{}`, `[1]`, `"x"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, errs := Parse(json.RawMessage(s))
		if (r == nil) == (len(errs) == 0) {
			t.Fatalf("Parse(%q) = %v, %v: want exactly one of rule and errors", s, r, errs)
		}
		for _, e := range errs {
			if e.Code == "" || e.Message == "" {
				t.Fatalf("error without code or message: %+v", e)
			}
		}
		if r == nil {
			return
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		again, errs := Parse(raw)
		if len(errs) > 0 {
			t.Fatalf("canonical form %s of %q does not parse: %v", raw, s, errs)
		}
		a, _ := json.Marshal(again)
		if string(a) != string(raw) {
			t.Fatalf("canonical form not stable: %s vs %s", raw, a)
		}
		// Evaluate never panics on an empty subject.
		_ = Evaluate(r, Subject{})
	})
}

package segment

import (
	"encoding/json"
	"time"
)

// Map returns the rule in canonical form as a map, what to store in
// customer_segments.rules (ent's SetRules). Parse(Map()) gives the rule back.
func (r *Rule) Map() map[string]any {
	return r.Root.toMap()
}

// MarshalJSON writes the rule in canonical form.
func (r *Rule) MarshalJSON() ([]byte, error) {
	return json.Marshal(r.Map())
}

func (c Condition) toMap() map[string]any {
	m := map[string]any{}
	switch c.Kind {
	case KindGroup:
		list := make([]any, len(c.Conditions))
		for i, sub := range c.Conditions {
			list[i] = sub.toMap()
		}
		m["match"] = string(c.Match)
		m["conditions"] = list
		return m
	case KindProfile, KindOrder:
		m["field"] = c.Field
	case KindAttribute:
		m["key"] = c.Key
	case KindConsent:
		m["channel"] = c.Channel
	case KindEvent:
		m["kind"] = string(c.Kind)
		m["event"] = c.Event
		m["count"] = map[string]any{"operator": string(c.Count.Operator), "value": c.Count.N}
		if c.WithinDays > 0 {
			m["within_days"] = c.WithinDays
		}
		if len(c.Filters) > 0 {
			fs := make([]any, len(c.Filters))
			for i, f := range c.Filters {
				fm := map[string]any{"property": f.Property, "operator": string(f.Operator)}
				if v, ok := f.Value.raw(); ok {
					fm["value"] = v
				}
				fs[i] = fm
			}
			m["filters"] = fs
		}
		return m
	}
	m["kind"] = string(c.Kind)
	if c.Operator != "" {
		m["operator"] = string(c.Operator)
	}
	if v, ok := c.Value.raw(); ok {
		m["value"] = v
	}
	return m
}

// raw returns the JSON form of v.
func (v Value) raw() (any, bool) {
	switch v.typ {
	case vString:
		return v.Str, true
	case vNumber:
		return v.Num, true
	case vBool:
		return v.Bool, true
	case vTime:
		return v.Time.UTC().Format(time.RFC3339Nano), true
	case vDaysAgo:
		return map[string]any{"days_ago": v.Days}, true
	case vDays:
		return v.Days, true
	case vStrings:
		return append([]string(nil), v.Strs...), true
	case vNumbers:
		return append([]float64(nil), v.Nums...), true
	case vIDs:
		out := make([]string, len(v.IDs))
		for i, id := range v.IDs {
			out[i] = id.String()
		}
		return out, true
	}
	return nil, false
}

package segment

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
)

// Subject is what Evaluate needs to know about one customer: the profile
// row (fields, tags, attributes, consent, order statistics), the events the
// rules count, and what the customer bought. Service.LoadSubject fills it
// from the database.
type Subject struct {
	// Now is the instant relative times (days_ago, within_days) count
	// from.
	Now time.Time
	// Customer is the profile.
	Customer *ent.Customer
	// Events are the customer's events; only those of the types the rules
	// name, and within their longest window, are needed.
	Events []Event
	// BoughtProducts and BoughtCategories are the products, and the
	// categories of the products, on the customer's purchased orders
	// (statuses PAID, FULFILLED, DELIVERED, PARTIALLY_REFUNDED).
	BoughtProducts   map[uuid.UUID]bool
	BoughtCategories map[uuid.UUID]bool
}

// Event is one customer event as a rule sees it.
type Event struct {
	Type       string
	Properties map[string]any
	OccurredAt time.Time
}

// Evaluate reports whether the subject matches the rule. A DELETED
// (GDPR-erased) customer matches no rule. Evaluate and the SQL translation
// agree on every customer (the agreement test checks it).
func Evaluate(r *Rule, s Subject) bool {
	if r == nil || s.Customer == nil || s.Customer.Status == customer.StatusDELETED {
		return false
	}
	return evalCond(&r.Root, &s)
}

func evalCond(c *Condition, s *Subject) bool {
	cu := s.Customer
	switch c.Kind {
	case KindGroup:
		if c.Match == MatchAny {
			for i := range c.Conditions {
				if evalCond(&c.Conditions[i], s) {
					return true
				}
			}
			return false
		}
		for i := range c.Conditions {
			if !evalCond(&c.Conditions[i], s) {
				return false
			}
		}
		return true
	case KindProfile:
		return evalField(profileFields[c.Field], c.Operator, c.Value, cu, s.Now)
	case KindAttribute:
		v, ok := cu.Properties[c.Key]
		return evalJSON(c.Operator, c.Value, v, ok)
	case KindTag:
		has := slices.Contains(cu.Tags, c.Value.Str)
		return has == (c.Operator == OpHas)
	case KindConsent:
		state := string(cu.EmailConsent)
		if c.Channel == "sms" {
			state = string(cu.SmsConsent)
		}
		return evalString(c.Operator, c.Value, state)
	case KindEvent:
		return evalEvent(c, s)
	case KindOrder:
		switch c.Field {
		case OrderLastOrderWithinDays:
			return cu.LastOrderAt != nil && !cu.LastOrderAt.Before(daysBefore(s.Now, c.Value.Days))
		case OrderNoOrderWithinDays:
			return cu.LastOrderAt == nil || cu.LastOrderAt.Before(daysBefore(s.Now, c.Value.Days))
		case OrderBoughtProduct, OrderBoughtCategory:
			set := s.BoughtProducts
			if c.Field == OrderBoughtCategory {
				set = s.BoughtCategories
			}
			any := false
			for _, id := range c.Value.IDs {
				if set[id] {
					any = true
					break
				}
			}
			return any == (c.Operator == OpIn)
		}
		return evalField(profileFields[orderNumberFields[c.Field]], c.Operator, c.Value, cu, s.Now)
	}
	return false
}

// evalField evaluates an operator on a typed profile field.
func evalField(f profileField, op Operator, v Value, cu *ent.Customer, now time.Time) bool {
	switch f.typ {
	case tString, tEnum:
		return evalString(op, v, f.str(cu))
	case tNumber:
		return evalNumber(op, v, f.num(cu))
	case tBool:
		return (f.boolean(cu) == v.Bool) == (op == OpEquals)
	case tTime:
		t := f.time(cu)
		switch op {
		case OpExists:
			return t != nil
		case OpNotExists:
			return t == nil
		case OpGreaterThan:
			return t != nil && t.After(v.at(now))
		case OpLessThan:
			return t != nil && t.Before(v.at(now))
		}
	}
	return false
}

// evalString evaluates an operator on a string ("" stands for NULL).
func evalString(op Operator, v Value, s string) bool {
	switch op {
	case OpEquals:
		return s == v.Str
	case OpNotEquals:
		return s != v.Str
	case OpContains:
		return strings.Contains(s, v.Str)
	case OpNotContains:
		return !strings.Contains(s, v.Str)
	case OpStartsWith:
		return strings.HasPrefix(s, v.Str)
	case OpIn:
		return slices.Contains(v.Strs, s)
	case OpNotIn:
		return !slices.Contains(v.Strs, s)
	case OpExists:
		return s != ""
	case OpNotExists:
		return s == ""
	}
	return false
}

func evalNumber(op Operator, v Value, n float64) bool {
	switch op {
	case OpEquals:
		return n == v.Num
	case OpNotEquals:
		return n != v.Num
	case OpGreaterThan:
		return n > v.Num
	case OpLessThan:
		return n < v.Num
	case OpIn:
		return slices.Contains(v.Nums, n)
	case OpNotIn:
		return !slices.Contains(v.Nums, n)
	}
	return false
}

// evalJSON evaluates an operator on a JSON property value x (present tells
// whether the key exists). Negative operators (not_equals, not_contains,
// not_in, not_exists) match customers without the property.
func evalJSON(op Operator, v Value, x any, present bool) bool {
	switch op {
	case OpExists:
		return present && x != nil
	case OpNotExists:
		return !present || x == nil
	case OpNotEquals:
		return !evalJSON(OpEquals, v, x, present)
	case OpNotContains:
		return !evalJSON(OpContains, v, x, present)
	case OpNotIn:
		return !evalJSON(OpIn, v, x, present)
	}
	s, isStr := x.(string)
	n, isNum := jsonNumber(x)
	switch op {
	case OpEquals:
		switch v.typ {
		case vString:
			return isStr && s == v.Str
		case vNumber:
			return isNum && n == v.Num
		case vBool:
			b, ok := x.(bool)
			return ok && b == v.Bool
		}
	case OpContains:
		return isStr && strings.Contains(s, v.Str)
	case OpStartsWith:
		return isStr && strings.HasPrefix(s, v.Str)
	case OpGreaterThan:
		return isNum && n > v.Num
	case OpLessThan:
		return isNum && n < v.Num
	case OpIn:
		if v.typ == vNumbers {
			return isNum && slices.Contains(v.Nums, n)
		}
		return isStr && slices.Contains(v.Strs, s)
	}
	return false
}

// jsonNumber returns x as a float64 when it is a JSON number.
func jsonNumber(x any) (float64, bool) {
	switch n := x.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case interface{ Float64() (float64, error) }: // json.Number
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// evalEvent counts the subject's events that match c.
func evalEvent(c *Condition, s *Subject) bool {
	var cutoff time.Time
	if c.WithinDays > 0 {
		cutoff = daysBefore(s.Now, c.WithinDays)
	}
	n := 0
	for _, e := range s.Events {
		if e.Type != c.Event || (c.WithinDays > 0 && e.OccurredAt.Before(cutoff)) {
			continue
		}
		ok := true
		for _, f := range c.Filters {
			x, present := e.Properties[f.Property]
			if !evalJSON(f.Operator, f.Value, x, present) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	if c.Count.Operator == OpAtMost {
		return n <= c.Count.N
	}
	return n >= c.Count.N
}

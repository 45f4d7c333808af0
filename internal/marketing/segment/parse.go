package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Error codes of a FieldError.
const (
	// CodeInvalid: a value, operator, kind or field is not allowed there.
	CodeInvalid = "INVALID"
	// CodeRequired: a mandatory member is missing.
	CodeRequired = "REQUIRED"
	// CodeTooComplex: the rule is nested too deep, holds too many
	// conditions or lists too many values.
	CodeTooComplex = "TOO_COMPLEX"
	// CodeTooLong: a string value is longer than MaxStringLength.
	CodeTooLong = "TOO_LONG"
)

// FieldError is a problem of a rule the merchant can fix. Field is the path
// to the offending member inside the rule, e.g.
// ["conditions", "2", "operator"]; the GraphQL layer prefixes it with the
// input field that holds the rule.
type FieldError struct {
	Field   []string
	Message string
	Code    string
}

// Error implements error.
func (e FieldError) Error() string {
	return strings.Join(e.Field, ".") + ": " + e.Message
}

// RuleError is the error of a Service method whose segment holds an invalid
// rule; Errors are Parse's.
type RuleError struct{ Errors []FieldError }

// Error implements error.
func (e *RuleError) Error() string {
	if len(e.Errors) == 0 {
		return "segment: invalid rule"
	}
	return "segment: invalid rule: " + e.Errors[0].Error()
}

// maxRuleBytes bounds the JSON text of a rule.
const maxRuleBytes = 64 << 10

var (
	keyPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,63}$`)
	eventPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,99}$`)
)

// Parse validates the JSON text of a rule (docs/segments.md) and returns
// it, or every problem found with its path. Unknown members, kinds, fields
// and operators are refused, as are values of the wrong type.
func Parse(raw json.RawMessage) (*Rule, []FieldError) {
	if len(raw) > maxRuleBytes {
		return nil, []FieldError{{Message: fmt.Sprintf("the rule is larger than %d bytes", maxRuleBytes), Code: CodeTooComplex}}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, []FieldError{{Message: "the rule is not valid JSON", Code: CodeInvalid}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, []FieldError{{Message: "the rule is followed by more JSON", Code: CodeInvalid}}
	}
	p := &parser{}
	root := p.node(nil, v, 1, true)
	if p.leaves > MaxConditions {
		p.add(nil, CodeTooComplex, "the rule has %d conditions; at most %d are allowed", p.leaves, MaxConditions)
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return &Rule{Root: root}, nil
}

// ParseMap is Parse for a rule held as a map (customer_segments.rules).
func ParseMap(m map[string]any) (*Rule, []FieldError) {
	if m == nil {
		return nil, []FieldError{{Message: "the segment has no rule", Code: CodeRequired}}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, []FieldError{{Message: "the rule is not valid JSON", Code: CodeInvalid}}
	}
	return Parse(raw)
}

type parser struct {
	errs   []FieldError
	leaves int
}

func (p *parser) add(path []string, code, format string, args ...any) {
	if len(p.errs) >= 100 {
		return
	}
	p.errs = append(p.errs, FieldError{Field: slices.Clone(path), Message: fmt.Sprintf(format, args...), Code: code})
}

func at(path []string, elems ...string) []string {
	return append(slices.Clone(path), elems...)
}

// object checks that v is an object whose members are among allowed.
func (p *parser) object(path []string, v any, allowed ...string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.add(path, CodeInvalid, "must be an object")
		return nil, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			p.add(at(path, k), CodeInvalid, "unknown member %q (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return m, true
}

// node parses a group or a condition.
func (p *parser) node(path []string, v any, depth int, root bool) Condition {
	m, ok := v.(map[string]any)
	if !ok {
		p.add(path, CodeInvalid, "must be an object")
		return Condition{}
	}
	kind, hasKind := m["kind"]
	if !hasKind || kind == string(KindGroup) {
		if !hasKind && !root {
			if _, isGroup := m["match"]; !isGroup {
				p.add(at(path, "kind"), CodeRequired, "a condition needs a kind (profile, attribute, tag, event, order, consent or group)")
				return Condition{}
			}
		}
		return p.group(path, v, depth)
	}
	if root {
		p.add(at(path, "kind"), CodeInvalid, "the root of a rule must be a group ({\"match\": ..., \"conditions\": [...]})")
		return Condition{}
	}
	p.leaves++
	switch kind {
	case string(KindProfile):
		return p.profile(path, v)
	case string(KindAttribute):
		return p.attribute(path, v)
	case string(KindTag):
		return p.tag(path, v)
	case string(KindEvent):
		return p.event(path, v)
	case string(KindOrder):
		return p.order(path, v)
	case string(KindConsent):
		return p.consent(path, v)
	}
	p.add(at(path, "kind"), CodeInvalid, "unknown kind (profile, attribute, tag, event, order, consent or group)")
	return Condition{}
}

func (p *parser) group(path []string, v any, depth int) Condition {
	m, ok := p.object(path, v, "kind", "match", "conditions")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindGroup}
	switch mv := m["match"]; mv {
	case string(MatchAll), string(MatchAny):
		c.Match = Match(mv.(string))
	case nil:
		p.add(at(path, "match"), CodeRequired, "a group needs match: \"all\" or \"any\"")
	default:
		p.add(at(path, "match"), CodeInvalid, "match must be \"all\" or \"any\"")
	}
	if depth > MaxDepth {
		p.add(path, CodeTooComplex, "groups nest at most %d deep", MaxDepth)
		return c
	}
	list, ok := m["conditions"].([]any)
	switch {
	case m["conditions"] == nil:
		p.add(at(path, "conditions"), CodeRequired, "a group needs conditions")
	case !ok:
		p.add(at(path, "conditions"), CodeInvalid, "conditions must be a list")
	case len(list) == 0:
		p.add(at(path, "conditions"), CodeRequired, "a group needs at least one condition")
	case len(list) > MaxConditions:
		p.add(at(path, "conditions"), CodeTooComplex, "a group holds at most %d conditions", MaxConditions)
	default:
		for i, e := range list {
			c.Conditions = append(c.Conditions, p.node(at(path, "conditions", strconv.Itoa(i)), e, depth+1, false))
		}
	}
	return c
}

// operator reads m["operator"] and checks it is one of allowed.
func (p *parser) operator(path []string, m map[string]any, allowed []Operator) (Operator, bool) {
	raw, present := m["operator"]
	s, ok := raw.(string)
	if !present || raw == nil {
		p.add(at(path, "operator"), CodeRequired, "an operator is required")
		return "", false
	}
	if !ok || !slices.Contains(allowed, Operator(s)) {
		names := make([]string, len(allowed))
		for i, o := range allowed {
			names[i] = string(o)
		}
		p.add(at(path, "operator"), CodeInvalid, "unknown operator here (allowed: %s)", strings.Join(names, ", "))
		return "", false
	}
	return Operator(s), true
}

var (
	stringOps    = []Operator{OpEquals, OpNotEquals, OpContains, OpNotContains, OpStartsWith, OpIn, OpNotIn, OpExists, OpNotExists}
	enumOps      = []Operator{OpEquals, OpNotEquals, OpIn, OpNotIn}
	numberOps    = []Operator{OpEquals, OpNotEquals, OpGreaterThan, OpLessThan, OpIn, OpNotIn}
	timeOps      = []Operator{OpGreaterThan, OpLessThan}
	nullTimeOps  = []Operator{OpGreaterThan, OpLessThan, OpExists, OpNotExists}
	boolOps      = []Operator{OpEquals, OpNotEquals}
	attributeOps = []Operator{OpEquals, OpNotEquals, OpContains, OpNotContains, OpStartsWith, OpGreaterThan, OpLessThan, OpIn, OpNotIn, OpExists, OpNotExists}
	tagOps       = []Operator{OpHas, OpHasNot}
	listOps      = []Operator{OpIn, OpNotIn}
)

func (p *parser) profile(path []string, v any) Condition {
	m, ok := p.object(path, v, "kind", "field", "operator", "value")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindProfile}
	name, _ := m["field"].(string)
	f, known := profileFields[name]
	if !known {
		if m["field"] == nil {
			p.add(at(path, "field"), CodeRequired, "a profile condition needs a field")
		} else {
			p.add(at(path, "field"), CodeInvalid, "unknown profile field (see docs/segments.md for the list)")
		}
		return c
	}
	c.Field = name
	c.Operator, c.Value, _ = p.fieldValue(path, m, f)
	return c
}

// fieldValue reads the operator and value of a condition on a typed field.
func (p *parser) fieldValue(path []string, m map[string]any, f profileField) (Operator, Value, bool) {
	var ops []Operator
	switch f.typ {
	case tString:
		ops = stringOps
	case tEnum:
		ops = enumOps
	case tNumber:
		ops = numberOps
	case tBool:
		ops = boolOps
	case tTime:
		ops = timeOps
		if f.nullable {
			ops = nullTimeOps
		}
	}
	op, ok := p.operator(path, m, ops)
	if !ok {
		return "", Value{}, false
	}
	vp := at(path, "value")
	raw, present := m["value"]
	if op == OpExists || op == OpNotExists {
		if present {
			p.add(vp, CodeInvalid, "%s takes no value", op)
		}
		return op, Value{}, true
	}
	if !present || raw == nil {
		p.add(vp, CodeRequired, "a value is required")
		return op, Value{}, false
	}
	list := op == OpIn || op == OpNotIn
	switch f.typ {
	case tString, tEnum:
		if list {
			strs, ok := p.strings(vp, raw, f.enum)
			return op, Value{typ: vStrings, Strs: strs}, ok
		}
		s, ok := p.str(vp, raw, f.enum)
		return op, Value{typ: vString, Str: s}, ok
	case tNumber:
		if list {
			nums, ok := p.numbers(vp, raw)
			return op, Value{typ: vNumbers, Nums: nums}, ok
		}
		n, ok := p.number(vp, raw)
		return op, Value{typ: vNumber, Num: n}, ok
	case tBool:
		b, ok := raw.(bool)
		if !ok {
			p.add(vp, CodeInvalid, "must be true or false")
		}
		return op, Value{typ: vBool, Bool: b}, ok
	case tTime:
		val, ok := p.timeValue(vp, raw)
		return op, val, ok
	}
	return op, Value{}, false
}

// str checks a string value: non-empty, at most MaxStringLength bytes,
// valid UTF-8 without NUL, and among enum when enum is set.
func (p *parser) str(path []string, raw any, enum []string) (string, bool) {
	s, ok := raw.(string)
	switch {
	case !ok:
		p.add(path, CodeInvalid, "must be a string")
	case s == "":
		p.add(path, CodeInvalid, "must not be empty (use not_exists for a missing value)")
	case len(s) > MaxStringLength:
		p.add(path, CodeTooLong, "must be at most %d bytes", MaxStringLength)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		p.add(path, CodeInvalid, "must be valid text")
	case enum != nil && !slices.Contains(enum, s):
		p.add(path, CodeInvalid, "must be one of %s", strings.Join(enum, ", "))
	default:
		return s, true
	}
	return "", false
}

func (p *parser) list(path []string, raw any) ([]any, bool) {
	l, ok := raw.([]any)
	switch {
	case !ok:
		p.add(path, CodeInvalid, "must be a list")
	case len(l) == 0:
		p.add(path, CodeInvalid, "must list at least one value")
	case len(l) > MaxListValues:
		p.add(path, CodeTooComplex, "lists at most %d values", MaxListValues)
	default:
		return l, true
	}
	return nil, false
}

func (p *parser) strings(path []string, raw any, enum []string) ([]string, bool) {
	l, ok := p.list(path, raw)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, ok := p.str(at(path, strconv.Itoa(i)), e, enum)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (p *parser) number(path []string, raw any) (float64, bool) {
	n, ok := raw.(json.Number)
	if !ok {
		p.add(path, CodeInvalid, "must be a number")
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxNumber {
		p.add(path, CodeInvalid, "must be a number between -%g and %g", maxNumber, maxNumber)
		return 0, false
	}
	return f, true
}

func (p *parser) numbers(path []string, raw any) ([]float64, bool) {
	l, ok := p.list(path, raw)
	if !ok {
		return nil, false
	}
	out := make([]float64, 0, len(l))
	for i, e := range l {
		n, ok := p.number(at(path, strconv.Itoa(i)), e)
		if !ok {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// integer checks a whole number in [min, max].
func (p *parser) integer(path []string, raw any, min, max int) (int, bool) {
	n, ok := raw.(json.Number)
	if !ok {
		p.add(path, CodeInvalid, "must be a whole number")
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || i < int64(min) || i > int64(max) {
		p.add(path, CodeInvalid, "must be a whole number from %d to %d", min, max)
		return 0, false
	}
	return int(i), true
}

// timeValue reads an RFC 3339 time or {"days_ago": N}.
func (p *parser) timeValue(path []string, raw any) (Value, bool) {
	switch v := raw.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || t.Year() < 1900 || t.Year() > 9999 {
			p.add(path, CodeInvalid, "must be an RFC 3339 time (2026-01-31T00:00:00Z) or {\"days_ago\": N}")
			return Value{}, false
		}
		return Value{typ: vTime, Time: t.UTC()}, true
	case map[string]any:
		m, ok := p.object(path, v, "days_ago")
		if !ok {
			return Value{}, false
		}
		if m["days_ago"] == nil {
			p.add(at(path, "days_ago"), CodeRequired, "days_ago is required")
			return Value{}, false
		}
		d, ok := p.integer(at(path, "days_ago"), m["days_ago"], 0, MaxDays)
		return Value{typ: vDaysAgo, Days: d}, ok && len(m) == 1
	}
	p.add(path, CodeInvalid, "must be an RFC 3339 time (2026-01-31T00:00:00Z) or {\"days_ago\": N}")
	return Value{}, false
}

func (p *parser) key(path []string, raw any, what string) (string, bool) {
	s, ok := raw.(string)
	if raw == nil {
		p.add(path, CodeRequired, "a %s is required", what)
		return "", false
	}
	if !ok || !keyPattern.MatchString(s) {
		p.add(path, CodeInvalid, "a %s is 1-64 letters, digits, '_', '.', ':' or '-'", what)
		return "", false
	}
	return s, true
}

// jsonValue reads the operator and value of a condition on a JSON property
// (customer attribute or event property filter).
func (p *parser) jsonValue(path []string, m map[string]any, ops []Operator) (Operator, Value, bool) {
	op, ok := p.operator(path, m, ops)
	if !ok {
		return "", Value{}, false
	}
	vp := at(path, "value")
	raw, present := m["value"]
	if op == OpExists || op == OpNotExists {
		if present {
			p.add(vp, CodeInvalid, "%s takes no value", op)
			return op, Value{}, false
		}
		return op, Value{}, true
	}
	if !present || raw == nil {
		p.add(vp, CodeRequired, "a value is required")
		return op, Value{}, false
	}
	switch op {
	case OpEquals, OpNotEquals:
		switch v := raw.(type) {
		case bool:
			return op, Value{typ: vBool, Bool: v}, true
		case json.Number:
			n, ok := p.number(vp, v)
			return op, Value{typ: vNumber, Num: n}, ok
		}
		s, ok := p.str(vp, raw, nil)
		return op, Value{typ: vString, Str: s}, ok
	case OpContains, OpNotContains, OpStartsWith:
		s, ok := p.str(vp, raw, nil)
		return op, Value{typ: vString, Str: s}, ok
	case OpGreaterThan, OpLessThan:
		n, ok := p.number(vp, raw)
		return op, Value{typ: vNumber, Num: n}, ok
	case OpIn, OpNotIn:
		l, ok := p.list(vp, raw)
		if !ok {
			return op, Value{}, false
		}
		if _, num := l[0].(json.Number); num {
			nums, ok := p.numbers(vp, raw)
			return op, Value{typ: vNumbers, Nums: nums}, ok
		}
		strs, ok := p.strings(vp, raw, nil)
		return op, Value{typ: vStrings, Strs: strs}, ok
	}
	return op, Value{}, false
}

func (p *parser) attribute(path []string, v any) Condition {
	m, ok := p.object(path, v, "kind", "key", "operator", "value")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindAttribute}
	c.Key, _ = p.key(at(path, "key"), m["key"], "key")
	c.Operator, c.Value, _ = p.jsonValue(path, m, attributeOps)
	return c
}

func (p *parser) tag(path []string, v any) Condition {
	m, ok := p.object(path, v, "kind", "operator", "value")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindTag}
	c.Operator, _ = p.operator(path, m, tagOps)
	if m["value"] == nil {
		p.add(at(path, "value"), CodeRequired, "a tag is required")
		return c
	}
	s, _ := p.str(at(path, "value"), m["value"], nil)
	c.Value = Value{typ: vString, Str: s}
	return c
}

func (p *parser) event(path []string, v any) Condition {
	m, ok := p.object(path, v, "kind", "event", "filters", "count", "within_days")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindEvent}
	s, ok := m["event"].(string)
	switch {
	case m["event"] == nil:
		p.add(at(path, "event"), CodeRequired, "an event type is required")
	case !ok || !eventPattern.MatchString(s):
		p.add(at(path, "event"), CodeInvalid, "an event type is 1-100 letters, digits, '_', '.', ':' or '-'")
	default:
		c.Event = s
	}
	if raw, present := m["within_days"]; present {
		c.WithinDays, _ = p.integer(at(path, "within_days"), raw, 1, MaxDays)
	}
	if raw, present := m["count"]; present {
		cp := at(path, "count")
		if cm, ok := p.object(cp, raw, "operator", "value"); ok {
			c.Count.Operator, _ = p.operator(cp, cm, []Operator{OpAtLeast, OpAtMost})
			if cm["value"] == nil {
				p.add(at(cp, "value"), CodeRequired, "a count is required")
			} else {
				c.Count.N, _ = p.integer(at(cp, "value"), cm["value"], 0, MaxCount)
			}
		}
	} else {
		c.Count = Count{Operator: OpAtLeast, N: 1}
	}
	if raw, present := m["filters"]; present {
		fp := at(path, "filters")
		l, ok := raw.([]any)
		switch {
		case !ok:
			p.add(fp, CodeInvalid, "filters must be a list")
		case len(l) > MaxFilters:
			p.add(fp, CodeTooComplex, "an event condition has at most %d filters", MaxFilters)
		default:
			for i, e := range l {
				ep := at(fp, strconv.Itoa(i))
				fm, ok := p.object(ep, e, "property", "operator", "value")
				if !ok {
					continue
				}
				var f Filter
				f.Property, _ = p.key(at(ep, "property"), fm["property"], "property")
				f.Operator, f.Value, _ = p.jsonValue(ep, fm, attributeOps)
				c.Filters = append(c.Filters, f)
			}
		}
	}
	return c
}

func (p *parser) order(path []string, v any) Condition {
	m, ok := p.object(path, v, "kind", "field", "operator", "value")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindOrder}
	name, _ := m["field"].(string)
	c.Field = name
	vp := at(path, "value")
	switch {
	case m["field"] == nil:
		p.add(at(path, "field"), CodeRequired, "an order condition needs a field")
	case orderNumberFields[name] != "":
		c.Operator, c.Value, _ = p.fieldValue(path, m, profileFields[orderNumberFields[name]])
	case name == OrderLastOrderWithinDays || name == OrderNoOrderWithinDays:
		if _, present := m["operator"]; present {
			p.add(at(path, "operator"), CodeInvalid, "%s takes no operator", name)
		}
		if m["value"] == nil {
			p.add(vp, CodeRequired, "a number of days is required")
			return c
		}
		d, _ := p.integer(vp, m["value"], 1, MaxDays)
		c.Value = Value{typ: vDays, Days: d}
	case name == OrderBoughtProduct || name == OrderBoughtCategory:
		c.Operator, _ = p.operator(path, m, listOps)
		if m["value"] == nil {
			p.add(vp, CodeRequired, "a list of ids is required")
			return c
		}
		l, ok := p.list(vp, m["value"])
		if !ok {
			return c
		}
		ids := make([]uuid.UUID, 0, len(l))
		for i, e := range l {
			s, _ := e.(string)
			id, err := uuid.Parse(s)
			if err != nil || len(s) != 36 {
				p.add(at(vp, strconv.Itoa(i)), CodeInvalid, "must be an id (UUID)")
				return c
			}
			ids = append(ids, id)
		}
		c.Value = Value{typ: vIDs, IDs: ids}
	default:
		p.add(at(path, "field"), CodeInvalid, "unknown order field (total_spent, orders_count, average_order_value, last_order_within_days, no_order_within_days, bought_product, bought_category)")
	}
	return c
}

func (p *parser) consent(path []string, v any) Condition {
	m, ok := p.object(path, v, "kind", "channel", "operator", "value")
	if !ok {
		return Condition{}
	}
	c := Condition{Kind: KindConsent, Channel: "email"}
	if raw, present := m["channel"]; present {
		s, _ := raw.(string)
		if consentValues[s] == nil {
			p.add(at(path, "channel"), CodeInvalid, "channel must be \"email\" or \"sms\"")
			return c
		}
		c.Channel = s
	}
	c.Operator, c.Value, _ = p.fieldValue(path, m, profileField{typ: tEnum, enum: consentValues[c.Channel]})
	return c
}

package catalog

import (
	"sort"
	"strings"
)

// Limits of a product's options and variants.
const (
	MaxOptions      = 3
	MaxOptionValues = 100
	MaxVariants     = 100
)

// Option is an option axis of a product (e.g. Size) and its values in
// display order.
type Option struct {
	Name   string
	Values []string
}

// normalizeOptions trims and checks options, reporting problems under
// input.options. It returns the cleaned options.
func normalizeOptions(in []Option, p *problems) []Option {
	if len(in) > MaxOptions {
		p.add(CodeTooMany, path("options"), "a product has at most %d options", MaxOptions)
		return nil
	}
	out := make([]Option, 0, len(in))
	names := map[string]bool{}
	combos := 1
	for i, o := range in {
		name := strings.TrimSpace(o.Name)
		switch {
		case name == "":
			p.add(CodeRequired, path("options", i, "name"), "option name is required")
		case len(name) > 255:
			p.add(CodeTooLong, path("options", i, "name"), "option name is longer than 255 characters")
		case names[strings.ToLower(name)]:
			p.add(CodeTaken, path("options", i, "name"), "option %q is given twice", name)
		}
		names[strings.ToLower(name)] = true
		if len(o.Values) == 0 {
			p.add(CodeRequired, path("options", i, "values"), "option %q needs at least one value", name)
		}
		if len(o.Values) > MaxOptionValues {
			p.add(CodeTooMany, path("options", i, "values"), "an option has at most %d values", MaxOptionValues)
		}
		seen := map[string]bool{}
		vals := make([]string, 0, len(o.Values))
		for j, v := range o.Values {
			v = strings.TrimSpace(v)
			switch {
			case v == "":
				p.add(CodeInvalid, path("options", i, "values", j), "option values must not be empty")
			case len(v) > 255:
				p.add(CodeTooLong, path("options", i, "values", j), "option value is longer than 255 characters")
			case seen[v]:
				p.add(CodeTaken, path("options", i, "values", j), "value %q is given twice", v)
			}
			seen[v] = true
			vals = append(vals, v)
		}
		if len(vals) > 0 && combos <= MaxVariants {
			combos *= len(vals)
		}
		out = append(out, Option{Name: name, Values: vals})
	}
	if combos > MaxVariants {
		p.add(CodeTooMany, path("options"), "the options make more than %d variants", MaxVariants)
	}
	return out
}

// combinations returns one option-value map per combination of opts, the
// first option varying slowest: [Size S,M]×[Color Red,Blue] gives S/Red,
// S/Blue, M/Red, M/Blue. No options give one empty combination.
func combinations(opts []Option) []map[string]string {
	out := []map[string]string{{}}
	for _, o := range opts {
		next := make([]map[string]string, 0, len(out)*len(o.Values))
		for _, c := range out {
			for _, v := range o.Values {
				m := make(map[string]string, len(c)+1)
				for k, x := range c {
					m[k] = x
				}
				m[o.Name] = v
				next = append(next, m)
			}
		}
		out = next
	}
	return out
}

// variantTitle is the default title of a combination: its values in option
// order joined with " / " ("M / Red"); "" without options.
func variantTitle(opts []Option, vals map[string]string) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		parts = append(parts, vals[o.Name])
	}
	return strings.Join(parts, " / ")
}

// comboKey identifies a combination of opts.
func comboKey(opts []Option, vals map[string]string) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		parts = append(parts, vals[o.Name])
	}
	return strings.Join(parts, "\x00")
}

// optionValuesOf reads stored option values (a JSON object of strings).
func optionValuesOf(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// checkOptionValues checks that raw picks exactly one known value on each
// of opts (when extend is set, an unknown value is allowed: the caller adds
// it to its option). It returns the values as strings.
func checkOptionValues(opts []Option, raw map[string]any, at []string, extend bool, p *problems) map[string]string {
	vals := make(map[string]string, len(raw))
	ok := true
	for k, v := range raw {
		s, isStr := v.(string)
		if !isStr || strings.TrimSpace(s) == "" {
			p.add(CodeInvalid, append(at, k), "option values are non-empty strings")
			ok = false
			continue
		}
		vals[k] = strings.TrimSpace(s)
	}
	if !ok {
		return nil
	}
	if len(opts) == 0 {
		if len(vals) > 0 {
			p.add(CodeInvalid, at, "the product has no options")
			return nil
		}
		return vals
	}
	known := map[string]bool{}
	for _, o := range opts {
		known[o.Name] = true
		v, has := vals[o.Name]
		if !has {
			p.add(CodeRequired, at, "a value of option %q is required", o.Name)
			ok = false
			continue
		}
		if !extend && !contains(o.Values, v) {
			p.add(CodeInvalid, append(at, o.Name), "%q is not a value of option %q", v, o.Name)
			ok = false
		}
		if len(v) > 255 {
			p.add(CodeTooLong, append(at, o.Name), "option value is longer than 255 characters")
			ok = false
		}
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		if !known[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		p.add(CodeInvalid, append(at, k), "the product has no option %q", k)
		ok = false
	}
	if !ok {
		return nil
	}
	return vals
}

// inferOptions derives options from explicit variants' option values when
// no options are given: names and values in order of first appearance.
func inferOptions(vs []VariantInput) []Option {
	var opts []Option
	idx := map[string]int{}
	for _, v := range vs {
		names := make([]string, 0, len(v.OptionValues))
		for k := range v.OptionValues {
			names = append(names, k)
		}
		sort.Strings(names) // a map has no order: keep it deterministic
		for _, k := range names {
			s, ok := v.OptionValues[k].(string)
			if !ok {
				continue
			}
			s = strings.TrimSpace(s)
			i, seen := idx[k]
			if !seen {
				i = len(opts)
				idx[k] = i
				opts = append(opts, Option{Name: k})
			}
			if s != "" && !contains(opts[i].Values, s) {
				opts[i].Values = append(opts[i].Values, s)
			}
		}
	}
	return opts
}

func optionsFromJSON(raw []map[string]any) []Option {
	out := make([]Option, 0, len(raw))
	for _, m := range raw {
		name, _ := m["name"].(string)
		o := Option{Name: name}
		switch vs := m["values"].(type) {
		case []any:
			for _, v := range vs {
				if s, ok := v.(string); ok {
					o.Values = append(o.Values, s)
				}
			}
		case []string:
			o.Values = append(o.Values, vs...)
		}
		out = append(out, o)
	}
	return out
}

func optionsToJSON(opts []Option) []map[string]any {
	out := make([]map[string]any, 0, len(opts))
	for _, o := range opts {
		vals := make([]any, 0, len(o.Values))
		for _, v := range o.Values {
			vals = append(vals, v)
		}
		out = append(out, map[string]any{"name": o.Name, "values": vals})
	}
	return out
}

func optionValuesToJSON(vals map[string]string) map[string]any {
	if len(vals) == 0 {
		return nil
	}
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		out[k] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// skuPart is the upper-case handle of s for generated SKUs.
func skuPart(s string) string { return strings.ToUpper(Slugify(s)) }

// generatedSKU is the SKU base of a combination: the slug and the values.
func generatedSKU(slug string, opts []Option, vals map[string]string) string {
	base := strings.ToUpper(slug)
	if len(base) > 60 {
		base = strings.TrimRight(base[:60], "-")
	}
	for _, o := range opts {
		if part := skuPart(vals[o.Name]); part != "" {
			base += "-" + part
		}
	}
	if len(base) > 90 {
		base = strings.TrimRight(base[:90], "-")
	}
	if base == "" {
		base = "SKU"
	}
	return base
}

// reorder moves id within ids to index pos (clamped; the end when pos is
// nil) and returns the new order. An id not in ids is inserted.
func reorder[T comparable](ids []T, id T, pos *int) []T {
	out := make([]T, 0, len(ids)+1)
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	at := len(out)
	if pos != nil {
		at = max(0, min(*pos, len(out)))
	}
	var zero T
	out = append(out, zero)
	copy(out[at+1:], out[at:])
	out[at] = id
	return out
}

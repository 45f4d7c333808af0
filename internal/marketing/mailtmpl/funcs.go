package mailtmpl

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrValueTooLarge: a function would have built a string longer than the
// output limit (print of a huge width, a doubling variable).
var ErrValueTooLarge = errors.New("mailtmpl: value exceeds the output size limit")

// funcs returns the functions templates may call besides text/template's
// builtins (and, len, index, slice, eq, ne, lt, le, gt, ge, not, or, html,
// js, urlquery, call). print, printf and println are replaced by versions
// that refuse results larger than maxLen. None of them touches the file
// system, the network, the clock or the environment.
func funcs(maxLen int) map[string]any {
	capped := func(s string) (string, error) {
		if len(s) > maxLen {
			return "", ErrValueTooLarge
		}
		return s, nil
	}
	return map[string]any{
		"money":    money,
		"default":  defaultValue,
		"upper":    func(s string) (string, error) { return capped(strings.ToUpper(s)) },
		"lower":    func(s string) (string, error) { return capped(strings.ToLower(s)) },
		"title":    func(s string) (string, error) { return capped(title(s)) },
		"trim":     strings.TrimSpace,
		"truncate": truncate,
		"date":     date,
		"join": func(sep string, list any) (string, error) {
			s, err := join(sep, list, maxLen)
			if err != nil {
				return "", err
			}
			return capped(s)
		},
		"replace": func(old, new, s string) (string, error) {
			if old != "" && len(new) > len(old) && (len(s)/len(old))*(len(new)-len(old)) > maxLen {
				return "", ErrValueTooLarge
			}
			return capped(strings.ReplaceAll(s, old, new))
		},
		"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"plural":    plural,
		"add":       func(a, b int) (int, error) { return checkedAdd(a, b) },
		"sub": func(a, b int) (int, error) {
			if b == math.MinInt {
				return 0, errors.New("sub: integer overflow")
			}
			return checkedAdd(a, -b)
		},
		"print":   func(a ...any) (string, error) { return capped(fmt.Sprint(a...)) },
		"printf":  func(f string, a ...any) (string, error) { return capped(fmt.Sprintf(f, a...)) },
		"println": func(a ...any) (string, error) { return capped(fmt.Sprintln(a...)) },
	}
}

// money formats an amount: {{money .Price}} (a Money) or
// {{money 1999 "EUR"}} (minor units and a currency). Whole JSON numbers
// (float64 from custom attributes) are accepted.
func money(v any, currency ...string) (string, error) {
	if len(currency) > 1 {
		return "", errors.New("money: at most one currency")
	}
	switch m := v.(type) {
	case Money:
		if len(currency) == 1 {
			m.Currency = currency[0]
		}
		return m.String(), nil
	case *Money:
		if m == nil {
			return "", nil
		}
		return money(*m, currency...)
	}
	if len(currency) == 0 {
		return "", errors.New("money: an amount in minor units needs a currency: money 1999 \"USD\"")
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return FormatMoney(rv.Int(), currency[0]), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return "", errors.New("money: amount out of range")
		}
		return FormatMoney(int64(rv.Uint()), currency[0]), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return "", errors.New("money: amounts are whole minor units (cents)")
		}
		return FormatMoney(int64(f), currency[0]), nil
	}
	return "", fmt.Errorf("money: cannot format %T", v)
}

// defaultValue is {{.X | default "friend"}}: v unless it is empty (nil,
// zero, "", false, an empty list or map), then def.
func defaultValue(def any, v ...any) any {
	if len(v) == 0 || isEmpty(v[0]) {
		return def
	}
	return v[0]
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return rv.IsZero()
}

// title upper-cases the first letter of every word.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		up := unicode.IsSpace(prev) || prev == '-' || prev == '('
		prev = r
		if up {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

// truncate is {{.Title | truncate 40}}: at most n characters (runes),
// ending in "…" when cut.
func truncate(n int, s string) (string, error) {
	if n < 1 {
		return "", errors.New("truncate: length must be at least 1")
	}
	if utf8.RuneCountInString(s) <= n {
		return s, nil
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…", nil
}

// dateLayouts are the named layouts of date.
var dateLayouts = map[string]string{
	"short":    "Jan 2, 2006",
	"long":     "January 2, 2006",
	"iso":      "2006-01-02",
	"datetime": "Jan 2, 2006 15:04 MST",
	"time":     "15:04",
	"rfc3339":  time.RFC3339,
}

// date is {{date "short" .SentAt}}: t (a time, or an RFC 3339 or
// YYYY-MM-DD string from an attribute) in a named layout (short, long, iso,
// datetime, time, rfc3339) or a Go layout ("Mon, 02 Jan 2006"). A zero or
// empty time renders as "".
func date(layout string, t any) (string, error) {
	if l, ok := dateLayouts[layout]; ok {
		layout = l
	}
	if len(layout) > 100 {
		return "", errors.New("date: layout too long")
	}
	var tm time.Time
	switch v := t.(type) {
	case nil:
		return "", nil
	case time.Time:
		tm = v
	case *time.Time:
		if v == nil {
			return "", nil
		}
		tm = *v
	case string:
		if v == "" {
			return "", nil
		}
		var err error
		if tm, err = time.Parse(time.RFC3339, v); err != nil {
			if tm, err = time.Parse("2006-01-02", v); err != nil {
				return "", fmt.Errorf("date: %q is not an RFC 3339 time or a YYYY-MM-DD date", v)
			}
		}
	default:
		return "", fmt.Errorf("date: cannot format %T", t)
	}
	if tm.IsZero() {
		return "", nil
	}
	return tm.Format(layout), nil
}

// join is {{join ", " .Customer.Attributes.interests}}: the elements of a
// list, printed and separated by sep.
func join(sep string, list any, maxLen int) (string, error) {
	if list == nil {
		return "", nil
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return "", fmt.Errorf("join: %T is not a list", list)
	}
	var b strings.Builder
	for i := range rv.Len() {
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprint(&b, rv.Index(i).Interface())
		if b.Len() > maxLen {
			return "", ErrValueTooLarge
		}
	}
	return b.String(), nil
}

// plural is {{plural .Cart.ItemCount "item" "items"}}: "1 item", "3 items".
func plural(n any, singular, pluralForm string) (string, error) {
	rv := reflect.ValueOf(n)
	var count int64
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		count = rv.Int()
	case reflect.Float64, reflect.Float32:
		count = int64(rv.Float())
	default:
		return "", fmt.Errorf("plural: %T is not a number", n)
	}
	if count == 1 {
		return "1 " + singular, nil
	}
	return fmt.Sprintf("%d %s", count, pluralForm), nil
}

func checkedAdd(a, b int) (int, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, errors.New("add: integer overflow")
	}
	return s, nil
}

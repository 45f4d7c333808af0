package mailtmpl

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
)

// parseMoney reads back what FormatMoney writes for currency: an optional
// "-", the symbol of the currency or nothing, digits grouped by three with
// commas, a "." and exactly MinorUnits(currency) decimals, and " CODE" for
// a currency without a symbol. It returns false for anything else.
func parseMoney(s, currency string) (int64, bool) {
	cur := strings.ToUpper(strings.TrimSpace(currency))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if sym, ok := symbols[cur]; ok {
		if !strings.HasPrefix(s, sym) {
			return 0, false
		}
		s = s[len(sym):]
	} else if cur != "" {
		if !strings.HasSuffix(s, " "+cur) {
			return 0, false
		}
		s = s[:len(s)-len(cur)-1]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	digits := MinorUnits(cur)
	if hasFrac != (digits > 0) || len(frac) != digits {
		return 0, false
	}
	groups := strings.Split(whole, ",")
	for i, g := range groups {
		if g == "" || len(g) > 3 || (i > 0 && len(g) != 3) || (i == 0 && len(groups) > 1 && g[0] == '0') {
			return 0, false
		}
	}
	u, err := strconv.ParseUint(strings.Join(groups, "")+frac, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u == 0 || u > 1<<63 {
			return 0, false // no "-0"
		}
		return int64(-u), true //nolint:gosec // -2^63 included
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// FuzzFormatMoney checks the money formatting of emails: FormatMoney of
// any amount in any currency string reads back (parseMoney) to exactly the
// amount, with the currency's number of decimals, thousands grouped by
// three, the symbol or the code; a negative amount is "-" and the format of
// its absolute value; the money template function ({{money .Price}},
// {{money 1999 "EUR"}}, whole float amounts) and Money.String print the
// same; and a template rendering {{money .Price}} shows it (HTML-escaped).
func FuzzFormatMoney(f *testing.F) {
	for _, c := range []struct {
		amount   int64
		currency string
	}{
		{1999, "USD"}, {123450, "eur"}, {0, "JPY"}, {1200, "jpy"}, {12500, "KWD"}, {-1, "GBP"},
		{math.MaxInt64, "XAF"}, {math.MinInt64, "BHD"}, {100, ""}, {5, " chf "}, {1000000, "CA$"},
		{-999, "NZD"}, {7, "ü"}, {42, "\xff"}, {1, "A B"}, {123456789, "KRW"},
	} {
		f.Add(c.amount, c.currency)
	}
	r := New(Limits{CacheSize: 8})
	f.Fuzz(func(t *testing.T, amount int64, currency string) {
		s := FormatMoney(amount, currency)
		got, ok := parseMoney(s, currency)
		if !ok || got != amount {
			t.Fatalf("FormatMoney(%d, %q) = %q, which reads back as %d, %v", amount, currency, s, got, ok)
		}
		if amount > 0 {
			if neg := FormatMoney(-amount, currency); neg != "-"+s {
				t.Fatalf("FormatMoney(%d) = %q, FormatMoney(%d) = %q", -amount, neg, amount, s)
			}
		}
		m := Money{Amount: amount, Currency: currency}
		if m.String() != s {
			t.Fatalf("Money.String() = %q, FormatMoney %q", m.String(), s)
		}
		for name, c := range map[string]struct {
			call func() (string, error)
			want string
		}{
			"Money":           {func() (string, error) { return money(m) }, s},
			"*Money":          {func() (string, error) { return money(&m) }, s},
			"Money, currency": {func() (string, error) { return money(Money{Amount: amount, Currency: "XXX"}, currency) }, s},
			"int64, currency": {func() (string, error) { return money(amount, currency) }, s},
			"int32, currency": {func() (string, error) { return money(int32(amount), currency) }, FormatMoney(int64(int32(amount)), currency)},
			"nil *Money":      {func() (string, error) { return money((*Money)(nil)) }, ""},
		} {
			if out, err := c.call(); err != nil || out != c.want {
				t.Fatalf("money(%s) = %q, %v; want %q", name, out, err, c.want)
			}
		}
		if math.Abs(float64(amount)) <= 1<<53 {
			if out, err := money(float64(amount), currency); err != nil || out != s {
				t.Fatalf("money(float64 %d, %q) = %q, %v; want %q", amount, currency, out, err, s)
			}
		}
		if _, err := money(amount); err == nil {
			t.Fatal("money of a bare amount without a currency did not fail")
		}
		// Through a template, for currencies a store can have (letters).
		cur := strings.TrimSpace(currency)
		if cur == "" || strings.Trim(strings.ToUpper(cur), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return
		}
		data := SampleData(Store{})
		data.Products[0].Price = m
		out, err := r.Render(context.Background(), Template{
			Subject: "{{(index .Products 0).Price}}",
			HTML:    "<p>{{money (index .Products 0).Price}}</p><p>{{money " + strconv.FormatInt(amount, 10) + " " + strconv.Quote(currency) + "}}</p>",
		}, data)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if out.Subject != s || !strings.Contains(out.HTML, "<p>"+s+"</p><p>"+s+"</p>") {
			t.Fatalf("rendered subject %q, html %q; want %q in both", out.Subject, out.HTML, s)
		}
	})
}

package popup

import (
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	for _, tc := range []struct {
		in, canon string
		err       error
	}{
		{"*", "*", nil},
		{"  *  ", "*", nil},
		{"/", "/", nil},
		{"//", "/", nil},
		{"/products/*", "/products/*", nil},
		{"/Products/", "/products", nil},
		{"/a//b/", "/a/b", nil},
		{"/**", "/**", nil},
		{"/a/**/**/b", "/a/**/b", nil},
		{"/caf%C3%A9", "/café", nil},
		{"/café", "/café", nil},
		{"/*-sale*", "/*-sale*", nil},
		{"", "", errPatternEmpty},
		{"   ", "", errPatternEmpty},
		{"products/*", "", errPatternRooted},
		{"**", "", errPatternRooted},
		{"https://shop.test/a", "", errPatternRooted},
		{"/a?b=1", "", errPatternChars},
		{"/a#top", "", errPatternChars},
		{"/a b", "", errPatternChars},
		{"/a\tb", "", errPatternChars},
		{"/a\\b", "", errPatternChars},
		{"/a\x00", "", errPatternChars},
		{"/a%3Fb", "", errPatternChars},
		{"/a%2541", "", errPatternChars},
		{"/a%20b", "", errPatternChars},
		{"/a%zz", "", errPatternEscape},
		{"/a%", "", errPatternEscape},
		{"/a/../b", "", errPatternDots},
		{"/./a", "", errPatternDots},
		{"/a**", "", errPatternDeep},
		{"/***", "", errPatternDeep},
		{"/" + strings.Repeat("*/", 17), "", errPatternWildcard},
		{"/" + strings.Repeat("a", MaxPatternLength), "", errPatternTooLong},
		{"/a\xffb", "", errPatternChars},
	} {
		p, err := ParsePattern(tc.in)
		if err != tc.err {
			t.Errorf("ParsePattern(%q) error = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && p.String() != tc.canon {
			t.Errorf("ParsePattern(%q) = %q, want %q", tc.in, p.String(), tc.canon)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/products/", "/products"},
		{"/Products/Shirt", "/products/shirt"},
		{"/a//b///c/", "/a/b/c"},
		{"/a/./b/../c", "/a/c"},
		{"/../../etc", "/etc"},
		{"/cart?step=2", "/cart"},
		{"/cart/?x=/products/y", "/cart"},
		{"/cart#top", "/cart"},
		{"/?utm_source=x", "/"},
		{"products/x", "/products/x"},
		{"https://shop.test/Products/x?y=1#z", "/products/x"},
		{"https://shop.test", "/"},
		{"/caf%C3%A9", "/café"},
		{"/a%zz", "/a%zz"},
	} {
		if got := NormalizePath(tc.in); got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	type c struct {
		path string
		want bool
	}
	for _, tc := range []struct {
		pattern string
		cases   []c
	}{
		{"*", []c{{"/", true}, {"/a/b/c", true}, {"", true}}},
		{"/**", []c{{"/", true}, {"/a/b", true}}},
		{"/", []c{{"/", true}, {"", true}, {"/?q=1", true}, {"/index", false}, {"/a", false}}},
		{"/cart", []c{{"/cart", true}, {"/cart/", true}, {"/CART", true}, {"/cart?x=1", true}, {"/cart#y", true},
			{"/carts", false}, {"/cart/x", false}, {"/x/cart", false}, {"/", false}}},
		{"/cart/", []c{{"/cart", true}, {"/cart/", true}}},
		{"/products/*", []c{{"/products/shirt", true}, {"/products/shirt/", true}, {"/Products/Shirt?v=1", true},
			{"/products", false}, {"/products/", false}, {"/products/shirt/reviews", false}, {"/product/shirt", false},
			{"/x/products/shirt", false}}},
		{"/products/**", []c{{"/products", true}, {"/products/", true}, {"/products/a", true}, {"/products/a/b/c", true},
			{"/productsx", false}, {"/product", false}}},
		{"/blog*", []c{{"/blog", true}, {"/blogs", true}, {"/blog-post", true}, {"/blog/x", false}, {"/my-blog", false}}},
		{"/*/sale", []c{{"/summer/sale", true}, {"/winter/sale/", true}, {"/sale", false}, {"/a/b/sale", false}}},
		{"/**/reviews", []c{{"/reviews", true}, {"/products/x/reviews", true}, {"/products/x/reviews/1", false}}},
		{"/a/**/b", []c{{"/a/b", true}, {"/a/x/b", true}, {"/a/x/y/b", true}, {"/a/b/c", false}, {"/b", false}}},
		{"/a/**/b/**", []c{{"/a/b", true}, {"/a/1/b/2/3", true}, {"/a/1/2", false}}},
		{"/*-sale-*", []c{{"/big-sale-now", true}, {"/-sale-", true}, {"/sale", false}, {"/big-sale", false}}},
		{"/a*b*c", []c{{"/abc", true}, {"/aXbYc", true}, {"/abcbc", true}, {"/acb", false}, {"/ab", false}}},
		{"/*ab*ab", []c{{"/abab", true}, {"/xabyab", true}, {"/ab", false}, {"/aab", false}}},
		{"/caf%C3%A9/*", []c{{"/café/x", true}, {"/caf%c3%a9/x", true}, {"/CAF%C3%A9/x", true}, {"/cafe/x", false}}},
		{"/collections/sale", []c{{"https://shop.test/collections/sale?page=2", true}, {"/collections/./sale", true},
			{"/collections/x/../sale", true}}},
	} {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tc.pattern, err)
		}
		for _, cc := range tc.cases {
			if got := p.Match(cc.path); got != cc.want {
				t.Errorf("%q.Match(%q) = %v, want %v", tc.pattern, cc.path, got, cc.want)
			}
		}
	}
	if (Pattern{}).Match("/") {
		t.Error("the zero Pattern matched")
	}
}

func TestTargetingMatches(t *testing.T) {
	for _, tc := range []struct {
		name             string
		include, exclude []string
		path             string
		want             bool
	}{
		{"no rules: everywhere", nil, nil, "/any/page", true},
		{"include hit", []string{"/products/*"}, nil, "/products/a", true},
		{"include miss", []string{"/products/*"}, nil, "/cart", false},
		{"second include hits", []string{"/", "/products/*"}, nil, "/products/a", true},
		{"exclude only", nil, []string{"/checkout/**"}, "/checkout/pay", false},
		{"exclude only, other page", nil, []string{"/checkout/**"}, "/products/a", true},
		{"exclude wins over include", []string{"*"}, []string{"/cart"}, "/cart/", false},
		{"exclude with query", []string{"*"}, []string{"/cart"}, "/cart?coupon=1", false},
		{"home only", []string{"/"}, nil, "/?utm=1", true},
		{"home only, elsewhere", []string{"/"}, nil, "/about", false},
		{"bad stored include matches nothing", []string{"no-slash"}, nil, "/", false},
		{"bad stored exclude excludes everything", nil, []string{"/a?b"}, "/", false},
	} {
		got := TargetingOf(Settings{IncludePaths: tc.include, ExcludePaths: tc.exclude}).Matches(tc.path)
		if got != tc.want {
			t.Errorf("%s: Matches(%q) = %v, want %v", tc.name, tc.path, got, tc.want)
		}
	}
}

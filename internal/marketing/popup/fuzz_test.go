package popup

import (
	"strings"
	"testing"
)

// FuzzParsePattern feeds untrusted patterns and paths to the parser and the
// matcher: no panic, canonical forms are fixed points, and a path made from
// a pattern by filling in its wildcards is matched by it.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"*", "/", "/products/*", "/a/**/b", "/blog*", "/*-sale-*", "/caf%C3%A9", "/a%zz",
		"/a/../b", "/a**", "/**/x/**", "//a//", "/a?b", "/" + strings.Repeat("*", 20)} {
		f.Add(s, "/products/x?y=1")
	}
	f.Fuzz(func(t *testing.T, pattern, pagePath string) {
		p, err := ParsePattern(pattern)
		_ = p.Match(pagePath) // also the zero Pattern
		_ = NormalizePath(pagePath)
		if err != nil {
			return
		}
		q, err := ParsePattern(p.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", p.String(), pattern, err)
		}
		if q.String() != p.String() {
			t.Fatalf("canonical form not stable: %q -> %q", p.String(), q.String())
		}
		if p.all {
			if !p.Match(pagePath) {
				t.Fatalf("%q did not match %q", pattern, pagePath)
			}
			return
		}
		// Fill in the wildcards: * with "x", ** with "y/z".
		var segs []string
		for _, s := range p.segs {
			if s.deep {
				segs = append(segs, "y", "z")
				continue
			}
			segs = append(segs, strings.Join(s.parts, "x"))
		}
		example := "/" + strings.Join(segs, "/")
		if !p.Match(example) {
			t.Fatalf("%q (canonical %q) did not match its own example %q", pattern, p.String(), example)
		}
	})
}

package popup

import (
	"errors"
	"net/url"
	pathpkg "path"
	"strings"
	"unicode"
)

// Path patterns say on which storefront pages a popup shows. The syntax
// (docs/popups.md):
//
//   - every page
//     /                 the home page only
//     /cart             that page only (a trailing slash is ignored)
//     /products/*       one segment below /products: /products/shirt, not
//     /products nor /products/shirt/reviews
//     /blog*            a segment starting with "blog": /blog, /blogs, /blog-post
//     /*/sale           /summer/sale, /winter/sale
//     /products/**      /products and everything below it
//     /**/reviews       any path ending in /reviews (/reviews included)
//
// `*` matches any run of characters inside one segment; `**` is a whole
// segment matching zero or more segments. Matching ignores case, the query
// string and the fragment; percent-escapes are decoded in both the pattern
// and the path, and "." and ".." segments are refused in patterns and
// resolved in paths.
const (
	// MaxPatternLength is the longest pattern accepted, in bytes.
	MaxPatternLength = 512
	// maxWildcards bounds the stars of one pattern (and the matching cost).
	maxWildcards = 16
	// maxPathLength is how much of a reported page path is looked at.
	maxPathLength = 2048
)

// Pattern is a parsed path pattern; the zero value matches nothing.
type Pattern struct {
	canon string
	all   bool
	segs  []segment
}

// segment is one /-separated part of a pattern: ** (deep) or a glob whose
// literal pieces are separated by single stars.
type segment struct {
	deep  bool
	parts []string // len 1: a literal; len n: n-1 stars between the pieces
}

// Errors of ParsePattern; the validation messages of Create/Update say the
// same.
var (
	errPatternEmpty    = errors.New("path pattern is empty")
	errPatternTooLong  = errors.New("path pattern is longer than 512 characters")
	errPatternRooted   = errors.New(`path pattern must start with "/" (or be "*" for every page)`)
	errPatternChars    = errors.New("path pattern may not contain spaces, control characters, ?, #, % (after decoding) or \\; query strings are not matched")
	errPatternEscape   = errors.New("path pattern has an invalid %-escape")
	errPatternDots     = errors.New(`path pattern may not contain "." or ".." segments`)
	errPatternDeep     = errors.New(`"**" must be a whole segment, as in /products/**`)
	errPatternWildcard = errors.New("path pattern has more than 16 wildcards")
)

// ParsePattern parses one path pattern (see the syntax above).
func ParsePattern(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Pattern{}, errPatternEmpty
	case len(s) > MaxPatternLength:
		return Pattern{}, errPatternTooLong
	case s == "*":
		return Pattern{canon: "*", all: true}, nil
	case s[0] != '/':
		return Pattern{}, errPatternRooted
	}
	if strings.ContainsAny(s, "?#\\") || strings.IndexFunc(s, badRune) >= 0 {
		return Pattern{}, errPatternChars
	}
	dec, err := url.PathUnescape(s)
	if err != nil {
		return Pattern{}, errPatternEscape
	}
	if strings.ContainsAny(dec, "?#\\%") || strings.IndexFunc(dec, badRune) >= 0 {
		return Pattern{}, errPatternChars
	}
	if strings.Count(dec, "*") > maxWildcards {
		return Pattern{}, errPatternWildcard
	}
	dec = strings.ToLower(dec)
	p := Pattern{}
	var canon []string
	for _, raw := range strings.Split(dec, "/")[1:] {
		switch {
		case raw == "":
			continue // "//" and the trailing slash
		case raw == "." || raw == "..":
			return Pattern{}, errPatternDots
		case raw == "**":
			// Consecutive ** are one.
			if n := len(p.segs); n > 0 && p.segs[n-1].deep {
				continue
			}
			p.segs = append(p.segs, segment{deep: true})
		case strings.Contains(raw, "**"):
			return Pattern{}, errPatternDeep
		default:
			p.segs = append(p.segs, segment{parts: strings.Split(raw, "*")})
		}
		canon = append(canon, raw)
	}
	p.canon = "/" + strings.Join(canon, "/")
	if len(p.segs) == 1 && p.segs[0].deep {
		p.all = true
	}
	return p, nil
}

// badRune is a character no pattern may hold.
func badRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

// String returns the pattern in its canonical form: decoded, lower-cased,
// without empty segments or a trailing slash. ParsePattern(p.String()) is p.
func (p Pattern) String() string { return p.canon }

// NormalizePath turns a page path (or a whole URL) reported by a storefront
// into the form patterns match: the path only (no scheme, host, query or
// fragment), percent-decoded, lower-cased, cleaned ("//", "." and ".."
// resolved, no trailing slash). The empty string is "/".
func NormalizePath(raw string) string {
	if len(raw) > maxPathLength {
		raw = raw[:maxPathLength]
	}
	raw = strings.TrimSpace(raw)
	if i := strings.Index(raw, "://"); i >= 0 && !strings.Contains(raw[:i], "/") {
		if u, err := url.Parse(raw); err == nil {
			raw = u.EscapedPath()
		} else if j := strings.IndexByte(raw[i+3:], '/'); j >= 0 {
			raw = raw[i+3+j:]
		} else {
			raw = "/"
		}
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if dec, err := url.PathUnescape(raw); err == nil {
		raw = dec
	}
	return pathpkg.Clean("/" + strings.ToLower(raw))
}

// Match reports whether the pattern matches a path; the path is normalised
// first (NormalizePath).
func (p Pattern) Match(pagePath string) bool {
	return p.matchNormalized(NormalizePath(pagePath))
}

// matchNormalized is Match on a path already normalised.
func (p Pattern) matchNormalized(np string) bool {
	if p.all {
		return true
	}
	if p.canon == "" {
		return false
	}
	var segs []string
	if np != "/" {
		segs = strings.Split(np[1:], "/")
	}
	return matchSegments(p.segs, segs)
}

// matchSegments matches pattern segments against path segments by dynamic
// programming over (pattern, path) positions: O(len(pat)·len(segs)) glob
// matches, whatever the number of **.
func matchSegments(pat []segment, segs []string) bool {
	// prev[j]: pat[:i] matches segs[:j].
	prev := make([]bool, len(segs)+1)
	cur := make([]bool, len(segs)+1)
	prev[0] = true
	for i := 1; i <= len(pat); i++ {
		ps := pat[i-1]
		for j := 0; j <= len(segs); j++ {
			switch {
			case ps.deep:
				// Zero segments (prev[j]) or one more (cur[j-1]).
				cur[j] = prev[j] || (j > 0 && cur[j-1])
			case j == 0:
				cur[j] = false
			default:
				cur[j] = prev[j-1] && globMatch(ps.parts, segs[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(segs)]
}

// globMatch matches one segment against literal pieces separated by stars.
// The first piece is a prefix, the last a suffix, and the middle ones are
// found leftmost in order (which is exact for star-only globs).
func globMatch(parts []string, s string) bool {
	if len(parts) == 1 {
		return parts[0] == s
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, piece := range parts[1 : len(parts)-1] {
		k := strings.Index(mid, piece)
		if k < 0 {
			return false
		}
		mid = mid[k+len(piece):]
	}
	return true
}

// Targeting is the parsed page targeting of a popup: it shows on a page
// that matches no Exclude pattern and, when Include is not empty, at least
// one Include pattern. Exclusion wins.
type Targeting struct {
	Include, Exclude []Pattern
}

// Matches reports whether the targeting allows pagePath (normalised first).
func (t Targeting) Matches(pagePath string) bool {
	np := NormalizePath(pagePath)
	for _, p := range t.Exclude {
		if p.matchNormalized(np) {
			return false
		}
	}
	if len(t.Include) == 0 {
		return true
	}
	for _, p := range t.Include {
		if p.matchNormalized(np) {
			return true
		}
	}
	return false
}

package catalog

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSlugLen bounds a slug; generated slugs leave room for a "-N" suffix.
const (
	maxSlugLen     = 255
	maxBaseSlugLen = 200
)

// Slugify turns a title into a URL handle: lower-case letters and digits,
// every run of other characters replaced by one '-', none at either end
// ("Amber Anchor 0001" → "amber-anchor-0001", "Café & Co." → "café-co").
// Letters and digits of any script are kept. It returns "" when nothing is
// left.
func Slugify(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	dash := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		dash = true
	}
	return b.String()
}

// baseSlug is Slugify cut to maxBaseSlugLen bytes (on a rune boundary, no
// trailing '-'), or fallback when nothing is left.
func baseSlug(title, fallback string) string {
	s := Slugify(title)
	if len(s) > maxBaseSlugLen {
		cut := maxBaseSlugLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimRight(s[:cut], "-")
	}
	if s == "" {
		return fallback
	}
	return s
}

// uniqueSlug returns base, or base-2, base-3 … : the first not in taken.
func uniqueSlug(base string, taken map[string]bool) string {
	if !taken[base] {
		return base
	}
	for i := 2; ; i++ {
		c := base + "-" + strconv.Itoa(i)
		if !taken[c] {
			return c
		}
	}
}

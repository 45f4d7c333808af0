package storefront

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/omnisphere/omnisphere/ent/product"
)

// Limits of a search query: words beyond them are ignored.
const (
	MaxTerms   = 10
	MaxTermLen = 64
)

// Terms splits a search query into its words: runs of letters and digits,
// lower-cased, each at most MaxTermLen characters, at most MaxTerms of them,
// without repeats. Both backends index text split the same way (every other
// character separates words), and every term matches as a prefix: "shi"
// finds "Shirt", "sku 0001" finds "SKU-0001-S". A product matches when all
// terms do.
func Terms(query string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(query), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if utf8.RuneCountInString(f) > MaxTermLen {
			f = string([]rune(f)[:MaxTermLen])
		}
		if !contains(out, f) {
			out = append(out, f)
		}
		if len(out) == MaxTerms {
			break
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// The PostgreSQL search documents. They must stay exactly the expressions
// of the GIN indexes of migration 00003_storefront_search.sql, or the
// planner cannot use them (TestSearchUsesTheGINIndexes checks it).
const (
	// pgProductDocument weighs title (A) over tags (B) over description (C).
	pgProductDocument = `(setweight(to_tsvector('simple'::regconfig, regexp_replace(title, '[^[:alnum:]]+', ' ', 'g')), 'A') || ` +
		`setweight(to_tsvector('simple'::regconfig, regexp_replace(tags::text, '[^[:alnum:]]+', ' ', 'g')), 'B') || ` +
		`setweight(to_tsvector('simple'::regconfig, regexp_replace(COALESCE(description, ''), '[^[:alnum:]]+', ' ', 'g')), 'C'))`
	// pgVariantDocument is a variant's SKU.
	pgVariantDocument = `to_tsvector('simple'::regconfig, regexp_replace(sku, '[^[:alnum:]]+', ' ', 'g'))`
	// skuBonus is added to the rank of a product one of whose SKUs matches:
	// an SKU search finds its product first.
	skuBonus = "1"
)

// pgQuery is the tsquery text of terms: every term a prefix, all required.
// Terms hold only letters and digits, so nothing in them is tsquery syntax.
func pgQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t + ":*"
	}
	return strings.Join(parts, " & ")
}

// ftsQuery is the FTS5 query text of terms: every term a quoted prefix, all
// required.
func ftsQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + t + `"*`
	}
	return strings.Join(parts, " AND ")
}

// matches keeps the products matching every term in their title, tags,
// description or SKUs. On PostgreSQL the two GIN indexes find them (a
// UNION, so that each side uses its index); on SQLite the FTS5 table
// product_search does.
func matches(terms []string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		id := s.C(product.FieldID)
		s.Where(sql.P(func(b *sql.Builder) {
			if b.Dialect() == dialect.Postgres {
				q := pgQuery(terms)
				b.WriteString(id + ` IN (SELECT id FROM products WHERE ` + pgProductDocument + ` @@ to_tsquery('simple', `).Arg(q).
					WriteString(`) UNION SELECT product_id FROM product_variants WHERE ` + pgVariantDocument + ` @@ to_tsquery('simple', `).Arg(q).
					WriteString(`))`)
				return
			}
			b.WriteString(s.C("rowid") + ` IN (SELECT rowid FROM product_search WHERE product_search MATCH `).Arg(ftsQuery(terms)).WriteString(`)`)
		}))
	}
}

// rank is the relevance of a row of s to terms, higher is better: ts_rank
// of the weighted document plus a bonus for an SKU match on PostgreSQL, the
// negated bm25 of product_search (title 10, tags 5, description 1, SKUs 5)
// on SQLite. It is a float8 on both, so that cursors compare it exactly.
func rank(s *sql.Selector, terms []string) sql.Querier {
	id := s.C(product.FieldID)
	return sql.ExprFunc(func(b *sql.Builder) {
		if b.Dialect() == dialect.Postgres {
			q := pgQuery(terms)
			b.WriteString(`(ts_rank(` + prefixed(pgProductDocument, s) + `, to_tsquery('simple', `).Arg(q).
				WriteString(`))::float8 + CASE WHEN EXISTS (SELECT 1 FROM product_variants rv WHERE rv.product_id = ` + id +
					` AND ` + strings.Replace(pgVariantDocument, "(sku,", "(rv.sku,", 1) + ` @@ to_tsquery('simple', `).Arg(q).
				WriteString(`)) THEN ` + skuBonus + ` ELSE 0 END)`)
			return
		}
		b.WriteString(`(-(SELECT bm25(product_search, 0.0, 10.0, 5.0, 1.0, 5.0) FROM product_search WHERE product_search MATCH `).
			Arg(ftsQuery(terms)).WriteString(` AND rowid = ` + s.C("rowid") + `))`)
	})
}

// prefixed qualifies the document's columns with s's table, so that the
// expression names the outer row inside subqueries too.
func prefixed(doc string, s *sql.Selector) string {
	r := strings.NewReplacer(
		"(title,", "("+s.C(product.FieldTitle)+",",
		"(tags::text,", "("+s.C(product.FieldTags)+"::text,",
		"(description,", "("+s.C(product.FieldDescription)+",",
	)
	return r.Replace(doc)
}

package catalog

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// allowedTags are the elements a rich-text description may use, with the
// attributes each keeps. Everything else is dropped; the content of
// dropContent elements goes with them, the text of other unknown elements
// stays (escaped).
var allowedTags = map[atom.Atom][]string{
	atom.P: nil, atom.Br: nil, atom.Hr: nil, atom.Div: nil, atom.Span: nil,
	atom.Strong: nil, atom.B: nil, atom.Em: nil, atom.I: nil, atom.U: nil, atom.S: nil,
	atom.Small: nil, atom.Sub: nil, atom.Sup: nil, atom.Mark: nil,
	atom.H1: nil, atom.H2: nil, atom.H3: nil, atom.H4: nil, atom.H5: nil, atom.H6: nil,
	atom.Ul: nil, atom.Ol: nil, atom.Li: nil, atom.Dl: nil, atom.Dt: nil, atom.Dd: nil,
	atom.Blockquote: nil, atom.Pre: nil, atom.Code: nil,
	atom.Table: nil, atom.Thead: nil, atom.Tbody: nil, atom.Tr: nil,
	atom.Th: {"colspan", "rowspan"}, atom.Td: {"colspan", "rowspan"},
	atom.A:   {"href", "title"},
	atom.Img: {"src", "alt", "title", "width", "height"},
}

var dropContent = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Iframe: true, atom.Object: true, atom.Embed: true,
	atom.Noscript: true, atom.Template: true, atom.Svg: true, atom.Math: true, atom.Textarea: true,
	atom.Select: true, atom.Title: true, atom.Head: true,
}

// SanitizeHTML keeps the safe subset of a rich-text description: formatting,
// lists, tables, links (http, https, mailto or relative; rel="nofollow
// noopener") and images (http, https or relative). Scripts, styles, event
// handlers, inline styles and other URL schemes are removed. The storefront
// may render the result as HTML.
func SanitizeHTML(in string) string {
	z := html.NewTokenizer(strings.NewReader(in))
	var b strings.Builder
	skip := 0 // depth inside dropContent elements
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.WriteString(html.EscapeString(string(z.Text())))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if dropContent[tok.DataAtom] {
				if tt == html.StartTagToken {
					skip++
				}
				continue
			}
			attrs, ok := allowedTags[tok.DataAtom]
			if skip > 0 || !ok {
				continue
			}
			b.WriteByte('<')
			b.WriteString(tok.Data)
			for _, a := range tok.Attr {
				if a.Namespace != "" || !contains(attrs, a.Key) {
					continue
				}
				v := a.Val
				if a.Key == "href" || a.Key == "src" {
					if !safeURL(v, a.Key == "href") {
						continue
					}
				}
				b.WriteByte(' ')
				b.WriteString(a.Key)
				b.WriteString(`="`)
				b.WriteString(html.EscapeString(v))
				b.WriteByte('"')
			}
			if tok.DataAtom == atom.A {
				b.WriteString(` rel="nofollow noopener"`)
			}
			if tt == html.SelfClosingTagToken {
				b.WriteString(" /")
			}
			b.WriteByte('>')
		case html.EndTagToken:
			tok := z.Token()
			if dropContent[tok.DataAtom] {
				if skip > 0 {
					skip--
				}
				continue
			}
			if _, ok := allowedTags[tok.DataAtom]; ok && skip == 0 && tok.DataAtom != atom.Br && tok.DataAtom != atom.Hr && tok.DataAtom != atom.Img {
				b.WriteString("</")
				b.WriteString(tok.Data)
				b.WriteByte('>')
			}
		}
	}
}

// safeURL accepts http, https, relative and (for links) mailto URLs.
func safeURL(raw string, link bool) bool {
	s := strings.TrimSpace(raw)
	u, err := url.Parse(s)
	if err != nil || strings.ContainsAny(s, "\x00\t\r\n") {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return true
	case "mailto":
		return link
	case "":
		return !strings.HasPrefix(s, "//") && u.Opaque == ""
	}
	return false
}

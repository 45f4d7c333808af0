package mailtmpl

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped are elements whose content is not part of the readable text.
var skipped = map[atom.Atom]bool{
	atom.Head: true, atom.Title: true, atom.Style: true, atom.Script: true,
	atom.Noscript: true, atom.Template: true, atom.Svg: true, atom.Object: true, atom.Iframe: true,
}

// blocks are elements that start and end a paragraph.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Table: true, atom.Ul: true, atom.Ol: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Blockquote: true, atom.Pre: true, atom.Section: true, atom.Article: true,
	atom.Header: true, atom.Footer: true, atom.Hr: true, atom.Center: true, atom.Dl: true,
	atom.Dt: true, atom.Dd: true, atom.Address: true, atom.Figure: true, atom.Main: true, atom.Nav: true,
}

// HTMLToText derives the plain-text part of an email from its HTML:
// readable text with paragraphs separated by blank lines, <br> as line
// breaks, list items as "- item", table cells separated by spaces, links as
// "text (url)" (just the url when the text is the url), images as their alt
// text, headings upper-cased. Head, style and script content is dropped;
// entities are decoded. The result is meant for a text/plain part, not for
// HTML.
func HTMLToText(body string) string {
	z := html.NewTokenizer(strings.NewReader(body))
	var out strings.Builder
	var line strings.Builder // the paragraph being built, white space collapsed
	skip, upper, pre := 0, 0, 0
	type link struct {
		href  string
		start int // line length at <a>
	}
	var links []link
	newlines := 2 // newlines at the end of out (2 = start of a paragraph)
	flush := func(breaks int) {
		text := strings.TrimRight(line.String(), " ")
		line.Reset()
		if text != "" {
			for newlines < breaks && out.Len() > 0 {
				out.WriteByte('\n')
				newlines++
			}
			out.WriteString(text)
			newlines = 0
		}
		for newlines < breaks && out.Len() > 0 {
			out.WriteByte('\n')
			newlines++
		}
	}
	space := func() {
		s := line.String()
		if s != "" && !strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\n") {
			line.WriteByte(' ')
		}
	}
	afterLink := false // a link's "(url)" was just written
	write := func(text string) {
		if afterLink {
			afterLink = false
			if r, _ := utf8.DecodeRuneInString(text); unicode.IsLetter(r) || unicode.IsDigit(r) {
				space()
			}
		}
		if upper > 0 {
			text = strings.ToUpper(text)
		}
		if pre > 0 {
			line.WriteString(text)
			return
		}
		for i, f := range strings.Fields(text) {
			if i > 0 || strings.IndexFunc(text[:1], isSpace) == 0 {
				space()
			}
			line.WriteString(f)
		}
		if text != "" && strings.IndexFunc(text[len(text)-1:], isSpace) == 0 {
			space()
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush(1)
			return strings.TrimSpace(out.String())
		case html.TextToken:
			if skip == 0 {
				write(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			a := tok.DataAtom
			if skipped[a] {
				if tt == html.StartTagToken {
					skip++
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch {
			case a == atom.Br:
				line.WriteByte('\n')
			case a == atom.Li:
				flush(1)
				line.WriteString("- ")
			case a == atom.Tr:
				flush(1)
			case a == atom.Td || a == atom.Th:
				space()
			case a == atom.Img:
				if alt := strings.TrimSpace(attr(tok, "alt")); alt != "" {
					space()
					write(alt)
					space()
				}
			case a == atom.A:
				links = append(links, link{href: strings.TrimSpace(attr(tok, "href")), start: line.Len()})
			case blocks[a]:
				flush(2)
				if a == atom.Hr {
					line.WriteString("----")
					flush(2)
				}
			}
			switch a {
			case atom.H1, atom.H2, atom.H3:
				upper++
			case atom.Pre:
				pre++
			}
		case html.EndTagToken:
			tok := z.Token()
			a := tok.DataAtom
			if skipped[a] {
				if skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch a {
			case atom.H1, atom.H2, atom.H3:
				if upper > 0 {
					upper--
				}
			case atom.Pre:
				if pre > 0 {
					pre--
				}
			case atom.A:
				if len(links) == 0 {
					break
				}
				l := links[len(links)-1]
				links = links[:len(links)-1]
				text := ""
				if l.start <= line.Len() {
					text = strings.TrimSpace(line.String()[l.start:])
				}
				if l.href == "" || strings.HasPrefix(l.href, "#") || l.href == text || "mailto:"+text == l.href {
					break
				}
				if text == "" {
					space()
					line.WriteString(l.href)
				} else {
					s := strings.TrimRight(line.String(), " ")
					line.Reset()
					line.WriteString(s + " (" + l.href + ")")
				}
				afterLink = true
			case atom.Li:
				flush(1)
			case atom.Tr:
				flush(1)
			}
			if blocks[a] {
				flush(2)
			}
		}
	}
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' }

func attr(t html.Token, name string) string {
	for _, a := range t.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

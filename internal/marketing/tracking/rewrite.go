package tracking

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Options says what Rewrite does to a body (the campaign's track_opens,
// track_clicks and utm_* fields).
type Options struct {
	// TrackOpens appends the open pixel.
	TrackOpens bool
	// TrackClicks sends every http(s) link through the click redirect.
	TrackClicks bool
	// UTM parameters are added to links (tracked or not) that carry no
	// utm_* parameter yet. Empty values are left out.
	UTM UTM
	// UTMHosts limits UTM parameters to links to these hosts (the store's
	// domains, subdomains included); empty means every http(s) link.
	UTMHosts []string
	// Skip are URLs left exactly as they are (neither tracked nor tagged).
	Skip []string
}

// UTM are Google Analytics campaign parameters.
type UTM struct {
	Source, Medium, Campaign, Content, Term string
}

func (u UTM) empty() bool {
	return u.Source == "" && u.Medium == "" && u.Campaign == "" && u.Content == "" && u.Term == ""
}

// Rewrite returns htmlBody with its links routed through the click redirect
// and the open pixel appended, for the send whose tracking_token is
// sendToken, under baseURL (the server's public URL that serves /t/…).
//
// Rewritten are the href of <a> and <area> elements that are absolute http
// or https URLs of at most MaxURLLength bytes. Left alone: other schemes
// (mailto:, tel:, sms:), #anchors and relative links, links under
// baseURL's /t/ (the unsubscribe link itself and other tracking URLs),
// Options.Skip, and links marked data-notrack (the attribute is removed).
// Every other byte of the body is kept as it was. The pixel goes before
// the last </body>, or at the end. Link indexes count the tracked links
// from 0 in document order.
//
// Rewrite never fails: a link that cannot be tracked is left as it was.
func (k *Keys) Rewrite(htmlBody, sendToken, baseURL string, o Options) string {
	baseURL = strings.TrimRight(baseURL, "/")
	if checkSendToken(sendToken) != nil {
		return htmlBody
	}
	own := baseURL + "/t/"
	skip := map[string]bool{}
	for _, s := range o.Skip {
		skip[s] = true
	}
	var out strings.Builder
	out.Grow(len(htmlBody) + 512)
	z := html.NewTokenizer(strings.NewReader(htmlBody))
	index := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			out.Write(z.Raw())
			continue
		}
		raw := z.Raw()
		if !isLinkTag(raw) {
			out.Write(raw)
			continue
		}
		rawCopy := string(raw) // before Token, which lower-cases names in place
		tok := z.Token()
		if (tok.DataAtom != atom.A && tok.DataAtom != atom.Area) || len(tok.Attr) == 0 {
			out.WriteString(rawCopy)
			continue
		}
		hrefAt, notrack := -1, -1
		for i, at := range tok.Attr {
			switch at.Key {
			case "href":
				if hrefAt < 0 {
					hrefAt = i
				}
			case "data-notrack":
				notrack = i
			}
		}
		if hrefAt < 0 {
			out.WriteString(rawCopy)
			continue
		}
		href := strings.TrimSpace(tok.Attr[hrefAt].Val)
		if notrack >= 0 {
			tok.Attr = append(tok.Attr[:notrack], tok.Attr[notrack+1:]...)
			if notrack < hrefAt {
				hrefAt--
			}
			writeTag(&out, tok, tt)
			continue
		}
		if !ValidTarget(href) || skip[href] || strings.HasPrefix(href, own) {
			out.WriteString(rawCopy)
			continue
		}
		target := href
		if !o.UTM.empty() && utmHost(href, o.UTMHosts) {
			target = addUTM(href, o.UTM)
		}
		if o.TrackClicks {
			if u, err := k.ClickURL(baseURL, sendToken, target, index); err == nil {
				target = u
				index++
			}
		}
		if target == href {
			out.WriteString(rawCopy)
			continue
		}
		tok.Attr[hrefAt].Val = target
		writeTag(&out, tok, tt)
	}
	body := out.String()
	if o.TrackOpens {
		if u, err := k.OpenURL(baseURL, sendToken); err == nil {
			pixel := `<img src="` + html.EscapeString(u) + `" width="1" height="1" alt="" border="0" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">`
			if i := strings.LastIndex(strings.ToLower(body), "</body>"); i >= 0 {
				body = body[:i] + pixel + body[i:]
			} else {
				body += pixel
			}
		}
	}
	return body
}

// isLinkTag reports whether a start tag's raw bytes open an <a> or <area>
// element, without the tokenizer's allocations.
func isLinkTag(raw []byte) bool {
	if len(raw) < 3 || raw[0] != '<' {
		return false
	}
	name := raw[1:]
	end := 0
	for end < len(name) && name[end] != ' ' && name[end] != '>' && name[end] != '/' &&
		name[end] != '\t' && name[end] != '\n' && name[end] != '\r' && name[end] != '\f' {
		end++
	}
	n := strings.ToLower(string(name[:end]))
	return n == "a" || n == "area"
}

// writeTag writes a start tag with its attributes re-escaped.
func writeTag(b *strings.Builder, tok html.Token, tt html.TokenType) {
	b.WriteByte('<')
	b.WriteString(tok.Data)
	for _, a := range tok.Attr {
		b.WriteByte(' ')
		if a.Namespace != "" {
			b.WriteString(a.Namespace)
			b.WriteByte(':')
		}
		b.WriteString(a.Key)
		b.WriteString(`="`)
		b.WriteString(html.EscapeString(a.Val))
		b.WriteByte('"')
	}
	if tt == html.SelfClosingTagToken {
		b.WriteString("/>")
	} else {
		b.WriteByte('>')
	}
}

// utmHost reports whether link goes to one of hosts (or any host when
// hosts is empty).
func utmHost(link string, hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	for _, want := range hosts {
		want = strings.ToLower(strings.TrimSpace(want))
		if want != "" && (h == want || strings.HasSuffix(h, "."+want)) {
			return true
		}
	}
	return false
}

// addUTM appends the UTM parameters to link's query, keeping the rest of
// the link byte for byte, unless it already has a utm_ parameter.
func addUTM(link string, utm UTM) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	for key := range u.Query() {
		if strings.HasPrefix(strings.ToLower(key), "utm_") {
			return link
		}
	}
	v := url.Values{}
	for _, p := range [][2]string{{"utm_source", utm.Source}, {"utm_medium", utm.Medium},
		{"utm_campaign", utm.Campaign}, {"utm_content", utm.Content}, {"utm_term", utm.Term}} {
		if p[1] != "" {
			v.Set(p[0], p[1])
		}
	}
	rest, frag, hasFrag := strings.Cut(link, "#")
	sep := "?"
	if strings.Contains(rest, "?") {
		sep = "&"
		if strings.HasSuffix(rest, "?") || strings.HasSuffix(rest, "&") {
			sep = ""
		}
	}
	out := rest + sep + v.Encode()
	if hasFrag {
		out += "#" + frag
	}
	if len(out) > MaxURLLength {
		return link
	}
	return out
}

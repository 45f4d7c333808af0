package tracking

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const base = "https://track.test"

// clickTargets verifies every click URL of body and returns the targets
// and link indexes, in order.
func clickTargets(t *testing.T, k *Keys, body string) (urls []string, idx []int) {
	t.Helper()
	re := regexp.MustCompile(`https://track\.test/t/c/([A-Za-z0-9_.-]+)`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		c, err := k.Verify(m[1], KindClick)
		require.NoError(t, err)
		require.Equal(t, "send1", c.SendToken)
		urls = append(urls, c.URL)
		idx = append(idx, c.LinkIndex)
	}
	return urls, idx
}

func TestRewrite(t *testing.T) {
	k := testKeys(t)
	unsub, _ := k.UnsubscribeURL(base, "send1")
	all := Options{TrackOpens: true, TrackClicks: true}
	cases := []struct {
		name    string
		in      string
		opts    Options
		targets []string // verified click targets, in order
		keep    []string // substrings that must survive unchanged
		pixel   bool
	}{
		{"http and https links are tracked in order",
			`<p><a href="https://shop.test/a">A</a> <A HREF="http://shop.test/b?x=1&amp;y=2" class="btn">B</A></p>`, all,
			[]string{"https://shop.test/a", "http://shop.test/b?x=1&y=2"}, []string{`class="btn"`, ">A</a>", ">B</A>"}, true},
		{"other schemes, anchors and relative links stay",
			`<a href="mailto:hi@shop.test">m</a><a href="tel:+15551234">t</a><a href="#top">a</a><a href="/rel">r</a><a href="sms:1">s</a><a>none</a>`, all,
			nil, []string{`<a href="mailto:hi@shop.test">`, `<a href="tel:+15551234">`, `<a href="#top">`, `<a href="/rel">`, `<a href="sms:1">`, `<a>none</a>`}, true},
		{"javascript links are not made clickable",
			`<a href="javascript:alert(1)">x</a>`, all, nil, []string{`<a href="javascript:alert(1)">`}, true},
		{"the unsubscribe link and other /t/ links stay",
			`<a href="` + unsub + `">Unsubscribe</a><a href="https://track.test/t/o/x.gif">p</a><a href="https://shop.test/">s</a>`, all,
			[]string{"https://shop.test/"}, []string{`<a href="` + unsub + `">`}, true},
		{"skip list and data-notrack",
			`<a href="https://shop.test/view">v</a><a data-notrack href="https://shop.test/n">n</a><a href="https://shop.test/t">t</a>`,
			Options{TrackOpens: true, TrackClicks: true, Skip: []string{"https://shop.test/view"}},
			[]string{"https://shop.test/t"}, []string{`<a href="https://shop.test/view">`, `<a href="https://shop.test/n">`}, true},
		{"clicks off, opens on", `<a href="https://shop.test/a">A</a>`, Options{TrackOpens: true},
			nil, []string{`<a href="https://shop.test/a">A</a>`}, true},
		{"opens off", `<body><a href="https://shop.test/a">A</a></body>`, Options{TrackClicks: true},
			[]string{"https://shop.test/a"}, nil, false},
		{"UTM on tracked store links only, existing utm kept",
			`<a href="https://shop.test/a?x=1#top">A</a><a href="https://www.shop.test/b">B</a><a href="https://insta.test/s">I</a><a href="https://shop.test/c?utm_source=mine">C</a>`,
			Options{TrackClicks: true, UTM: UTM{Source: "newsletter", Medium: "email", Campaign: "spring sale"}, UTMHosts: []string{"shop.test"}},
			[]string{
				"https://shop.test/a?x=1&utm_campaign=spring+sale&utm_medium=email&utm_source=newsletter#top",
				"https://www.shop.test/b?utm_campaign=spring+sale&utm_medium=email&utm_source=newsletter",
				"https://insta.test/s",
				"https://shop.test/c?utm_source=mine",
			}, nil, false},
		{"UTM without click tracking rewrites the href itself",
			`<a href="https://shop.test/a">A</a>`, Options{UTM: UTM{Source: "s"}},
			nil, []string{`<a href="https://shop.test/a?utm_source=s">A</a>`}, false},
		{"the rest of the document is kept byte for byte",
			"<!DOCTYPE html>\n<html><head><style>a{color:red}</style></head><body>\n<!-- c --><p style=\"x\">Tom &amp; Jerry</p><img src=\"https://shop.test/i.png\"/><br/>\n</body></html>",
			all, nil, []string{"<!DOCTYPE html>\n<html><head><style>a{color:red}</style></head><body>\n<!-- c --><p style=\"x\">Tom &amp; Jerry</p><img src=\"https://shop.test/i.png\"/><br/>\n"}, true},
		{"area links are tracked", `<map><area href="https://shop.test/m" alt="m"></map>`, all, []string{"https://shop.test/m"}, nil, true},
		{"attribute values are re-escaped", `<a title="&quot;hi&quot; <x>" href="https://shop.test/">x</a>`, all,
			[]string{"https://shop.test/"}, []string{`title="&#34;hi&#34; &lt;x&gt;"`}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := k.Rewrite(c.in, "send1", base, c.opts)
			targets, idx := clickTargets(t, k, out)
			require.Equal(t, c.targets, targets)
			for i := range idx {
				require.Equal(t, i, idx[i], "link indexes count tracked links")
			}
			for _, s := range c.keep {
				require.Contains(t, out, s)
			}
			pixel := regexp.MustCompile(`<img src="https://track\.test/t/o/([A-Za-z0-9_.-]+)\.gif" width="1" height="1"`).FindStringSubmatch(out)
			require.Equal(t, c.pixel, pixel != nil, out)
			if pixel != nil {
				cl, err := k.Verify(pixel[1], KindOpen)
				require.NoError(t, err)
				require.Equal(t, "send1", cl.SendToken)
			}
		})
	}
}

func TestRewritePixelGoesBeforeBody(t *testing.T) {
	k := testKeys(t)
	out := k.Rewrite("<html><body><p>x</p></BODY></html>", "send1", base, Options{TrackOpens: true})
	require.Regexp(t, `^<html><body><p>x</p><img src="https://track\.test/t/o/[^"]+\.gif"[^>]*></BODY></html>$`, out)
	out = k.Rewrite("<p>x</p>", "send1", base, Options{TrackOpens: true})
	require.True(t, strings.HasPrefix(out, "<p>x</p><img "))
}

func TestRewriteLeavesABadSendTokenAlone(t *testing.T) {
	k := testKeys(t)
	in := `<a href="https://shop.test/">x</a>`
	require.Equal(t, in, k.Rewrite(in, "", base, Options{TrackOpens: true, TrackClicks: true}))
}

func TestClassifyOpen(t *testing.T) {
	sent := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	later := sent.Add(time.Hour)
	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	gmail := "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
	cases := []struct {
		name    string
		rules   MachineRules
		ua, ip  string
		at      time.Time
		machine bool
		reason  string
	}{
		{"a person on an iPhone", MachineRules{}, iphone, "203.0.113.9", later, false, ""},
		{"Gmail's image proxy is a person opening", MachineRules{}, gmail, "66.249.84.1", later, false, ""},
		{"no user agent", MachineRules{}, "", "203.0.113.9", later, true, ReasonNoUserAgent},
		{"Apple MPP's bare agent", MachineRules{}, "Mozilla/5.0", "104.28.1.1", later, true, ReasonAppleMPP},
		{"Apple's network", MachineRules{}, iphone, "17.58.1.2", later, true, ReasonAppleNetwork},
		{"Apple's network as IPv4-mapped IPv6", MachineRules{}, iphone, "::ffff:17.1.2.3", later, true, ReasonAppleNetwork},
		{"a security gateway", MachineRules{}, "Mozilla/5.0 Barracuda Sentinel", "198.51.100.1", later, true, ReasonKnownAgent},
		{"an HTTP library", MachineRules{}, "python-requests/2.31", "198.51.100.1", later, true, ReasonKnownAgent},
		{"a bot", MachineRules{}, "Mozilla/5.0 (compatible; SomeBot/1.0)", "198.51.100.1", later, true, ReasonKnownAgent},
		{"an extra agent", MachineRules{ExtraAgents: []string{"AcmeScan"}}, "acmescan/2", "198.51.100.1", later, true, ReasonKnownAgent},
		{"within seconds of the send", MachineRules{}, iphone, "203.0.113.9", sent.Add(time.Second), true, ReasonTooSoon},
		{"after the default delay", MachineRules{}, iphone, "203.0.113.9", sent.Add(3 * time.Second), false, ""},
		{"a longer delay", MachineRules{MinDelay: time.Minute}, iphone, "203.0.113.9", sent.Add(30 * time.Second), true, ReasonTooSoon},
		{"delay rule disabled", MachineRules{MinDelay: -1}, iphone, "203.0.113.9", sent, false, ""},
		{"unknown send time", MachineRules{}, iphone, "203.0.113.9", sent, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sentAt := sent
			if c.name == "unknown send time" {
				sentAt = time.Time{}
			}
			m, reason := c.rules.ClassifyOpen(c.ua, c.ip, sentAt, c.at)
			require.Equal(t, c.machine, m)
			require.Equal(t, c.reason, reason)
		})
	}
}

// BenchmarkRewrite rewrites a typical campaign body (20 links, ~12 KB).
func BenchmarkRewrite(b *testing.B) {
	k := testKeys(b)
	var sb strings.Builder
	sb.WriteString("<html><head><style>p{margin:0}</style></head><body><table>")
	for i := range 20 {
		sb.WriteString(`<tr><td><a href="https://shop.test/products/p` + strings.Repeat("x", i%5) + `?ref=mail"><img src="https://shop.test/i.png" alt="Product"></a></td><td><p>Organic cotton, soft and durable; a description of the product that runs for a while.</p></td></tr>`)
	}
	sb.WriteString(`</table><a href="mailto:hi@shop.test">Contact</a></body></html>`)
	body := sb.String()
	opts := Options{TrackOpens: true, TrackClicks: true, UTM: UTM{Source: "newsletter", Medium: "email"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Rewrite(body, "0123456789abcdef0123456789abcdef", "https://track.test", opts)
	}
}

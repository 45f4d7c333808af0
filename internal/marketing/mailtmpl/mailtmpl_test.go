package mailtmpl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// patient renders with an hour's time limit: tests of anything but the time
// limit must not depend on the machine's speed.
var patient = New(Limits{Timeout: time.Hour})

func sample() Data { return SampleData(Store{Name: "Acme", URL: "https://acme.test", Currency: "USD"}) }

func TestRenderVariablesAndFunctions(t *testing.T) {
	xss := sample()
	xss.Customer.FirstName = `<script>alert(1)</script>`
	xss.Customer.LastName = `"><img src=x onerror=alert(1)>`
	xss.Products[0].URL = `javascript:alert(1)`
	xss.Customer.Attributes = map[string]any{"bio": `<b>bold</b>`, "due": "2026-05-01T10:00:00Z", "tags": []any{"a", "b"}, "cents": float64(1250)}

	cases := []struct {
		name string
		data Data
		html string
		want string
	}{
		{"customer fields", sample(), `{{.Customer.FirstName}} {{.Customer.LastName}} <{{.Customer.Email}}> {{.Customer.FullName}}`,
			`Jane Doe &lt;jane.doe@example.com> Jane Doe`},
		{"store and links", sample(), `{{.Store.Name}} {{.Store.URL}} {{.UnsubscribeURL}} {{.ViewInBrowserURL}} {{.PreferencesURL}} {{.DiscountCode}}`,
			`Acme https://acme.test https://acme.test/unsubscribe/sample https://acme.test/email/sample https://acme.test/email/preferences/sample WELCOME10`},
		{"products loop", sample(), `{{range $i, $p := .Products}}{{add $i 1}}.{{$p.Title}} {{$p.Price}}{{if $p.CompareAtPrice.Amount}} was {{$p.CompareAtPrice}}{{end}};{{end}}`,
			`1.Organic Cotton Tee $25.00 was $32.00;2.Canvas Tote Bag $18.00;`},
		{"cart", sample(), `{{plural .Cart.ItemCount "item" "items"}} {{money .Cart.Total}} {{range .Cart.Lines}}[{{.Quantity}}x{{.Title}} {{.VariantTitle}}]{{end}}`,
			`3 items $68.00 [2xOrganic Cotton Tee M / Black][1xCanvas Tote Bag ]`},
		{"empty cart", Data{}, `{{if .Cart.Lines}}cart{{else}}no cart{{end}}`, `no cart`},
		{"money of minor units", sample(), `{{money 123456 "EUR"}} {{money 1200 "JPY"}} {{money 12500 "KWD"}} {{money -5 "CHF"}}`,
			`€1,234.56 ¥1,200 12.500 KWD -0.05 CHF`},
		{"money of a JSON number", xss, `{{money .Customer.Attributes.cents "GBP"}}`, `£12.50`},
		{"default", sample(), `{{.Customer.Attributes.nick | default "friend"}} {{.Customer.FirstName | default "friend"}} {{default "x" 0}}`,
			`friend Jane x`},
		{"case functions", sample(), `{{upper "abc"}} {{lower "ÀBC"}} {{title "hello big-world"}} {{trim "  x  "}}`,
			`ABC àbc Hello Big-World x`},
		{"truncate", sample(), `{{truncate 8 "Organic Cotton Tee"}}|{{"short" | truncate 10}}|{{truncate 3 "héllo"}}`,
			`Organic…|short|hé…`},
		{"date", xss, `{{date "short" .SentAt}}|{{date "iso" .Customer.Attributes.due}}|{{date "Mon 15:04" .SentAt}}|{{date "long" .Customer.Attributes.none}}`,
			`Mar 14, 2026|2026-05-01|Sat 09:30|`},
		{"join, contains, replace", xss, `{{join ", " .Customer.Attributes.tags}} {{contains "Tee" "Cotton Tee"}} {{replace "a" "o" "banana"}} {{hasPrefix "ba" "banana"}}`,
			`a, b true bonono true`},
		{"missing attribute prints nothing", sample(), `[{{.Customer.Attributes.none}}][{{.Customer.Attr "none"}}][{{.Customer.Attr "tier"}}]`, `[][][gold]`},
		{"XSS in names is escaped", xss, `<p>Hi {{.Customer.FirstName}}</p><p title="{{.Customer.LastName}}">x</p>`,
			`<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p><p title="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;">x</p>`},
		{"the root value prints nothing", sample(), `[{{.}}][{{$}}]`, `[][]`},
		{"attribute HTML is escaped", xss, `{{.Customer.Attributes.bio}}`, `&lt;b&gt;bold&lt;/b&gt;`},
		{"javascript URL is neutralised", xss, `<a href="{{(index .Products 0).URL}}">x</a>`, `<a href="#ZgotmplZ">x</a>`},
		{"URL in attribute is normalised", sample(), `<a href="{{.Store.URL}}/search?q={{.Customer.FullName}}">x</a>`,
			`<a href="https://acme.test/search?q=Jane%20Doe">x</a>`},
		{"script context is JS-escaped", xss, `<script>var n = {{.Customer.FirstName}};</script>`,
			`<script>var n = "\u003cscript\u003ealert(1)\u003c/script\u003e";</script>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := patient.Render(context.Background(), Template{Subject: "s", HTML: c.html}, c.data)
			require.NoError(t, err)
			require.Equal(t, c.want, r.HTML)
		})
	}
}

func TestRenderSubjectTextAndPreheader(t *testing.T) {
	d := sample()
	d.Customer.FirstName = "Jane\r\nBcc: victim@example.com"
	cases := []struct {
		name     string
		tpl      Template
		subject  string
		text     string
		htmlPart string
	}{
		{"subject is one line (no header injection) and not HTML-escaped",
			Template{Subject: "Hi {{.Customer.FirstName}} & <friends>\n  {{.Customer.Attributes.none}}!", HTML: "<p>x</p>"},
			"Hi Jane Bcc: victim@example.com & <friends> !", "x", "<p>x</p>"},
		{"text part given",
			Template{Subject: "s", HTML: "<p>html</p>", Text: "Hello {{.Customer.LastName}} <{{.Customer.Email}}> {{.Customer.Attributes.none}}|{{money .Cart.Total}}"},
			"s", "Hello Doe <jane.doe@example.com> |$68.00", "<p>html</p>"},
		{"text part derived from HTML",
			Template{Subject: "s", HTML: `<html><head><style>p{color:red}</style></head><body><h1>Sale</h1><p>Hi <b>{{.Customer.LastName}}</b>,<br>see <a href="{{.Store.URL}}">our store</a>.</p><ul>{{range .Products}}<li>{{.Title}}</li>{{end}}</ul></body></html>`},
			"s", "SALE\n\nHi Doe,\nsee our store (https://acme.test).\n\n- Organic Cotton Tee\n- Canvas Tote Bag", ""},
		{"preheader is hidden after <body> and not in the derived text",
			Template{Subject: "s", Preheader: "Save {{.DiscountCode}}\nnow", HTML: `<body class="x"><p>Body</p></body>`},
			"s", "Body", `<body class="x"><div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all" aria-hidden="true">Save WELCOME10 now</div><p>Body</p></body>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := patient.Render(context.Background(), c.tpl, d)
			require.NoError(t, err)
			require.Equal(t, c.subject, r.Subject)
			require.Equal(t, c.text, r.Text)
			if c.htmlPart != "" {
				require.Equal(t, c.htmlPart, r.HTML)
			}
		})
	}
}

func TestSubjectIsCut(t *testing.T) {
	r := New(Limits{MaxSubjectRunes: 5, Timeout: time.Hour})
	out, err := r.Render(context.Background(), Template{Subject: "héllo wörld", HTML: "x"}, Data{})
	require.NoError(t, err)
	require.Equal(t, "héllo", out.Subject)
}

func TestHTMLToText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"<p>a</p><p>b</p>", "a\n\nb"},
		{"<p>a   b\n c</p>", "a b c"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"<ul><li>one</li><li>two</li></ul><p>after</p>", "- one\n- two\n\nafter"},
		{`<a href="https://x.test/a">Shop</a>`, "Shop (https://x.test/a)"},
		{`<a href="https://x.test/a">https://x.test/a</a>`, "https://x.test/a"},
		{`<a href="mailto:a@b.test">a@b.test</a>`, "a@b.test"},
		{`<a href="#top">Top</a>`, "Top"},
		{`<a href="https://x.test/"><img src="l.png" alt="Logo"></a>`, "Logo (https://x.test/)"},
		{`<a href="https://x.test/"><img src="l.png"></a>`, "https://x.test/"},
		{"<table><tr><td>A</td><td>B</td></tr><tr><td>C</td><td>D</td></tr></table>", "A B\nC D"},
		{"<h2>Title</h2><p>x</p>", "TITLE\n\nx"},
		{"<head><title>T</title><style>p{}</style></head><script>alert(1)</script><p>Only</p>", "Only"},
		{"<p>Tom &amp; Jerry &lt;3 &eacute;</p>", "Tom & Jerry <3 é"},
		{"<pre>a\n  b</pre>", "a\n  b"},
		{"<p>x</p><hr><p>y</p>", "x\n\n----\n\ny"},
		{"", ""},
	}
	for _, c := range cases {
		require.Equal(t, c.want, HTMLToText(c.in), "input %q", c.in)
	}
}

func TestFormatMoney(t *testing.T) {
	cases := []struct {
		amount   int64
		currency string
		want     string
	}{
		{0, "USD", "$0.00"},
		{5, "usd", "$0.05"},
		{199999, "EUR", "€1,999.99"},
		{123456789, "GBP", "£1,234,567.89"},
		{1200, "JPY", "¥1,200"},
		{-1500, "USD", "-$15.00"},
		{1234, "KWD", "1.234 KWD"},
		{100, "CHF", "1.00 CHF"},
		{100, "", "1.00"},
		{-9223372036854775808, "USD", "-$92,233,720,368,547,758.08"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, FormatMoney(c.amount, c.currency), "%d %s", c.amount, c.currency)
	}
}

func TestFunctionErrors(t *testing.T) {
	cases := []struct{ name, html, contains string }{
		{"money needs a currency", `{{money 100}}`, "needs a currency"},
		{"money refuses fractions", `{{money 1.5 "USD"}}`, "whole minor units"},
		{"money refuses text", `{{money "x" "USD"}}`, "cannot format"},
		{"truncate needs a length", `{{truncate 0 "x"}}`, "at least 1"},
		{"date refuses garbage", `{{date "short" "yesterday"}}`, "not an RFC 3339"},
		{"join needs a list", `{{join "," 3}}`, "not a list"},
		{"add overflows", `{{add 9223372036854775807 1}}`, "overflow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := patient.Render(context.Background(), Template{Subject: "s", HTML: c.html}, sample())
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, FieldHTML, fe.Field)
			require.Equal(t, CodeRender, fe.Code)
			require.Contains(t, fe.Message, c.contains)
		})
	}
}

func TestLimits(t *testing.T) {
	// Size limits are checked with an hour to spare, so that a slow machine
	// never turns them into timeouts; the endless loops time out whatever
	// the machine's speed.
	small := New(Limits{MaxSourceBytes: 64, MaxOutputBytes: 1 << 10, Timeout: time.Hour})
	quick := New(Limits{MaxSourceBytes: 64, MaxOutputBytes: 1 << 10, Timeout: 20 * time.Millisecond})
	cases := []struct {
		name  string
		tpl   Template
		field string
		code  string
		err   error
	}{
		{"source too large", Template{Subject: "s", HTML: strings.Repeat("x", 65)}, FieldHTML, CodeTooLarge, ErrSourceTooLarge},
		{"subject source too large", Template{Subject: strings.Repeat("x", 65), HTML: "x"}, FieldSubject, CodeTooLarge, ErrSourceTooLarge},
		{"output too large", Template{Subject: "s", HTML: `{{range 2000}}xx{{end}}`}, FieldHTML, CodeTooLarge, ErrOutputTooLarge},
		{"output of a text part too large", Template{Subject: "s", HTML: "x", Text: `{{range 2000}}xx{{end}}`}, FieldText, CodeTooLarge, ErrOutputTooLarge},
		{"printf of a huge width", Template{Subject: "s", HTML: `{{$x := printf "%0999999d" 1}}`}, FieldHTML, CodeTooLarge, ErrOutputTooLarge},
		{"doubling a variable", Template{Subject: "s", HTML: `{{$x := "ab"}}{{range 64}}{{$x = print $x $x}}{{end}}`}, FieldHTML, CodeTooLarge, ErrOutputTooLarge},
		{"endless silent loop", Template{Subject: "s", HTML: `{{range 9000000000000000000}}{{end}}`}, FieldHTML, CodeTimeout, ErrTimeout},
		{"nested silent loops", Template{Subject: "s", HTML: `{{range 100000}}{{range 100000}}{{end}}{{end}}`}, FieldHTML, CodeTimeout, ErrTimeout},
		{"loop in the subject", Template{Subject: `{{range 9000000000000000000}}{{end}}`, HTML: "x"}, FieldSubject, CodeTimeout, ErrTimeout},
		{"define is refused", Template{Subject: "s", HTML: `{{define "x"}}a{{end}}`}, FieldHTML, CodeUnsupported, ErrUnsupported},
		{"template is refused", Template{Subject: "s", HTML: "a\n{{if 1}}{{template \"x\"}}{{end}}"}, FieldHTML, CodeUnsupported, ErrUnsupported},
		{"block is refused", Template{Subject: "s", HTML: `{{block "b" .}}x{{end}}`}, FieldHTML, CodeUnsupported, ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := small
			if c.code == CodeTimeout {
				r = quick
			}
			_, err := r.Render(context.Background(), c.tpl, sample())
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.field, fe.Field)
			require.Equal(t, c.code, fe.Code, fe.Message)
			require.ErrorIs(t, err, c.err)
		})
	}
}

func TestRenderStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(Limits{Timeout: time.Hour}).Render(ctx, Template{Subject: "s", HTML: `{{range 9000000000000000000}}{{end}}`}, Data{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestRenderCapsLists(t *testing.T) {
	d := sample()
	for len(d.Products) < 10 {
		d.Products = append(d.Products, d.Products[0])
	}
	out, err := New(Limits{MaxProducts: 3, Timeout: time.Hour}).Render(context.Background(), Template{Subject: "s", HTML: `{{len .Products}}`}, d)
	require.NoError(t, err)
	require.Equal(t, "3", out.HTML)
}

func TestValidate(t *testing.T) {
	type want struct {
		field string
		line  int
		code  string
		msg   string
	}
	cases := []struct {
		name                string
		subject, html, text string
		want                []want
	}{
		{"good", "Hi {{.Customer.FirstName | default \"there\"}}", "<p>{{range .Products}}{{.Title}}{{end}}</p><a href=\"{{.UnsubscribeURL}}\">u</a>", "{{.Cart.URL}}", nil},
		{"subject required", " ", "<p>x</p>", "", []want{{FieldSubject, 0, CodeSyntax, "required"}}},
		{"syntax error with its line", "s", "<p>\nline 2\n{{if .DiscountCode}}\n</p>", "",
			[]want{{FieldHTML, 4, CodeSyntax, "unexpected EOF"}}},
		{"unclosed action", "s", "a\n{{.Store.Name", "", []want{{FieldHTML, 2, CodeSyntax, "unclosed action"}}},
		{"unknown function", "s", "<p>\n{{shout .Store.Name}}</p>", "", []want{{FieldHTML, 2, CodeUnknownFunction, `function "shout" not defined`}}},
		{"unknown variable", "Hi {{.Customer.Frist}}", "x", "", []want{{FieldSubject, 1, CodeUnknownVariable, "can't evaluate field Frist in type Customer"}}},
		{"unknown root variable", "s", "x", "a\nb {{.Coupon}}", []want{{FieldText, 2, CodeUnknownVariable, "can't evaluate field Coupon in type Data"}}},
		{"unknown variable in a loop", "s", "{{range .Products}}\n{{.Name}}{{end}}", "", []want{{FieldHTML, 2, CodeUnknownVariable, "can't evaluate field Name in type Product"}}},
		{"unknown variable in the branch sample data skips", "s", "{{if .DiscountCode}}{{.DiscountCode}}{{else}}\n\n{{.Discount}}{{end}}", "",
			[]want{{FieldHTML, 3, CodeUnknownVariable, "can't evaluate field Discount"}}},
		{"undefined template variable", "s", "{{$x}}", "", []want{{FieldHTML, 1, CodeUnknownVariable, `undefined variable "$x"`}}},
		{"index into products is fine although an empty profile has none", "s", "{{(index .Products 0).Title}}", "", nil},
		{"runtime error on the sample", "s", "{{index .Products 5}}", "", []want{{FieldHTML, 1, CodeRender, "out of range"}}},
		{"HTML context error", "s", "<a href=\"{{.Store.URL}}", "", []want{{FieldHTML, 0, CodeSyntax, "HTML: ends in a non-text context"}}},
		{"unsupported", "s", "x", "{{define \"a\"}}{{end}}", []want{{FieldText, 0, CodeUnsupported, "not supported"}}},
		{"one error per field", "{{.A}}", "{{.B}}", "{{.C}}", []want{
			{FieldSubject, 1, CodeUnknownVariable, "field A"}, {FieldHTML, 1, CodeUnknownVariable, "field B"}, {FieldText, 1, CodeUnknownVariable, "field C"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Validate(c.subject, c.html, c.text)
			require.Len(t, got, len(c.want), "%+v", got)
			for i, w := range c.want {
				require.Equal(t, w.field, got[i].Field, "%+v", got[i])
				require.Equal(t, w.line, got[i].Line, "%+v", got[i])
				require.Equal(t, w.code, got[i].Code, "%+v", got[i])
				require.Contains(t, got[i].Message, w.msg)
				require.NotContains(t, got[i].Message, "mailtmpl.")
			}
		})
	}
}

func TestValidatePreheader(t *testing.T) {
	got := ValidateTemplate(Template{Subject: "s", Preheader: "{{.Nope}}", HTML: "x"})
	require.Len(t, got, 1)
	require.Equal(t, FieldPreheader, got[0].Field)
}

func TestCompileCache(t *testing.T) {
	r := New(Limits{CacheSize: 2})
	a1, err := r.compile(FieldHTML, kindHTML, "a")
	require.NoError(t, err)
	a2, _ := r.compile(FieldHTML, kindHTML, "a")
	require.Same(t, a1, a2, "same source, same compiled template")
	t1, _ := r.compile(FieldText, kindText, "a")
	require.NotSame(t, a1, t1, "the kind is part of the key")
	_, _ = r.compile(FieldHTML, kindHTML, "a")
	_, _ = r.compile(FieldHTML, kindHTML, "b") // evicts the least recently used ("a" as text)
	require.Equal(t, 2, r.lru.Len())
	a3, _ := r.compile(FieldHTML, kindHTML, "a")
	require.Same(t, a1, a3, "recently used entries stay")
	t2, _ := r.compile(FieldText, kindText, "a")
	require.NotSame(t, t1, t2, "evicted entries are compiled again")
	_, err1 := r.compile(FieldHTML, kindHTML, "{{")
	_, err2 := r.compile(FieldHTML, kindHTML, "{{")
	require.Error(t, err1)
	require.Same(t, err1, err2, "parse errors are cached too")
}

// TestConcurrentRenders renders one cached template from many goroutines
// (run with -race): html/template escapes it once, under its own lock.
func TestConcurrentRenders(t *testing.T) {
	r := New(Limits{Timeout: time.Hour})
	tpl := Template{Subject: "Hi {{.Customer.FirstName}}", HTML: `<p>{{range .Products}}<a href="{{.URL}}">{{.Title}}</a>{{end}}</p>`}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := sample()
			d.Customer.FirstName = fmt.Sprint("n", i)
			out, err := r.Render(context.Background(), tpl, d)
			if err == nil && out.Subject != fmt.Sprint("Hi n", i) {
				err = errors.New("wrong subject " + out.Subject)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func BenchmarkRender(b *testing.B) {
	tpl := Template{Subject: "Hi {{.Customer.FirstName}}",
		HTML: `<html><body><h1>Hello {{.Customer.FirstName}}</h1>{{range .Products}}<p><a href="{{.URL}}"><img src="{{.ImageURL}}" alt="{{.Title}}"></a> {{.Title}} {{.Price}}</p>{{end}}<a href="{{.UnsubscribeURL}}">Unsubscribe</a></body></html>`}
	d := sample()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(ctx, tpl, d); err != nil {
			b.Fatal(err)
		}
	}
}

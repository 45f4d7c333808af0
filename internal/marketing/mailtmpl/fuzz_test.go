package mailtmpl

import (
	"context"
	"errors"
	"testing"
	"time"
)

// FuzzRender feeds arbitrary template sources to every field kind: nothing
// panics, a successful render stays within the output limit, and every
// failure is a FieldError (or the context's error).
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"Hi {{.Customer.FirstName}}",
		`<a href="{{.Store.URL}}">{{range .Products}}{{.Title}} {{money .Price}}{{end}}</a>`,
		`{{range $i := 1000000000}}{{$i}}{{end}}`,
		`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
		`{{$x := "a"}}{{range 80}}{{$x = print $x $x}}{{end}}{{$x}}`,
		`<script>var x = {{.Customer.Attributes}};</script><style>{{.Store.Name}}</style>`,
		`{{with .Cart}}{{range .Lines}}{{.Total}}{{else}}none{{end}}{{end}}{{break}}`,
		`{{if}}{{end}}{{.}}{{printf "%*d" 100000000 1}}`,
		`{{/* c */}}{{- .DiscountCode -}}{{index .Products 9}}{{slice .Customer.Email 3 1}}`,
	} {
		f.Add(s)
	}
	const maxOut = 16 << 10
	r := New(Limits{MaxSourceBytes: 4 << 10, MaxOutputBytes: maxOut, Timeout: 20 * time.Millisecond, CacheSize: 64})
	f.Fuzz(func(t *testing.T, src string) {
		for _, tpl := range []Template{
			{Subject: src, HTML: "x"},
			{Subject: "s", HTML: src},
			{Subject: "s", HTML: "x", Text: src},
			{Subject: "s", Preheader: src, HTML: src},
		} {
			out, err := r.Render(context.Background(), tpl, SampleData(Store{}))
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("render error %T is not a FieldError: %v", err, err)
				}
				continue
			}
			if len(out.HTML) > maxOut+len(out.Preheader)+256 || len(out.Text) > maxOut || len(out.Subject) > 4*500 {
				t.Fatalf("output over the limit: html %d, text %d, subject %d", len(out.HTML), len(out.Text), len(out.Subject))
			}
		}
		_ = r.ValidateTemplate(Template{Subject: src, Preheader: src, HTML: src, Text: src})
	})
}

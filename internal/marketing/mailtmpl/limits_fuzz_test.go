package mailtmpl

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzRenderLimits complements FuzzRender with the limits themselves, on a
// renderer with tight ones: a source over MaxSourceBytes is refused as
// ErrSourceTooLarge before it is parsed; a render never takes much longer
// than Timeout (what cannot be interrupted is one function call on capped
// input: the bound allows generous slack for a loaded machine) and a
// timeout is a TEMPLATE_TIMEOUT FieldError wrapping ErrTimeout; every
// rendered part stays within MaxOutputBytes; a cancelled context stops the
// render with the context's error; and the repeat of a successful render
// (now from the compiled-template cache) gives the same output.
func FuzzRenderLimits(f *testing.F) {
	for _, s := range []string{
		"Hi {{.Customer.FirstName}}, {{money .Cart.Total}}",
		`{{range 1000000}}{{range 1000000}}x{{end}}{{end}}`,
		`{{range $i := 100000000}}{{end}}done`,
		`{{$x := "ab"}}{{range 40}}{{$x = print $x $x}}{{end}}{{len $x}}`,
		`{{printf "%0100000d" 1}}`,
		`{{range .Products}}{{range $.Products}}{{range $.Cart.Lines}}{{.Title}}{{end}}{{end}}{{end}}`,
		strings.Repeat("{{.Store.Name}}", 200),
		strings.Repeat("x", 3000),
		`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
	} {
		f.Add(s, byte(0))
		f.Add(s, byte(1))
	}
	const (
		maxSrc  = 2 << 10
		maxOut  = 8 << 10
		timeout = 10 * time.Millisecond
		slack   = 2 * time.Second
	)
	r := New(Limits{MaxSourceBytes: maxSrc, MaxOutputBytes: maxOut, Timeout: timeout, CacheSize: 32})
	f.Fuzz(func(t *testing.T, src string, mode byte) {
		tpl := Template{Subject: "s", HTML: src}
		if mode&1 == 1 {
			tpl = Template{Subject: src, HTML: "<p>x</p>", Text: src}
		}
		ctx := context.Background()
		if mode&2 == 2 {
			c, cancel := context.WithCancel(ctx)
			cancel()
			ctx = c
		}
		start := time.Now()
		out, err := r.Render(ctx, tpl, SampleData(Store{}))
		if took := time.Since(start); took > timeout+slack {
			t.Fatalf("render took %s with a %s limit", took, timeout)
		}
		var fe *FieldError
		switch {
		case mode&2 == 2:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("render with a cancelled context: %v", err)
			}
			return
		case len(src) > maxSrc:
			if !errors.As(err, &fe) || !errors.Is(fe.Err, ErrSourceTooLarge) || fe.Code != CodeTooLarge {
				t.Fatalf("a %d-byte source over the %d-byte limit: %v", len(src), maxSrc, err)
			}
			return
		case err != nil:
			if !errors.As(err, &fe) {
				t.Fatalf("render error %T is not a FieldError: %v", err, err)
			}
			if errors.Is(fe.Err, ErrTimeout) != (fe.Code == CodeTimeout) {
				t.Fatalf("timeout error with code %q: %v", fe.Code, err)
			}
			return
		}
		if len(out.HTML) > maxOut || len(out.Text) > maxOut || len(out.Subject) > maxOut {
			t.Fatalf("output over the limit: html %d, text %d, subject %d", len(out.HTML), len(out.Text), len(out.Subject))
		}
		again, err := r.Render(context.Background(), tpl, SampleData(Store{}))
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Code == CodeTimeout {
				return // the machine was slow this time
			}
			t.Fatalf("the second render failed: %v", err)
		}
		// {{.}} at the root prints the renderer's internal root value,
		// pointer address included (reported): compare without addresses.
		if pointer.ReplaceAllString(fmtRendered(again), "0x") != pointer.ReplaceAllString(fmtRendered(out), "0x") {
			t.Fatalf("rendering twice differs:\n%+v\n%+v", out, again)
		}
	})
}

var pointer = regexp.MustCompile(`0x[0-9a-f]+`)

func fmtRendered(r Rendered) string { return fmt.Sprintf("%+v", r) }

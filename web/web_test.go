package web

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestEveryFileServed: each embedded file is served at its URL with the
// content type of its extension, nosniff and an ETag; a page only with a CSP.
func TestEveryFileServed(t *testing.T) {
	h := Handler(Config{})
	n := 0
	err := fs.WalkDir(Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rec := get(t, h, "/"+p)
		if rec.Code != http.StatusOK {
			t.Errorf("GET /%s = %d", p, rec.Code)
			return nil
		}
		want := ContentType(p)
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("GET /%s: Content-Type %q, want %q", p, got, want)
		}
		if path.Ext(p) == ".js" && !strings.HasPrefix(want, "text/javascript") {
			t.Errorf("%s: a module must be served as JavaScript, not %q", p, want)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("ETag") == "" {
			t.Errorf("GET /%s: headers %v", p, rec.Header())
		}
		b, _ := fs.ReadFile(Files(), p)
		if rec.Body.Len() != len(b) {
			t.Errorf("GET /%s: %d bytes, file has %d", p, rec.Body.Len(), len(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d files embedded", n)
	}
}

// TestPages: /admin, /store and /playground (with and without the slash)
// are HTML pages with a Content-Security-Policy that allows scripts only
// from this origin; unknown files are 404; a known ETag gets 304.
func TestPages(t *testing.T) {
	h := Handler(Config{})
	for _, app := range []string{"admin", "store", "playground"} {
		for _, u := range []string{"/" + app, "/" + app + "/"} {
			rec := get(t, h, u)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("GET %s = %d %q", u, rec.Code, rec.Header().Get("Content-Type"))
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-eval") ||
				strings.Contains(strings.SplitN(strings.SplitN(csp, "script-src", 2)[1], ";", 2)[0], "unsafe-inline") {
				t.Fatalf("GET %s: CSP %q", u, csp)
			}
			if !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Fatalf("GET %s: CSP %q", u, csp)
			}
			etag := rec.Header().Get("ETag")
			if again := get(t, h, u, "If-None-Match", etag); again.Code != http.StatusNotModified {
				t.Fatalf("GET %s with its ETag = %d, want 304", u, again.Code)
			}
		}
		if rec := get(t, h, "/"+app+"/nope.js"); rec.Code != http.StatusNotFound {
			t.Fatalf("unknown file = %d", rec.Code)
		}
	}
	for _, u := range []string{"/assets/../web.go", "/assets/", "/assets/lib/", "/admin/../web.go"} {
		if rec := get(t, h, u); rec.Code == http.StatusOK {
			t.Fatalf("GET %s = 200", u)
		}
	}
}

var (
	scriptSrc   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	attrSrc     = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`)
	inlineEvent = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	styleAttr   = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	// Static imports and re-exports, and dynamic import() with a literal.
	importRe = regexp.MustCompile(`(?m)(?:^|[;\s])(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)`)
)

// TestPagesUseOnlyTheBinary follows every script, stylesheet and module
// import of /admin, /store and /playground, transitively, and checks that
// each one is a same-origin URL this handler serves with the right type:
// the pages run with JavaScript modules from the binary only, no CDN. No
// page has an inline script or inline event handler (the CSP forbids
// them); /admin and /store have no inline style either.
func TestPagesUseOnlyTheBinary(t *testing.T) {
	h := Handler(Config{})
	for _, app := range []string{"admin", "store", "playground"} {
		t.Run(app, func(t *testing.T) {
			base, _ := url.Parse("http://omnisphere.test/" + app + "/")
			html := get(t, h, "/"+app).Body.String()
			for _, m := range scriptSrc.FindAllStringSubmatch(html, -1) {
				if !strings.Contains(strings.ToLower(m[1]), "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("inline script in /%s: %.80q", app, m[0])
				}
			}
			if loc := inlineEvent.FindString(html); loc != "" {
				t.Errorf("inline event handler in /%s: %q", app, loc)
			}
			if app != "playground" {
				if loc := styleAttr.FindString(html); loc != "" {
					t.Errorf("inline style in /%s: %q", app, loc)
				}
			}
			seen := map[string]bool{}
			var queue []string
			for _, m := range attrSrc.FindAllStringSubmatch(html, -1) {
				queue = append(queue, resolve(t, base, m[1]))
			}
			modules := 0
			for len(queue) > 0 {
				u := queue[0]
				queue = queue[1:]
				if u == "" || seen[u] {
					continue
				}
				seen[u] = true
				rec := get(t, h, u)
				if rec.Code != http.StatusOK {
					t.Errorf("/%s needs %s: %d", app, u, rec.Code)
					continue
				}
				ct := rec.Header().Get("Content-Type")
				if strings.HasSuffix(u, ".js") {
					if !strings.HasPrefix(ct, "text/javascript") {
						t.Errorf("%s served as %q", u, ct)
					}
					modules++
					src := stripComments(rec.Body.String())
					for _, m := range importRe.FindAllStringSubmatch(src, -1) {
						spec := m[1] + m[2] + m[3]
						if !strings.HasPrefix(spec, ".") && !strings.HasPrefix(spec, "/") {
							t.Errorf("%s imports %q: only relative or same-origin paths load in a browser without a bundler", u, spec)
							continue
						}
						mod, _ := url.Parse("http://omnisphere.test" + u)
						queue = append(queue, resolve(t, mod, spec))
					}
				}
			}
			if modules == 0 {
				t.Fatalf("/%s loads no script", app)
			}
		})
	}
}

// resolve turns a reference of a page into a same-origin path; a reference
// to another origin fails the test.
func resolve(t *testing.T, base *url.URL, ref string) string {
	t.Helper()
	if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "mailto:") {
		return ""
	}
	u, err := base.Parse(ref)
	if err != nil {
		t.Errorf("bad reference %q: %v", ref, err)
		return ""
	}
	if u.Host != base.Host {
		t.Errorf("reference to another origin: %q", ref)
		return ""
	}
	return u.Path
}

var (
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	lineComment  = regexp.MustCompile(`(?m)^\s*//.*$`)
)

func stripComments(s string) string {
	return lineComment.ReplaceAllString(blockComment.ReplaceAllString(s, ""), "")
}

// TestConfigJSON: the pages learn the endpoint and the store's public
// credential from /assets/config.json, never cached; a failing lookup is a
// 503 without internals.
func TestConfigJSON(t *testing.T) {
	st := &Store{Slug: "demo", Name: "Demo", Currency: "EUR", StorefrontKey: "opk_x"}
	h := Handler(Config{Store: func(context.Context) (*Store, error) { return st, nil }})
	rec := get(t, h, "/assets/config.json")
	var out struct {
		GraphQL string `json:"graphql"`
		Store   *Store `json:"store"`
	}
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("config.json = %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if out.GraphQL != "/graphql" || out.Store == nil || *out.Store != *st {
		t.Fatalf("config = %+v", out)
	}
	h = Handler(Config{Store: func(context.Context) (*Store, error) { return nil, nil }})
	if rec := get(t, h, "/assets/config.json"); !strings.Contains(rec.Body.String(), `"store":null`) {
		t.Fatalf("no store: %s", rec.Body)
	}
	h = Handler(Config{Store: func(context.Context) (*Store, error) { return nil, errors.New("pq: secret detail") }})
	if rec := get(t, h, "/assets/config.json"); rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("failing store lookup = %d %s", rec.Code, rec.Body)
	}
}

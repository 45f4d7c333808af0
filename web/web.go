// Package web serves OmniSphere's pages from the binary: the merchant
// dashboard (/admin), the demo storefront (/store), the GraphQL playground
// (/playground) and what they share (/assets/). Everything is embedded
// (go:embed): plain HTML, CSS and JavaScript modules, with the few browser
// libraries they use vendored under assets/vendor (its README says which
// and from where). No build step, no CDN.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed admin store playground assets
var files embed.FS

// Files are the embedded pages and assets (tests walk them).
func Files() fs.FS { return files }

// Store is the store /store and /playground show: the public credentials a
// browser may hold (a publishable storefront key, or else the slug).
type Store struct {
	Slug          string `json:"slug"`
	Name          string `json:"name"`
	Currency      string `json:"currency"`
	StorefrontKey string `json:"storefrontKey,omitempty"`
}

// Config configures the pages.
type Config struct {
	// GraphQL is the endpoint's path (/graphql).
	GraphQL string
	// Store returns the store of /store and /playground, nil when there is
	// none (the pages then ask for a storefront key).
	Store func(ctx context.Context) (*Store, error)
}

// Content types by extension, not from the machine's mime tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".md":   "text/markdown; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
}

// ContentType is the Content-Type the pages' file name is served with.
func ContentType(name string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// The pages' Content-Security-Policy: scripts only from this origin (no
// inline script, no eval), connections only to it (same-origin WebSockets
// included), images also from data: URLs (placeholders).
const (
	cspPages = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	// GraphiQL sets style attributes and injects style elements.
	cspPlayground = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
		"connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// Handler serves the pages:
//
//	GET /admin, /admin/…       the merchant dashboard
//	GET /store, /store/…       the demo storefront
//	GET /playground, /playground/…  GraphiQL
//	GET /assets/…              shared modules, styles and vendored libraries
//	GET /assets/config.json    the endpoint and the store, for the pages
func Handler(cfg Config) http.Handler {
	if cfg.GraphQL == "" {
		cfg.GraphQL = "/graphql"
	}
	etags := map[string]string{}
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	mux := http.NewServeMux()
	for _, app := range []string{"admin", "store", "playground"} {
		csp := cspPages
		if app == "playground" {
			csp = cspPlayground
		}
		page := serveFile(app+"/index.html", csp, etags)
		mux.Handle("GET /"+app, page)
		mux.Handle("GET /"+app+"/{$}", page)
		mux.Handle("GET /"+app+"/{file...}", serveDir(app, csp, etags))
	}
	mux.HandleFunc("GET /assets/config.json", func(w http.ResponseWriter, r *http.Request) {
		out := struct {
			GraphQL string `json:"graphql"`
			Store   *Store `json:"store"`
		}{GraphQL: cfg.GraphQL}
		if cfg.Store != nil {
			st, err := cfg.Store(r.Context())
			if err != nil {
				http.Error(w, "the store's settings are unavailable, try again", http.StatusServiceUnavailable)
				return
			}
			out.Store = st
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.Handle("GET /assets/{file...}", serveDir("assets", cspPages, etags))
	return mux
}

// serveDir serves dir's files: file is the path below it.
func serveDir(dir, csp string, etags map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == "" || strings.HasSuffix(name, "/") || !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		serveFile(dir+"/"+name, csp, etags).ServeHTTP(w, r)
	})
}

// serveFile serves one embedded file with its content type, a strong ETag
// (the content's hash: a changed binary is fetched again), no-cache (always
// revalidated) and the security headers.
func serveFile(name, csp string, etags map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag, ok := etags[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ContentType(name))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", tag)
		if strings.HasSuffix(name, ".html") {
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
		}
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, tag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		b, err := files.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b)
	})
}

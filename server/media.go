package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/omnisphere/omnisphere/internal/catalog"
)

// mediaRoot is where uploaded images live: MEDIA_DIR, or DATA_DIR/media for
// a Config built by hand.
func (s *Server) mediaRoot() string {
	if s.Config.MediaDir != "" {
		return s.Config.MediaDir
	}
	return filepath.Join(strOr(s.Config.DataDir, "data"), "media")
}

// media serves uploaded images at /media/<merchant id>/<file>: only names
// internal/catalog writes (a store id and 32 hex digits with an image
// extension), so nothing else of the disk is reachable. The files never
// change (a new upload gets a new name): they are cached for a year. The
// content type comes from the extension (the upload was sniffed), and the
// browser is told not to sniff or run anything in it.
func (s *Server) media() http.Handler {
	dir := s.mediaRoot()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		merchant, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/media/"), "/")
		file, contentType, ok := catalog.MediaFile(dir, merchant, name)
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(file)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeContent(w, r, name, st.ModTime(), f)
	})
}

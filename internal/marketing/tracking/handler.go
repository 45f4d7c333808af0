package tracking

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Open is one load of a send's open pixel.
type Open struct {
	SendToken string
	At        time.Time
	IP        string
	UserAgent string
}

// Click is one follow of a tracked link.
type Click struct {
	SendToken string
	URL       string
	LinkIndex int
	At        time.Time
	IP        string
	UserAgent string
}

// The sources of an unsubscribe.
const (
	// SourceOneClick: an RFC 8058 POST from the mailbox provider's
	// unsubscribe button (body List-Unsubscribe=One-Click).
	SourceOneClick = "one_click"
	// SourceLink: the recipient confirmed on the unsubscribe page.
	SourceLink = "link"
)

// Unsubscribe is a recipient's request to stop marketing email.
type Unsubscribe struct {
	SendToken string
	Source    string // SourceOneClick or SourceLink
	At        time.Time
	IP        string
	UserAgent string
}

// Recipient is what the unsubscribe page shows about the email.
type Recipient struct {
	Email     string
	StoreName string
}

// ErrUnknownSend: no email send has the token (it was deleted). The
// signature was good, so the handler still serves the pixel and the
// redirect; the unsubscribe page answers 404.
var ErrUnknownSend = errors.New("tracking: no email send with this token")

// Recorder stores what the tracking endpoints see. NewEntRecorder is the
// database implementation; tests use an in-memory one. Every method must be
// idempotent where the request may repeat (Unsubscribe) and may return
// ErrUnknownSend.
type Recorder interface {
	RecordOpen(ctx context.Context, o Open) error
	RecordClick(ctx context.Context, c Click) error
	Unsubscribe(ctx context.Context, u Unsubscribe) error
	// Recipient describes the send for the unsubscribe page.
	Recipient(ctx context.Context, sendToken string) (Recipient, error)
}

// HandlerOptions tune NewHandlerWith.
type HandlerOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RecordTimeout bounds one Recorder call (default 10 s). Recording
	// continues when the client goes away.
	RecordTimeout time.Duration
}

// NewHandler serves the tracking routes, for mounting at "/t/":
//
//	GET  /t/o/<token>.gif  open pixel: records the open, answers a 1×1 GIF
//	GET  /t/c/<token>      click: records it, 302 to the URL signed into the token
//	GET  /t/u/<token>      unsubscribe page with a confirmation form
//	POST /t/u/<token>      unsubscribes (RFC 8058 one-click or the form)
//
// A token that does not verify (tampered, unknown key, another kind) is a
// 400 with no redirect. HEAD requests (link scanners) get the same answer
// but record nothing. A failing Recorder is logged; the pixel and the
// redirect are served anyway.
func NewHandler(rec Recorder, keys *Keys, log *slog.Logger) http.Handler {
	return NewHandlerWith(rec, keys, log, HandlerOptions{})
}

// NewHandlerWith is NewHandler with options.
func NewHandlerWith(rec Recorder, keys *Keys, log *slog.Logger, o HandlerOptions) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RecordTimeout <= 0 {
		o.RecordTimeout = 10 * time.Second
	}
	h := &handler{rec: rec, keys: keys, log: log, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/o/{token}", h.open)
	mux.HandleFunc("GET /t/c/{token}", h.click)
	mux.HandleFunc("GET /t/u/{token}", h.unsubscribePage)
	mux.HandleFunc("POST /t/u/{token}", h.unsubscribe)
	return mux
}

type handler struct {
	rec  Recorder
	keys *Keys
	log  *slog.Logger
	o    HandlerOptions
}

// pixel is a transparent 1×1 GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store, no-cache, must-revalidate, private, max-age=0")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Expires", "0")
	w.Header().Set("X-Robots-Tag", "noindex, nofollow")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// recordCtx detaches recording from the client's connection.
func (h *handler) recordCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), h.o.RecordTimeout)
}

func (h *handler) bad(w http.ResponseWriter, r *http.Request, err error) {
	h.log.InfoContext(r.Context(), "tracking: refused token", "path", r.URL.Path, "err", err)
	noStore(w)
	http.Error(w, "invalid or expired link", http.StatusBadRequest)
}

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutSuffix(r.PathValue("token"), ".gif")
	if !ok {
		h.bad(w, r, ErrMalformed)
		return
	}
	c, err := h.keys.Verify(tok, KindOpen)
	if err != nil {
		h.bad(w, r, err)
		return
	}
	if r.Method == http.MethodGet {
		ctx, cancel := h.recordCtx(r)
		defer cancel()
		ip, ua := requestClient(r)
		if err := h.rec.RecordOpen(ctx, Open{SendToken: c.SendToken, At: h.o.Now().UTC(), IP: ip, UserAgent: ua}); err != nil && !errors.Is(err, ErrUnknownSend) {
			h.log.ErrorContext(r.Context(), "tracking: record open", "err", err)
		}
	}
	noStore(w)
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Content-Length", "43")
	_, _ = w.Write(pixel)
}

func (h *handler) click(w http.ResponseWriter, r *http.Request) {
	c, err := h.keys.Verify(r.PathValue("token"), KindClick)
	if err != nil {
		h.bad(w, r, err)
		return
	}
	if r.Method == http.MethodGet {
		ctx, cancel := h.recordCtx(r)
		defer cancel()
		ip, ua := requestClient(r)
		err := h.rec.RecordClick(ctx, Click{SendToken: c.SendToken, URL: c.URL, LinkIndex: c.LinkIndex,
			At: h.o.Now().UTC(), IP: ip, UserAgent: ua})
		if err != nil && !errors.Is(err, ErrUnknownSend) {
			h.log.ErrorContext(r.Context(), "tracking: record click", "err", err)
		}
	}
	noStore(w)
	w.Header().Set("Location", c.URL) // verified: signed by us, absolute http(s)
	w.WriteHeader(http.StatusFound)
}

// maxFormBytes bounds an unsubscribe POST body.
const maxFormBytes = 8 << 10

func (h *handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	c, err := h.keys.Verify(r.PathValue("token"), KindUnsubscribe)
	if err != nil {
		h.bad(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	source := SourceLink
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(maxFormBytes)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		noStore(w)
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	if strings.EqualFold(strings.TrimSpace(r.PostForm.Get("List-Unsubscribe")), "One-Click") {
		source = SourceOneClick
	}
	ctx, cancel := h.recordCtx(r)
	defer cancel()
	ip, ua := requestClient(r)
	err = h.rec.Unsubscribe(ctx, Unsubscribe{SendToken: c.SendToken, Source: source, At: h.o.Now().UTC(), IP: ip, UserAgent: ua})
	switch {
	case errors.Is(err, ErrUnknownSend):
		h.page(w, http.StatusNotFound, pageData{Title: "Link no longer valid", Message: "This unsubscribe link belongs to an email that no longer exists."})
	case err != nil:
		h.log.ErrorContext(r.Context(), "tracking: unsubscribe", "err", err)
		h.page(w, http.StatusInternalServerError, pageData{Title: "Something went wrong", Message: "We could not unsubscribe you just now. Please try again in a minute."})
	default:
		h.log.InfoContext(r.Context(), "tracking: unsubscribed", "source", source)
		h.page(w, http.StatusOK, pageData{Title: "You are unsubscribed", Message: "You will no longer receive marketing emails from this store at this address."})
	}
}

func (h *handler) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	c, err := h.keys.Verify(r.PathValue("token"), KindUnsubscribe)
	if err != nil {
		h.bad(w, r, err)
		return
	}
	rcpt, err := h.rec.Recipient(r.Context(), c.SendToken)
	switch {
	case errors.Is(err, ErrUnknownSend):
		h.page(w, http.StatusNotFound, pageData{Title: "Link no longer valid", Message: "This unsubscribe link belongs to an email that no longer exists."})
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "tracking: unsubscribe page", "err", err)
		h.page(w, http.StatusInternalServerError, pageData{Title: "Something went wrong", Message: "Please try again in a minute."})
		return
	}
	h.page(w, http.StatusOK, pageData{Title: "Unsubscribe", Form: true,
		Message: "Stop receiving marketing emails" + fromStore(rcpt.StoreName) + " at " + MaskEmail(rcpt.Email) + "?"})
}

func fromStore(name string) string {
	if name == "" {
		return ""
	}
	return " from " + name
}

type pageData struct {
	Title, Message string
	Form           bool
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow"><title>{{.Title}}</title>
<style>body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f5f7;color:#1d1d1f;margin:0;padding:48px 16px}
main{max-width:420px;margin:0 auto;background:#fff;border-radius:12px;padding:32px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:22px;margin:0 0 12px}p{line-height:1.5}button{background:#1d1d1f;color:#fff;border:0;border-radius:8px;padding:12px 20px;font-size:16px;cursor:pointer}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Form}}<form method="post"><input type="hidden" name="confirm" value="yes"><button type="submit">Unsubscribe</button></form>{{end}}
</main></body></html>
`))

func (h *handler) page(w http.ResponseWriter, status int, d pageData) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, d); err != nil {
		h.log.Error("tracking: page", "err", err)
	}
}

// MaskEmail hides most of an address's local part: "j***@example.com".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "your address"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***@" + domain
}

// requestClient returns the caller's IP (from the server's request context
// when the router set one, honouring its proxy settings; else the socket
// peer) and user agent, cut to the columns' 64 and 512 bytes.
func requestClient(r *http.Request) (ip, ua string) {
	ip = viewer.RequestFromContext(r.Context()).IP
	if ip == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ip = host
		} else {
			ip = r.RemoteAddr
		}
	}
	return cut(ip, 64), cut(r.UserAgent(), 512)
}

// cut shortens s to at most n bytes on a rune boundary, and drops invalid
// UTF-8.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

package tracking

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/viewer"
)

// memRecorder is an in-memory Recorder that knows the sends in known.
type memRecorder struct {
	mu     sync.Mutex
	known  map[string]string // send token -> recipient email
	opens  []Open
	clicks []Click
	unsubs []Unsubscribe
	fail   error
}

func (m *memRecorder) check(tok string) error {
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.known[tok]; !ok {
		return ErrUnknownSend
	}
	return nil
}

func (m *memRecorder) RecordOpen(_ context.Context, o Open) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(o.SendToken); err != nil {
		return err
	}
	m.opens = append(m.opens, o)
	return nil
}

func (m *memRecorder) RecordClick(_ context.Context, c Click) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(c.SendToken); err != nil {
		return err
	}
	m.clicks = append(m.clicks, c)
	return nil
}

func (m *memRecorder) Unsubscribe(_ context.Context, u Unsubscribe) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(u.SendToken); err != nil {
		return err
	}
	m.unsubs = append(m.unsubs, u)
	return nil
}

func (m *memRecorder) Recipient(_ context.Context, tok string) (Recipient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(tok); err != nil {
		return Recipient{}, err
	}
	return Recipient{Email: m.known[tok], StoreName: `Tom & "Jerry" <Shop>`}, nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var fixedNow = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func newTestHandler(t *testing.T) (*memRecorder, *Keys, http.Handler) {
	k := testKeys(t)
	rec := &memRecorder{known: map[string]string{"send1": "jane@example.com"}}
	return rec, k, NewHandlerWith(rec, k, quiet, HandlerOptions{Now: func() time.Time { return fixedNow }})
}

func do(h http.Handler, method, target string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "203.0.113.7:5555"
	r.Header.Set("User-Agent", "TestMail/1.0")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func path(u string) string {
	p, _ := url.Parse(u)
	return p.Path
}

func TestOpenPixel(t *testing.T) {
	rec, k, h := newTestHandler(t)
	u, _ := k.OpenURL(base, "send1")
	w := do(h, http.MethodGet, path(u), nil, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "image/gif", w.Header().Get("Content-Type"))
	require.Equal(t, pixel, w.Body.Bytes())
	require.Len(t, pixel, 43)
	require.Contains(t, w.Header().Get("Cache-Control"), "no-store")
	require.Equal(t, []Open{{SendToken: "send1", At: fixedNow, IP: "203.0.113.7", UserAgent: "TestMail/1.0"}}, rec.opens)

	// HEAD (a scanner) is answered but not recorded.
	w = do(h, http.MethodHead, path(u), nil, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Len(t, rec.opens, 1)

	// A deleted send still gets its pixel.
	gone, _ := k.OpenURL(base, "deleted")
	require.Equal(t, http.StatusOK, do(h, http.MethodGet, path(gone), nil, nil).Code)

	// A failing recorder still serves the pixel.
	rec.fail = errors.New("db down")
	require.Equal(t, http.StatusOK, do(h, http.MethodGet, path(u), nil, nil).Code)
}

func TestClientIPFromTheRequestContext(t *testing.T) {
	rec, k, h := newTestHandler(t)
	u, _ := k.OpenURL(base, "send1")
	r := httptest.NewRequest(http.MethodGet, path(u), nil)
	r = r.WithContext(viewer.NewRequestContext(r.Context(), viewer.Request{IP: "198.51.100.4"}))
	r.Header.Set("User-Agent", strings.Repeat("é", 400))
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Len(t, rec.opens, 1)
	require.Equal(t, "198.51.100.4", rec.opens[0].IP)
	require.Equal(t, strings.Repeat("é", 256), rec.opens[0].UserAgent, "cut to 512 bytes on a rune boundary")
}

func TestClickRedirect(t *testing.T) {
	rec, k, h := newTestHandler(t)
	target := "https://shop.test/p/1?a=b&c=d#f"
	u, _ := k.ClickURL(base, "send1", target, 4)
	w := do(h, http.MethodGet, path(u), nil, nil)
	require.Equal(t, http.StatusFound, w.Code)
	require.Equal(t, target, w.Header().Get("Location"))
	require.Equal(t, []Click{{SendToken: "send1", URL: target, LinkIndex: 4, At: fixedNow, IP: "203.0.113.7", UserAgent: "TestMail/1.0"}}, rec.clicks)

	w = do(h, http.MethodHead, path(u), nil, nil)
	require.Equal(t, http.StatusFound, w.Code)
	require.Len(t, rec.clicks, 1, "HEAD is not recorded")

	rec.fail = errors.New("db down")
	w = do(h, http.MethodGet, path(u), nil, nil)
	require.Equal(t, http.StatusFound, w.Code, "the recipient gets to the store even when recording fails")
}

func TestTamperedLinksAre400(t *testing.T) {
	rec, k, h := newTestHandler(t)
	click, _ := k.ClickToken("send1", "https://shop.test/sale", 0)
	evil, _ := k.ClickToken("send1", "https://evil.test/", 0)
	open, _ := k.OpenToken("send1")
	unsub, _ := k.UnsubscribeToken("send1")
	other, _ := NewKeys("k9", map[string][]byte{"k9": key(9)})
	foreign, _ := other.ClickToken("send1", "https://evil.test/", 0)
	id, rest, _ := strings.Cut(click, ".")
	_, sig, _ := strings.Cut(rest, ".")
	_, evilRest, _ := strings.Cut(evil, ".")
	evilBody, _, _ := strings.Cut(evilRest, ".")

	cases := []struct{ name, method, path string }{
		{"click with a swapped URL", http.MethodGet, "/t/c/" + id + "." + evilBody + "." + sig},
		{"click with a cut signature", http.MethodGet, "/t/c/" + click[:len(click)-3]},
		{"click signed by an unknown key", http.MethodGet, "/t/c/" + foreign},
		{"click with a URL in the query", http.MethodGet, "/t/c/garbage?url=https://evil.test/"},
		{"open token on the click route", http.MethodGet, "/t/c/" + open},
		{"click token on the open route", http.MethodGet, "/t/o/" + click + ".gif"},
		{"open without .gif", http.MethodGet, "/t/o/" + open},
		{"tampered open", http.MethodGet, "/t/o/" + open[:len(open)-2] + "AA.gif"},
		{"unsubscribe page with an open token", http.MethodGet, "/t/u/" + open},
		{"unsubscribe with a tampered token", http.MethodPost, "/t/u/" + unsub + "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := do(h, c.method, c.path, strings.NewReader("List-Unsubscribe=One-Click"),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			require.Equal(t, http.StatusBadRequest, w.Code)
			require.Empty(t, w.Header().Get("Location"))
		})
	}
	require.Empty(t, rec.opens)
	require.Empty(t, rec.clicks)
	require.Empty(t, rec.unsubs)
}

func TestUnknownRoutes(t *testing.T) {
	_, k, h := newTestHandler(t)
	unsub, _ := k.UnsubscribeToken("send1")
	require.Equal(t, http.StatusNotFound, do(h, http.MethodGet, "/t/x/abc", nil, nil).Code)
	require.Equal(t, http.StatusMethodNotAllowed, do(h, http.MethodDelete, "/t/u/"+unsub, nil, nil).Code)
	require.Equal(t, http.StatusMethodNotAllowed, do(h, http.MethodPost, "/t/c/abc", nil, nil).Code)
}

func TestUnsubscribePage(t *testing.T) {
	rec, k, h := newTestHandler(t)
	u, _ := k.UnsubscribeURL(base, "send1")
	w := do(h, http.MethodGet, path(u), nil, nil)
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	require.Contains(t, body, `<form method="post">`)
	require.Contains(t, body, "j***@example.com")
	require.NotContains(t, body, "jane@example.com")
	require.Contains(t, body, "Tom &amp; &#34;Jerry&#34; &lt;Shop&gt;", "the store name is escaped")
	require.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
	require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	require.Empty(t, rec.unsubs, "showing the page unsubscribes nobody")

	gone, _ := k.UnsubscribeURL(base, "deleted")
	require.Equal(t, http.StatusNotFound, do(h, http.MethodGet, path(gone), nil, nil).Code)
}

func TestUnsubscribePost(t *testing.T) {
	form := "application/x-www-form-urlencoded"
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("List-Unsubscribe", "One-Click")
	_ = mw.Close()
	cases := []struct {
		name, contentType, body string
		source                  string
	}{
		{"RFC 8058 one-click", form, "List-Unsubscribe=One-Click", SourceOneClick},
		{"one-click as multipart", mw.FormDataContentType(), mp.String(), SourceOneClick},
		{"the page's form", form, "confirm=yes", SourceLink},
		{"an empty POST", "", "", SourceLink},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, k, h := newTestHandler(t)
			u, _ := k.UnsubscribeURL(base, "send1")
			w := do(h, http.MethodPost, path(u), strings.NewReader(c.body), map[string]string{"Content-Type": c.contentType})
			require.Equal(t, http.StatusOK, w.Code)
			require.Contains(t, w.Body.String(), "You are unsubscribed")
			require.Equal(t, []Unsubscribe{{SendToken: "send1", Source: c.source, At: fixedNow, IP: "203.0.113.7", UserAgent: "TestMail/1.0"}}, rec.unsubs)
		})
	}
	t.Run("unknown send", func(t *testing.T) {
		_, k, h := newTestHandler(t)
		u, _ := k.UnsubscribeURL(base, "deleted")
		require.Equal(t, http.StatusNotFound, do(h, http.MethodPost, path(u), nil, nil).Code)
	})
	t.Run("failing recorder", func(t *testing.T) {
		rec, k, h := newTestHandler(t)
		rec.fail = errors.New("db down")
		u, _ := k.UnsubscribeURL(base, "send1")
		require.Equal(t, http.StatusInternalServerError, do(h, http.MethodPost, path(u), nil, nil).Code)
	})
	t.Run("oversized body", func(t *testing.T) {
		rec, k, h := newTestHandler(t)
		u, _ := k.UnsubscribeURL(base, "send1")
		w := do(h, http.MethodPost, path(u), strings.NewReader("a="+strings.Repeat("x", 20000)), map[string]string{"Content-Type": form})
		require.Equal(t, http.StatusBadRequest, w.Code)
		require.Empty(t, rec.unsubs)
	})
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"jane@example.com": "j***@example.com",
		"élise@x.test":     "é***@x.test",
		"nope":             "your address",
		"@x.test":          "your address",
	} {
		require.Equal(t, want, MaskEmail(in))
	}
}

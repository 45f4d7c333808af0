package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/server"
)

// get serves one request through h.
func get(t *testing.T, h http.Handler, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// requireJSON checks that rec is a JSON answer with the given status and body.
func requireJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	require.JSONEq(t, want, rec.Body.String())
}

func TestHealthAndReady(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Run("health", func(t *testing.T) {
				s := newServer(t, b, nil, nil)
				requireJSON(t, get(t, s.Handler, "/health", nil), http.StatusOK, `{"status": "ok"}`)
			})

			t.Run("ready", func(t *testing.T) {
				s := newServer(t, b, nil, nil)
				requireJSON(t, get(t, s.Handler, "/ready", nil), http.StatusOK, `{"database": "ok"}`)

				// A database that stops answering makes the instance unready.
				require.NoError(t, s.DB.SQL.Close())
				requireJSON(t, get(t, s.Handler, "/ready", nil), http.StatusServiceUnavailable, `{"database": "unavailable"}`)
				// ... while it stays alive.
				require.Equal(t, http.StatusOK, get(t, s.Handler, "/health", nil).Code)
			})

			t.Run("ready with redis", func(t *testing.T) {
				url := os.Getenv("TEST_REDIS_URL")
				if url == "" {
					t.Skip("TEST_REDIS_URL is not set")
				}
				s := newServer(t, b, nil, func(c *server.Config) { c.RedisURL = url })
				require.NotNil(t, s.Redis)
				requireJSON(t, get(t, s.Handler, "/ready", nil), http.StatusOK, `{"database": "ok", "redis": "ok"}`)

				require.NoError(t, s.Redis.Close())
				requireJSON(t, get(t, s.Handler, "/ready", nil), http.StatusServiceUnavailable, `{"database": "ok", "redis": "unavailable"}`)
			})
		})
	}
}

func TestNewRefusesUnusableRedis(t *testing.T) {
	for name, url := range map[string]string{
		"nothing listens": "redis://127.0.0.1:1/0",
		"unparsable":      "redis://127.0.0.1:6379/notadb",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, dbtest.SQLite)
			cfg.RedisURL = url
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := server.New(ctx, cfg, server.NewLogger(&syncBuffer{}, slog.LevelError))
			require.Error(t, err)
			require.Nil(t, s)
			require.Contains(t, err.Error(), "REDIS_URL")
		})
	}
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestID(t *testing.T) {
	logs := &syncBuffer{}
	s := newServer(t, dbtest.SQLite, server.NewLogger(logs, slog.LevelDebug), nil)

	t.Run("a valid incoming id is echoed", func(t *testing.T) {
		for _, id := range []string{"abc", "req-123_ABC.def:9", strings.Repeat("a", 64)} {
			rec := get(t, s.Handler, "/health", http.Header{"X-Request-Id": {id}})
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, id, rec.Header().Get("X-Request-ID"))
		}
	})

	t.Run("an invalid incoming id is replaced", func(t *testing.T) {
		for _, id := range []string{"bad id\n", `x","level":"ERROR`, strings.Repeat("a", 65), "café"} {
			rec := get(t, s.Handler, "/health", http.Header{"X-Request-Id": {id}})
			require.Equal(t, http.StatusOK, rec.Code)
			got := rec.Header().Get("X-Request-ID")
			require.NotEqual(t, id, got)
			require.Regexp(t, generatedID, got)
		}
		require.NotContains(t, logs.String(), "bad id")
		require.NotContains(t, logs.String(), `"x","level"`)
	})

	t.Run("a request without id gets a fresh one", func(t *testing.T) {
		a := get(t, s.Handler, "/health", nil).Header().Get("X-Request-ID")
		b := get(t, s.Handler, "/ready", nil).Header().Get("X-Request-ID")
		require.Regexp(t, generatedID, a)
		require.Regexp(t, generatedID, b)
		require.NotEqual(t, a, b)
	})

	t.Run("the request log carries the id", func(t *testing.T) {
		rec := get(t, s.Handler, "/ready", http.Header{"X-Request-Id": {"trace-me-42"}})
		require.Equal(t, http.StatusOK, rec.Code)
		found := false
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), "log lines are JSON: %s", line)
			if rec["msg"] == "request" && rec["request_id"] == "trace-me-42" {
				require.Equal(t, "/ready", rec["path"])
				require.EqualValues(t, http.StatusOK, rec["status"])
				found = true
			}
		}
		require.True(t, found, "no request log with the id in:\n%s", logs.String())
	})
}

func TestRoutes(t *testing.T) {
	s := newServer(t, dbtest.SQLite, nil, nil)

	rec := get(t, s.Handler, "/", nil)
	require.Equal(t, http.StatusFound, rec.Code)
	require.Equal(t, "/playground", rec.Header().Get("Location"))

	rec = get(t, s.Handler, "/playground", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/html")

	require.Equal(t, http.StatusNotFound, get(t, s.Handler, "/nowhere", nil).Code)
	rec = httptest.NewRecorder()
	s.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/health", nil))
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

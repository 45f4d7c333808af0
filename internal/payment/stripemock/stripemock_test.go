package stripemock

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStart(t *testing.T) {
	base := Start(t)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), "base URL %q", base)
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/balance", nil)
	req.Header.Set("Authorization", "Bearer sk_test_123")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.True(t, res.StatusCode == http.StatusOK, "GET /v1/balance: %s", res.Status)
}

// recordTB stops at Fatalf and Skipf and keeps their messages.
type recordTB struct {
	*testing.T
	fatal, skip string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordTB) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(t *testing.T, fn func(tb testing.TB)) *recordTB {
	r := &recordTB{T: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(r) }()
	<-done
	return r
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "stripe-mock")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))

	t.Run("TEST_STRIPE_MOCK not runnable fails", func(t *testing.T) {
		for _, p := range []string{filepath.Join(dir, "missing"), notExec, dir} {
			t.Setenv(Env, p)
			r := run(t, func(tb testing.TB) { find(tb) })
			require.True(t, strings.Contains(r.fatal, Install), "want a failure naming the install command, got fatal=%q skip=%q", r.fatal, r.skip)
		}
	})
	t.Run("nothing installed skips", func(t *testing.T) {
		t.Setenv(Env, "")
		t.Setenv("PATH", dir) // holds only the non-executable file
		t.Setenv("GOBIN", "")
		t.Setenv("GOPATH", dir)
		t.Setenv("HOME", dir)
		r := run(t, func(tb testing.TB) { find(tb) })
		require.True(t, r.fatal == "" && strings.Contains(r.skip, Install), "want a skip naming the install command, got fatal=%q skip=%q", r.fatal, r.skip)
	})
	t.Run("GOPATH/bin", func(t *testing.T) {
		bin := filepath.Join(dir, "gp", "bin")
		require.NoError(t, os.MkdirAll(bin, 0o755))
		exe := filepath.Join(bin, "stripe-mock")
		require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
		t.Setenv(Env, "")
		t.Setenv("PATH", dir)
		t.Setenv("GOBIN", "")
		t.Setenv("GOPATH", filepath.Join(dir, "gp"))
		t.Setenv("HOME", dir)
		var got string
		r := run(t, func(tb testing.TB) { got = find(tb) })
		require.Equal(t, exe, got, "fatal=%q skip=%q", r.fatal, r.skip)
	})
}

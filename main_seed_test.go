package main

import (
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServeFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		demo    bool
		wantErr bool
	}{
		{args: nil, demo: true},
		{args: []string{"--no-demo"}, demo: false},
		{args: []string{"-no-demo"}, demo: false},
		{args: []string{"--no-demo=false"}, demo: true},
		{args: []string{"--bogus"}, wantErr: true},
		{args: []string{"extra"}, wantErr: true},
	} {
		demo, err := serveFlags(tc.args)
		if tc.wantErr {
			require.Error(t, err, tc.args)
			continue
		}
		require.NoError(t, err, tc.args)
		require.Equal(t, tc.demo, demo, tc.args)
	}
}

// startStop runs the binary in dir with args until /health answers, stops it
// with SIGTERM and returns its stderr.
func startStop(t *testing.T, dir string, args ...string) string {
	t.Helper()
	port := freePort(t)
	var stdout, stderr lockedBuffer
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv("PORT="+strconv.Itoa(port), "BCRYPT_COST=10")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("the server exited: %v\n%s\n%s", err, &stdout, &stderr)
		default:
		}
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("no /health within 90s\n%s\n%s", &stdout, &stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "%s\n%s", &stdout, &stderr)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 30s after SIGTERM")
	}
	return stderr.String()
}

func TestBinaryDemoStore(t *testing.T) {
	dir := t.TempDir()
	require.NotContains(t, startStop(t, dir, "--no-demo"), "demo store", "--no-demo seeds nothing")
	first := startStop(t, dir, "serve")
	require.Contains(t, first, `OmniSphere demo store "demo" is ready`)
	require.Contains(t, first, "storefront key   X-Storefront-Key: opk_")
	require.NotContains(t, startStop(t, dir), "demo store", "the second start seeds nothing")
}

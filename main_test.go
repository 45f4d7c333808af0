package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary, as an operator would: `go build`, then
// start it with no configuration in an empty directory.

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds the server once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary: skipped with -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGTERM: not on Windows")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "omnisphere-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "omnisphere")
		wd, err := os.Getwd()
		if err != nil {
			buildErr = err
			return
		}
		// go test puts its own GOROOT/bin first on PATH: this is the go
		// that runs the test.
		cmd := exec.Command("go", "build", "-o", buildBin, ".")
		cmd.Dir = wd
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// cleanEnv is the test's environment without any OmniSphere variable, so
// that the binary sees the defaults plus extra.
func cleanEnv(extra ...string) []string {
	drop := map[string]bool{}
	for _, k := range []string{
		"PORT", "DATA_DIR", "DATABASE_URL", "SQLITE_PATH", "REDIS_URL", "JWT_SECRET", "LOG_LEVEL",
		"AUTO_MIGRATE", "SHUTDOWN_TIMEOUT", "DB_MAX_OPEN_CONNS", "DB_MAX_IDLE_CONNS",
		"DB_CONN_MAX_LIFETIME", "DB_CONN_MAX_IDLE_TIME",
	} {
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestBinaryServesAndShutsDownGracefully(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir() // empty: no data, no configuration
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	var stdout, stderr lockedBuffer
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = cleanEnv("PORT=" + strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	output := func() string { return "stdout:\n" + stdout.String() + "\nstderr:\n" + stderr.String() }

	client := &http.Client{Timeout: 5 * time.Second}
	// Wait for /health, bounded; fail early if the process dies.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the server exited before answering /health: %v\n%s", err, output())
		default:
		}
		resp, err := client.Get(base + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 from /health within 60s (last error %v)\n%s", err, output())
		}
		time.Sleep(100 * time.Millisecond)
	}

	resp, err := client.Get(base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"database":"ok"`) {
		t.Fatalf("/ready: %d %s", resp.StatusCode, body)
	}

	resp, err = client.Post(base+"/graphql", "application/json", strings.NewReader(`{"query":"{ __typename }"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"__typename":"Query"`) {
		t.Fatalf("POST /graphql: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("POST /graphql: no X-Request-ID")
	}

	// SIGTERM: drain and exit 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, output())
		}
	case <-time.After(25 * time.Second):
		t.Fatalf("still running 25s after SIGTERM\n%s", output())
	}

	// The embedded database and the generated secret are in ./data.
	if _, err := os.Stat(filepath.Join(dir, "data", "omnisphere.db")); err != nil {
		t.Errorf("embedded database: %v\n%s", err, output())
	}
	if st, err := os.Stat(filepath.Join(dir, "data", "jwt_secret")); err != nil {
		t.Errorf("generated JWT secret: %v", err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("jwt_secret mode %v, want 0600", st.Mode().Perm())
	}
	// The logs are JSON lines; the shutdown was logged.
	out := stdout.String()
	if !strings.Contains(out, `"msg":"omnisphere listening"`) || !strings.Contains(out, `"msg":"shutting down: draining in-flight requests"`) {
		t.Errorf("expected the listen and shutdown logs on stdout\n%s", output())
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("stdout line is not JSON: %q", line)
		}
	}
}

func TestBinaryRefusesInvalidConfig(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv("PORT=abc")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("want a non-zero exit, got %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	if exit.ExitCode() == 0 || ctx.Err() != nil {
		t.Fatalf("want a prompt non-zero exit, got %v", err)
	}
	if !strings.Contains(stderr.String(), "PORT") {
		t.Errorf("stderr does not name PORT:\n%s", &stderr)
	}
	if _, err := os.Stat(filepath.Join(cmd.Dir, "data", "omnisphere.db")); err == nil {
		t.Error("a database was created although the configuration is invalid")
	}
}

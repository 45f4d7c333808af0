// Package stripemock runs stripe-mock (github.com/stripe/stripe-mock), Stripe's
// stateless API mock, for the tests of a package: it validates request shapes
// against Stripe's OpenAPI spec and answers with fixtures. It sends no
// webhooks and keeps no state: payment state in tests comes from signed
// webhook payloads.
package stripemock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock release the tests are written against.
const Version = "v0.203.0"

// Install is the command that installs it.
const Install = "go install github.com/stripe/stripe-mock@" + Version

// Env names the variable that points at the binary (CI sets it). When it is
// set, a missing or broken binary fails the test instead of skipping it.
const Env = "TEST_STRIPE_MOCK"

// Start runs a stripe-mock of its own for t, listening on free loopback
// ports (HTTP and HTTPS both bound to 127.0.0.1, so nothing listens on other
// interfaces), waits until it answers, and stops it when t ends. It returns
// the HTTP base URL, for payment.Config.APIURL.
//
// The binary is $TEST_STRIPE_MOCK, else stripe-mock on PATH, in $GOBIN, in
// $GOPATH/bin or in ~/go/bin. Without one the test is skipped with the
// command that installs it.
func Start(t testing.TB) string {
	t.Helper()
	bin := find(t)
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	// stripe-mock prints "Listening for HTTP at address: 127.0.0.1:P" once
	// bound; the port is chosen by the system, so no other process can take
	// it between our choosing and its binding.
	lw := &lineWriter{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Start(); err != nil {
		t.Fatalf("stripemock: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	output := lw.tail

	var base string
	select {
	case a := <-lw.addr:
		base = "http://" + a
	case <-exited:
		t.Fatalf("stripemock: %s exited: %v\n%s", bin, waitErr, output())
	case <-time.After(30 * time.Second):
		t.Fatalf("stripemock: %s did not report its address within 30s\n%s", bin, output())
	}
	if err := waitReady(base, exited); err != nil {
		t.Fatalf("stripemock: %v\n%s", err, output())
	}
	return base
}

// waitReady polls the mock until it answers an authenticated request.
func waitReady(base string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/balance", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		res, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v1/balance: %s", res.Status)
		}
		select {
		case <-exited:
			return errors.New("stripe-mock exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("stripe-mock at %s does not answer: %w", base, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// find returns the stripe-mock binary, or skips (fails, when Env is set).
func find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(Env); p != "" {
		if err := runnable(p); err != nil {
			t.Fatalf("stripemock: %s=%s: %v (install it with: %s)", Env, p, err, Install)
		}
		return p
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(os.Getenv("GOPATH")) {
		if d != "" {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if runnable(p) == nil {
			return p
		}
	}
	t.Skipf("stripe-mock not found (looked at $%s, PATH, $GOBIN, $GOPATH/bin, ~/go/bin): install it with %q", Env, Install)
	return ""
}

// runnable reports why path is not an executable file, if it is not.
func runnable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// lineWriter reads stripe-mock's output: it sends the HTTP address once and
// keeps the last lines for error messages.
type lineWriter struct {
	addr chan string

	mu    sync.Mutex
	buf   []byte
	lines []string
	sent  bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		w.lines = append(w.lines, line)
		if len(w.lines) > 20 {
			w.lines = w.lines[1:]
		}
		if a, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok && !w.sent {
			w.addr <- strings.TrimSpace(a)
			w.sent = true
		}
	}
	if len(w.buf) > 64<<10 { // a line that never ends: keep memory bounded
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

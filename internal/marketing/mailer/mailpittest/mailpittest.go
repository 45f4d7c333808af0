// Package mailpittest runs mailpit (github.com/axllent/mailpit), a local SMTP
// sink with an HTTP API, for the tests of a package, and reads what it
// received: the messages (GET /api/v1/messages) and one message's headers.
package mailpittest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the mailpit release the tests are written against.
const Version = "v1.33.1"

// Install is the command that installs it.
const Install = "go install github.com/axllent/mailpit@" + Version

// Env names the variable that points at the binary (CI sets it). When it is
// set, a missing or broken binary fails the test instead of skipping it.
const Env = "TEST_MAILPIT"

// Start runs a mailpit of its own for t on free loopback ports (SMTP and
// HTTP both bound to 127.0.0.1, no TLS, any SMTP AUTH accepted, no version
// check, no message limit, its database in t's temporary directory), waits
// until its API answers, and stops it when t ends. It returns the SMTP
// address (host:port) and the API base URL (http://host:port).
//
// The binary is $TEST_MAILPIT, else mailpit on PATH, in $GOBIN, in
// $GOPATH/bin or in ~/go/bin. Without one the test is skipped with the
// command that installs it.
func Start(t testing.TB) (smtpAddr, apiURL string) {
	t.Helper()
	return StartArgs(t)
}

// StartArgs is Start with extra mailpit flags, e.g.
// "--smtp-allowed-recipients", "@ok\\.test$" to make it refuse (550) others.
func StartArgs(t testing.TB, extra ...string) (smtpAddr, apiURL string) {
	t.Helper()
	bin := find(t)
	dir := t.TempDir()
	var lastErr error
	// The ports are chosen free, then closed and handed to mailpit: another
	// process may take one in between, so try a few times.
	for attempt := range 3 {
		smtpAddr, apiURL, err := start(t, bin, filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", attempt)), extra)
		if err == nil {
			return smtpAddr, apiURL
		}
		lastErr = err
	}
	t.Fatalf("mailpittest: %v", lastErr)
	return "", ""
}

func start(t testing.TB, bin, dbPath string, extra []string) (string, string, error) {
	smtpAddr, err := freeAddr()
	if err != nil {
		return "", "", err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return "", "", err
	}
	args := append([]string{
		"--smtp", smtpAddr, "--listen", httpAddr,
		"--disable-version-check", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
		"--smtp-disable-rdns", "--max", "0", "--database", dbPath}, extra...)
	cmd := exec.Command(bin, args...)
	out := &tailWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	api := "http://" + httpAddr
	if err := waitReady(api, smtpAddr, exited); err != nil {
		stop()
		select {
		case <-exited:
			err = fmt.Errorf("%w (exit: %v)", err, waitErr)
		default:
		}
		return "", "", fmt.Errorf("%s: %w\n%s", bin, err, out.tail())
	}
	t.Cleanup(stop)
	return smtpAddr, api, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls the API and the SMTP port until both answer.
func waitReady(api, smtpAddr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		err := func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/messages?limit=1", nil)
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /api/v1/messages: %s", res.Status)
			}
			c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		}()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("mailpit exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("mailpit does not answer: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Address is a mailbox of a message summary.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is mailpit's summary of one received message.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Created   time.Time `json:"Created"`
	Size      int       `json:"Size"`
}

// Messages returns every message mailpit at apiURL holds, newest first,
// reading GET /api/v1/messages page by page.
func Messages(ctx context.Context, apiURL string) ([]Message, error) {
	const page = 1000
	var all []Message
	for start := 0; ; start += page {
		var res struct {
			Total    int       `json:"total"`
			Count    int       `json:"count"`
			Messages []Message `json:"messages"`
		}
		q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(page)}}
		if err := getJSON(ctx, apiURL+"/api/v1/messages?"+q.Encode(), &res); err != nil {
			return nil, err
		}
		all = append(all, res.Messages...)
		if len(res.Messages) == 0 || start+len(res.Messages) >= res.Total {
			return all, nil
		}
	}
}

// Count returns how many messages mailpit holds.
func Count(ctx context.Context, apiURL string) (int, error) {
	var res struct {
		Total int `json:"total"`
	}
	err := getJSON(ctx, apiURL+"/api/v1/messages?limit=1", &res)
	return res.Total, err
}

// Headers returns the header fields of the message with mailpit id id
// (Message.ID), as GET /api/v1/message/{id}/headers gives them.
func Headers(ctx context.Context, apiURL, id string) (http.Header, error) {
	var h map[string][]string
	if err := getJSON(ctx, apiURL+"/api/v1/message/"+url.PathEscape(id)+"/headers", &h); err != nil {
		return nil, err
	}
	out := http.Header{}
	for k, vs := range h {
		for _, v := range vs {
			out.Add(k, v)
		}
	}
	return out, nil
}

// DeleteAll deletes every message (DELETE /api/v1/messages).
func DeleteAll(ctx context.Context, apiURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, apiURL+"/api/v1/messages", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("mailpittest: DELETE /api/v1/messages: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpittest: DELETE /api/v1/messages: %s", res.Status)
	}
	return nil
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("mailpittest: GET %s: %w", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("mailpittest: GET %s: %w", u, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpittest: GET %s: %s: %s", u, res.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("mailpittest: GET %s: %w", u, err)
	}
	return nil
}

// find returns the mailpit binary, or skips (fails, when Env is set).
func find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(Env); p != "" {
		if err := runnable(p); err != nil {
			t.Fatalf("mailpittest: %s=%s: %v (install it with: %s)", Env, p, err, Install)
		}
		return p
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
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
		p := filepath.Join(d, "mailpit")
		if runnable(p) == nil {
			return p
		}
	}
	t.Skipf("mailpit not found (looked at $%s, PATH, $GOBIN, $GOPATH/bin, ~/go/bin): install it with %q", Env, Install)
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

// tailWriter keeps the last lines of mailpit's output for error messages.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 8<<10 {
		w.buf = w.buf[len(w.buf)-8<<10:]
	}
	return len(p), nil
}

func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.buf))
}

// Text returns the text part of the message with mailpit id id
// (GET /api/v1/message/{id}).
func Text(ctx context.Context, apiURL, id string) (string, error) {
	var m struct{ Text string }
	if err := getJSON(ctx, apiURL+"/api/v1/message/"+url.PathEscape(id), &m); err != nil {
		return "", err
	}
	return m.Text, nil
}

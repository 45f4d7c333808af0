package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/webhookevent"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hookFixture is an intake on a real database behind a test server.
type hookFixture struct {
	client *ent.Client
	clock  *clock
	hooks  *Webhooks
	url    string

	mu    sync.Mutex
	calls map[string]int // handler runs per event id
	fn    func(ctx context.Context, ev stripe.Event, call int) error
}

const lease = 2 * time.Minute

func newHookFixture(t *testing.T, b dbtest.Backend, tweak func(*WebhookConfig)) *hookFixture {
	t.Helper()
	d := dbtest.Open(t, b)
	f := &hookFixture{client: d.Client, clock: &clock{t: time.Now()}, calls: map[string]int{}}
	cfg := WebhookConfig{
		Secret: testSecret, ConnectSecret: testConnectSecret,
		Now: f.clock.Now, Lease: lease, RetryBase: 30 * time.Second, RetryMax: 10 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	f.hooks = NewWebhooks(d.Client, EventHandlerFunc(func(ctx context.Context, ev stripe.Event) error {
		if _, ok := viewer.IsSystem(ctx); !ok {
			return errors.New("handler called outside the system context")
		}
		f.mu.Lock()
		f.calls[ev.ID]++
		n, fn := f.calls[ev.ID], f.fn
		f.mu.Unlock()
		if fn != nil {
			return fn(ctx, ev, n)
		}
		return nil
	}), cfg)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/stripe", f.hooks.Handler(false))
	mux.Handle("/webhooks/stripe/connect", f.hooks.Handler(true))
	mux.Handle("/webhooks/any", f.hooks)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b dbtest.Backend)) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) { fn(t, b) })
	}
}

func (f *hookFixture) setHandler(fn func(ctx context.Context, ev stripe.Event, call int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fn = fn
}

func (f *hookFixture) callsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

// post delivers body to path and returns the status and the JSON answer.
func (f *hookFixture) post(t *testing.T, path string, body []byte, sig string) (int, map[string]string) {
	t.Helper()
	s, out, err := f.postErr(path, body, sig)
	require.NoError(t, err)
	return s, out
}

// postErr is post for other goroutines than the test's.
func (f *hookFixture) postErr(path string, body []byte, sig string) (int, map[string]string, error) {
	req, err := http.NewRequest(http.MethodPost, f.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out := map[string]string{}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return 0, nil, err
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		return 0, nil, fmt.Errorf("content type %q", ct)
	}
	return res.StatusCode, out, nil
}

// deliver signs an event for the platform endpoint at the fixture's clock.
func (f *hookFixture) deliver(t *testing.T, id string) (int, map[string]string) {
	t.Helper()
	body := eventJSON(id, "payment_intent.succeeded", "", APIVersion)
	return f.post(t, "/webhooks/stripe", body, sign(body, testSecret, f.clock.Now()))
}

func sys() context.Context { return viewer.SystemContext(context.Background(), "payment test") }

func (f *hookFixture) row(t *testing.T, id string) *ent.WebhookEvent {
	t.Helper()
	r, err := f.client.WebhookEvent.Query().Where(webhookevent.EventID(id)).Only(sys())
	require.NoError(t, err)
	return r
}

func (f *hookFixture) count(t *testing.T) int {
	t.Helper()
	n, err := f.client.WebhookEvent.Query().Count(sys())
	require.NoError(t, err)
	return n
}

func TestWebhookDuplicatesRunTheHandlerOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, nil)
		merchant := uuid.New()
		f.setHandler(func(ctx context.Context, ev stripe.Event, call int) error {
			RecordMerchant(ctx, merchant)
			time.Sleep(20 * time.Millisecond) // let the concurrent deliveries overlap
			return nil
		})
		body := eventJSON("evt_dup", "payment_intent.succeeded", "", APIVersion)
		sig := sign(body, testSecret, f.clock.Now())

		var wg sync.WaitGroup
		statuses := make([]int, 5)
		answers := make([]map[string]string, 5)
		errs := make([]error, 5)
		for i := range statuses {
			wg.Go(func() { statuses[i], answers[i], errs[i] = f.postErr("/webhooks/stripe", body, sig) })
		}
		wg.Wait()
		processed := 0
		for i, s := range statuses {
			require.NoError(t, errs[i])
			require.Equal(t, http.StatusOK, s, "delivery %d: %v", i, answers[i])
			if answers[i]["status"] == "processed" {
				processed++
			} else {
				require.Equal(t, "duplicate", answers[i]["status"])
			}
		}
		require.Equal(t, 1, processed)
		for range 3 {
			f.clock.Add(time.Minute)
			s, a := f.post(t, "/webhooks/stripe", body, sign(body, testSecret, f.clock.Now()))
			require.Equal(t, http.StatusOK, s)
			require.Equal(t, "duplicate", a["status"])
		}
		require.Equal(t, 1, f.callsOf("evt_dup"))
		require.Equal(t, 1, f.count(t))

		r := f.row(t, "evt_dup")
		require.Equal(t, webhookevent.StatusPROCESSED, r.Status)
		require.Equal(t, 1, r.Attempts)
		require.NotNil(t, r.ProcessedAt)
		require.Nil(t, r.NextAttemptAt)
		require.Equal(t, "payment_intent.succeeded", r.Type)
		require.Equal(t, APIVersion, r.APIVersion)
		require.Equal(t, webhookevent.ProviderSTRIPE, r.Provider)
		require.False(t, r.Livemode)
		require.Empty(t, r.AccountID)
		require.NotNil(t, r.MerchantID)
		require.Equal(t, merchant, *r.MerchantID)
		obj := r.Payload["data"].(map[string]any)["object"].(map[string]any)
		require.EqualValues(t, 12345, obj["amount"])

		n, err := f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestWebhookConnectEndpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, nil)
		var got stripe.Event
		f.setHandler(func(_ context.Context, ev stripe.Event, _ int) error { got = ev; return nil })
		body := eventJSON("evt_acct", "account.updated", "acct_1Merchant", APIVersion)

		s, a := f.post(t, "/webhooks/stripe", body, sign(body, testConnectSecret, f.clock.Now()))
		require.Equal(t, http.StatusBadRequest, s, "the platform endpoint refuses the connect secret: %v", a)
		require.Zero(t, f.count(t))

		s, a = f.post(t, "/webhooks/stripe/connect", body, sign(body, testConnectSecret, f.clock.Now()))
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, "acct_1Merchant", got.Account)
		require.Equal(t, "acct_1Merchant", f.row(t, "evt_acct").AccountID)

		// The single endpoint takes either secret.
		other := eventJSON("evt_plat", "payment_intent.succeeded", "", APIVersion)
		s, a = f.post(t, "/webhooks/any", other, sign(other, testSecret, f.clock.Now()))
		require.Equal(t, http.StatusOK, s, a)
		s, a = f.post(t, "/webhooks/any", body, sign(body, testConnectSecret, f.clock.Now()))
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, "duplicate", a["status"])
	})
}

func TestWebhookRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, func(c *WebhookConfig) { c.MaxBodyBytes = 4 << 10 })
		body := eventJSON("evt_bad", "payment_intent.succeeded", "", APIVersion)
		now := f.clock.Now()
		changed := bytes.Replace(body, []byte("12345"), []byte("12346"), 1)
		otherVersion := eventJSON("evt_bad", "payment_intent.succeeded", "", "2022-11-15")
		big := eventJSON("evt_big", "payment_intent.succeeded", "", APIVersion)
		big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("x", 5<<10)+`"}`)...)

		tests := []struct {
			name   string
			method string
			body   []byte
			sig    string
			status int
			reason string
		}{
			{"bad signature", "POST", body, fmt.Sprintf("t=%d,v1=%064x", now.Unix(), 7), 400, "invalid signature"},
			{"no signature", "POST", body, "", 400, "invalid signature"},
			{"301 s old", "POST", body, sign(body, testSecret, now.Add(-301*time.Second)), 400, "timestamp outside the tolerance"},
			{"changed after signing", "POST", changed, sign(body, testSecret, now), 400, "invalid signature"},
			{"wrong secret", "POST", body, sign(body, "whsec_other", now), 400, "invalid signature"},
			{"other API version", "POST", otherVersion, sign(otherVersion, testSecret, now), 400, "unexpected api_version: expected 2023-10-16"},
			{"not an event", "POST", []byte(`[1,2]`), sign([]byte(`[1,2]`), testSecret, now), 400, "malformed event"},
			{"too large", "POST", big, sign(big, testSecret, now), 413, "body too large"},
			{"GET", "GET", nil, "", 405, "method not allowed"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, f.url+"/webhooks/stripe", bytes.NewReader(tc.body))
				require.NoError(t, err)
				if tc.sig != "" {
					req.Header.Set("Stripe-Signature", tc.sig)
				}
				res, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer res.Body.Close()
				var out map[string]string
				require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
				require.Equal(t, tc.status, res.StatusCode, out)
				require.Equal(t, tc.reason, out["error"])
			})
		}
		require.Zero(t, f.count(t), "nothing stored")
		require.Zero(t, f.callsOf("evt_bad")+f.callsOf("evt_big"), "handler not called")
	})
}

func TestWebhookEndpointWithoutSecret(t *testing.T) {
	f := newHookFixture(t, dbtest.SQLite, func(c *WebhookConfig) { c.ConnectSecret = "" })
	body := eventJSON("evt_x", "account.updated", "acct_1", APIVersion)
	s, a := f.post(t, "/webhooks/stripe/connect", body, sign(body, testConnectSecret, f.clock.Now()))
	require.Equal(t, http.StatusServiceUnavailable, s, a)
	require.Zero(t, f.count(t))
}

func TestWebhookFailureIsRetried(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, nil)
		f.setHandler(func(_ context.Context, _ stripe.Event, call int) error {
			if call == 1 {
				return errors.New("order service down")
			}
			return nil
		})
		s, a := f.deliver(t, "evt_fail")
		require.Equal(t, http.StatusInternalServerError, s, a)
		require.Equal(t, "processing failed", a["error"])
		r := f.row(t, "evt_fail")
		require.Equal(t, webhookevent.StatusFAILED, r.Status)
		require.Equal(t, 1, r.Attempts)
		require.Equal(t, "order service down", r.LastError)
		require.NotNil(t, r.NextAttemptAt)
		require.WithinDuration(t, f.clock.Now().Add(30*time.Second), *r.NextAttemptAt, time.Millisecond)
		require.Nil(t, r.ProcessedAt)

		// Not due yet: neither a retry pass nor a redelivery runs it.
		n, err := f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
		s, a = f.deliver(t, "evt_fail")
		require.Equal(t, http.StatusInternalServerError, s, a)
		require.Equal(t, "processing failed; retry scheduled", a["error"])
		require.Equal(t, 1, f.callsOf("evt_fail"))

		f.clock.Add(31 * time.Second)
		n, err = f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, 2, f.callsOf("evt_fail"))
		r = f.row(t, "evt_fail")
		require.Equal(t, webhookevent.StatusPROCESSED, r.Status)
		require.Equal(t, 2, r.Attempts)
		require.Empty(t, r.LastError)

		n, err = f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
		s, a = f.deliver(t, "evt_fail")
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, 2, f.callsOf("evt_fail"))
	})
}

func TestWebhookRedeliveryRunsADueFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, nil)
		f.setHandler(func(_ context.Context, _ stripe.Event, call int) error {
			if call == 1 {
				panic("boom")
			}
			return nil
		})
		s, _ := f.deliver(t, "evt_panic")
		require.Equal(t, http.StatusInternalServerError, s)
		r := f.row(t, "evt_panic")
		require.Equal(t, webhookevent.StatusFAILED, r.Status)
		require.Contains(t, r.LastError, "panicked: boom")

		f.clock.Add(time.Minute) // Stripe's retry comes after ours is due
		s, a := f.deliver(t, "evt_panic")
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, "processed", a["status"])
		require.Equal(t, 2, f.callsOf("evt_panic"))
	})
}

func TestWebhookBackoffAndMaxAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, func(c *WebhookConfig) { c.MaxAttempts = 4; c.RetryMax = 100 * time.Second })
		f.setHandler(func(context.Context, stripe.Event, int) error { return errors.New("still down") })
		s, _ := f.deliver(t, "evt_down")
		require.Equal(t, http.StatusInternalServerError, s)
		// 30s, 60s, then capped at 100s.
		for _, wait := range []time.Duration{30 * time.Second, 60 * time.Second, 100 * time.Second} {
			r := f.row(t, "evt_down")
			require.WithinDuration(t, f.clock.Now().Add(wait), *r.NextAttemptAt, time.Millisecond, "attempt %d", r.Attempts)
			f.clock.Add(wait)
			n, err := f.hooks.RetryFailed(context.Background())
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
		require.Equal(t, 4, f.callsOf("evt_down"))
		f.clock.Add(time.Hour)
		n, err := f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "MaxAttempts reached")
		r := f.row(t, "evt_down")
		require.Equal(t, webhookevent.StatusFAILED, r.Status)
		require.Equal(t, 4, r.Attempts)

		// Stripe's own redelivery (or a resend from its dashboard) may still
		// run it.
		f.setHandler(nil)
		s, a := f.deliver(t, "evt_down")
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, webhookevent.StatusPROCESSED, f.row(t, "evt_down").Status)
	})
}

func TestWebhookIgnored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, nil)
		f.setHandler(func(context.Context, stripe.Event, int) error {
			return fmt.Errorf("%w: no merchant has account acct_x", ErrIgnore)
		})
		s, a := f.deliver(t, "evt_ign")
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, "ignored", a["status"])
		r := f.row(t, "evt_ign")
		require.Equal(t, webhookevent.StatusIGNORED, r.Status)
		require.Contains(t, r.LastError, "no merchant has account acct_x")
		require.NotNil(t, r.ProcessedAt)
		f.clock.Add(24 * time.Hour)
		n, err := f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
		s, a = f.deliver(t, "evt_ign")
		require.Equal(t, http.StatusOK, s, a)
		require.Equal(t, "duplicate", a["status"])
		require.Equal(t, 1, f.callsOf("evt_ign"))
	})
}

// storeStale writes an event as a process that died left it.
func (f *hookFixture) storeStale(t *testing.T, id string, status webhookevent.Status, attempts int, next time.Time) {
	t.Helper()
	payload := map[string]any{}
	require.NoError(t, json.Unmarshal(eventJSON(id, "payment_intent.succeeded", "", APIVersion), &payload))
	_, err := f.client.WebhookEvent.Create().SetEventID(id).SetType("payment_intent.succeeded").
		SetAPIVersion(APIVersion).SetPayload(payload).SetStatus(status).SetAttempts(attempts).
		SetReceivedAt(f.clock.Now().UTC()).SetNextAttemptAt(next.UTC()).Save(sys())
	require.NoError(t, err)
}

func TestWebhookExpiredClaimIsTakenAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		for _, via := range []string{"redelivery", "retry"} {
			t.Run(via, func(t *testing.T) {
				f := newHookFixture(t, b, nil)
				var got stripe.Event
				f.setHandler(func(_ context.Context, ev stripe.Event, _ int) error { got = ev; return nil })
				id := "evt_stale_" + via
				// Claimed by a process that died: its lease runs for 2 minutes.
				f.storeStale(t, id, webhookevent.StatusPROCESSING, 1, f.clock.Now().Add(lease))

				s, a := f.deliver(t, id)
				require.Equal(t, http.StatusOK, s, a)
				require.Equal(t, "duplicate", a["status"], "the claim still holds")
				n, err := f.hooks.RetryFailed(context.Background())
				require.NoError(t, err)
				require.Zero(t, n)
				require.Zero(t, f.callsOf(id))

				f.clock.Add(lease + time.Second)
				if via == "redelivery" {
					s, a = f.deliver(t, id)
					require.Equal(t, http.StatusOK, s, a)
					require.Equal(t, "processed", a["status"])
				} else {
					n, err = f.hooks.RetryFailed(context.Background())
					require.NoError(t, err)
					require.Equal(t, 1, n)
					// The event was rebuilt from the stored payload.
					require.Equal(t, id, got.ID)
					require.Equal(t, "pi_3Test", got.Data.Object["id"])
					require.EqualValues(t, 12345, got.Data.Object["amount"])
				}
				require.Equal(t, 1, f.callsOf(id))
				r := f.row(t, id)
				require.Equal(t, webhookevent.StatusPROCESSED, r.Status)
				require.Equal(t, 2, r.Attempts)
			})
		}
	})
}

func TestWebhookOrphansAreRecovered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, func(c *WebhookConfig) { c.MaxAttempts = 3 })
		// Stored, then the process died before claiming it.
		f.storeStale(t, "evt_orphan", webhookevent.StatusRECEIVED, 0, f.clock.Now().Add(-time.Second))
		// Its last attempt's claim ran out: nothing is left to retry.
		f.storeStale(t, "evt_last", webhookevent.StatusPROCESSING, 3, f.clock.Now().Add(-time.Second))

		n, err := f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, webhookevent.StatusPROCESSED, f.row(t, "evt_orphan").Status)
		require.Zero(t, f.callsOf("evt_last"))
		r := f.row(t, "evt_last")
		require.Equal(t, webhookevent.StatusFAILED, r.Status)
		require.Equal(t, "the claim of the last attempt expired", r.LastError)
	})
}

// A processor whose claim expired and was taken over cannot overwrite the
// outcome of the one that took it.
func TestWebhookLateOutcomeIsDropped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b dbtest.Backend) {
		f := newHookFixture(t, b, nil)
		started, release := make(chan struct{}), make(chan struct{})
		f.setHandler(func(_ context.Context, _ stripe.Event, call int) error {
			if call == 1 {
				close(started)
				<-release
				return errors.New("too late anyway")
			}
			return nil
		})
		done := make(chan int, 1)
		body := eventJSON("evt_slow", "payment_intent.succeeded", "", APIVersion)
		sig := sign(body, testSecret, f.clock.Now())
		go func() {
			s, _, _ := f.postErr("/webhooks/stripe", body, sig)
			done <- s
		}()
		<-started
		f.clock.Add(lease + time.Second)
		n, err := f.hooks.RetryFailed(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		close(release)
		require.Equal(t, http.StatusInternalServerError, <-done)

		r := f.row(t, "evt_slow")
		require.Equal(t, webhookevent.StatusPROCESSED, r.Status, "the late failure was not recorded")
		require.Equal(t, 2, r.Attempts)
		require.Empty(t, r.LastError)
	})
}

func TestWebhookRun(t *testing.T) {
	f := newHookFixture(t, dbtest.SQLite, nil)
	f.storeStale(t, "evt_run", webhookevent.StatusFAILED, 1, f.clock.Now().Add(-time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { f.hooks.Run(ctx, 10*time.Millisecond); close(stopped) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.callsOf("evt_run") == 0 {
		require.True(t, time.Now().Before(deadline), "Run did not retry the event")
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	require.Equal(t, webhookevent.StatusPROCESSED, f.row(t, "evt_run").Status)
}

func TestBackoff(t *testing.T) {
	w := NewWebhooks(&ent.Client{}, EventHandlerFunc(func(context.Context, stripe.Event) error { return nil }),
		WebhookConfig{RetryBase: time.Second, RetryMax: 10 * time.Second})
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		require.Equal(t, want, w.backoff(attempt), "attempt %d", attempt)
	}
	require.Equal(t, "a"+strings.Repeat("é", 999), clip("a"+strings.Repeat("é", 1000)), "clipped on a rune boundary")
	require.Len(t, clip(strings.Repeat("a", 3000)), 2000)
}

package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// quiet is the logger of the tests: warnings of expected outages only.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitUntil polls cond until it holds or timeout passes, then fails with msg.
func waitUntil(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testDB is an open test database with two merchants, A and B.
type testDB struct {
	*db.DB
	a, b uuid.UUID
}

// openDB returns a migrated database of backend b with two merchants.
func openDB(t *testing.T, b dbtest.Backend) *testDB {
	t.Helper()
	d := dbtest.Open(t, b)
	sys := viewer.SystemContext(context.Background(), "test seed")
	td := &testDB{DB: d}
	for i, id := range []*uuid.UUID{&td.a, &td.b} {
		slug := fmt.Sprintf("m%d-%s", i, randomHex(3))
		m, err := d.Client.MerchantAccount.Create().SetName(slug).SetSlug(slug).Save(sys)
		require.NoError(t, err)
		*id = m.ID
	}
	return td
}

// tenant returns the context of a staff member of merchant m: writers write
// events on the tenant path, fenced like a request.
func tenant(m uuid.UUID) context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m, UserID: uuid.New()})
}

// write commits msgs for merchant m in one transaction of c.
func write(t testing.TB, c *ent.Client, m uuid.UUID, msgs ...Message) []Event {
	t.Helper()
	ctx := tenant(m)
	var out []Event
	err := db.InTx(ctx, c, func(tx *ent.Client) error {
		for _, msg := range msgs {
			e, err := Write(ctx, tx, uuid.Nil, msg)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Errorf("write events: %v", err)
	}
	return out
}

// progress is a test message of aggregate "campaign n": Sent counts up.
func progress(campaign uuid.UUID, n int) Message {
	return CampaignProgress{CampaignID: campaign, Status: "SENDING", Sent: n}
}

// recorder is a Durable that records what is appended, with a sequence
// number shared by every recorder of a test (the order across relays).
type recorder struct {
	seq  *atomic.Int64
	mu   sync.Mutex
	got  []appended
	fail func(e Event) error
}

type appended struct {
	Event
	seq int64
}

func newRecorder(seq *atomic.Int64) *recorder {
	if seq == nil {
		seq = &atomic.Int64{}
	}
	return &recorder{seq: seq}
}

func (r *recorder) Append(_ context.Context, batch []Event) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := make([]error, len(batch))
	for i, e := range batch {
		if r.fail != nil {
			if errs[i] = r.fail(e); errs[i] != nil {
				continue
			}
		}
		r.got = append(r.got, appended{Event: e, seq: r.seq.Add(1)})
	}
	return errs
}

func (r *recorder) Consume(context.Context, string, Handler) error { return nil }
func (r *recorder) Close() error                                   { return nil }

func (r *recorder) events() []appended {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]appended(nil), r.got...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// startRelay starts a relay over c and closes it when the test ends (or
// earlier, through the returned stop).
func startRelay(t *testing.T, cfg RelayConfig) (*Relay, func()) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quiet
	}
	if cfg.Sweep == 0 {
		cfg.Sweep = 50 * time.Millisecond
	}
	r := NewRelay(cfg)
	r.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, r.Close(ctx))
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// requireAggregateOrder checks that, for every aggregate, the events of got
// come in the order of written.
func requireAggregateOrder(t *testing.T, written []Event, got []Event) {
	t.Helper()
	pos := make(map[uuid.UUID]int, len(written))
	for i, e := range written {
		pos[e.ID] = i
	}
	last := map[string]int{}
	for _, e := range got {
		p, ok := pos[e.ID]
		require.True(t, ok, "an event that was not written: %s", e.ID)
		key := e.AggregateType + "/" + e.AggregateID
		if prev, seen := last[key]; seen {
			require.Greater(t, p, prev, "aggregate %s: event %s delivered after a later one", key, e.ID)
		}
		last[key] = p
	}
}

// testRedis returns a client of TEST_REDIS_URL and a key prefix of the test's
// own (its keys are deleted at the end), or skips.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		t.Skip("TEST_REDIS_URL is not set: skipping the Redis run")
	}
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	require.NoError(t, c.Ping(context.Background()).Err(), "TEST_REDIS_URL is set but Redis does not answer")
	prefix := "test:events:" + randomHex(6) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redisServer is a private redis-server without persistence, which a test
// kills and restarts on the same port.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

// startRedisServer starts a private redis-server, or skips the test when
// there is none (it runs only where TEST_REDIS_URL says Redis is wanted).
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if os.Getenv("TEST_REDIS_URL") == "" {
		t.Skip("TEST_REDIS_URL is not set: skipping the Redis run")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("TEST_REDIS_URL is set but redis-server is not on PATH: the restart test needs its own server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	s := &redisServer{t: t, port: port}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	require.NoError(s.t, s.cmd.Start())
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	waitUntil(s.t, 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	}, "private redis-server on port %d does not answer", s.port)
}

// kill kills the server (SIGKILL: no shutdown, no save) and waits for it.
func (s *redisServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// client returns a client of the private server that gives up quickly while
// it is down.
func (s *redisServer) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: s.addr(), DialTimeout: 200 * time.Millisecond, ReadTimeout: 2 * time.Second,
		WriteTimeout: time.Second, MaxRetries: -1,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// errFlaky is the per-event failure of the recorder in retry tests.
var errFlaky = errors.New("flaky consumer")

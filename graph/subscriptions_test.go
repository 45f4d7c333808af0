package graph

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

type recordedClose struct {
	mu     sync.Mutex
	code   int
	reason string
}

func (c *recordedClose) CloseConnection(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.code, c.reason = code, reason
}

func (c *recordedClose) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// TestLiveSlowClient: a client that takes no events is disconnected with
// CloseSlowConsumer once an event waited SendTimeout; its subscription and
// goroutine end.
func TestLiveSlowClient(t *testing.T) {
	bus := events.NewLocalWith(events.BusOptions{Buffer: 4})
	defer bus.Close()
	r := &Resolver{Bus: bus, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Subscriptions: &Subscriptions{SendTimeout: 100 * time.Millisecond}}
	m := uuid.New()
	closer := &recordedClose{}
	ctx := WithConnectionCloser(viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m, UserID: uuid.New()}), closer)
	out, err := live(ctx, r, "", []string{"t"}, func(e events.Event) (events.Event, bool) { return e, true })
	require.NoError(t, err)
	require.Equal(t, 1, r.Subscriptions.Open()[m])
	for range 20 {
		require.NoError(t, bus.Publish(context.Background(), events.Event{ID: uuid.New(), MerchantID: m, Topic: "t"}))
	}
	require.Eventually(t, func() bool { return closer.get() == CloseSlowConsumer }, 5*time.Second, 5*time.Millisecond)
	// The channel drains what was taken and closes.
	for range out {
	}
	require.Eventually(t, func() bool { return r.Subscriptions.Open()[m] == 0 }, 5*time.Second, 5*time.Millisecond)
}

// TestLiveOtherMerchantsAndExpiry: events of another store never pass; an
// expired token closes with CloseForbidden without delivering.
func TestLiveOtherMerchantsAndExpiry(t *testing.T) {
	bus := events.NewLocal()
	defer bus.Close()
	r := &Resolver{Bus: bus, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Subscriptions: &Subscriptions{}}
	m, other := uuid.New(), uuid.New()
	closer := &recordedClose{}
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m, UserID: uuid.New()})
	ctx = WithConnectionCloser(WithCredentials(ctx, Credentials{ExpiresAt: time.Now().Add(300 * time.Millisecond)}), closer)
	out, err := live(ctx, r, "", nil, func(e events.Event) (string, bool) { return e.Topic, true })
	require.NoError(t, err)
	require.NoError(t, bus.Publish(context.Background(), events.Event{ID: uuid.New(), MerchantID: other, Topic: "theirs"}))
	require.NoError(t, bus.Publish(context.Background(), events.Event{ID: uuid.New(), MerchantID: m, Topic: "mine"}))
	require.Equal(t, "mine", <-out)
	time.Sleep(400 * time.Millisecond)
	_ = bus.Publish(context.Background(), events.Event{ID: uuid.New(), MerchantID: m, Topic: "late"})
	for got := range out {
		t.Fatalf("delivered after expiry: %s", got)
	}
	require.Equal(t, CloseForbidden, closer.get())
}

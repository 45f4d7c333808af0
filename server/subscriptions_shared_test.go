package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/server"
)

// wsClient is one graphql-transport-ws connection that may hold several
// subscriptions; what the server sends (but pings and pongs) arrives on
// msgs.
type wsClient struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan wsMessage
	err  chan error
}

func wsConnect(t *testing.T, srv *httptest.Server, init map[string]any) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsDial(t, ctx, srv, "")
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	wsWrite(t, ctx, c, map[string]any{"type": "connection_init", "payload": init})
	m, err := wsRead(ctx, c)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m.Type, "payload %s", m.Payload)
	w := &wsClient{t: t, c: c, msgs: make(chan wsMessage, 1024), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.err <- err
				close(w.msgs)
				return
			}
			var m wsMessage
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "ping":
				_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			case "pong":
			default:
				w.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return w
}

func (w *wsClient) send(m map[string]any) {
	w.t.Helper()
	wsWrite(w.t, context.Background(), w.c, m)
}

func (w *wsClient) subscribe(id, query string) {
	w.t.Helper()
	w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}})
}

// collect gathers messages until n arrived (or d passed), by id.
func (w *wsClient) collect(n int, d time.Duration) map[string][]wsMessage {
	w.t.Helper()
	out := map[string][]wsMessage{}
	deadline := time.After(d)
	for got := 0; got < n; got++ {
		select {
		case m, ok := <-w.msgs:
			require.True(w.t, ok, "the connection ended: %v", out)
			out[m.ID] = append(out[m.ID], m)
		case <-deadline:
			w.t.Fatalf("%d of %d messages: %v", got, n, out)
		}
	}
	return out
}

// quiet fails if a message arrives within d.
func (w *wsClient) quiet(d time.Duration) {
	w.t.Helper()
	select {
	case m := <-w.msgs:
		w.t.Fatalf("unexpected %s for %q: %s", m.Type, m.ID, m.Payload)
	case <-time.After(d):
	}
}

func sharedGroups(s *server.Server) [2]int {
	g, m := s.Subscriptions.SharedGroups()
	return [2]int{g, m}
}

// TestSharedSubscriptionsOneConnection: several subscriptions sent back to
// back on one connection each get their own id; identical ones share a
// rendering, a query sent as a subscription and an invalid one are
// answered without holding the connection up; complete leaves the group.
func TestSharedSubscriptionsOneConnection(t *testing.T) {
	e := newIDEnv(t, dbtest.SQLite, nil)
	srv := httptest.NewServer(e.s.Handler)
	t.Cleanup(srv.Close)
	acme := e.register(t, "acme")
	m := merchantOf(acme)

	w := wsConnect(t, srv, staffInit(acme))
	start := time.Now()
	w.subscribe("a", alertsSub)
	w.subscribe("q", `{ __typename }`)
	w.subscribe("b", alertsSub)
	w.subscribe("bad", `subscription { noSuchField }`)
	w.subscribe("c", `subscription { inventoryAlerts { sku } }`)
	answers := w.collect(4, 5*time.Second) // q and bad: next or error, and complete
	for id, want := range map[string][]string{"q": {"next", "complete"}, "bad": {"error", "complete"}} {
		var types []string
		for _, m := range answers[id] {
			types = append(types, m.Type)
		}
		require.Equal(t, want, types, id)
	}
	waitSubscribed(t, e.s, m, 3)
	require.Less(t, time.Since(start), 1500*time.Millisecond, "no claim waited out")
	require.Equal(t, [2]int{2, 3}, sharedGroups(e.s))

	emit(t, e.s, m, lowStock("X"))
	got := w.collect(3, 5*time.Second)
	for _, id := range []string{"a", "b", "c"} {
		require.Len(t, got[id], 1, id)
		require.Equal(t, "X", eventSKU(t, got[id][0]), id)
	}
	require.Equal(t, dataOf(t, got["a"][0]), dataOf(t, got["b"][0]))
	require.JSONEq(t, `{"inventoryAlerts":{"sku":"X"}}`, dataOf(t, got["c"][0]))

	w.send(map[string]any{"id": "a", "type": "complete"})
	waitSubscribed(t, e.s, m, 2)
	require.Equal(t, [2]int{2, 2}, sharedGroups(e.s))
	emit(t, e.s, m, lowStock("Y"))
	got = w.collect(3, 5*time.Second) // gqlgen also completes "a"
	require.Len(t, got["a"], 1)
	require.Equal(t, "complete", got["a"][0].Type)
	require.Len(t, got["b"], 1)
	require.Len(t, got["c"], 1)
	w.quiet(100 * time.Millisecond)

	// Still sharing: a later subscription joins its group.
	w.subscribe("d", alertsSub)
	waitSubscribed(t, e.s, m, 3)
	require.Equal(t, [2]int{2, 3}, sharedGroups(e.s))
}

// TestSharedSubscriptionPayload: a shared subscription's next message
// carries what an unshared one (server-sent events) does: the same data,
// and its own extensions.cost.
func TestSharedSubscriptionPayload(t *testing.T) {
	e := newIDEnv(t, dbtest.SQLite, nil)
	srv := httptest.NewServer(e.s.Handler)
	t.Cleanup(srv.Close)
	acme := e.register(t, "acme")
	m := merchantOf(acme)
	const q = `subscription { inventoryAlerts { eventId occurredAt variantId sku quantityAvailable quantityOnHand threshold } }`

	w := wsConnect(t, srv, staffInit(acme))
	w.subscribe("1", q)
	waitSubscribed(t, e.s, m, 1)
	body, err := json.Marshal(map[string]any{"query": q})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+acme.MerchantRegister.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitSubscribed(t, e.s, m, 2)
	require.Equal(t, [2]int{1, 1}, sharedGroups(e.s), "server-sent events run unshared")

	emit(t, e.s, m, lowStock("SAME"))
	shared := w.collect(1, 5*time.Second)["1"][0]
	lines := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(5*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	var unshared string
	for lines.Scan() {
		if d, ok := strings.CutPrefix(lines.Text(), "data: "); ok && strings.Contains(d, "inventoryAlerts") {
			unshared = d
			break
		}
	}
	require.NotEmpty(t, unshared)

	type payload struct {
		Data       json.RawMessage
		Errors     []any
		Extensions struct {
			Cost map[string]any
		}
	}
	var a, b payload
	require.NoError(t, json.Unmarshal(shared.Payload, &a), "%s", shared.Payload)
	require.NoError(t, json.Unmarshal([]byte(unshared), &b))
	require.Equal(t, string(b.Data), string(a.Data), "the same bytes of data")
	require.Empty(t, a.Errors)
	require.Equal(t, b.Extensions.Cost["requestedQueryCost"], a.Extensions.Cost["requestedQueryCost"])
	require.Equal(t, b.Extensions.Cost["actualQueryCost"], a.Extensions.Cost["actualQueryCost"])
	require.NotNil(t, a.Extensions.Cost["throttleStatus"], "%s", shared.Payload)
	require.True(t, json.Valid(shared.Payload))
}

// TestSharedSubscriptionRevoked: of two keys sharing a group, the revoked
// one is closed with 4403 before the next event; the other key and the
// store's staff (another group) keep receiving.
func TestSharedSubscriptionRevoked(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newIDEnv(t, b, nil)
			srv := httptest.NewServer(e.s.Handler)
			t.Cleanup(srv.Close)
			acme := e.register(t, "acme")
			m := merchantOf(acme)
			staff := bearer(acme.MerchantRegister.AccessToken)
			key := func(name string) (id, secret string) {
				r := e.do(t, `mutation($n: String!) { apiKeyCreate(input: {name: $n, permissions: ["products:read"]}) { apiKey { id } secret } }`,
					map[string]any{"n": name}, staff...)
				require.Empty(t, r.Errors, r.Body)
				var k struct {
					APIKeyCreate struct {
						APIKey struct{ ID string }
						Secret string
					}
				}
				r.decode(t, &k)
				return k.APIKeyCreate.APIKey.ID, k.APIKeyCreate.Secret
			}
			revokedID, revokedSecret := key("revoked")
			_, keptSecret := key("kept")
			revoked := subscribeWS(t, srv, map[string]any{"authorization": "Bearer " + revokedSecret}, alertsSub, nil)
			kept := subscribeWS(t, srv, map[string]any{"authorization": "Bearer " + keptSecret}, alertsSub, nil)
			owner := subscribeWS(t, srv, staffInit(acme), alertsSub, nil)
			waitSubscribed(t, e.s, m, 3)
			require.Equal(t, [2]int{2, 3}, sharedGroups(e.s), "the keys share; staff is another class")

			r := e.do(t, `mutation($id: ID!) { apiKeyRevoke(input: {id: $id}) { userErrors { code } } }`, map[string]any{"id": revokedID}, staff...)
			require.Empty(t, r.Errors, r.Body)
			emit(t, e.s, m, lowStock("AFTER"))
			require.Equal(t, websocket.StatusCode(4403), revoked.closed(5*time.Second))
			for _, s := range []*liveSub{kept, owner} {
				msg, ok := s.next(5 * time.Second)
				require.True(t, ok)
				require.Equal(t, "AFTER", eventSKU(t, msg))
			}
			waitSubscribed(t, e.s, m, 2)
			require.Equal(t, [2]int{2, 2}, sharedGroups(e.s))
			emit(t, e.s, m, lowStock("LATER"))
			msg, ok := kept.next(5 * time.Second)
			require.True(t, ok)
			require.Equal(t, "LATER", eventSKU(t, msg))
		})
	}
}

// TestSharedSubscriptionCleanup: unsubscribing and disconnecting members of
// shared groups ends their goroutines and, with the last, the groups'.
func TestSharedSubscriptionCleanup(t *testing.T) {
	e := newIDEnv(t, dbtest.SQLite, nil)
	srv := httptest.NewServer(e.s.Handler)
	t.Cleanup(srv.Close)
	acme := e.register(t, "acme")
	m := merchantOf(acme)
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	var clients []*wsClient
	for i := range 10 {
		w := wsConnect(t, srv, staffInit(acme))
		w.subscribe("1", alertsSub)
		w.subscribe("2", fmt.Sprintf(`subscription S%d { inventoryAlerts { sku } }`, i%2))
		clients = append(clients, w)
	}
	waitSubscribed(t, e.s, m, 20)
	require.Equal(t, [2]int{3, 20}, sharedGroups(e.s))
	emit(t, e.s, m, lowStock("ALL"))
	for _, w := range clients {
		got := w.collect(2, 5*time.Second)
		require.Len(t, got["1"], 1)
		require.Len(t, got["2"], 1)
	}
	for _, w := range clients[:5] {
		w.send(map[string]any{"id": "2", "type": "complete"})
	}
	waitSubscribed(t, e.s, m, 15)
	for _, w := range clients {
		w.c.CloseNow()
	}
	waitSubscribed(t, e.s, m, 0)
	require.Eventually(t, func() bool { return sharedGroups(e.s) == [2]int{0, 0} }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseline+2 }, 5*time.Second, 20*time.Millisecond,
		"goroutines: %d, before the subscriptions %d", runtime.NumGoroutine(), baseline)
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"github.com/omnisphere/omnisphere/graph"
)

// The WebSocket connection under gqlgen's graphql-transport-ws transport,
// and shared subscriptions on it (docs/subscriptions.md, "Fan-out").
//
// wsConn is gqlgen's coder/websocket adapter (transport.
// CoderWebsocketImplementation), whose behaviour it keeps, plus two things
// a subscription needs to take events rendered once for its group
// (graph.SharedConn): the raw connection, to write a rendered event with
// the subscription's id and no second encoding; and that id, which gqlgen
// does not tell its resolver. The id is the claim: when the connection
// reads a subscribe message it notes the id as pending, and it reads the
// next message only once that subscription's resolver claimed it (gqlgen
// starts the resolver on a goroutine of its own), or gqlgen answered the id
// itself (a validation error, a query sent as a subscription), or after
// claimWait, which turns sharing off for the connection. So a resolver
// that claims finds the id of its own subscribe message.

// claimWait bounds how long a connection holds its next message for the
// claim of the subscription it just read.
const claimWait = 2 * time.Second

// wsConn implements transport.WebsocketConn (with the read limit and read
// deadline extensions) over coder/websocket.
type wsConn struct {
	conn   *websocket.Conn
	ctl    *wsControl // nil: no close codes, no sharing
	closed chan struct{}
	once   sync.Once

	mu                sync.Mutex
	readDeadlineTimer *time.Timer
	closeHandshakeCh  chan struct{}
}

var (
	_ transport.WebsocketConn          = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter   = (*wsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*wsConn)(nil)
	_ graph.SharedConn                 = (*wsControl)(nil)
)

// acceptWS accepts r as a WebSocket connection like gqlgen's coder
// adapter does.
func acceptWS(impl transport.CoderWebsocketImplementation, w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (*wsConn, error) {
	for key, values := range o.ResponseHeader {
		for _, v := range values {
			w.Header().Add(key, v)
		}
	}
	opts := impl.AcceptOptions
	opts.Subprotocols = slices.Clone(opts.Subprotocols)
	for _, p := range o.Subprotocols {
		if !slices.Contains(opts.Subprotocols, p) {
			opts.Subprotocols = append(opts.Subprotocols, p)
		}
	}
	conn, err := websocket.Accept(w, r, &opts)
	if err != nil {
		return nil, err
	}
	c := &wsConn{conn: conn, ctl: wsControlFrom(r.Context()), closed: make(chan struct{})}
	if c.ctl != nil && conn.Subprotocol() == "graphql-transport-ws" {
		c.ctl.mu.Lock()
		c.ctl.conn = c
		c.ctl.mu.Unlock()
	}
	return c, nil
}

func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

// NextReader returns the next message, once the subscription the previous
// one started (if any) claimed its id.
func (c *wsConn) NextReader() (int, io.Reader, error) {
	if c.ctl != nil {
		c.ctl.awaitClaim(c.closed)
	}
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	if c.ctl != nil && typ == websocket.MessageText {
		c.ctl.noteSubscribe(data)
	}
	return int(typ), bytes.NewReader(data), nil
}

// WriteJSON writes one message of gqlgen's transport.
func (c *wsConn) WriteJSON(v any) error {
	if c.ctl != nil {
		c.ctl.noteAnswer(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.conn.Write(context.Background(), websocket.MessageText, data)
}

// WriteClose starts the close handshake with the code a subscription chose
// (graph.ConnectionCloser), else code. Like gqlgen's adapter it does not
// wait for the peer's close frame.
func (c *wsConn) WriteClose(code int, message string) error {
	c.clearReadDeadlineTimer()
	if c.ctl != nil {
		c.ctl.mu.Lock()
		if c.ctl.code != 0 {
			code, message = c.ctl.code, c.ctl.reason
		}
		c.ctl.mu.Unlock()
	}
	c.mu.Lock()
	if c.closeHandshakeCh != nil {
		c.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	c.closeHandshakeCh = done
	c.mu.Unlock()
	c.markClosed()
	go func() {
		defer close(done)
		_ = c.conn.Close(websocket.StatusCode(code), message)
	}()
	return nil
}

// Close closes the connection, unless WriteClose's handshake owns that.
func (c *wsConn) Close() error {
	c.clearReadDeadlineTimer()
	c.markClosed()
	c.mu.Lock()
	handshake := c.closeHandshakeCh != nil
	c.mu.Unlock()
	if handshake {
		return nil
	}
	return c.conn.CloseNow()
}

func (c *wsConn) markClosed() { c.once.Do(func() { close(c.closed) }) }

// SetReadLimit implements transport.WebsocketReadLimiter.
func (c *wsConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

// SetReadDeadline implements transport.WebsocketReadDeadliner (the
// ping/pong timeout): past the deadline the connection is closed.
func (c *wsConn) SetReadDeadline(deadline time.Time) error {
	closeNow := false
	c.mu.Lock()
	c.stopReadDeadlineTimerLocked()
	if !deadline.IsZero() {
		if d := time.Until(deadline); d <= 0 {
			closeNow = true
		} else {
			c.readDeadlineTimer = time.AfterFunc(d, func() { _ = c.conn.CloseNow() })
		}
	}
	c.mu.Unlock()
	if closeNow {
		return c.conn.CloseNow()
	}
	return nil
}

func (c *wsConn) clearReadDeadlineTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopReadDeadlineTimerLocked()
}

func (c *wsConn) stopReadDeadlineTimerLocked() {
	if c.readDeadlineTimer != nil {
		c.readDeadlineTimer.Stop()
		c.readDeadlineTimer = nil
	}
}

// noteSubscribe marks the id of a subscribe message as pending.
func (c *wsControl) noteSubscribe(data []byte) {
	if !bytes.Contains(data, []byte(`"subscribe"`)) {
		return
	}
	var m struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type != "subscribe" || m.ID == "" {
		return
	}
	c.mu.Lock()
	if c.conn != nil && !c.noSharing {
		c.pendingID, c.pendingDone = m.ID, make(chan struct{})
	}
	c.mu.Unlock()
}

// noteAnswer settles the pending id when gqlgen writes a message for it
// (no resolver will claim it then).
func (c *wsControl) noteAnswer(v any) {
	c.mu.Lock()
	pending := c.pendingID
	c.mu.Unlock()
	if pending == "" {
		return
	}
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return
	}
	if f := rv.FieldByName("ID"); f.IsValid() && f.Kind() == reflect.String && f.String() == pending {
		c.settle(pending)
	}
}

// settle ends the wait for id, returning whether it was pending.
func (c *wsControl) settle(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pendingDone == nil || c.pendingID != id {
		return false
	}
	close(c.pendingDone)
	c.pendingID, c.pendingDone = "", nil
	return true
}

// awaitClaim waits until the pending id (if any) is settled, for at most
// claimWait; past that the connection shares nothing more.
func (c *wsControl) awaitClaim(closed <-chan struct{}) {
	c.mu.Lock()
	id, done := c.pendingID, c.pendingDone
	c.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(claimWait)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-closed:
	case <-t.C:
	}
	if c.settle(id) {
		c.mu.Lock()
		c.noSharing = true
		c.mu.Unlock()
	}
}

// ClaimSubscription implements graph.SharedConn.
func (c *wsControl) ClaimSubscription(ctx context.Context) (graph.SharedSender, bool) {
	c.mu.Lock()
	id, conn := c.pendingID, c.conn
	c.mu.Unlock()
	if id == "" || !c.settle(id) {
		return nil, false
	}
	quoted, err := json.Marshal(id)
	if err != nil {
		return nil, false
	}
	return &wsSender{conn: conn, id: quoted, cost: costStateOf(ctx)}, true
}

// wsSender writes one shared subscription's next messages: the rendered
// event, with the subscription's id and its own extensions.cost.
type wsSender struct {
	conn     *wsConn
	id       []byte     // JSON string
	cost     *costState // nil without the limiter
	timer    *time.Timer
	timedOut atomic.Bool
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Send implements graph.SharedSender.
func (s *wsSender) Send(r *graph.Rendering, timeout time.Duration) error {
	bp := framePool.Get().(*[]byte)
	b := s.appendNext((*bp)[:0], r)
	if s.timer == nil {
		s.timer = time.AfterFunc(timeout, s.expire)
	} else {
		s.timer.Reset(timeout)
	}
	err := s.conn.conn.Write(context.Background(), websocket.MessageText, b)
	stopped := s.timer.Stop()
	if cap(b) <= 64<<10 {
		*bp = b
		framePool.Put(bp)
	}
	if !stopped && s.timedOut.Load() {
		return graph.ErrSendTimeout
	}
	return err
}

// expire cuts off a client that did not take an event in time: closing
// the connection ends the write that waits for it.
func (s *wsSender) expire() {
	s.timedOut.Store(true)
	_ = s.conn.conn.CloseNow()
}

// appendNext appends the next message of r, in the shape gqlgen's
// transport writes: {"payload":{"errors":…,"data":…,"extensions":…},"id":…,"type":"next"}.
func (s *wsSender) appendNext(b []byte, r *graph.Rendering) []byte {
	b = append(b, `{"payload":{`...)
	if len(r.Errors) > 0 {
		b = append(b, `"errors":`...)
		b = append(b, r.Errors...)
		b = append(b, ',')
	}
	b = append(b, `"data":`...)
	if len(r.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Data...)
	}
	if s.cost != nil {
		b = append(b, `,"extensions":{"cost":`...)
		b = appendCostOf(b, s.cost, r.At)
		b = append(b, '}')
	}
	b = append(b, `},"id":`...)
	b = append(b, s.id...)
	return append(b, `,"type":"next"}`...)
}

// appendCostOf appends the JSON of st.report() at now, without the two
// allocations of report (this runs for every delivered event).
// TestAppendCostOf holds it to json.Marshal(st.report()).
func appendCostOf(b []byte, st *costState, now time.Time) []byte {
	b = append(b, `{"requestedQueryCost":`...)
	b = strconv.AppendInt(b, int64(st.requested), 10)
	b = append(b, `,"actualQueryCost":`...)
	if st.executed.Load() {
		b = strconv.AppendInt(b, st.actual.Load(), 10)
	} else {
		b = append(b, "null"...)
	}
	st.mu.Lock()
	d, at := st.decision, st.at
	var avail float64
	if d != nil {
		avail = d.Available
	}
	st.mu.Unlock()
	if d != nil {
		// As report: the bucket has drained since it was looked at.
		avail += now.Sub(at).Seconds() * st.limit.Rate
		b = append(b, `,"throttleStatus":{"maximumAvailable":`...)
		b = strconv.AppendInt(b, int64(int(st.limit.Capacity)), 10)
		b = append(b, `,"currentlyAvailable":`...)
		b = strconv.AppendInt(b, int64(int(math.Floor(math.Min(avail, st.limit.Capacity)))), 10)
		b = append(b, `,"restoreRate":`...)
		b = strconv.AppendInt(b, int64(int(st.limit.Rate)), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

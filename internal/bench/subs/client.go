package main

// The subscribers' side, made cheap because it shares the machine with the
// servers it measures: a minimal graphql-transport-ws client. Each
// subscriber dials, upgrades, sends connection_init and subscribe with the
// standard library, then hands a duplicate of its socket to a reader: a
// goroutine waiting on epoll for many sockets at once, which reads each
// ready socket once (no goroutine wakes per message, no second read that
// finds nothing) and finds occurredAt in a next message by its key, without
// decoding JSON.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// dial opens one subscription of inventoryAlerts on base as tok and
// returns its socket, in non-blocking mode, once the server accepted it.
func dial(base, tok string) (int, error) {
	u, err := url.Parse(base)
	if err != nil {
		return -1, err
	}
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return -1, err
	}
	defer c.Close() // the reader has a duplicate
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(c, "GET /graphql HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
		u.Host, base64.StdEncoding.EncodeToString(key[:]))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return -1, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return -1, fmt.Errorf("upgrade: %s", resp.Status)
	}
	send := func(v any) error {
		b, _ := json.Marshal(v)
		_, err := c.Write(clientFrame(b))
		return err
	}
	if err := send(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + tok}}); err != nil {
		return -1, err
	}
	op, msg, err := readFrame(br)
	if err != nil {
		return -1, err
	}
	if op != 1 || !bytes.Contains(msg, []byte(`"connection_ack"`)) {
		return -1, fmt.Errorf("connection_init: %s", msg)
	}
	if err := send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": "subscription { inventoryAlerts { eventId occurredAt sku quantityAvailable } }"}}); err != nil {
		return -1, err
	}
	if br.Buffered() > 0 {
		return -1, errors.New("the server sent more than the acknowledgement")
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if cerr := raw.Control(func(f uintptr) { fd, err = syscall.Dup(int(f)) }); cerr != nil {
		return -1, cerr
	}
	if err != nil {
		return -1, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// clientFrame is a masked text frame of p (a client must mask).
func clientFrame(p []byte) []byte {
	b := []byte{0x81}
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, c := range p {
		b = append(b, c^mask[i%4])
	}
	return b
}

// readFrame reads one unmasked frame (the server's) from r.
func readFrame(r io.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}

// parseFrame parses the frame at the start of b: its opcode, payload and
// length, or ok false when b holds only part of it.
func parseFrame(b []byte) (op byte, payload []byte, size int, ok bool) {
	if len(b) < 2 {
		return 0, nil, 0, false
	}
	n, h := int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, false
		}
		n, h = int(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, false
		}
		n, h = int(binary.BigEndian.Uint64(b[2:10])), 10
	}
	if len(b) < h+n {
		return 0, nil, 0, false
	}
	return b[0] & 0x0f, b[h : h+n], h + n, true
}

// delivery is one event's arrival at one subscriber.
type delivery struct {
	event   int64 // the event's occurredAt (unique per event here)
	latency time.Duration
}

// reader reads the sockets it was given, with one epoll set.
type reader struct {
	ep        int
	measuring atomic.Bool
	done      atomic.Bool
	ended     chan struct{}

	mu      sync.Mutex
	pending map[int][]byte // fd: bytes of a frame not complete yet

	lat    []delivery // the reader's goroutine only, until ended
	errors int64
}

func newReader() (*reader, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &reader{ep: ep, ended: make(chan struct{}), pending: map[int][]byte{}}, nil
}

func (r *reader) add(fd int) error {
	r.mu.Lock()
	r.pending[fd] = nil
	r.mu.Unlock()
	return syscall.EpollCtl(r.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
}

var (
	occurredKey = []byte(`"occurredAt":"`)
	pongFrame   = clientFrame([]byte(`{"type":"pong"}`))
)

// run reads until stop: level-triggered, one read per ready socket per
// wait, so a socket with more to read is reported again.
func (r *reader) run() {
	defer close(r.ended)
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for !r.done.Load() {
		n, err := syscall.EpollWait(r.ep, events, 100)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			r.errors++
			return
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			m, err := syscall.Read(fd, buf)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || m == 0 {
				r.drop(fd, fmt.Errorf("read: %v (%d bytes)", err, m))
				continue
			}
			r.mu.Lock()
			b := r.pending[fd]
			r.mu.Unlock()
			if len(b) > 0 {
				b = append(b, buf[:m]...)
			} else {
				b = buf[:m]
			}
			for {
				op, payload, size, ok := parseFrame(b)
				if !ok {
					break
				}
				b = b[size:]
				if err := r.message(fd, op, payload); err != nil {
					r.drop(fd, err)
					b = nil
					break
				}
			}
			rest := []byte(nil)
			if len(b) > 0 {
				rest = append([]byte(nil), b...)
			}
			r.mu.Lock()
			if _, open := r.pending[fd]; open {
				r.pending[fd] = rest
			}
			r.mu.Unlock()
		}
	}
}

// message handles one frame of fd.
func (r *reader) message(fd int, op byte, p []byte) error {
	switch op {
	case 1: // text
	case 8:
		return fmt.Errorf("closed by the server: %q", p)
	default:
		return nil
	}
	if i := bytes.Index(p, occurredKey); i >= 0 && !bytes.Contains(p, []byte(`"errors"`)) {
		rest := p[i+len(occurredKey):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			at, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
			if err != nil {
				return fmt.Errorf("occurredAt: %w: %s", err, p)
			}
			if r.measuring.Load() {
				r.lat = append(r.lat, delivery{event: at.UnixNano(), latency: time.Since(at)})
			}
			return nil
		}
	}
	switch {
	case bytes.Contains(p, []byte(`"type":"ping"`)):
		_, err := syscall.Write(fd, pongFrame) // a few bytes: the socket takes them
		return err
	case bytes.Contains(p, []byte(`"type":"pong"`)):
		return nil
	}
	return fmt.Errorf("unexpected: %s", p)
}

func (r *reader) drop(fd int, err error) {
	if !r.done.Load() {
		r.errors++
		fmt.Printf("subs: subscriber: %v\n", err)
	}
	r.mu.Lock()
	delete(r.pending, fd)
	r.mu.Unlock()
	_ = syscall.EpollCtl(r.ep, syscall.EPOLL_CTL_DEL, fd, nil)
	_ = syscall.Close(fd)
}

// stop ends the reader, closes its sockets, and returns what it measured.
func (r *reader) stop() ([]delivery, int64) {
	r.done.Store(true)
	<-r.ended
	r.mu.Lock()
	defer r.mu.Unlock()
	for fd := range r.pending {
		_ = syscall.Close(fd)
	}
	_ = syscall.Close(r.ep)
	return r.lat, r.errors
}

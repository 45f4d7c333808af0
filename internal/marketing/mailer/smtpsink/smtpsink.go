// Package smtpsink is a minimal SMTP server for tests and benchmarks that
// accepts every message and discards it: a sink with no ceiling of its own
// worth measuring, so that a benchmark into it shows the sender's limit
// rather than the server's (mailpit, see mailpittest, stores and indexes
// each message).
//
// It speaks just enough ESMTP for mailer.SMTP: EHLO/HELO, AUTH PLAIN and
// LOGIN (any credentials), MAIL, RCPT, DATA, RSET, NOOP and QUIT, on one
// goroutine per connection. It counts the messages and, per recipient, the
// deliveries.
package smtpsink

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Sink is a running SMTP sink.
type Sink struct {
	ln       net.Listener
	messages atomic.Int64
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	rcpts  map[string]int
	keep   bool
}

// Start runs a sink on a free loopback port for t and stops it when t ends.
// With recipients, it also counts the deliveries per recipient address
// (Recipients); without, it keeps nothing per message.
func Start(t testing.TB, recipients bool) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtpsink: %v", err)
	}
	s := &Sink{ln: ln, conns: map[net.Conn]struct{}{}, rcpts: map[string]int{}, keep: recipients}
	s.wg.Go(s.accept)
	t.Cleanup(s.Close)
	return s
}

// Addr is the sink's SMTP address (host:port).
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Messages returns how many messages the sink accepted.
func (s *Sink) Messages() int { return int(s.messages.Load()) }

// Recipients returns how many accepted messages each recipient address got
// (empty unless Start was asked to count them).
func (s *Sink) Recipients() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.rcpts))
	for k, v := range s.rcpts {
		out[k] = v
	}
	return out
}

// Close stops accepting, closes the open connections and waits for their
// goroutines.
func (s *Sink) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Sink) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			_ = s.serve(c)
		})
	}
}

var errQuit = errors.New("quit")

// serve runs one SMTP session.
func (s *Sink) serve(c net.Conn) error {
	r := bufio.NewReaderSize(c, 32<<10)
	w := bufio.NewWriterSize(c, 4<<10)
	reply := func(lines string) error {
		if _, err := w.WriteString(lines); err != nil {
			return err
		}
		return w.Flush()
	}
	if err := reply("220 smtpsink ESMTP ready\r\n"); err != nil {
		return err
	}
	var to []string
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			err = reply("250-smtpsink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n")
		case "HELO":
			err = reply("250 smtpsink\r\n")
		case "AUTH":
			err = s.auth(r, reply, arg)
		case "MAIL":
			to = to[:0]
			err = reply("250 2.1.0 OK\r\n")
		case "RCPT":
			if s.keep {
				to = append(to, address(arg))
			}
			err = reply("250 2.1.5 OK\r\n")
		case "DATA":
			if err = reply("354 end data with <CR><LF>.<CR><LF>\r\n"); err != nil {
				return err
			}
			if err = discardData(r); err != nil {
				return err
			}
			s.messages.Add(1)
			if s.keep {
				s.mu.Lock()
				for _, a := range to {
					s.rcpts[a]++
				}
				s.mu.Unlock()
			}
			err = reply("250 2.0.0 OK queued\r\n")
		case "RSET", "NOOP":
			err = reply("250 2.0.0 OK\r\n")
		case "QUIT":
			_ = reply("221 2.0.0 bye\r\n")
			return errQuit
		default:
			err = reply("502 5.5.2 command not recognized\r\n")
		}
		if err != nil {
			return err
		}
	}
}

// auth accepts any credentials of AUTH PLAIN (with or without an initial
// response) and AUTH LOGIN.
func (s *Sink) auth(r *bufio.Reader, reply func(string) error, arg string) error {
	mech, initial, _ := strings.Cut(arg, " ")
	var prompts []string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			prompts = []string{"334 \r\n"}
		}
	case "LOGIN":
		prompts = []string{"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"}
		if initial != "" {
			prompts = prompts[1:]
		}
	default:
		return reply("504 5.5.4 unrecognized authentication type\r\n")
	}
	for _, p := range prompts {
		if err := reply(p); err != nil {
			return err
		}
		if _, err := readLine(r); err != nil {
			return err
		}
	}
	return reply("235 2.7.0 authentication succeeded\r\n")
}

// readLine reads one command line without its CRLF.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("smtpsink: command line too long")
		}
		return "", err
	}
	return string(bytes.TrimRight(line, "\r\n")), nil
}

// discardData reads message data up to the line holding a single dot.
func discardData(r *bufio.Reader) error {
	lineStart := true
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lineStart = false // a long line: the rest follows
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if lineStart && len(line) <= 3 && bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte(".")) {
			return nil
		}
		lineStart = true
	}
}

// address is the mailbox of a MAIL/RCPT argument ("TO:<a@b> …" → "a@b").
func address(arg string) string {
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		if j := strings.IndexByte(arg[i:], '>'); j > 0 {
			return arg[i+1 : i+j]
		}
	}
	_, a, _ := strings.Cut(arg, ":")
	return strings.TrimSpace(a)
}

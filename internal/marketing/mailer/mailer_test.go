package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer/mailpittest"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer/smtpsink"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    mailer.SMTPConfig
		wantErr string
	}{
		{in: "smtp://127.0.0.1:1025?tls=none", want: mailer.SMTPConfig{Host: "127.0.0.1", Port: 1025, TLS: "none", Auth: "plain", PoolSize: 4, Timeout: 15 * time.Second}},
		{in: "smtp://user%40x.com:p%3Ass@mail.example.com", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 587, Username: "user@x.com", Password: "p:ss", TLS: "starttls", Auth: "plain", PoolSize: 4, Timeout: 15 * time.Second}},
		{in: "smtps://u:p@mail.example.com", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 465, Username: "u", Password: "p", TLS: "tls", Auth: "plain", PoolSize: 4, Timeout: 15 * time.Second}},
		{in: "smtp://h?tls=none&pool=8&timeout=30s&auth=login&helo=me.example", want: mailer.SMTPConfig{Host: "h", Port: 25, TLS: "none", Auth: "login", PoolSize: 8, Timeout: 30 * time.Second, HELO: "me.example"}},
		{in: "smtp://[::1]:2525?tls=STARTTLS", want: mailer.SMTPConfig{Host: "::1", Port: 2525, TLS: "starttls", Auth: "plain", PoolSize: 4, Timeout: 15 * time.Second}},
		{in: "http://h", wantErr: "must start with smtp://"},
		{in: "smtp://", wantErr: "no host"},
		{in: "smtp:h", wantErr: "no host"},
		{in: "smtp://h/path", wantErr: "no path"},
		{in: "smtp://h?tls=ssl", wantErr: "tls must be"},
		{in: "smtp://h?auth=xoauth", wantErr: "auth must be"},
		{in: "smtp://h?pool=0", wantErr: "pool must be"},
		{in: "smtp://h?pool=100", wantErr: "pool must be"},
		{in: "smtp://h?timeout=1ms", wantErr: "timeout must be"},
		{in: "smtp://h?helo=a%20b", wantErr: "invalid helo"},
		{in: "smtp://h:99999", wantErr: "invalid port"},
		{in: "smtp://h?verify=0", wantErr: "unknown parameter"},
		{in: "smtp://h:p", wantErr: "SMTP_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := mailer.ParseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURL(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if strings.Contains(got.Redacted(), "p:ss") || (got.Password != "" && strings.Contains(got.Redacted(), got.Password+"@")) {
				t.Fatalf("Redacted() leaks the password: %s", got.Redacted())
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtp://h", "smtps://u:p@h:465", "smtp://h?tls=none&pool=3", "smtp://[::1]:25", "smtp://h?timeout=5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := mailer.ParseURL(s)
		if err != nil {
			return
		}
		if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 || cfg.PoolSize < 1 || cfg.PoolSize > 64 {
			t.Fatalf("ParseURL(%q) = %+v: out of range", s, cfg)
		}
		switch cfg.TLS {
		case mailer.TLSNone, mailer.TLSStartTLS, mailer.TLSImplicit:
		default:
			t.Fatalf("ParseURL(%q): tls %q", s, cfg.TLS)
		}
	})
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		err                                     error
		permanent, temporary, bounce, uncertain bool
	}{
		{err: &mailer.Error{Code: 550, Permanent: true, Recipient: true, Err: errors.New("550 no such user")}, permanent: true, bounce: true},
		{err: &mailer.Error{Code: 554, Permanent: true, Err: errors.New("554 rejected")}, permanent: true},
		{err: &mailer.Error{Code: 451, Err: errors.New("451 try later")}, temporary: true},
		{err: &mailer.Error{Err: errors.New("broken pipe"), Uncertain: true}, temporary: true, uncertain: true},
		{err: fmt.Errorf("wrapped: %w", &mailer.Error{Code: 550, Permanent: true, Recipient: true, Err: errors.New("x")}), permanent: true, bounce: true},
		{err: context.Canceled, temporary: true},
		{err: nil},
	}
	for i, tt := range tests {
		if got := mailer.IsPermanent(tt.err); got != tt.permanent {
			t.Errorf("%d: IsPermanent = %v", i, got)
		}
		if got := mailer.IsTemporary(tt.err); got != tt.temporary {
			t.Errorf("%d: IsTemporary = %v", i, got)
		}
		if got := mailer.IsBounce(tt.err); got != tt.bounce {
			t.Errorf("%d: IsBounce = %v", i, got)
		}
		if got := mailer.IsUncertain(tt.err); got != tt.uncertain {
			t.Errorf("%d: IsUncertain = %v", i, got)
		}
	}
}

func TestLogSender(t *testing.T) {
	l := mailer.NewLog(nil, 3)
	ctx := context.Background()
	for i := range 5 {
		if err := l.Send(ctx, &mailer.Message{From: "shop@x.test", To: fmt.Sprintf("c%d@x.test", i), Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	got := l.Messages()
	if len(got) != 3 || got[0].To != "c2@x.test" || got[2].To != "c4@x.test" || l.Total() != 5 {
		t.Fatalf("Messages() = %v (total %d), want c2..c4 of 5", got, l.Total())
	}
	if got[0].MessageID == "" {
		t.Fatal("no Message-ID set")
	}
	for _, bad := range []*mailer.Message{
		{To: "a@x.test", Text: "t"},
		{From: "a@x.test", Text: "t"},
		{From: "a@x.test", To: "b@x.test"},
		{From: "a@x.test", To: "b@x.test", Text: "t", Subject: "a\r\nBcc: c@x.test"},
		{From: "a@x.test", To: "b@x.test", Text: "t", Headers: map[string]string{"X-A": "1\r\nBcc: c@x.test"}},
	} {
		if err := l.Send(ctx, bad); !mailer.IsPermanent(err) {
			t.Errorf("Send(%+v) = %v, want a permanent error", bad, err)
		}
	}
}

func newSMTP(t *testing.T, smtpAddr string, pool int) *mailer.SMTP {
	t.Helper()
	cfg, err := mailer.ParseURL(fmt.Sprintf("smtp://user:pass@%s?tls=none&pool=%d", smtpAddr, pool))
	if err != nil {
		t.Fatal(err)
	}
	s, err := mailer.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSMTPToMailpit(t *testing.T) {
	smtpAddr, api := mailpittest.StartArgs(t, "--smtp-allowed-recipients", `@ok\.test$`)
	s := newSMTP(t, smtpAddr, 4)
	ctx := context.Background()

	unsub := "<https://shop.example/t/u/tok123>, <mailto:unsubscribe@shop.example?subject=tok123>"
	m := &mailer.Message{
		From: "shop@shop.example", FromName: "Shop", To: "ann@ok.test", ReplyTo: "help@shop.example",
		Subject: "Hello Ann", HTML: "<p>Hi</p>", Text: "Hi",
		Headers: map[string]string{"List-Unsubscribe": unsub, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
	}
	if err := s.Send(ctx, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if m.MessageID == "" {
		t.Fatal("Send set no MessageID")
	}

	// 200 more, concurrently, over the pool of 4 connections.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			errs <- s.Send(ctx, &mailer.Message{From: "shop@shop.example", To: fmt.Sprintf("c%d@ok.test", i), Subject: "bulk", Text: "x"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}

	// A refused recipient is a permanent bounce, and the connection stays usable.
	err := s.Send(ctx, &mailer.Message{From: "shop@shop.example", To: "bob@refused.test", Subject: "s", Text: "t"})
	if !mailer.IsBounce(err) {
		t.Fatalf("Send to a refused recipient = %v, want a bounce", err)
	}
	if err := s.Send(ctx, &mailer.Message{From: "shop@shop.example", To: "last@ok.test", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("Send after a bounce: %v", err)
	}

	msgs, err := mailpittest.Messages(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 202 {
		t.Fatalf("mailpit holds %d messages, want 202", len(msgs))
	}
	var first *mailpittest.Message
	for i := range msgs {
		if msgs[i].Subject == "Hello Ann" {
			first = &msgs[i]
		}
	}
	if first == nil || first.MessageID != m.MessageID || first.From.Address != "shop@shop.example" || first.From.Name != "Shop" || len(first.To) != 1 || first.To[0].Address != "ann@ok.test" {
		t.Fatalf("first message = %+v, want From Shop <shop@shop.example> To ann@ok.test Message-ID %s", first, m.MessageID)
	}
	h, err := mailpittest.Headers(ctx, api, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("List-Unsubscribe"); got != unsub {
		t.Errorf("List-Unsubscribe = %q, want %q", got, unsub)
	}
	if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if got := h.Get("Reply-To"); !strings.Contains(got, "help@shop.example") {
		t.Errorf("Reply-To = %q", got)
	}
}

// TestSMTPServerDown: a server that does not answer is a temporary error,
// never a bounce.
func TestSMTPServerDown(t *testing.T) {
	cfg, err := mailer.ParseURL("smtp://127.0.0.1:1?tls=none&pool=1&timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	s, err := mailer.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(context.Background(), &mailer.Message{From: "a@x.test", To: "b@x.test", Subject: "s", Text: "t"})
	if err == nil || !mailer.IsTemporary(err) || mailer.IsPermanent(err) {
		t.Fatalf("Send to a closed port = %v, want a temporary error", err)
	}
}

// TestSMTPToSink sends through the pool into smtpsink (with AUTH, as to a
// relay) and checks that each message arrived once.
func TestSMTPToSink(t *testing.T) {
	sink := smtpsink.Start(t, true)
	s := newSMTP(t, sink.Addr(), 4)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Go(func() {
			errs <- s.Send(ctx, &mailer.Message{From: "shop@shop.example", FromName: "Shop", To: fmt.Sprintf("c%d@ok.test", i),
				Subject: "bulk", HTML: "<p>x</p>", Text: "x", Headers: map[string]string{"List-Unsubscribe": "<https://shop.example/t/u/t>"}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := sink.Recipients()
	if sink.Messages() != 300 || len(got) != 300 {
		t.Fatalf("sink holds %d messages for %d recipients, want 300 each", sink.Messages(), len(got))
	}
	for addr, n := range got {
		if n != 1 {
			t.Fatalf("%s received %d", addr, n)
		}
	}
}

// BenchmarkSMTPSend measures mailpit's ceiling (the mailer and mailpit,
// both on this machine); BenchmarkSMTPSendNullSink the mailer's own, into
// a sink that discards.
func BenchmarkSMTPSend(b *testing.B) {
	smtpAddr, _ := mailpittest.Start(b)
	benchSMTP(b, smtpAddr)
}

func BenchmarkSMTPSendNullSink(b *testing.B) {
	benchSMTP(b, smtpsink.Start(b, false).Addr())
}

func benchSMTP(b *testing.B, smtpAddr string) {
	cfg, _ := mailer.ParseURL("smtp://" + smtpAddr + "?tls=none&pool=16")
	s, err := mailer.NewSMTP(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.SetParallelism(8)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Send(ctx, &mailer.Message{From: "shop@x.test", To: "c@x.test", Subject: "bench", HTML: "<p>hello</p>", Text: "hello"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "emails/s")
}

package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// TLS modes of an SMTP URL.
const (
	TLSNone     = "none"     // plain text (a local sink such as mailpit)
	TLSStartTLS = "starttls" // STARTTLS required (the default)
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
)

// SMTPConfig is a parsed SMTP_URL.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is TLSNone, TLSStartTLS or TLSImplicit.
	TLS string
	// Auth is the SMTP AUTH mechanism used with a username: "plain"
	// (default), "login" or "cram-md5".
	Auth string
	// PoolSize is how many connections are kept open (default 4).
	PoolSize int
	// Timeout bounds dialing and each command (default 15s).
	Timeout time.Duration
	// HELO is the name sent in EHLO (default: the local host name).
	HELO string
}

// ParseURL parses SMTP_URL:
//
//	smtp://[user[:password]@]host[:port][?tls=none|starttls|tls][&auth=plain|login|cram-md5][&pool=N][&timeout=15s][&helo=name]
//	smtps://… is smtp://…?tls=tls
//
// The default TLS mode is starttls for smtp:// and tls for smtps://; the
// default port is 25 with tls=none, 587 with starttls and 465 with tls. The
// user name and password are URL-encoded (%40 for @). A local mailpit is
// smtp://127.0.0.1:1025?tls=none.
func ParseURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: %w", errors.Unwrap(err))
	}
	cfg := SMTPConfig{TLS: TLSStartTLS, Auth: "plain", PoolSize: 4, Timeout: 15 * time.Second}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.TLS = TLSImplicit
	default:
		return SMTPConfig{}, errors.New("mailer: SMTP_URL must start with smtp:// or smtps://")
	}
	if u.Opaque != "" || u.Host == "" {
		return SMTPConfig{}, errors.New("mailer: SMTP_URL has no host")
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, errors.New("mailer: SMTP_URL takes no path")
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return SMTPConfig{}, errors.New("mailer: SMTP_URL has no host")
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "tls", "auth", "pool", "timeout", "helo":
		default:
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: unknown parameter %q", k)
		}
	}
	if v := q.Get("tls"); v != "" {
		switch strings.ToLower(v) {
		case TLSNone, TLSStartTLS, TLSImplicit:
			cfg.TLS = strings.ToLower(v)
		default:
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: tls must be none, starttls or tls, not %q", v)
		}
	}
	if v := q.Get("auth"); v != "" {
		switch strings.ToLower(v) {
		case "plain", "login", "cram-md5":
			cfg.Auth = strings.ToLower(v)
		default:
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: auth must be plain, login or cram-md5, not %q", v)
		}
	}
	if v := q.Get("pool"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: pool must be 1-64, not %q", v)
		}
		cfg.PoolSize = n
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 10*time.Minute {
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: timeout must be a duration of 1s-10m, not %q", v)
		}
		cfg.Timeout = d
	}
	if v := q.Get("helo"); v != "" {
		if strings.ContainsAny(v, " \r\n\t") || len(v) > 255 {
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: invalid helo %q", v)
		}
		cfg.HELO = v
	}
	switch p := u.Port(); {
	case p != "":
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("mailer: SMTP_URL: invalid port %q", p)
		}
		cfg.Port = n
	case cfg.TLS == TLSImplicit:
		cfg.Port = 465
	case cfg.TLS == TLSStartTLS:
		cfg.Port = 587
	default:
		cfg.Port = 25
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	return cfg, nil
}

// Redacted returns the configuration as a URL without the password, for logs.
func (c SMTPConfig) Redacted() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), RawQuery: "tls=" + c.TLS}
	if c.Username != "" {
		u.User = url.User(c.Username)
	}
	return u.String()
}

// SMTP is a Sender over SMTP (go-mail) that keeps up to PoolSize
// connections open and sends one message per connection at a time: no dial
// per mail. A connection that fails is closed and dialled again on next use;
// one idle for longer than idleCheck is checked with NOOP first.
type SMTP struct {
	cfg    SMTPConfig
	client *gomail.Client

	slots chan *conn // PoolSize slots; a nil conn is dialled on use
	once  sync.Once
	done  chan struct{}
}

type conn struct {
	c        *smtp.Client
	lastUsed time.Time
}

// idleCheck: a connection idle for longer is NOOPed before use (servers drop
// idle connections after a minute or so).
const idleCheck = 20 * time.Second

// NewSMTP returns an SMTP Sender for cfg. It does not connect yet.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		// The pool checks idle connections itself, and a finished DATA
		// transaction needs no RSET: two round trips saved per mail.
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSLPort(false))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthPlain
		switch cfg.Auth {
		case "login":
			auth = gomail.SMTPAuthLogin
		case "cram-md5":
			auth = gomail.SMTPAuthCramMD5
		}
		if cfg.TLS == TLSNone {
			switch auth {
			case gomail.SMTPAuthPlain:
				auth = gomail.SMTPAuthPlainNoEnc
			case gomail.SMTPAuthLogin:
				auth = gomail.SMTPAuthLoginNoEnc
			}
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	s := &SMTP{cfg: cfg, client: client, slots: make(chan *conn, cfg.PoolSize), done: make(chan struct{})}
	for range cfg.PoolSize {
		s.slots <- &conn{}
	}
	return s, nil
}

// Config returns the configuration the Sender was made with.
func (s *SMTP) Config() SMTPConfig { return s.cfg }

// Send implements Sender. A failure before the message data was written on
// a connection that turned out to be dead is retried once on a new one.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if err := validate(m); err != nil {
		return err
	}
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	var slot *conn
	select {
	case slot = <-s.slots:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return &Error{Err: errors.New("sender closed")}
	}
	defer func() { s.slots <- slot }()

	for attempt := 0; ; attempt++ {
		fresh := false
		if slot.c != nil && time.Since(slot.lastUsed) > idleCheck {
			if err := slot.c.Noop(); err != nil {
				s.drop(slot)
			}
		}
		if slot.c == nil {
			c, err := s.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				return &Error{Code: replyCode(err), Permanent: replyCode(err) >= 500, Err: fmt.Errorf("connect to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)}
			}
			slot.c, fresh = c, true
		}
		err := s.client.SendWithSMTPClient(slot.c, msg)
		slot.lastUsed = time.Now()
		if err == nil {
			return nil
		}
		e := classify(err)
		if e.Code == 0 {
			// Not a server reply: the connection is unusable.
			s.drop(slot)
			if !e.Uncertain && !fresh && attempt == 0 && ctx.Err() == nil {
				continue // a stale pooled connection: once more on a new one
			}
		}
		return e
	}
}

func (s *SMTP) drop(slot *conn) {
	if slot.c != nil {
		_ = slot.c.Close()
	}
	slot.c = nil
}

// Close sends QUIT on the open connections and closes them; Send fails
// afterwards. It waits for sends in progress.
func (s *SMTP) Close() error {
	s.once.Do(func() { close(s.done) })
	for range s.cfg.PoolSize {
		slot := <-s.slots
		if slot.c != nil {
			_ = slot.c.Quit()
			_ = slot.c.Close()
			slot.c = nil
		}
	}
	return nil
}

// build turns m into a go-mail message.
func (s *SMTP) build(m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	var err error
	if m.FromName != "" {
		err = msg.FromFormat(m.FromName, m.From)
	} else {
		err = msg.From(m.From)
	}
	if err != nil {
		return nil, &Error{Permanent: true, Err: fmt.Errorf("invalid From %q: %w", m.From, err)}
	}
	if err := msg.To(m.To); err != nil {
		return nil, &Error{Permanent: true, Recipient: true, Err: fmt.Errorf("invalid recipient %q: %w", m.To, err)}
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, &Error{Permanent: true, Err: fmt.Errorf("invalid Reply-To %q: %w", m.ReplyTo, err)}
		}
	}
	msg.Subject(m.Subject)
	if m.MessageID == "" {
		m.MessageID = NewMessageID(m.From)
	}
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	for k, v := range m.Headers {
		// Preformatted: the value goes out as given (URLs in List-Unsubscribe
		// must not be MIME-encoded); validate rejected line breaks.
		msg.SetGenHeaderPreformatted(gomail.Header(k), v)
	}
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, nil
}

// classify turns a go-mail error into an *Error.
func classify(err error) *Error {
	e := &Error{Err: err}
	var se *gomail.SendError
	if errors.As(err, &se) {
		e.Code = se.ErrorCode()
		switch se.Reason {
		case gomail.ErrSMTPRcptTo:
			e.Recipient = true
		case gomail.ErrSMTPDataClose:
			// The data was written; only the reply is missing when no code.
			e.Uncertain = e.Code == 0
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			e.Permanent = true
		}
	} else {
		e.Code = replyCode(err)
	}
	if e.Code >= 500 && e.Code < 600 {
		e.Permanent = true
	}
	return e
}

// replyCode extracts the SMTP reply code of err, 0 when there is none.
func replyCode(err error) int {
	for err != nil {
		s := err.Error()
		if len(s) >= 3 && (s[0] == '4' || s[0] == '5') && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' && (len(s) == 3 || s[3] == ' ' || s[3] == '-') {
			n, _ := strconv.Atoi(s[:3])
			return n
		}
		err = errors.Unwrap(err)
	}
	return 0
}

// New returns the Sender for an SMTP_URL: SMTP when smtpURL is set, else a
// Log Sender keeping the last 100 messages.
func New(smtpURL string, log *slog.Logger) (Sender, error) {
	if smtpURL == "" {
		return NewLog(log, 100), nil
	}
	cfg, err := ParseURL(smtpURL)
	if err != nil {
		return nil, err
	}
	return NewSMTP(cfg)
}

// Package campaign owns the campaign send pipeline of the marketing engine:
// the status machine of email_campaigns (Schedule, Send, Pause, Resume,
// Cancel) and the Sender that delivers due campaigns to their audience.
//
// The pipeline is shaped like listmonk's manager: the audience (members of
// the campaign's segment, or every customer when it has none, who are ACTIVE
// and SUBSCRIBED to email) is read in keyset batches by customer id; for each
// batch the email_sends rows are written and committed first (unique per
// campaign and customer through idempotency_key "campaign:<id>:<customer>"),
// then a bounded queue feeds a worker pool that renders and sends each row.
// A row is claimed (QUEUED→SENDING) just before its send and recorded SENT,
// FAILED or BOUNCED after it; a row found SENDING when a campaign is taken
// over after a crash is never sent again (FAILED, "interrupted"): delivery is
// at most once. See docs/campaigns.md.
package campaign

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/emailcampaign"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Renderer renders one campaign email for one recipient (the template
// package of the marketing engine implements it). headers are extra header
// fields, List-Unsubscribe and List-Unsubscribe-Post among them.
type Renderer interface {
	Render(ctx context.Context, in RenderInput) (subject, html, text string, headers map[string]string, err error)
}

// RenderInput is what a Renderer gets: the store, the campaign, the
// recipient and the email_sends row (its TrackingToken makes the /t/o, /t/c
// and /t/u links).
type RenderInput struct {
	Merchant *ent.MerchantAccount
	Campaign *ent.EmailCampaign
	Customer *ent.Customer
	Send     *ent.EmailSend
}

// Limiter says whether a store's plan allows n more campaign emails
// (internal/billing's Service). Its error is the campaign's failure reason.
type Limiter interface {
	AllowEmails(ctx context.Context, merchantID uuid.UUID, n int) error
}

// Config tunes the Sender. Zero values take the defaults.
type Config struct {
	// PollInterval is how often Run looks for due campaigns (default 5s).
	PollInterval time.Duration
	// BatchSize is how many recipients are queued per keyset batch
	// (default 500).
	BatchSize int
	// Workers is how many emails are rendered and sent at once per
	// campaign (default 8; the SMTP pool should have about as many
	// connections).
	Workers int
	// QueueSize bounds the emails claimed but not yet sent, and is how
	// many are claimed at once (default 8×Workers, 64): with the results
	// not yet written (up to FlushSize), what a crash can leave
	// "interrupted". Each claim is a transaction; fewer, larger ones cost
	// the database less per email (with 16 a claim per 16 emails was a
	// quarter of PostgreSQL's CPU per email).
	QueueSize int
	// Campaigns is how many campaigns one process sends at once (default 2).
	Campaigns int
	// DefaultRatePerMinute is a store's send rate when the campaign's
	// send_rate_per_minute is 0 (default 300,000 a minute, 5,000 a second).
	DefaultRatePerMinute int
	// ProgressInterval is the least time between two campaign.progress
	// events of a campaign while it sends (default 250ms); ProgressEvery is
	// the most sends between two (default 1,000). The last one is always
	// written.
	ProgressInterval time.Duration
	ProgressEvery    int
	// FlushInterval is how often send results are written (default 100ms);
	// FlushSize writes them earlier once that many are waiting (default 200).
	FlushInterval time.Duration
	FlushSize     int
	// DefaultFrom is the sender address of campaigns with no from_email
	// and stores with no contact_email (default no-reply@omnisphere.local).
	DefaultFrom string
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 8 * c.Workers
	}
	if c.Campaigns <= 0 {
		c.Campaigns = 2
	}
	if c.DefaultRatePerMinute <= 0 {
		c.DefaultRatePerMinute = 300_000
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 250 * time.Millisecond
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 1000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
	if c.FlushSize <= 0 {
		c.FlushSize = 200
	}
	if c.DefaultFrom == "" {
		c.DefaultFrom = "no-reply@omnisphere.local"
	}
}

// Sender delivers campaigns. Run it in every server process: a campaign is
// sent by one process at a time (a PostgreSQL advisory lock held on a
// connection of its own while it sends, released when the process dies; on
// SQLite, one process, a lock in memory).
type Sender struct {
	db      *db.DB
	mail    mailer.Sender
	render  Renderer
	limiter Limiter
	rate    ratelimit.Limiter
	cfg     Config
	log     *slog.Logger
	clock   atomic.Pointer[func() time.Time]
	kick    chan struct{}
	active  sync.WaitGroup
	slots   chan struct{}
	runs    sync.Map // campaign ID → *run sending it in this process
	hooks   testHooks
}

// testHooks let the package's tests stop a campaign at chosen points.
type testHooks struct {
	afterSend func(n int) // after the n-th successful send of a run
}

// New returns a Sender over d that sends through mail, renders with r,
// asks lim before queueing a campaign (nil: no plan limits) and throttles
// each store through rl (nil: an in-process limiter; pass
// ratelimit.NewRedis with REDIS_URL so that processes share the budget).
func New(d *db.DB, mail mailer.Sender, r Renderer, lim Limiter, rl ratelimit.Limiter, cfg Config, log *slog.Logger) *Sender {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	if rl == nil {
		rl = ratelimit.NewMemory()
	}
	return &Sender{db: d, mail: mail, render: r, limiter: lim, rate: rl, cfg: cfg, log: log,
		kick: make(chan struct{}, 1), slots: make(chan struct{}, cfg.Campaigns)}
}

// Config returns the Sender's configuration, defaults applied.
func (s *Sender) Config() Config { return s.cfg }

// SetClock replaces the Sender's clock (tests); nil restores time.Now.
func (s *Sender) SetClock(now func() time.Time) {
	if now == nil {
		s.clock.Store(nil)
		return
	}
	s.clock.Store(&now)
}

func (s *Sender) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)().UTC()
	}
	return time.Now().UTC()
}

// Kick makes Run look for due campaigns now instead of at its next poll.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run sends due campaigns until ctx ends, polling every PollInterval (and
// on Kick), then waits for the campaigns in progress to stop: their
// unsent claimed emails go back to the queue for the next Run.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := s.dispatch(ctx, false); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "campaign: poll", "err", err)
		}
		select {
		case <-ctx.Done():
			s.active.Wait()
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// RunOnce sends the campaigns due now, one after another, and returns when
// they are done (or paused, cancelled, failed): tests and one-shot jobs.
// It returns how many campaigns it worked on.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		due, err := s.due(ctx)
		if err != nil {
			return n, err
		}
		worked := false
		for _, d := range due {
			ok, err := s.withLock(ctx, d.ID, func(lctx context.Context) error { return s.sendCampaign(lctx, d.MerchantID, d.ID) })
			if err != nil {
				return n, err
			}
			if ok {
				n++
				worked = true
			}
		}
		if !worked {
			return n, nil
		}
	}
	return n, nil
}

// dispatch starts a goroutine for each due campaign it can lock, up to
// Config.Campaigns at once.
func (s *Sender) dispatch(ctx context.Context, _ bool) error {
	due, err := s.due(ctx)
	if err != nil {
		return err
	}
	for _, d := range due {
		select {
		case s.slots <- struct{}{}:
		default:
			return nil // busy: the next poll takes the rest
		}
		started := make(chan bool, 1)
		s.active.Add(1)
		go func() {
			defer s.active.Done()
			defer func() { <-s.slots }()
			_, err := s.withLock(ctx, d.ID, func(lctx context.Context) error {
				started <- true
				return s.sendCampaign(lctx, d.MerchantID, d.ID)
			})
			select {
			case started <- false:
			default:
			}
			if err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "campaign: send", "campaign", d.ID, "merchant", d.MerchantID, "err", err)
			}
		}()
		<-started
	}
	return nil
}

type dueCampaign struct {
	ID         uuid.UUID
	MerchantID uuid.UUID
}

// due lists campaigns to work on across stores (the system path): SCHEDULED
// ones whose time has come and SENDING ones (in progress here or elsewhere,
// or left by a process that died: the lock tells).
func (s *Sender) due(ctx context.Context) ([]dueCampaign, error) {
	sys := viewer.SystemLookupContext(ctx, "campaign: find due campaigns of every store")
	rows, err := s.db.Client.EmailCampaign.Query().Where(emailcampaign.Or(
		emailcampaign.And(emailcampaign.StatusEQ(emailcampaign.StatusSCHEDULED), emailcampaign.ScheduledAtLTE(s.now())),
		emailcampaign.StatusEQ(emailcampaign.StatusSENDING),
	)).Order(ent.Asc(emailcampaign.FieldScheduledAt), ent.Asc(emailcampaign.FieldID)).Limit(100).
		Select(emailcampaign.FieldID, emailcampaign.FieldMerchantID).All(sys)
	if err != nil {
		return nil, fmt.Errorf("campaign: due campaigns: %w", err)
	}
	out := make([]dueCampaign, len(rows))
	for i, r := range rows {
		out[i] = dueCampaign{ID: r.ID, MerchantID: r.MerchantID}
	}
	return out, nil
}

// localLocks are the campaigns this process sends (SQLite's lock, and a
// guard against one process taking a campaign twice on PostgreSQL).
var localLocks sync.Map

// withLock runs fn while holding campaign id's lock; it reports false
// without running fn when another process or goroutine holds it.
func (s *Sender) withLock(ctx context.Context, id uuid.UUID, fn func(ctx context.Context) error) (bool, error) {
	if _, busy := localLocks.LoadOrStore(id, struct{}{}); busy {
		return false, nil
	}
	defer localLocks.Delete(id)
	if s.db.Dialect != dialect.Postgres {
		return true, fn(ctx)
	}
	conn, err := s.db.SQL.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("campaign: lock connection: %w", err)
	}
	defer conn.Close()
	k1, k2 := lockKeys(id)
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, k1, k2).Scan(&got); err != nil {
		return false, fmt.Errorf("campaign: lock: %w", err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
			// Closing the connection drops the lock anyway.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return true, fn(ctx)
}

// lockKeys maps a campaign to the two int4 keys of its advisory lock: a
// fixed class for campaigns and a hash of the id (a collision only makes
// two campaigns wait for each other).
func lockKeys(id uuid.UUID) (int32, int32) {
	h := fnv.New32a()
	_, _ = h.Write(id[:])
	return 0x0ca3, int32(h.Sum32())
}

// newToken returns a random tracking token (32 hex characters).
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

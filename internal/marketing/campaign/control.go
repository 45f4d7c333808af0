package campaign

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/emailcampaign"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The status transitions a merchant may ask for (the Sender makes the
// others: SCHEDULED→SENDING→SENT, →FAILED):
//
//	Schedule: DRAFT, SCHEDULED (reschedule)   → SCHEDULED at a time
//	Send:     DRAFT, SCHEDULED                → SCHEDULED now
//	Pause:    SCHEDULED, SENDING              → PAUSED
//	Resume:   PAUSED                          → SENDING (already started) or SCHEDULED
//	Cancel:   DRAFT, SCHEDULED, SENDING, PAUSED → CANCELLED
//
// Pause and Cancel take effect in the Sender between batches and before
// each email: an email already handed to the SMTP server is not recalled.

// Schedule schedules campaign campaignID of store merchantID to start
// sending at at (a time in the past or zero means now). It answers an
// INVALID_STATE user error unless the campaign is DRAFT or SCHEDULED.
func (s *Sender) Schedule(ctx context.Context, merchantID, campaignID uuid.UUID, at time.Time) (*ent.EmailCampaign, error) {
	now := s.now()
	if at.IsZero() || at.Before(now) {
		at = now
	}
	return s.transition(ctx, merchantID, campaignID, "schedule", func(c *ent.EmailCampaign, u *ent.EmailCampaignUpdateOne) error {
		if c.Status != emailcampaign.StatusDRAFT && c.Status != emailcampaign.StatusSCHEDULED {
			return fieldErr(CodeInvalidState, []string{"id"}, "a %s campaign cannot be scheduled", c.Status)
		}
		u.SetStatus(emailcampaign.StatusSCHEDULED).SetScheduledAt(at.UTC()).ClearFailureReason()
		return nil
	})
}

// Send schedules the campaign to start now: the Sender picks it up at its
// next poll (Config.PollInterval) or at once after Kick.
func (s *Sender) Send(ctx context.Context, merchantID, campaignID uuid.UUID) (*ent.EmailCampaign, error) {
	c, err := s.Schedule(ctx, merchantID, campaignID, time.Time{})
	if err == nil {
		s.Kick()
	}
	return c, err
}

// Pause stops a SCHEDULED or SENDING campaign; Resume continues it.
func (s *Sender) Pause(ctx context.Context, merchantID, campaignID uuid.UUID) (*ent.EmailCampaign, error) {
	return s.transition(ctx, merchantID, campaignID, "pause", func(c *ent.EmailCampaign, u *ent.EmailCampaignUpdateOne) error {
		if c.Status != emailcampaign.StatusSCHEDULED && c.Status != emailcampaign.StatusSENDING {
			return fieldErr(CodeInvalidState, []string{"id"}, "a %s campaign cannot be paused", c.Status)
		}
		u.SetStatus(emailcampaign.StatusPAUSED).SetPausedAt(s.now())
		return nil
	})
}

// Resume continues a PAUSED campaign: SENDING when it had started (the
// Sender picks it up and sends to whoever has not been sent yet), else
// SCHEDULED at its scheduled time.
func (s *Sender) Resume(ctx context.Context, merchantID, campaignID uuid.UUID) (*ent.EmailCampaign, error) {
	c, err := s.transition(ctx, merchantID, campaignID, "resume", func(c *ent.EmailCampaign, u *ent.EmailCampaignUpdateOne) error {
		if c.Status != emailcampaign.StatusPAUSED {
			return fieldErr(CodeInvalidState, []string{"id"}, "a %s campaign cannot be resumed", c.Status)
		}
		if c.StartedAt != nil {
			u.SetStatus(emailcampaign.StatusSENDING)
		} else {
			u.SetStatus(emailcampaign.StatusSCHEDULED)
			if c.ScheduledAt == nil {
				u.SetScheduledAt(s.now())
			}
		}
		u.ClearPausedAt()
		return nil
	})
	if err == nil {
		s.Kick()
	}
	return c, err
}

// Cancel stops the campaign for good. Emails not yet sent are dropped
// (their QUEUED email_sends rows deleted, so they count against no plan).
func (s *Sender) Cancel(ctx context.Context, merchantID, campaignID uuid.UUID) (*ent.EmailCampaign, error) {
	return s.transition(ctx, merchantID, campaignID, "cancel", func(c *ent.EmailCampaign, u *ent.EmailCampaignUpdateOne) error {
		switch c.Status {
		case emailcampaign.StatusDRAFT, emailcampaign.StatusSCHEDULED, emailcampaign.StatusSENDING, emailcampaign.StatusPAUSED:
		default:
			return fieldErr(CodeInvalidState, []string{"id"}, "a %s campaign cannot be cancelled", c.Status)
		}
		u.SetStatus(emailcampaign.StatusCANCELLED).SetCancelledAt(s.now())
		return nil
	})
}

// transition locks the campaign, lets change validate it and fill the
// update, saves it and writes a campaign.progress event with the new status.
func (s *Sender) transition(ctx context.Context, merchantID, campaignID uuid.UUID, what string,
	change func(c *ent.EmailCampaign, u *ent.EmailCampaignUpdateOne) error) (*ent.EmailCampaign, error) {
	sctx, err := storeContext(ctx, merchantID, "campaign "+what)
	if err != nil {
		return nil, err
	}
	var out *ent.EmailCampaign
	err = db.InTx(sctx, s.db.Client, func(tx *ent.Client) error {
		c, err := s.lockCampaign(sctx, tx, campaignID)
		if err != nil {
			return err
		}
		u := tx.EmailCampaign.UpdateOne(c)
		if err := change(c, u); err != nil {
			return err
		}
		if out, err = u.Save(sctx); err != nil {
			return err
		}
		if out.Status == emailcampaign.StatusCANCELLED {
			if _, err := tx.EmailSend.Delete().Where(emailsend.CampaignID(c.ID), emailsend.StatusEQ(emailsend.StatusQUEUED)).Exec(sctx); err != nil {
				return err
			}
		}
		_, err = events.Write(sctx, tx, merchantID, progressOf(out))
		return err
	})
	if err != nil {
		return nil, err
	}
	if out.Status != emailcampaign.StatusSENDING {
		if r, ok := s.runs.Load(out.ID); ok {
			r.(*run).stopped.Store(true)
		}
	}
	return out.Unwrap(), nil // read from the committed transaction: its edges load through the client
}

// lockCampaign reads the campaign under a row lock (PostgreSQL; SQLite's
// write transaction is exclusive anyway).
func (s *Sender) lockCampaign(ctx context.Context, tx *ent.Client, id uuid.UUID) (*ent.EmailCampaign, error) {
	q := tx.EmailCampaign.Query().Where(emailcampaign.ID(id))
	if s.db.Dialect == "postgres" {
		q = q.ForUpdate()
	}
	c, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return c, err
}

// storeContext returns ctx acting as merchantID's store service, after
// checking that ctx may act for that store (its viewer's store, or the
// system context of a background job).
func storeContext(ctx context.Context, merchantID uuid.UUID, reason string) (context.Context, error) {
	if merchantID == uuid.Nil {
		return nil, viewer.ErrNoTenant
	}
	if _, system := viewer.IsSystem(ctx); !system {
		mid, ok := viewer.MerchantFromContext(ctx)
		if !ok {
			return nil, viewer.ErrNoTenant
		}
		if mid != merchantID {
			return nil, ErrNotFound
		}
	}
	return viewer.ActAsStore(ctx, merchantID, reason), nil
}

// progressOf is the campaign.progress event of c's counters.
func progressOf(c *ent.EmailCampaign) events.CampaignProgress {
	return events.CampaignProgress{
		CampaignID: c.ID, Status: string(c.Status), Recipients: c.RecipientsCount,
		Sent: c.SentCount, Failed: c.FailedCount + c.BouncedCount, Opened: c.UniqueOpenedCount, Clicked: c.UniqueClickedCount,
	}
}

package tracking

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// EntRecorderConfig configures NewEntRecorder. Zero fields take defaults.
type EntRecorderConfig struct {
	// Machine are the machine-open heuristics.
	Machine MachineRules
	// Log receives the machine-open decisions at debug level (default
	// slog.Default()).
	Log *slog.Logger
}

// EntRecorder is the Recorder over the database.
//
// A tracking request carries no credentials: the recorder finds the email
// send by its tracking_token on the audited system path (a read of one row
// by a unique, random, signed token), then does everything else as that
// send's store (viewer.ActAsStore), in one transaction fenced to the store
// like any request of it.
type EntRecorder struct {
	client *ent.Client
	cfg    EntRecorderConfig
}

var _ Recorder = (*EntRecorder)(nil)

// NewEntRecorder returns the Recorder that writes to client's database.
func NewEntRecorder(client *ent.Client, cfg EntRecorderConfig) *EntRecorder {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &EntRecorder{client: client, cfg: cfg}
}

// The customer event type an unsubscribe adds to the customer's timeline.
const EventEmailUnsubscribed = "email_unsubscribed"

// send finds the send of token across stores and returns it with a
// context acting as its store.
func (r *EntRecorder) send(ctx context.Context, token string) (*ent.EmailSend, context.Context, error) {
	if checkSendToken(token) != nil {
		return nil, nil, ErrUnknownSend
	}
	sys := viewer.SystemLookupContext(ctx, "email tracking token")
	s, err := r.client.EmailSend.Query().Where(emailsend.TrackingToken(token)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, nil, ErrUnknownSend
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tracking: find send: %w", err)
	}
	return s, viewer.ActAsStore(ctx, s.MerchantID, "email tracking"), nil
}

// RecordOpen stores the pixel load in email_opens, flagged when
// MachineRules say it is a machine. A human open also bumps the send's
// open_count (and first_opened_at the first time), the campaign's
// opened_count (and unique_opened_count for the send's first human open)
// and writes events.EmailOpened; a machine open changes nothing else.
func (r *EntRecorder) RecordOpen(ctx context.Context, o Open) error {
	s, sctx, err := r.send(ctx, o.SendToken)
	if err != nil {
		return err
	}
	sentAt := s.QueuedAt
	if s.SentAt != nil {
		sentAt = *s.SentAt
	}
	machine, reason := r.cfg.Machine.ClassifyOpen(o.UserAgent, o.IP, sentAt, o.At)
	if machine {
		r.cfg.Log.DebugContext(ctx, "tracking: machine open", "send", s.ID, "reason", reason)
	}
	return db.InTx(sctx, r.client, func(tx *ent.Client) error {
		if err := tx.EmailOpen.Create().SetSendID(s.ID).SetOpenedAt(o.At).SetIP(cut(o.IP, 64)).
			SetUserAgent(cut(o.UserAgent, 512)).SetIsMachineOpen(machine).Exec(sctx); err != nil {
			return fmt.Errorf("tracking: insert open: %w", err)
		}
		if machine {
			return nil
		}
		first, err := tx.EmailSend.Update().Where(emailsend.ID(s.ID), emailsend.FirstOpenedAtIsNil()).
			SetFirstOpenedAt(o.At).Save(sctx)
		if err != nil {
			return fmt.Errorf("tracking: first open: %w", err)
		}
		if err := tx.EmailSend.UpdateOneID(s.ID).AddOpenCount(1).Exec(sctx); err != nil {
			return fmt.Errorf("tracking: count open: %w", err)
		}
		if s.CampaignID != nil {
			if err := tx.EmailCampaign.UpdateOneID(*s.CampaignID).AddOpenedCount(1).AddUniqueOpenedCount(first).Exec(sctx); err != nil {
				return fmt.Errorf("tracking: campaign open: %w", err)
			}
		}
		_, err = events.Write(sctx, tx, s.MerchantID, events.EmailOpened{SendID: s.ID, CampaignID: s.CampaignID,
			CustomerID: s.CustomerID, OpenedAt: o.At})
		return err
	})
}

// RecordClick stores the click in email_clicks, bumps the send's
// click_count (first_clicked_at the first time) and the campaign's
// clicked_count (unique_clicked_count for the send's first click), and
// writes events.EmailClicked.
//
// email_clicks has no machine flag: link scanners' clicks count. They
// mostly arrive as HEAD requests, which the handler does not record.
func (r *EntRecorder) RecordClick(ctx context.Context, c Click) error {
	s, sctx, err := r.send(ctx, c.SendToken)
	if err != nil {
		return err
	}
	return db.InTx(sctx, r.client, func(tx *ent.Client) error {
		if err := tx.EmailClick.Create().SetSendID(s.ID).SetURL(c.URL).SetLinkIndex(c.LinkIndex).
			SetClickedAt(c.At).SetIP(cut(c.IP, 64)).SetUserAgent(cut(c.UserAgent, 512)).Exec(sctx); err != nil {
			return fmt.Errorf("tracking: insert click: %w", err)
		}
		first, err := tx.EmailSend.Update().Where(emailsend.ID(s.ID), emailsend.FirstClickedAtIsNil()).
			SetFirstClickedAt(c.At).Save(sctx)
		if err != nil {
			return fmt.Errorf("tracking: first click: %w", err)
		}
		if err := tx.EmailSend.UpdateOneID(s.ID).AddClickCount(1).Exec(sctx); err != nil {
			return fmt.Errorf("tracking: count click: %w", err)
		}
		if s.CampaignID != nil {
			if err := tx.EmailCampaign.UpdateOneID(*s.CampaignID).AddClickedCount(1).AddUniqueClickedCount(first).Exec(sctx); err != nil {
				return fmt.Errorf("tracking: campaign click: %w", err)
			}
		}
		_, err = events.Write(sctx, tx, s.MerchantID, events.EmailClicked{SendID: s.ID, CampaignID: s.CampaignID,
			CustomerID: s.CustomerID, URL: c.URL, ClickedAt: c.At})
		return err
	})
}

// Unsubscribe records the recipient's unsubscribe, once however often it
// is repeated:
//   - email_sends.unsubscribed_at, the first time, and then the campaign's
//     unsubscribed_count;
//   - the customer (the send's, or the store's customer with the send's
//     address) goes from SUBSCRIBED or PENDING to UNSUBSCRIBED with
//     email_unsubscribed_at and email_consent_ip; BOUNCED and COMPLAINED
//     stay (they suppress mail too). email_consent_source has no value for
//     an email link, so it is cleared; the source (one_click or link) goes
//     to an "email_unsubscribed" customer event, written with its
//     events.CustomerEventTracked in the same transaction.
func (r *EntRecorder) Unsubscribe(ctx context.Context, u Unsubscribe) error {
	s, sctx, err := r.send(ctx, u.SendToken)
	if err != nil {
		return err
	}
	return db.InTx(sctx, r.client, func(tx *ent.Client) error {
		first, err := tx.EmailSend.Update().Where(emailsend.ID(s.ID), emailsend.UnsubscribedAtIsNil()).
			SetUnsubscribedAt(u.At).Save(sctx)
		if err != nil {
			return fmt.Errorf("tracking: mark send unsubscribed: %w", err)
		}
		if first == 1 && s.CampaignID != nil {
			if err := tx.EmailCampaign.UpdateOneID(*s.CampaignID).AddUnsubscribedCount(1).Exec(sctx); err != nil {
				return fmt.Errorf("tracking: campaign unsubscribe: %w", err)
			}
		}
		who := customer.Email(strings.ToLower(strings.TrimSpace(s.ToEmail)))
		if s.CustomerID != nil {
			who = customer.ID(*s.CustomerID)
		}
		c, err := tx.Customer.Query().Where(who).Only(sctx)
		if ent.IsNotFound(err) {
			return nil // a guest address or an erased profile: the send row records it
		}
		if err != nil {
			return fmt.Errorf("tracking: find customer: %w", err)
		}
		changed, err := tx.Customer.Update().
			Where(customer.ID(c.ID), customer.EmailConsentIn(customer.EmailConsentSUBSCRIBED, customer.EmailConsentPENDING)).
			SetEmailConsent(customer.EmailConsentUNSUBSCRIBED).SetEmailUnsubscribedAt(u.At).
			SetEmailConsentIP(cut(u.IP, 64)).ClearEmailConsentSource().Save(sctx)
		if err != nil {
			return fmt.Errorf("tracking: unsubscribe customer: %w", err)
		}
		if changed == 0 {
			return nil
		}
		props := map[string]any{"source": u.Source, "sendId": s.ID.String()}
		if s.CampaignID != nil {
			props["campaignId"] = s.CampaignID.String()
		}
		ev, err := tx.CustomerEvent.Create().SetCustomerID(c.ID).SetType(EventEmailUnsubscribed).
			SetProperties(props).SetSource(customerevent.SourceSYSTEM).SetIP(cut(u.IP, 64)).
			SetUserAgent(cut(u.UserAgent, 512)).SetOccurredAt(u.At).SetReceivedAt(u.At).Save(sctx)
		if err != nil {
			return fmt.Errorf("tracking: unsubscribe event: %w", err)
		}
		cid := c.ID
		_, err = events.Write(sctx, tx, s.MerchantID, events.CustomerEventTracked{EventID: ev.ID, CustomerID: &cid,
			Type: EventEmailUnsubscribed, Properties: props, OccurredAt: u.At})
		return err
	})
}

// Recipient describes the send for the unsubscribe page: its address and
// the store's name.
func (r *EntRecorder) Recipient(ctx context.Context, sendToken string) (Recipient, error) {
	s, sctx, err := r.send(ctx, sendToken)
	if err != nil {
		return Recipient{}, err
	}
	out := Recipient{Email: s.ToEmail}
	m, err := r.client.MerchantAccount.Get(sctx, s.MerchantID)
	if err != nil {
		return Recipient{}, fmt.Errorf("tracking: store of send: %w", err)
	}
	out.StoreName = m.Name
	return out, nil
}

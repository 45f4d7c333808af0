package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/marketing"
	"github.com/omnisphere/omnisphere/internal/marketing/campaign"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/tracking"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The durable consumer groups of the marketing engine.
const groupSegments = "marketing-segments"

// trackingKeys are TRACKING_KEYS, or one key derived from the JWT secret
// (stable across restarts, so that the links of sent emails keep working).
func trackingKeys(cfg Config) (*tracking.Keys, error) {
	if cfg.TrackingKeys != "" {
		k, err := tracking.ParseKeys(cfg.TrackingKeys)
		if err != nil {
			return nil, fmt.Errorf("TRACKING_KEYS: %w", err)
		}
		return k, nil
	}
	m := hmac.New(sha256.New, cfg.JWTSecret)
	_, _ = io.WriteString(m, "omnisphere email tracking key v1")
	return tracking.NewKeys("j1", map[string][]byte{"j1": m.Sum(nil)})
}

// newMarketing builds the marketing engine: profiles kept by checkout,
// the campaign sender and the tracking endpoints.
func (s *Server) newMarketing() error {
	cfg := s.Config
	keys, err := trackingKeys(cfg)
	if err != nil {
		return err
	}
	s.Marketing = marketing.New(s.DB.Client, marketing.Mail{PublicURL: cfg.PublicURL, Keys: keys}, s.Log)
	s.Checkout.Profiles = s.Marketing
	s.Mailer, err = mailer.New(cfg.SMTPURL, s.Log)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	var rl ratelimit.Limiter
	if s.Redis != nil {
		rl = s.Limiter // shared by every process: one rate per store
	}
	s.Campaigns = campaign.New(s.DB, s.Mailer, s.Marketing, s.Billing, rl, campaign.Config{
		PollInterval: cfg.CampaignPoll, Workers: cfg.CampaignWorkers, DefaultRatePerMinute: cfg.CampaignRate,
		DefaultFrom: cfg.EmailFrom,
	}, s.Log)
	s.tracking = tracking.NewHandler(tracking.NewEntRecorder(s.DB.Client, tracking.EntRecorderConfig{Log: s.Log}), keys, s.Log)
	return nil
}

// consumeMarketing registers the marketing engine's durable consumers
// (before the relay starts: see startEvents).
func (s *Server) consumeMarketing(ctx context.Context) error {
	if s.Marketing == nil {
		return nil
	}
	return s.Durable.Consume(ctx, groupSegments, s.reevaluate)
}

// reevaluate keeps the dynamic segments current as a customer's events
// arrive: the customer the event is about is evaluated again against every
// dynamic segment of its store (segment.entered events for the segments
// they join).
func (s *Server) reevaluate(ctx context.Context, e events.Event) error {
	id, err := s.customerOf(ctx, e)
	if err != nil || id == uuid.Nil {
		return err
	}
	_, _, err = s.Marketing.Segments.ReevaluateCustomer(viewer.ActAsStore(ctx, e.MerchantID, "segment re-evaluation"), e.MerchantID, id)
	if ent.IsNotFound(err) {
		return nil // the customer was erased meanwhile
	}
	return err
}

// customerOf is the customer profile an event is about, or uuid.Nil.
func (s *Server) customerOf(ctx context.Context, e events.Event) (uuid.UUID, error) {
	switch e.Topic {
	case events.TopicCustomerEventTracked:
		m, err := events.Decode[events.CustomerEventTracked](e)
		if err != nil || m.CustomerID == nil {
			return uuid.Nil, ignoreDecode(err)
		}
		return *m.CustomerID, nil
	case events.TopicCustomerCreated:
		m, err := events.Decode[events.CustomerCreated](e)
		return m.CustomerID, ignoreDecode(err)
	case events.TopicCustomerUpdated:
		m, err := events.Decode[events.CustomerUpdated](e)
		return m.CustomerID, ignoreDecode(err)
	case events.TopicOrderPaid, events.TopicOrderRefunded, events.TopicOrderCreated:
		var m events.OrderState // every order event carries it
		if err := json.Unmarshal(e.Payload, &m); err != nil {
			return uuid.Nil, nil
		}
		if m.CustomerID != nil {
			return *m.CustomerID, nil
		}
		sctx := viewer.ActAsStore(ctx, e.MerchantID, "segment re-evaluation")
		o, err := s.DB.Client.Order.Get(sctx, m.OrderID)
		if ent.IsNotFound(err) || (err == nil && o.Email == "") {
			return uuid.Nil, nil
		} else if err != nil {
			return uuid.Nil, err
		}
		id, err := s.DB.Client.Customer.Query().Where(customer.MerchantID(e.MerchantID), customer.Email(o.Email)).FirstID(sctx)
		if ent.IsNotFound(err) {
			return uuid.Nil, nil
		}
		return id, err
	}
	return uuid.Nil, nil
}

// ignoreDecode drops a payload that does not decode: delivering it again
// cannot help.
func ignoreDecode(error) error { return nil }

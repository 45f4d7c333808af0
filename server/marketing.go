package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"html"
	"io"
	"net/http"

	"github.com/omnisphere/omnisphere/internal/marketing"
	"github.com/omnisphere/omnisphere/internal/marketing/campaign"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/popup"
	"github.com/omnisphere/omnisphere/internal/marketing/tracking"
	"github.com/omnisphere/omnisphere/internal/marketing/workflow"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
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
	return tracking.NewKeys("j1", map[string][]byte{"j1": derivedKey(cfg.JWTSecret, "omnisphere email tracking key v1")})
}

// derivedKey is a key for one purpose derived from secret (HMAC-SHA256).
func derivedKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	_, _ = io.WriteString(m, purpose)
	return m.Sum(nil)
}

// newMarketing builds the marketing engine: profiles kept by checkout,
// the campaign sender and the tracking endpoints.
func (s *Server) newMarketing() error {
	cfg := s.Config
	keys, err := trackingKeys(cfg)
	if err != nil {
		return err
	}
	if cfg.EmailFrom == "" {
		cfg.EmailFrom = cfg.defaultEmailFrom()
	}
	s.Mailer, err = mailer.New(cfg.SMTPURL, s.Log)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	s.Marketing = marketing.New(s.DB.Client, marketing.Mail{PublicURL: cfg.PublicURL, Keys: keys, Sender: s.Mailer, From: cfg.EmailFrom}, s.Log)
	s.Checkout.Profiles = s.Marketing
	s.Popups, err = popup.New(s.DB.Client, s.DB.Dialect, popup.Config{TokenKey: derivedKey(cfg.JWTSecret, "omnisphere popup confirmation key v1")})
	if err != nil {
		return err
	}
	var rl ratelimit.Limiter
	if s.Redis != nil {
		rl = s.Limiter // shared by every process: one rate per store
	}
	s.Campaigns = campaign.New(s.DB, s.Mailer, s.Marketing, s.Billing, rl, campaign.Config{
		PollInterval: cfg.CampaignPoll, Workers: cfg.CampaignWorkers, DefaultRatePerMinute: cfg.CampaignRate,
		DefaultFrom: cfg.EmailFrom,
	}, s.Log)
	s.Workflows = workflow.New(s.DB, s.Mailer, marketing.WorkflowRenderer{Service: s.Marketing}, workflow.Config{
		PollInterval: cfg.CampaignPoll, DefaultFrom: cfg.EmailFrom}, s.Log)
	s.tracking = tracking.NewHandler(tracking.NewEntRecorder(s.DB.Client, tracking.EntRecorderConfig{Log: s.Log}), keys, s.Log)
	return nil
}

// consumeMarketing registers the marketing engine's durable consumers
// (before the relay starts: see startEvents).
func (s *Server) consumeMarketing(ctx context.Context) error {
	if s.Marketing == nil {
		return nil
	}
	if err := s.Durable.Consume(ctx, groupSegments, s.Marketing.ReevaluateFor); err != nil {
		return err
	}
	return s.Durable.Consume(ctx, workflow.ConsumerGroup, s.Workflows.HandleEvent)
}

// confirmPage answers the double opt-in link of a popup subscription: GET
// shows a button, POST confirms. Mail scanners that follow links with GET
// subscribe nobody.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	token := r.FormValue("token")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	page := func(status int, body string) {
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">`+
			`<title>Subscription</title><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">%s</body></html>`, body)
	}
	if token == "" || len(token) > 4096 {
		page(http.StatusBadRequest, "<p>This confirmation link is incomplete.</p>")
		return
	}
	if r.Method != http.MethodPost {
		page(http.StatusOK, `<p>Confirm your subscription?</p><form method="post"><input type="hidden" name="token" value="`+
			html.EscapeString(token)+`"><button type="submit">Confirm my subscription</button></form>`)
		return
	}
	if _, err := s.Popups.Confirm(r.Context(), token); err != nil {
		if _, ok := popup.IsUserError(err); ok {
			page(http.StatusBadRequest, "<p>This confirmation link is not valid any more. Subscribe again to get a new one.</p>")
			return
		}
		s.Log.ErrorContext(r.Context(), "popup confirmation", "err", err)
		page(http.StatusInternalServerError, "<p>Something went wrong. Please try again later.</p>")
		return
	}
	page(http.StatusOK, "<p>Thank you: your subscription is confirmed.</p>")
}

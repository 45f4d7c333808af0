package marketing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/storefrontconfig"
	"github.com/omnisphere/omnisphere/internal/marketing/campaign"
	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/marketing/mailtmpl"
	"github.com/omnisphere/omnisphere/internal/marketing/tracking"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Mail is what the engine needs to write emails: the server's public URL
// (links to /t/… and the storefront) and the tracking keys.
type Mail struct {
	// PublicURL is the server's external base URL, e.g. https://api.example.com.
	PublicURL string
	// Keys sign the tracking and unsubscribe links.
	Keys *tracking.Keys
	// Sender sends the engine's own emails (double opt-in confirmations)
	// from From.
	Sender mailer.Sender
	From   string
}

// storeCacheTTL bounds how stale a store's name, URL and currency may be in
// the emails being sent.
const storeCacheTTL = 30 * time.Second

type cachedStore struct {
	at    time.Time
	store mailtmpl.Store
}

type cachedTemplate struct {
	updated time.Time
	t       mailtmpl.Template
}

// store returns the template view of store mid (cached briefly).
func (s *Service) store(ctx context.Context, mid uuid.UUID) (mailtmpl.Store, error) {
	if c, ok := s.stores.Load(mid); ok && s.now().Sub(c.(cachedStore).at) < storeCacheTTL {
		return c.(cachedStore).store, nil
	}
	sctx := viewer.ActAsStore(ctx, mid, "store for email")
	m, err := s.client.MerchantAccount.Query().Where(merchantaccount.ID(mid)).Only(sctx)
	if err != nil {
		return mailtmpl.Store{}, fmt.Errorf("marketing: store: %w", err)
	}
	st := mailtmpl.Store{Name: m.Name, Currency: "USD", URL: strings.TrimRight(s.Mail.PublicURL, "/") + "/store"}
	cfg, err := s.client.StorefrontConfig.Query().Where(storefrontconfig.MerchantID(mid)).Only(sctx)
	switch {
	case err == nil:
		if cfg.StoreName != "" {
			st.Name = cfg.StoreName
		}
		st.Currency = cfg.Currency
		if cfg.Domain != nil && *cfg.Domain != "" {
			st.URL = "https://" + *cfg.Domain
		}
		if logo, ok := cfg.Branding["logo"].(string); ok && strings.HasPrefix(logo, "https://") {
			st.LogoURL = logo
		}
	case !ent.IsNotFound(err):
		return mailtmpl.Store{}, fmt.Errorf("marketing: store: %w", err)
	}
	s.stores.Store(mid, cachedStore{at: s.now(), store: st})
	return st, nil
}

// customerData is the template view of profile p.
func customerData(p *ent.Customer) mailtmpl.Customer {
	return mailtmpl.Customer{FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Attributes: p.Properties}
}

// template returns the template of campaign c: its own subject and bodies,
// with what it leaves empty taken from its saved template.
func (s *Service) template(ctx context.Context, c *ent.EmailCampaign) (mailtmpl.Template, error) {
	t := mailtmpl.Template{Subject: c.Subject, Preheader: c.Preheader, HTML: c.HTMLBody, Text: c.TextBody}
	if t.HTML != "" || c.TemplateID == nil {
		return t, nil
	}
	var saved mailtmpl.Template
	if v, ok := s.templates.Load(*c.TemplateID); ok && v.(cachedTemplate).updated.Equal(c.UpdatedAt) {
		saved = v.(cachedTemplate).t
	} else {
		row, err := s.client.EmailTemplate.Get(viewer.ActAsStore(ctx, c.MerchantID, "campaign template"), *c.TemplateID)
		if err != nil {
			return t, fmt.Errorf("marketing: campaign template: %w", err)
		}
		saved = mailtmpl.Template{Subject: row.Subject, Preheader: row.Preheader, HTML: row.HTMLBody, Text: row.TextBody}
		s.templates.Store(*c.TemplateID, cachedTemplate{updated: c.UpdatedAt, t: saved})
	}
	if t.Subject == "" {
		t.Subject = saved.Subject
	}
	if t.Preheader == "" {
		t.Preheader = saved.Preheader
	}
	t.HTML, t.Text = saved.HTML, saved.Text
	return t, nil
}

// Render implements campaign.Renderer: the campaign's template for one
// recipient, links tracked as the campaign says, with the RFC 8058
// one-click unsubscribe headers.
func (s *Service) Render(ctx context.Context, in campaign.RenderInput) (subject, html, text string, headers map[string]string, err error) {
	if s.Mail.Keys == nil {
		return "", "", "", nil, errors.New("marketing: no tracking keys configured")
	}
	t, err := s.template(ctx, in.Campaign)
	if err != nil {
		return "", "", "", nil, err
	}
	st, err := s.store(ctx, in.Campaign.MerchantID)
	if err != nil {
		return "", "", "", nil, err
	}
	base := strings.TrimRight(s.Mail.PublicURL, "/")
	unsub, err := s.Mail.Keys.UnsubscribeURL(base, in.Send.TrackingToken)
	if err != nil {
		return "", "", "", nil, err
	}
	r, err := mailtmpl.Render(ctx, t, mailtmpl.Data{Customer: customerData(in.Customer), Store: st, UnsubscribeURL: unsub})
	if err != nil {
		return "", "", "", nil, err
	}
	c := in.Campaign
	html = s.Mail.Keys.Rewrite(r.HTML, in.Send.TrackingToken, base, tracking.Options{
		TrackOpens: c.TrackOpens, TrackClicks: c.TrackClicks,
		UTM: tracking.UTM{Source: c.UtmSource, Medium: c.UtmMedium, Campaign: c.UtmCampaign, Content: c.UtmContent},
	})
	headers = map[string]string{
		"List-Unsubscribe":      "<" + unsub + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}
	return r.Subject, html, r.Text, headers, nil
}

var _ campaign.Renderer = (*Service)(nil)

// caches of Render.
type renderCaches struct {
	stores    sync.Map // uuid.UUID → cachedStore
	templates sync.Map // template id → cachedTemplate
}

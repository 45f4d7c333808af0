package marketing

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/usererr"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Limits of a tracked event (trackEvent): what a browser may send is
// untrusted, so its size is bounded before anything is stored.
const (
	MaxPropertiesBytes = 8 << 10 // the properties as JSON
	MaxPropertyKeys    = 50      // keys at the top level
	MaxPropertyDepth   = 3       // nesting of objects and arrays
	MaxIDLength        = 64      // anonymousId, messageId, sessionId
	MaxURLLength       = 2048
	// An event may say it happened up to a day before it arrives (a
	// browser's queued events) and up to 5 minutes after (clock skew).
	MaxEventAge  = 24 * time.Hour
	MaxClockSkew = 5 * time.Minute
)

// eventType is a tracked event's name: snake_case, a letter first, at
// most 100 characters (e.g. product_viewed).
var eventType = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)

// idText is what ids sent by a browser may contain.
var idText = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,64}$`)

// TrackInput is trackEvent's input.
type TrackInput struct {
	// Type names the event, in snake_case.
	Type string
	// Properties is the event's payload (product id, cart total, …).
	Properties map[string]any
	// AnonymousID is the storefront's visitor id (a first-party cookie or
	// local storage value). A visitor must send it; a signed-in customer
	// who sends it has the visitor's earlier events attached to them.
	AnonymousID string
	// MessageID, when set, makes the event idempotent: the same id again
	// in this store is the same event.
	MessageID string
	// OccurredAt is when it happened (now when nil).
	OccurredAt *time.Time
	// SessionID, PageURL and Referrer describe the visit.
	SessionID, PageURL, Referrer string
	// ValueAmount is the event's money value, in minor units of Currency.
	ValueAmount *int64
	Currency    string
	// CustomerID names the customer of a server-side event (secret key
	// or staff only).
	CustomerID *uuid.UUID
}

// RequestMeta is what the transport knows of the caller.
type RequestMeta struct {
	IP, UserAgent string
}

// Track records a customer event of ctx's store: a visitor's (source
// STOREFRONT, anonymousId required), a signed-in customer's (theirs) or a
// server's (SERVER, secret key or staff, customerId or anonymousId), with
// a customer.event outbox event in the same transaction for live
// subscriptions (customerActivity), segments and workflows. A repeated
// messageId answers the event first recorded with it.
func (s *Service) Track(ctx context.Context, in TrackInput, meta RequestMeta) (*ent.CustomerEvent, error) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return nil, viewer.ErrNoTenant
	}
	now := s.now()
	props, err := s.validate(&in, v, now)
	if err != nil {
		return nil, err
	}
	mid := v.MerchantID
	source := customerevent.SourceSTOREFRONT
	var who *uuid.UUID
	switch {
	case v.Kind == viewer.Customer:
		id := v.CustomerID
		who = &id
	case v.IsStaff():
		source = customerevent.SourceSERVER
		who = in.CustomerID
	}
	sctx := viewer.ActAsStore(ctx, mid, "track event")
	if in.MessageID != "" {
		if e, err := s.client.CustomerEvent.Query().Where(customerevent.MerchantID(mid), customerevent.MessageID(in.MessageID)).Only(sctx); err == nil {
			return e, nil
		}
	}
	occurred := now
	if in.OccurredAt != nil {
		occurred = in.OccurredAt.UTC()
	}
	var out *ent.CustomerEvent
	err = s.inTx(sctx, func(c *ent.Client) error {
		if who != nil {
			p, err := c.Customer.Query().Where(customer.ID(*who), customer.MerchantID(mid)).Only(sctx)
			if ent.IsNotFound(err) {
				return userErr(usererr.NotFound, []string{"input", "customerId"}, "no customer with this id")
			} else if err != nil {
				return err
			}
			if in.AnonymousID != "" {
				if err := identify(sctx, c, mid, p, in.AnonymousID); err != nil {
					return err
				}
			}
			if p.LastSeenAt == nil || p.LastSeenAt.Before(occurred) {
				if err := c.Customer.UpdateOneID(p.ID).SetLastSeenAt(occurred).Exec(sctx); err != nil {
					return err
				}
			}
		}
		create := c.CustomerEvent.Create().SetMerchantID(mid).SetNillableCustomerID(who).SetType(in.Type).
			SetProperties(props).SetSource(source).SetOccurredAt(occurred).SetReceivedAt(now).
			SetNillableValueAmount(in.ValueAmount)
		for _, f := range []struct {
			val string
			set func(string) *ent.CustomerEventCreate
		}{
			{in.AnonymousID, create.SetAnonymousID}, {in.MessageID, create.SetMessageID}, {in.SessionID, create.SetSessionID},
			{in.PageURL, create.SetPageURL}, {in.Referrer, create.SetReferrer}, {in.Currency, create.SetCurrency},
			{clip(meta.IP, 64), create.SetIP}, {clip(meta.UserAgent, 512), create.SetUserAgent},
		} {
			if f.val != "" {
				f.set(f.val)
			}
		}
		e, err := create.Save(sctx)
		if err != nil {
			return err
		}
		out = e
		_, err = events.Write(sctx, c, mid, events.CustomerEventTracked{EventID: e.ID, CustomerID: who, AnonymousID: in.AnonymousID,
			Type: e.Type, Properties: props, ValueAmount: in.ValueAmount, Currency: e.Currency, OccurredAt: occurred})
		return err
	})
	if ent.IsConstraintError(err) && in.MessageID != "" {
		// The same messageId raced in: answer the one that won.
		return s.client.CustomerEvent.Query().Where(customerevent.MerchantID(mid), customerevent.MessageID(in.MessageID)).Only(sctx)
	}
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil // read from the committed transaction: its edges load through the client
}

// validate checks in and returns its properties (never nil).
func (s *Service) validate(in *TrackInput, v viewer.Viewer, now time.Time) (map[string]any, error) {
	var l usererr.List
	l.Scope = "marketing"
	in.Type = strings.TrimSpace(in.Type)
	if !eventType.MatchString(in.Type) {
		l.Add(usererr.Invalid, []string{"input", "type"}, "type must be snake_case: a lower-case letter, then letters, digits or _ (at most 100)")
	}
	for _, f := range []struct {
		name string
		val  string
	}{{"anonymousId", in.AnonymousID}, {"messageId", in.MessageID}, {"sessionId", in.SessionID}} {
		if f.val != "" && !idText.MatchString(f.val) {
			l.Add(usererr.Invalid, []string{"input", f.name}, "%s must be 1-%d letters, digits or . _ : -", f.name, MaxIDLength)
		}
	}
	for _, f := range []struct {
		name string
		val  string
	}{{"pageUrl", in.PageURL}, {"referrer", in.Referrer}} {
		if len(f.val) > MaxURLLength || !utf8.ValidString(f.val) {
			l.Add(usererr.TooLong, []string{"input", f.name}, "%s must be valid text of at most %d bytes", f.name, MaxURLLength)
		}
	}
	if in.Currency != "" && !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(in.Currency) {
		l.Add(usererr.Invalid, []string{"input", "currency"}, "currency must be an ISO 4217 code such as USD")
	}
	switch {
	case v.Kind == viewer.Customer:
		if in.CustomerID != nil && *in.CustomerID != v.CustomerID {
			l.Add(usererr.Invalid, []string{"input", "customerId"}, "a customer tracks their own events only")
		}
	case v.IsStaff():
		if !v.Can("customers:write") {
			return nil, viewer.ErrStaffOnly // FORBIDDEN: a key without customers:write
		}
		if in.CustomerID == nil && in.AnonymousID == "" {
			l.Add(usererr.Required, []string{"input", "customerId"}, "a server event names a customerId or an anonymousId")
		}
	default:
		if in.CustomerID != nil {
			l.Add(usererr.Invalid, []string{"input", "customerId"}, "a storefront visitor cannot name a customer: sign in instead")
		}
		if in.AnonymousID == "" {
			l.Add(usererr.Required, []string{"input", "anonymousId"}, "a storefront visitor sends its anonymousId")
		}
	}
	if in.OccurredAt != nil && (in.OccurredAt.Before(now.Add(-MaxEventAge)) || in.OccurredAt.After(now.Add(MaxClockSkew))) {
		l.Add(usererr.Invalid, []string{"input", "occurredAt"}, "occurredAt must be within the last 24 hours")
	}
	props := in.Properties
	if props == nil {
		props = map[string]any{}
	}
	if len(props) > MaxPropertyKeys {
		l.Add(usererr.TooMany, []string{"input", "properties"}, "at most %d properties", MaxPropertyKeys)
	} else if raw, err := json.Marshal(props); err != nil || len(raw) > MaxPropertiesBytes {
		l.Add(usererr.TooLong, []string{"input", "properties"}, "properties must be at most %d bytes of JSON", MaxPropertiesBytes)
	} else if depth(props) > MaxPropertyDepth {
		l.Add(usererr.Invalid, []string{"input", "properties"}, "properties may nest at most %d levels", MaxPropertyDepth)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	return props, nil
}

// depth is how deeply v nests objects and arrays (a scalar is 0).
func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// identify links anonymous visitor id anon to profile p: the profile
// remembers it, and the visitor's earlier events of this store that belong
// to nobody become p's. Events already attributed to someone stay theirs.
func identify(ctx context.Context, c *ent.Client, mid uuid.UUID, p *ent.Customer, anon string) error {
	if p.AnonymousID != anon {
		if err := c.Customer.UpdateOneID(p.ID).SetAnonymousID(anon).Exec(ctx); err != nil {
			return err
		}
	}
	_, err := c.CustomerEvent.Update().Where(customerevent.MerchantID(mid), customerevent.AnonymousID(anon),
		customerevent.CustomerIDIsNil()).SetCustomerID(p.ID).Save(ctx)
	if err != nil {
		return fmt.Errorf("marketing: identify: %w", err)
	}
	return nil
}

// Identify links visitor anon to customer id of store mid (on sign-in,
// registration or checkout of a visitor who tracked events before).
func (s *Service) Identify(ctx context.Context, mid, id uuid.UUID, anon string) error {
	if anon == "" || !idText.MatchString(anon) {
		return nil
	}
	sctx := viewer.ActAsStore(ctx, mid, "identify visitor")
	return s.inTx(sctx, func(c *ent.Client) error {
		p, err := c.Customer.Get(sctx, id)
		if err != nil {
			return err
		}
		return identify(sctx, c, mid, p, anon)
	})
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

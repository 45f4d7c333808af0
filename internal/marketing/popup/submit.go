package popup

import (
	"context"
	"database/sql"
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// SubmitInput is a storefront visitor's submission of a popup. Email (and
// FirstName, AnonymousID) come from the visitor; IP, UserAgent and PagePath
// from the request, kept as proof of consent.
type SubmitInput struct {
	Email       string // email: required, at most 254 characters
	FirstName   string // firstName: optional, at most 100 characters
	AnonymousID string // anonymousId: the storefront's visitor id, at most 64
	IP          string
	UserAgent   string
	PagePath    string
}

// Result is the outcome of a submission.
type Result struct {
	// Customer is the profile after the submission.
	Customer *ent.Customer
	// Created reports whether the submission created the profile.
	Created bool
	// Popup is the submitted popup (counters before this submission).
	Popup *ent.CapturePopup
	// DiscountCode is the offer to show, "" when the popup has none or its
	// discount is no longer usable (inactive, expired or used up).
	DiscountCode string
	// ConfirmationRequired: the caller must email ConfirmationToken to
	// Customer.Email in a link that leads to Confirm. The subscription
	// starts only then.
	ConfirmationRequired bool
	// ConfirmationToken is set when ConfirmationRequired; valid for
	// Config.ConfirmationTTL, until ConfirmationExpiresAt.
	ConfirmationToken     string
	ConfirmationExpiresAt time.Time
}

// The customer_events types this package writes (source SYSTEM).
const (
	EventPopupSubmitted = "popup_submitted"
	EventPopupConfirmed = "popup_confirmed"
)

const (
	maxEmail       = 254
	maxFirstName   = 100
	maxAnonymousID = 64
)

// NormalizeEmail trims and lower-cases an address and checks it: at most
// 254 characters, a bare address by net/mail (no display name, no
// comments), with a dot in the domain.
func NormalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	at := path("input", "email")
	switch {
	case e == "":
		return "", fieldErr(CodeRequired, at, "email is required")
	case len(e) > maxEmail:
		return "", fieldErr(CodeTooLong, at, "email must be at most %d characters", maxEmail)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", fieldErr(CodeInvalid, at, "email is not a valid address")
	}
	i := strings.LastIndex(e, "@")
	local, domain := e[:i], e[i+1:]
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", fieldErr(CodeInvalid, at, "email is not a valid address")
	}
	return e, nil
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}

// Submit records a visitor's submission of popup popupID of store
// merchantID. The popup must be live (ACTIVE, in its window): otherwise an
// UNAVAILABLE user error; an id the store does not have is ErrNotFound.
//
// In one transaction it creates the profile of the email (source POPUP) or
// updates the existing one of the store (matched on the lower-cased email),
// applies the consent rule below, adds the customer to the popup's
// segment, counts the submission (submissions_count + 1), records a
// popup_submitted customer event and writes customer.created or
// customer.updated (and customer.event, segment.entered) to the outbox.
//
// Consent rule (docs/popups.md):
//   - new profile, or one that never subscribed (UNSUBSCRIBED with no
//     unsubscribe time), or PENDING: SUBSCRIBED with SINGLE_OPT_IN, source
//     POPUP, the IP and the time — or PENDING with a confirmation token when
//     the popup asks for double opt-in;
//   - SUBSCRIBED: unchanged (no confirmation, even with double opt-in);
//   - opted out (UNSUBSCRIBED with an unsubscribe time), BOUNCED or
//     COMPLAINED: unchanged, and a confirmation token is returned whatever
//     the popup's setting: only Confirm subscribes them again;
//   - a DELETED (erased) profile is not touched and gets no token.
func (s *Service) Submit(ctx context.Context, merchantID, popupID uuid.UUID, in SubmitInput) (*Result, error) {
	sctx, err := storeContext(ctx, merchantID, "popup submission")
	if err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	p := &problems{}
	first := text(p, "firstName", in.FirstName, maxFirstName, false, false)
	anon := text(p, "anonymousId", in.AnonymousID, maxAnonymousID, false, false)
	if err := p.err(); err != nil {
		return nil, err
	}
	ip, ua, page := clip(in.IP, 64), clip(in.UserAgent, 512), clip(in.PagePath, 2048)

	var res *Result
	err = s.inTx(sctx, func(tx *ent.Client) error {
		now := s.now()
		res = &Result{}
		pop, err := tx.CapturePopup.Get(sctx, popupID)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !Live(pop, now) {
			return fieldErr(CodeUnavailable, path("input", "popupId"), "this popup is not accepting submissions")
		}
		res.Popup = pop

		cust, created, err := s.profile(sctx, tx, merchantID, email, pop.DoubleOptIn, first, anon, ip, now)
		if err != nil {
			return err
		}
		res.Created = created
		var changed []string
		needConfirm := false
		if !created {
			var u *ent.CustomerUpdateOne
			u, changed, needConfirm = consentUpdate(tx, cust, pop.DoubleOptIn, ip, now)
			if cust.Status != customer.StatusDELETED {
				if first != "" && cust.FirstName == "" {
					u.SetFirstName(first)
					changed = append(changed, customer.FieldFirstName)
				}
				if anon != "" && cust.AnonymousID != anon {
					u.SetAnonymousID(anon)
					changed = append(changed, customer.FieldAnonymousID)
				}
			}
			if len(changed) > 0 {
				if cust, err = u.Save(sctx); err != nil {
					return err
				}
				if _, err := events.Write(sctx, tx, merchantID, events.CustomerUpdated{CustomerID: cust.ID, Changed: changed}); err != nil {
					return err
				}
			}
		} else {
			needConfirm = pop.DoubleOptIn
		}
		res.Customer = cust

		if pop.SegmentID != nil && cust.Status != customer.StatusDELETED {
			if err := s.joinSegment(sctx, tx, merchantID, *pop.SegmentID, cust.ID, now); err != nil {
				return err
			}
		}
		if err := tx.CapturePopup.UpdateOneID(pop.ID).AddSubmissionsCount(1).Exec(sctx); err != nil {
			return err
		}
		props := map[string]any{"popupId": pop.ID.String(), "consent": string(cust.EmailConsent), "created": created}
		if page != "" {
			props["pagePath"] = page
		}
		if cust.Status != customer.StatusDELETED { // an erased profile gets no new timeline
			if err := trackEvent(sctx, tx, merchantID, cust.ID, EventPopupSubmitted, props, anon, ip, ua, page, now); err != nil {
				return err
			}
		}
		if code := pop.IncentiveDiscountCode; code != "" {
			dc, err := tx.Discount.Query().Where(discount.Code(code)).Only(sctx)
			if err != nil && !ent.IsNotFound(err) {
				return err
			}
			if err == nil && unusable(dc, now) == "" {
				res.DiscountCode = dc.Code
			}
		}
		if needConfirm {
			res.ConfirmationRequired = true
			res.ConfirmationExpiresAt = now.Add(s.cfg.ConfirmationTTL).Truncate(time.Second)
			res.ConfirmationToken = signToken(s.cfg.TokenKey, confirmation{
				MerchantID: merchantID, CustomerID: cust.ID, PopupID: pop.ID,
				IssuedAt: now, ExpiresAt: res.ConfirmationExpiresAt,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// profile returns the store's profile of email, locked (PostgreSQL) for the
// rest of the transaction. When there is none it creates it — SUBSCRIBED or
// PENDING by doubleOptIn — and writes customer.created; created reports
// that. Two first submissions of one email race on the unique (merchant_id,
// email) index: the loser's insert does nothing and it reads the winner's
// row (PostgreSQL waits for the winner's commit) and updates it instead.
func (s *Service) profile(ctx context.Context, tx *ent.Client, merchantID uuid.UUID, email string, doubleOptIn bool,
	first, anon, ip string, now time.Time) (*ent.Customer, bool, error) {
	get := func() (*ent.Customer, error) {
		q := tx.Customer.Query().Where(customer.Email(email))
		if s.postgres() {
			q = q.ForUpdate()
		}
		return q.Only(ctx)
	}
	c, err := get()
	if err == nil || !ent.IsNotFound(err) {
		return c, false, err
	}
	create := tx.Customer.Create().SetMerchantID(merchantID).SetEmail(email).SetSource(customer.SourcePOPUP).
		SetFirstName(first).SetEmailConsentSource(customer.EmailConsentSourcePOPUP)
	if anon != "" {
		create.SetAnonymousID(anon)
	}
	if ip != "" {
		create.SetEmailConsentIP(ip)
	}
	if doubleOptIn {
		create.SetEmailConsent(customer.EmailConsentPENDING)
	} else {
		create.SetEmailConsent(customer.EmailConsentSUBSCRIBED).SetEmailOptInLevel(customer.EmailOptInLevelSINGLE_OPT_IN).
			SetEmailConsentedAt(now)
	}
	_, err = create.OnConflictColumns(customer.FieldMerchantID, customer.FieldEmail).DoNothing().ID(ctx)
	created := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !ent.IsNotFound(err) {
		return nil, false, err
	}
	if c, err = get(); err != nil {
		return nil, false, err
	}
	if created {
		if _, err := events.Write(ctx, tx, merchantID, events.CustomerCreated{CustomerID: c.ID, Email: email, Source: string(customer.SourcePOPUP)}); err != nil {
			return nil, false, err
		}
	}
	return c, created, nil
}

// optedOut reports whether c withdrew or lost consent: only a confirmed
// opt-in may subscribe it again.
func optedOut(c *ent.Customer) bool {
	switch c.EmailConsent {
	case customer.EmailConsentBOUNCED, customer.EmailConsentCOMPLAINED:
		return true
	case customer.EmailConsentUNSUBSCRIBED:
		return c.EmailUnsubscribedAt != nil
	}
	return false
}

// consentUpdate applies the consent rule of Submit to an existing profile:
// the update to save, the changed fields, and whether a confirmation is
// needed.
func consentUpdate(tx *ent.Client, c *ent.Customer, doubleOptIn bool, ip string, now time.Time) (*ent.CustomerUpdateOne, []string, bool) {
	u := tx.Customer.UpdateOne(c)
	var changed []string
	switch {
	case c.Status == customer.StatusDELETED, c.EmailConsent == customer.EmailConsentSUBSCRIBED:
		return u, nil, false
	case optedOut(c):
		return u, nil, true
	case doubleOptIn:
		// A PENDING profile gets a fresh token (the caller sends the
		// confirmation again).
		if c.EmailConsent != customer.EmailConsentPENDING {
			u.SetEmailConsent(customer.EmailConsentPENDING)
			changed = append(changed, customer.FieldEmailConsent)
		}
		if c.EmailConsentSource != customer.EmailConsentSourcePOPUP {
			u.SetEmailConsentSource(customer.EmailConsentSourcePOPUP)
			changed = append(changed, customer.FieldEmailConsentSource)
		}
		if ip != "" && c.EmailConsentIP != ip {
			u.SetEmailConsentIP(ip)
			changed = append(changed, customer.FieldEmailConsentIP)
		}
		return u, changed, true
	default: // never subscribed, or PENDING: a single opt-in subscribes
		u.SetEmailConsent(customer.EmailConsentSUBSCRIBED).SetEmailOptInLevel(customer.EmailOptInLevelSINGLE_OPT_IN).
			SetEmailConsentSource(customer.EmailConsentSourcePOPUP).SetEmailConsentedAt(now)
		if ip != "" {
			u.SetEmailConsentIP(ip)
		}
		return u, []string{customer.FieldEmailConsent}, false
	}
}

// joinSegment adds the customer to the popup's segment (a MANUAL member)
// unless already a member, keeps member_count and writes segment.entered.
// An archived or deleted segment is skipped.
func (s *Service) joinSegment(ctx context.Context, tx *ent.Client, merchantID, segmentID, customerID uuid.UUID, now time.Time) error {
	seg, err := tx.CustomerSegment.Get(ctx, segmentID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if seg.Status == customersegment.StatusARCHIVED {
		return nil
	}
	_, err = tx.SegmentMember.Create().SetMerchantID(merchantID).SetSegmentID(segmentID).SetCustomerID(customerID).
		SetSource(segmentmember.SourceMANUAL).SetAddedAt(now).
		OnConflictColumns(segmentmember.FieldSegmentID, segmentmember.FieldCustomerID).DoNothing().ID(ctx)
	if errors.Is(err, sql.ErrNoRows) || ent.IsNotFound(err) {
		return nil // already a member
	}
	if err != nil {
		return err
	}
	if err := tx.CustomerSegment.UpdateOneID(segmentID).AddMemberCount(1).Exec(ctx); err != nil {
		return err
	}
	_, err = events.Write(ctx, tx, merchantID, events.SegmentEntered{SegmentID: segmentID, CustomerID: customerID, EnteredAt: now})
	return err
}

// trackEvent records a SYSTEM customer event and its customer.event outbox
// row.
func trackEvent(ctx context.Context, tx *ent.Client, merchantID, customerID uuid.UUID, typ string, props map[string]any,
	anon, ip, ua, page string, now time.Time) error {
	c := tx.CustomerEvent.Create().SetMerchantID(merchantID).SetCustomerID(customerID).SetType(typ).
		SetProperties(props).SetSource(customerevent.SourceSYSTEM).SetOccurredAt(now).SetReceivedAt(now)
	if anon != "" {
		c.SetAnonymousID(anon)
	}
	if ip != "" {
		c.SetIP(ip)
	}
	if ua != "" {
		c.SetUserAgent(ua)
	}
	if page != "" {
		c.SetPageURL(page)
	}
	ev, err := c.Save(ctx)
	if err != nil {
		return err
	}
	cid := customerID
	_, err = events.Write(ctx, tx, merchantID, events.CustomerEventTracked{EventID: ev.ID, CustomerID: &cid,
		AnonymousID: anon, Type: typ, Properties: props, OccurredAt: now})
	return err
}

// Confirm redeems a confirmation token (Result.ConfirmationToken): the
// customer becomes SUBSCRIBED with CONFIRMED_OPT_IN, the email counts as
// verified, and customer.updated is written. It needs no viewer: the token
// names the store; a context acting for another store is refused like a
// bad token. Confirming twice is harmless.
//
// User errors (field ["input", "token"]): INVALID for a forged, tampered or
// superseded token (the customer unsubscribed after it was issued, or was
// erased), TOKEN_EXPIRED for a genuine one past its expiry.
func (s *Service) Confirm(ctx context.Context, token string) (*ent.Customer, error) {
	at := path("input", "token")
	keys := append([][]byte{s.cfg.TokenKey}, s.cfg.OldTokenKeys...)
	c, err := verifyToken(keys, token, s.now())
	switch {
	case errors.Is(err, errTokenExpired):
		return nil, fieldErr(CodeTokenExpired, at, "%s", err.Error())
	case err != nil:
		return nil, fieldErr(CodeInvalid, at, "%s", err.Error())
	}
	if m, ok := viewer.MerchantFromContext(ctx); ok && m != c.MerchantID {
		return nil, fieldErr(CodeInvalid, at, "%s", errTokenInvalid.Error())
	}
	sctx := viewer.ActAsStore(ctx, c.MerchantID, "popup double opt-in confirmation")
	var out *ent.Customer
	err = s.inTx(sctx, func(tx *ent.Client) error {
		now := s.now()
		q := tx.Customer.Query().Where(customer.ID(c.CustomerID))
		if s.postgres() {
			q = q.ForUpdate()
		}
		cust, err := q.Only(sctx)
		if ent.IsNotFound(err) {
			return fieldErr(CodeInvalid, at, "%s", errTokenInvalid.Error())
		}
		if err != nil {
			return err
		}
		if cust.Status == customer.StatusDELETED ||
			(cust.EmailUnsubscribedAt != nil && cust.EmailUnsubscribedAt.After(c.IssuedAt)) {
			return fieldErr(CodeInvalid, at, "the confirmation link was superseded")
		}
		if cust.EmailConsent == customer.EmailConsentSUBSCRIBED && cust.EmailOptInLevel == customer.EmailOptInLevelCONFIRMED_OPT_IN && cust.EmailVerified {
			out = cust
			return nil
		}
		changed := []string{customer.FieldEmailOptInLevel, customer.FieldEmailVerified}
		u := tx.Customer.UpdateOne(cust).SetEmailOptInLevel(customer.EmailOptInLevelCONFIRMED_OPT_IN).SetEmailVerified(true)
		if cust.EmailConsent != customer.EmailConsentSUBSCRIBED {
			u.SetEmailConsent(customer.EmailConsentSUBSCRIBED).SetEmailConsentSource(customer.EmailConsentSourcePOPUP).SetEmailConsentedAt(now)
			changed = append([]string{customer.FieldEmailConsent}, changed...)
		}
		if out, err = u.Save(sctx); err != nil {
			return err
		}
		if _, err := events.Write(sctx, tx, c.MerchantID, events.CustomerUpdated{CustomerID: cust.ID, Changed: changed}); err != nil {
			return err
		}
		return trackEvent(sctx, tx, c.MerchantID, cust.ID, EventPopupConfirmed,
			map[string]any{"popupId": c.PopupID.String()}, "", "", "", "", now)
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil // read from the committed transaction: its edges load through the client
}

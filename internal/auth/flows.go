package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/apikey"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/cartitem"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderaddress"
	"github.com/omnisphere/omnisphere/ent/refreshtoken"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/ent/user"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// audit writes an audit entry through c (usually the transaction of the
// change it records). Actor and request come from ctx's viewer and request.
func audit(ctx context.Context, c *ent.Client, merchant uuid.UUID, action, resourceType, resourceID string, meta map[string]any) error {
	v := viewer.FromContext(ctx)
	req := viewer.RequestFromContext(ctx)
	create := c.AuditLog.Create().SetMerchantID(merchant).SetAction(action).
		SetResourceType(resourceType).SetResourceID(resourceID).
		SetIP(clip(req.IP, 64)).SetUserAgent(clip(req.UserAgent, 512)).SetRequestID(clip(req.ID, 64))
	switch {
	case v.Kind == viewer.APIKey:
		create.SetActorType(auditlog.ActorTypeAPI_KEY).SetActorID(v.APIKeyID)
	case v.Kind == viewer.Customer:
		create.SetActorType(auditlog.ActorTypeCUSTOMER).SetActorID(v.CustomerID)
	case v.UserID != uuid.Nil:
		create.SetActorType(auditlog.ActorTypeUSER).SetActorID(v.UserID)
	default:
		create.SetActorType(auditlog.ActorTypeSYSTEM)
	}
	if meta != nil {
		create.SetMetadata(meta)
	}
	if err := create.Exec(ctx); err != nil {
		return fmt.Errorf("auth: audit %s: %w", action, err)
	}
	return nil
}

// Audit records an action by the viewer of ctx in its store (for callers
// outside this package, e.g. permission denials at the GraphQL edge).
func (s *Service) Audit(ctx context.Context, action, resourceType, resourceID string, meta map[string]any) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return
	}
	sys := viewer.SystemContext(ctx, "audit "+action)
	if err := audit(viewer.NewContext(sys, v), s.client, v.MerchantID, action, resourceType, resourceID, meta); err != nil {
		s.log.ErrorContext(ctx, "audit entry not written", "action", action, "error", err)
	}
}

// ---- merchant staff ---------------------------------------------------------

// RegisterInput is merchantRegister's input.
type RegisterInput struct {
	Email, Password, FullName, StoreName, StoreSlug string
}

// Registered is the outcome of a registration.
type Registered struct {
	User          *ent.User
	Merchant      *ent.MerchantAccount
	StorefrontKey string
	Session       Session
}

// Register creates, in one transaction, a store (merchant account), its
// owner, a default warehouse, a storefront configuration and a publishable
// storefront key, and signs the owner in.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*Registered, error) {
	email, e1 := normalizeEmail("email", in.Email)
	name, e2 := required("fullName", in.FullName, 200)
	store, e3 := required("storeName", in.StoreName, 200)
	slug := strings.ToLower(strings.TrimSpace(in.StoreSlug))
	var e4 *Error
	switch {
	case slug == "":
		e4 = fieldErr("storeSlug", CodeRequired, "storeSlug is required")
	case !slugRe.MatchString(slug):
		e4 = fieldErr("storeSlug", CodeInvalid, "storeSlug must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash")
	case reservedSlugs[slug]:
		e4 = fieldErr("storeSlug", CodeTaken, "storeSlug is reserved")
	}
	if err := collect(e1, e2, e3, e4, checkPassword("password", in.Password)); err != nil {
		return nil, err
	}
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	var out Registered
	err = s.withTx(ctx, "merchant registration", func(ctx context.Context, tx *ent.Client) error {
		if n, err := tx.MerchantAccount.Query().Where(merchantaccount.Slug(slug)).Exist(ctx); err != nil {
			return err
		} else if n {
			return fieldErr("storeSlug", CodeTaken, "storeSlug is already taken")
		}
		if n, err := tx.User.Query().Where(user.Email(email)).Exist(ctx); err != nil {
			return err
		} else if n {
			return fieldErr("email", CodeTaken, "an account with this email already exists")
		}
		m, err := tx.MerchantAccount.Create().SetName(store).SetSlug(slug).SetContactEmail(email).
			SetTrialEndsAt(s.cfg.Now().Add(s.cfg.TrialLength)).
			SetPlan(merchantaccount.PlanTRIAL).SetSubscriptionStatus(merchantaccount.SubscriptionStatusTRIALING).Save(ctx)
		if err != nil {
			return err
		}
		u, err := tx.User.Create().SetMerchantID(m.ID).SetEmail(email).SetPasswordHash(hash).
			SetFullName(name).SetRole(user.RoleOWNER).SetLastLoginAt(s.cfg.Now()).Save(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Warehouse.Create().SetMerchantID(m.ID).SetName("Default warehouse").SetCode("DEFAULT").
			SetIsDefault(true).Save(ctx); err != nil {
			return err
		}
		if _, err := tx.StorefrontConfig.Create().SetMerchantID(m.ID).SetStoreName(store).Save(ctx); err != nil {
			return err
		}
		key, _, err := createKey(ctx, tx, m.ID, u.ID, "Storefront", apikey.KindPUBLISHABLE, nil, nil)
		if err != nil {
			return err
		}
		sess, _, err := s.newSession(ctx, tx, KindStaff, u.ID, m.ID, uuid.Nil)
		if err != nil {
			return err
		}
		actx := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: u.ID})
		if err := audit(actx, tx, m.ID, "merchant.register", "merchant_account", m.ID.String(), map[string]any{"slug": slug}); err != nil {
			return err
		}
		out = Registered{User: u, Merchant: m, StorefrontKey: key, Session: sess}
		return nil
	})
	if ent.IsConstraintError(err) {
		// Lost a race with a concurrent registration of the same slug or email.
		return nil, &Error{Errors: []FieldError{{Field: []string{"input", "storeSlug"}, Message: "storeSlug or email is already taken", Code: CodeTaken}}}
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SignedIn is the outcome of a login.
type SignedIn struct {
	User     *ent.User
	Customer *ent.Customer
	Session  Session
}

var errBadCredentials = fieldErr("", CodeInvalidCredentials, "email or password is incorrect")

// Login signs a staff user in. An unknown email and a wrong password get the
// same answer after the same work; failures are throttled per account and
// per client IP.
func (s *Service) Login(ctx context.Context, email, password string) (*SignedIn, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	throttle := "login:user:" + email
	if err := s.admit(ctx, throttle); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx, "login by email")
	u, err := s.client.User.Query().Where(user.Email(email)).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("auth: login: %w", err)
	}
	hash := ""
	if u != nil && u.Status == user.StatusACTIVE {
		hash = u.PasswordHash
	}
	ok, err := s.hasher.verify(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.failed(ctx, throttle)
		if u != nil {
			s.Audit(viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: u.MerchantID, UserID: u.ID}),
				"user.login_failed", "user", u.ID.String(), nil)
		}
		return nil, errBadCredentials
	}
	var out SignedIn
	err = s.withTx(ctx, "login session", func(ctx context.Context, tx *ent.Client) error {
		sess, _, err := s.newSession(ctx, tx, KindStaff, u.ID, u.MerchantID, uuid.Nil)
		if err != nil {
			return err
		}
		u, err = tx.User.UpdateOne(u).SetLastLoginAt(s.cfg.Now()).SetFailedLoginCount(0).Save(ctx)
		if err != nil {
			return err
		}
		actx := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: u.MerchantID, UserID: u.ID})
		if err := audit(actx, tx, u.MerchantID, "user.login", "user", u.ID.String(), nil); err != nil {
			return err
		}
		out = SignedIn{User: u, Session: sess}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Refresh rotates a refresh token: the presented token is spent and a new
// pair issued in the same family. Presenting a spent token again revokes the
// whole family (the token was stolen or replayed) and is audited.
func (s *Service) Refresh(ctx context.Context, raw string) (*SignedIn, error) {
	invalid := fieldErr("refreshToken", CodeInvalidToken, "refresh token is invalid or expired")
	c, err := s.signer.parse(raw, TypeRefresh)
	if err != nil {
		return nil, invalid
	}
	subject, merchant, _, err := c.ids()
	if err != nil {
		return nil, invalid
	}
	var out SignedIn
	var reused bool
	err = s.withTx(ctx, "refresh token rotation", func(ctx context.Context, tx *ent.Client) error {
		rt, err := tx.RefreshToken.Query().Where(refreshtoken.TokenHash(digest(raw)), refreshtoken.MerchantID(merchant)).Only(ctx)
		if ent.IsNotFound(err) {
			return invalid
		} else if err != nil {
			return err
		}
		if rt.RevokedAt != nil || !s.cfg.Now().Before(rt.ExpiresAt) {
			return invalid
		}
		now := s.cfg.Now()
		// Spend the token only if nobody has: the conditional update makes
		// two concurrent uses of one token a detected reuse, never two pairs.
		n, err := tx.RefreshToken.Update().Where(refreshtoken.ID(rt.ID), refreshtoken.UsedAtIsNil()).SetUsedAt(now).Save(ctx)
		if err != nil {
			return err
		}
		actor := viewer.Viewer{Kind: viewer.Staff, MerchantID: merchant, UserID: subject}
		if c.Kind == KindCustomer {
			actor = viewer.Viewer{Kind: viewer.Customer, MerchantID: merchant, CustomerID: subject}
		}
		actx := viewer.NewContext(ctx, actor)
		if n == 0 {
			reused = true
			if _, err := tx.RefreshToken.Update().Where(refreshtoken.FamilyID(rt.FamilyID), refreshtoken.RevokedAtIsNil()).
				SetRevokedAt(now).Save(ctx); err != nil {
				return err
			}
			return audit(actx, tx, merchant, "refresh_token.reuse", "refresh_token", rt.ID.String(),
				map[string]any{"family_id": rt.FamilyID.String()})
		}
		// The subject must still be active.
		if c.Kind == KindStaff {
			if out.User, err = tx.User.Query().Where(user.ID(subject), user.StatusEQ(user.StatusACTIVE)).Only(ctx); err != nil {
				return invalid
			}
		} else {
			if out.Customer, err = tx.Customer.Query().Where(customer.ID(subject), customer.StatusEQ(customer.StatusACTIVE)).Only(ctx); err != nil {
				return invalid
			}
		}
		sess, next, err := s.newSession(ctx, tx, c.Kind, subject, merchant, rt.FamilyID)
		if err != nil {
			return err
		}
		out.Session = sess
		return tx.RefreshToken.UpdateOneID(rt.ID).SetReplacedByID(next.ID).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	if reused {
		s.log.WarnContext(ctx, "refresh token reuse: session family revoked", "merchant_id", merchant)
		return nil, fieldErr("refreshToken", CodeTokenReused, "refresh token was already used: the session has been revoked, sign in again")
	}
	return &out, nil
}

// Logout ends the viewer's session: its refresh tokens are revoked and its
// access tokens stop working at once.
func (s *Service) Logout(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	if v.SessionID == uuid.Nil {
		return ErrUnauthenticated
	}
	return s.withTx(ctx, "logout", func(sctx context.Context, tx *ent.Client) error {
		_, err := tx.RefreshToken.Update().
			Where(refreshtoken.FamilyID(v.SessionID), refreshtoken.MerchantID(v.MerchantID), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(s.cfg.Now()).Save(sctx)
		return err
	})
}

// DeleteUser erases the signed-in staff user (GDPR): personal data is
// replaced, sessions are revoked, and an audit entry that names only the
// user's id survives. When the last owner leaves, the store closes and its
// API keys are revoked; its orders stay for the books.
func (s *Service) DeleteUser(ctx context.Context, password string) (storeClosed bool, err error) {
	v := viewer.FromContext(ctx)
	if v.UserID == uuid.Nil {
		return false, ErrUnauthenticated
	}
	sys := viewer.SystemContext(ctx, "account delete")
	u, err := s.client.User.Query().Where(user.ID(v.UserID), user.MerchantID(v.MerchantID)).Only(sys)
	if err != nil {
		return false, ErrUnauthenticated
	}
	ok, err := s.hasher.verify(ctx, u.PasswordHash, password)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fieldErr("password", CodeInvalidCredentials, "password is incorrect")
	}
	err = s.withTx(ctx, "account delete", func(sctx context.Context, tx *ent.Client) error {
		now := s.cfg.Now()
		if _, err := tx.User.UpdateOneID(u.ID).
			SetEmail(fmt.Sprintf("deleted-%s@users.invalid", u.ID)).SetFullName("").SetPasswordHash("").
			SetStatus(user.StatusDELETED).SetDeletedAt(now).ClearLastLoginAt().Save(sctx); err != nil {
			return err
		}
		if _, err := tx.RefreshToken.Update().Where(refreshtoken.UserID(u.ID), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(now).Save(sctx); err != nil {
			return err
		}
		if u.Role == user.RoleOWNER {
			others, err := tx.User.Query().Where(user.MerchantID(u.MerchantID), user.RoleEQ(user.RoleOWNER),
				user.StatusEQ(user.StatusACTIVE), user.IDNEQ(u.ID)).Exist(sctx)
			if err != nil {
				return err
			}
			if !others {
				storeClosed = true
				if err := tx.MerchantAccount.UpdateOneID(u.MerchantID).SetStatus(merchantaccount.StatusCLOSED).Exec(sctx); err != nil {
					return err
				}
				if _, err := tx.APIKey.Update().Where(apikey.MerchantID(u.MerchantID), apikey.RevokedAtIsNil()).
					SetRevokedAt(now).Save(sctx); err != nil {
					return err
				}
			}
		}
		return audit(viewer.NewContext(sctx, v), tx, u.MerchantID, "account.delete", "user", u.ID.String(),
			map[string]any{"role": string(u.Role), "store_closed": storeClosed})
	})
	return storeClosed, err
}

// ---- storefront customers ----------------------------------------------------

// CustomerRegisterInput is customerRegister's input.
type CustomerRegisterInput struct {
	Email, Password, FirstName, LastName string
	AcceptsMarketing                     bool
}

// RegisterCustomer creates a customer account in the viewer's store and
// signs it in. A guest profile with the same email (from an earlier order or
// a popup) becomes the account; an existing account is TAKEN. The same email
// in another store is another, independent customer.
func (s *Service) RegisterCustomer(ctx context.Context, in CustomerRegisterInput) (*SignedIn, error) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return nil, ErrUnauthenticated
	}
	email, e1 := normalizeEmail("email", in.Email)
	first, e2 := optional("firstName", in.FirstName, 100)
	last, e3 := optional("lastName", in.LastName, 100)
	if err := collect(e1, e2, e3, checkPassword("password", in.Password)); err != nil {
		return nil, err
	}
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	var out SignedIn
	err = s.withTx(ctx, "customer registration", func(sctx context.Context, tx *ent.Client) error {
		existing, err := tx.Customer.Query().Where(customer.MerchantID(v.MerchantID), customer.Email(email)).Only(sctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		now := s.cfg.Now()
		var c *ent.Customer
		switch {
		case existing != nil && (existing.PasswordHash != "" || existing.Status != customer.StatusACTIVE):
			return fieldErr("email", CodeTaken, "an account with this email already exists in this store")
		case existing != nil:
			upd := tx.Customer.UpdateOne(existing).SetPasswordHash(hash).SetLastLoginAt(now)
			if first != "" {
				upd.SetFirstName(first)
			}
			if last != "" {
				upd.SetLastName(last)
			}
			if in.AcceptsMarketing {
				upd.SetEmailConsent(customer.EmailConsentSUBSCRIBED).SetEmailConsentedAt(now).SetEmailConsentSource(customer.EmailConsentSourceSTOREFRONT)
			}
			c, err = upd.Save(sctx)
		default:
			create := tx.Customer.Create().SetMerchantID(v.MerchantID).SetEmail(email).SetPasswordHash(hash).
				SetFirstName(first).SetLastName(last).SetLastLoginAt(now).SetSource(customer.SourceSTOREFRONT)
			if in.AcceptsMarketing {
				create.SetEmailConsent(customer.EmailConsentSUBSCRIBED).SetEmailConsentedAt(now).SetEmailConsentSource(customer.EmailConsentSourceSTOREFRONT)
			}
			c, err = create.Save(sctx)
		}
		if err != nil {
			return err
		}
		var msg events.Message = events.CustomerCreated{CustomerID: c.ID, Email: c.Email, Source: string(customer.SourceSTOREFRONT)}
		if existing != nil {
			msg = events.CustomerUpdated{CustomerID: c.ID, Changed: []string{"account"}}
		}
		if _, err := events.Write(sctx, tx, v.MerchantID, msg); err != nil {
			return err
		}
		sess, _, err := s.newSession(sctx, tx, KindCustomer, c.ID, v.MerchantID, uuid.Nil)
		if err != nil {
			return err
		}
		actx := viewer.NewContext(sctx, viewer.Viewer{Kind: viewer.Customer, MerchantID: v.MerchantID, CustomerID: c.ID})
		if err := audit(actx, tx, v.MerchantID, "customer.register", "customer", c.ID.String(), nil); err != nil {
			return err
		}
		out = SignedIn{Customer: c, Session: sess}
		return nil
	})
	if ent.IsConstraintError(err) {
		return nil, fieldErr("email", CodeTaken, "an account with this email already exists in this store")
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginCustomer signs a customer of the viewer's store in, with the same
// uniform answer and throttling as staff logins.
func (s *Service) LoginCustomer(ctx context.Context, email, password string) (*SignedIn, error) {
	v := viewer.FromContext(ctx)
	if !v.HasMerchant() {
		return nil, ErrUnauthenticated
	}
	email = strings.ToLower(strings.TrimSpace(email))
	throttle := "login:customer:" + v.MerchantID.String() + ":" + email
	if err := s.admit(ctx, throttle); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx, "customer login by email")
	c, err := s.client.Customer.Query().Where(customer.MerchantID(v.MerchantID), customer.Email(email)).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("auth: customer login: %w", err)
	}
	hash := ""
	if c != nil && c.Status == customer.StatusACTIVE {
		hash = c.PasswordHash
	}
	ok, err := s.hasher.verify(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.failed(ctx, throttle)
		return nil, errBadCredentials
	}
	var out SignedIn
	err = s.withTx(ctx, "customer login session", func(sctx context.Context, tx *ent.Client) error {
		sess, _, err := s.newSession(sctx, tx, KindCustomer, c.ID, v.MerchantID, uuid.Nil)
		if err != nil {
			return err
		}
		c, err = tx.Customer.UpdateOne(c).SetLastLoginAt(s.cfg.Now()).SetFailedLoginCount(0).Save(sctx)
		out = SignedIn{Customer: c, Session: sess}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteCustomer erases the signed-in customer (GDPR): the profile's
// personal data, behaviour events, carts and segment memberships go; orders
// stay for the merchant's books, anonymised (no email, phone, IP, names or
// street address; totals, items and country kept).
func (s *Service) DeleteCustomer(ctx context.Context, password string) error {
	v := viewer.FromContext(ctx)
	if v.Kind != viewer.Customer || v.CustomerID == uuid.Nil {
		return ErrUnauthenticated
	}
	sys := viewer.SystemContext(ctx, "customer account delete")
	c, err := s.client.Customer.Query().Where(customer.ID(v.CustomerID), customer.MerchantID(v.MerchantID)).Only(sys)
	if err != nil {
		return ErrUnauthenticated
	}
	ok, err := s.hasher.verify(ctx, c.PasswordHash, password)
	if err != nil {
		return err
	}
	if !ok {
		return fieldErr("password", CodeInvalidCredentials, "password is incorrect")
	}
	return s.withTx(ctx, "customer account delete", func(sctx context.Context, tx *ent.Client) error {
		now := s.cfg.Now()
		anon := fmt.Sprintf("deleted-%s@customers.invalid", c.ID)
		orderIDs, err := tx.Order.Query().Where(order.CustomerID(c.ID)).IDs(sctx)
		if err != nil {
			return err
		}
		if _, err := tx.Order.Update().Where(order.IDIn(orderIDs...)).
			ClearEmail().ClearPhone().ClearIP().ClearUserAgent().ClearNote().Save(sctx); err != nil {
			return err
		}
		if _, err := tx.OrderAddress.Update().Where(orderaddress.OrderIDIn(orderIDs...)).
			ClearFirstName().ClearLastName().ClearCompany().ClearLine2().ClearPhone().
			SetLine1("(erased)").SetCity("(erased)").Save(sctx); err != nil {
			return err
		}
		if _, err := tx.CustomerEvent.Delete().Where(customerevent.CustomerID(c.ID)).Exec(sctx); err != nil {
			return err
		}
		if _, err := tx.SegmentMember.Delete().Where(segmentmember.CustomerID(c.ID)).Exec(sctx); err != nil {
			return err
		}
		carts, err := tx.ShoppingCart.Query().Where(shoppingcart.CustomerID(c.ID)).IDs(sctx)
		if err != nil {
			return err
		}
		if _, err := tx.CartItem.Delete().Where(cartitem.CartIDIn(carts...)).Exec(sctx); err != nil {
			return err
		}
		if _, err := tx.ShoppingCart.Delete().Where(shoppingcart.IDIn(carts...)).Exec(sctx); err != nil {
			return err
		}
		if _, err := tx.EmailSend.Update().Where(emailsend.CustomerID(c.ID)).SetToEmail(anon).Save(sctx); err != nil {
			return err
		}
		if _, err := tx.RefreshToken.Update().Where(refreshtoken.CustomerID(c.ID), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(now).Save(sctx); err != nil {
			return err
		}
		if _, err := tx.Customer.UpdateOneID(c.ID).SetEmail(anon).ClearPasswordHash().SetFirstName("").SetLastName("").
			ClearPhone().ClearCity().ClearCountry().ClearProperties().SetTags([]string{}).ClearNote().
			ClearAnonymousID().ClearEmailConsentIP().ClearReferrer().
			SetEmailConsent(customer.EmailConsentUNSUBSCRIBED).SetEmailUnsubscribedAt(now).
			SetStatus(customer.StatusDELETED).SetDeletedAt(now).Save(sctx); err != nil {
			return err
		}
		return audit(viewer.NewContext(sctx, v), tx, v.MerchantID, "customer.delete", "customer", c.ID.String(),
			map[string]any{"orders_anonymised": len(orderIDs)})
	})
}

// ---- API keys -----------------------------------------------------------------

// Permissions lists every permission a secret key can hold.
var Permissions = []string{
	"products:read", "products:write", "orders:read", "orders:write",
	"customers:read", "customers:write", "marketing:read", "marketing:write",
	"settings:read", "settings:write", "staff:read", "audit:read", "events:read",
}

func knownPermission(p string) bool {
	for _, k := range Permissions {
		if k == p {
			return true
		}
	}
	return false
}

func createKey(ctx context.Context, c *ent.Client, merchant, createdBy uuid.UUID, name string, kind apikey.Kind, perms []string, expires *time.Time) (string, *ent.APIKey, error) {
	prefix := SecretKeyPrefix
	if kind == apikey.KindPUBLISHABLE {
		prefix = PublishableKeyPrefix
	}
	key := prefix + randomToken(30)
	create := c.APIKey.Create().SetMerchantID(merchant).SetName(name).SetKind(kind).
		SetPrefix(key[:lookupLen]).SetKeyHash(digest(key)).SetPermissions(append([]string{}, perms...)).
		SetNillableExpiresAt(expires)
	if createdBy != uuid.Nil {
		create.SetCreatedByID(createdBy)
	}
	k, err := create.Save(ctx)
	return key, k, err
}

// CreateKeyInput is apiKeyCreate's input.
type CreateKeyInput struct {
	Name        string
	Publishable bool
	Permissions []string
	ExpiresAt   *time.Time
}

// CreateKey creates a key in the viewer's store and returns its secret, which
// is never shown again. A key may only grant permissions its creator holds.
func (s *Service) CreateKey(ctx context.Context, in CreateKeyInput) (string, *ent.APIKey, error) {
	v := viewer.FromContext(ctx)
	name, err := required("name", in.Name, 100)
	if err != nil {
		return "", nil, err
	}
	kind := apikey.KindSECRET
	perms := in.Permissions
	if in.Publishable {
		kind, perms = apikey.KindPUBLISHABLE, nil
	}
	for i, p := range perms {
		if !knownPermission(p) {
			return "", nil, &Error{Errors: []FieldError{{Field: []string{"input", "permissions", fmt.Sprint(i)},
				Message: fmt.Sprintf("unknown permission %q", p), Code: CodeUnknownPermission}}}
		}
		if !v.Can(p) {
			return "", nil, &Error{Errors: []FieldError{{Field: []string{"input", "permissions", fmt.Sprint(i)},
				Message: fmt.Sprintf("you cannot grant %q: you do not hold it", p), Code: CodeInvalid}}}
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.cfg.Now()) {
		return "", nil, fieldErr("expiresAt", CodeInvalid, "expiresAt must be in the future")
	}
	var secret string
	var key *ent.APIKey
	err2 := s.withTx(ctx, "api key create", func(sctx context.Context, tx *ent.Client) error {
		var err error
		secret, key, err = createKey(sctx, tx, v.MerchantID, v.UserID, name, kind, perms, in.ExpiresAt)
		if err != nil {
			return err
		}
		return audit(viewer.NewContext(sctx, v), tx, v.MerchantID, "api_key.create", "api_key", key.ID.String(),
			map[string]any{"name": name, "kind": string(kind), "permissions": perms})
	})
	if err2 != nil {
		return "", nil, err2
	}
	return secret, key, nil
}

// RevokeKey revokes a key of the viewer's store; it stops working at once.
func (s *Service) RevokeKey(ctx context.Context, id uuid.UUID) (*ent.APIKey, error) {
	v := viewer.FromContext(ctx)
	var key *ent.APIKey
	err := s.withTx(ctx, "api key revoke", func(sctx context.Context, tx *ent.Client) error {
		k, err := tx.APIKey.Query().Where(apikey.ID(id), apikey.MerchantID(v.MerchantID)).Only(sctx)
		if ent.IsNotFound(err) {
			return fieldErr("id", CodeNotFound, "no API key with this id")
		} else if err != nil {
			return err
		}
		if k.RevokedAt == nil {
			if k, err = tx.APIKey.UpdateOne(k).SetRevokedAt(s.cfg.Now()).Save(sctx); err != nil {
				return err
			}
		}
		key = k
		return audit(viewer.NewContext(sctx, v), tx, v.MerchantID, "api_key.revoke", "api_key", k.ID.String(), nil)
	})
	return key, err
}

// IsUserError reports whether err is an input problem for userErrors.
func IsUserError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token types (the "typ" claim): a refresh token is never an access token.
const (
	TypeAccess  = "access"
	TypeRefresh = "refresh"
)

// Subject kinds (the "knd" claim).
const (
	KindStaff    = "staff"
	KindCustomer = "customer"
)

// Claims are the claims of OmniSphere's tokens.
type Claims struct {
	jwt.RegisteredClaims
	// Type is TypeAccess or TypeRefresh.
	Type string `json:"typ"`
	// Kind is KindStaff or KindCustomer.
	Kind string `json:"knd"`
	// Merchant is the store the subject belongs to.
	Merchant string `json:"mid"`
	// Session is the refresh-token family: revoking it ends the session and
	// every access token issued in it.
	Session string `json:"sid"`
}

// signer issues and verifies HS256 tokens.
type signer struct {
	secret     []byte
	issuer     string
	audience   string
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
}

func (s *signer) sign(typ, kind string, subject, merchant, session, jti uuid.UUID, ttl time.Duration) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(ttl)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   subject.String(),
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti.String(),
		},
		Type:     typ,
		Kind:     kind,
		Merchant: merchant.String(),
		Session:  session.String(),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
	return tok, exp, err
}

// parse verifies a token of the wanted type: HS256 only (alg pinned), a
// valid signature, exp required, iat, nbf, iss and aud checked.
func (s *signer) parse(raw, wantType string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if c.Type != wantType {
		return nil, fmt.Errorf("%w: token type %q, want %q", ErrUnauthenticated, c.Type, wantType)
	}
	if c.Kind != KindStaff && c.Kind != KindCustomer {
		return nil, fmt.Errorf("%w: unknown subject kind", ErrUnauthenticated)
	}
	return &c, nil
}

// ids returns the subject, merchant and session of verified claims.
func (c *Claims) ids() (subject, merchant, session uuid.UUID, err error) {
	if subject, err = uuid.Parse(c.Subject); err != nil {
		return
	}
	if merchant, err = uuid.Parse(c.Merchant); err != nil {
		return
	}
	session, err = uuid.Parse(c.Session)
	if err != nil {
		err = errors.Join(ErrUnauthenticated, err)
	}
	return
}

// randomToken returns n random bytes, URL-safe base64 encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("auth: reading randomness: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is the stored form of a token or key: SHA-256, hex. Tokens and keys
// carry 192+ bits of randomness, so a fast hash is enough (no bcrypt).
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

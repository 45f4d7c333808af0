package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

var fuzzNow = time.Date(2026, time.March, 14, 9, 30, 0, 0, time.UTC)

func fuzzSigner() *signer {
	return &signer{
		secret: []byte("fuzz-secret-0123456789abcdef0123456789abcdef"), issuer: "omnisphere", audience: "omnisphere-api",
		accessTTL: 15 * time.Minute, refreshTTL: 30 * 24 * time.Hour,
		now: func() time.Time { return fuzzNow },
	}
}

// FuzzParseToken feeds arbitrary strings to the token parser as both token
// types: nothing panics, every refusal wraps ErrUnauthenticated, and
// whatever is accepted (only a token the signer's own secret signed can
// be) has a known type and kind and ids that parse.
func FuzzParseToken(f *testing.F) {
	s := fuzzSigner()
	good, _, err := s.sign(TypeAccess, KindStaff, uuid.New(), uuid.New(), uuid.New(), uuid.New(), s.accessTTL)
	if err != nil {
		f.Fatal(err)
	}
	for _, raw := range []string{
		good,
		"",
		"a.b.c",
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIn0.",
		"eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
		strings.Repeat("A", 10000) + "." + strings.Repeat("B", 10000) + ".C",
		good + ".extra",
		"Bearer " + good,
		strings.Replace(good, ".", "..", 1),
	} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, typ := range []string{TypeAccess, TypeRefresh} {
			c, err := s.parse(raw, typ)
			if err != nil {
				if c != nil || !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("parse(%q) = %+v, %v: a refusal must be nil claims and ErrUnauthenticated", raw, c, err)
				}
				continue
			}
			if c.Type != typ || (c.Kind != KindStaff && c.Kind != KindCustomer) {
				t.Fatalf("parse(%q) accepted claims of type %q kind %q", raw, c.Type, c.Kind)
			}
			_, _, _, _ = c.ids() // never panics; the ids of a signed token parse (FuzzTokenRoundTrip)
		}
	})
}

// FuzzTokenRoundTrip signs tokens of fuzzed claims and attacks them:
//
//   - the token parses as its own type to exactly the claims signed, and is
//     refused as the other type;
//   - changing any one byte is refused, unless the change leaves every
//     segment decoding to the same bytes (base64url ignores the unused low
//     bits of a final character: the JWT library decodes leniently);
//   - the same claims with alg "none", signed with HS384/HS512 under the
//     same secret, with ES256 (an attacker's key), with another HS256
//     secret, or with another issuer or audience are refused;
//   - an expired token, or one issued or valid only in the future (beyond
//     the 5 s leeway), is refused.
func FuzzTokenRoundTrip(f *testing.F) {
	f.Add([]byte{}, true, true, uint16(0), byte(1), int64(0))
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), false, true, uint16(40), byte(0x80), int64(900))
	f.Add([]byte{0xff, 0, 0xff}, true, false, uint16(0xffff), byte(0xff), int64(-3600))
	f.Add([]byte("x"), false, false, uint16(7), byte(0x20), int64(5))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	s := fuzzSigner()
	f.Fuzz(func(t *testing.T, seed []byte, access, staff bool, pos uint16, flip byte, skew int64) {
		id := func(i int) uuid.UUID {
			var u uuid.UUID
			for j := range u {
				if len(seed) > 0 {
					u[j] = seed[(i*16+j)%len(seed)] ^ byte(i)
				}
			}
			return u
		}
		typ, other, ttl := TypeRefresh, TypeAccess, s.refreshTTL
		if access {
			typ, other, ttl = TypeAccess, TypeRefresh, s.accessTTL
		}
		kind := KindCustomer
		if staff {
			kind = KindStaff
		}
		subject, merchant, session, jti := id(0), id(1), id(2), id(3)
		tok, exp, err := s.sign(typ, kind, subject, merchant, session, jti, ttl)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		if !exp.Equal(fuzzNow.Add(ttl)) {
			t.Fatalf("expiry %v, want %v", exp, fuzzNow.Add(ttl))
		}

		// Round trip.
		c, err := s.parse(tok, typ)
		if err != nil {
			t.Fatalf("parse of a fresh %s token: %v", typ, err)
		}
		gs, gm, gss, err := c.ids()
		if err != nil || gs != subject || gm != merchant || gss != session || c.ID != jti.String() || c.Kind != kind ||
			c.Issuer != s.issuer || len(c.Audience) != 1 || c.Audience[0] != s.audience || !c.ExpiresAt.Equal(exp.Truncate(time.Second)) {
			t.Fatalf("claims came back as %+v (ids %s %s %s, %v)", c, gs, gm, gss, err)
		}
		if _, err := s.parse(tok, other); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("a %s token parsed as %s: %v", typ, other, err)
		}

		// One changed byte.
		if flip != 0 {
			b := []byte(tok)
			i := int(pos) % len(b)
			b[i] ^= flip
			if _, err := s.parse(string(b), typ); err == nil && !sameSegments(tok, string(b)) {
				t.Fatalf("a token with byte %d changed (%q -> %q) was accepted", i, tok[i], b[i])
			}
		}

		// Other algorithms, keys, issuers, audiences.
		claims := *c
		forge := func(m jwt.SigningMethod, key any, edit func(*Claims)) string {
			cl := claims
			if edit != nil {
				edit(&cl)
			}
			raw, err := jwt.NewWithClaims(m, cl).SignedString(key)
			if err != nil {
				t.Fatalf("forging with %s: %v", m.Alg(), err)
			}
			return raw
		}
		for name, raw := range map[string]string{
			"alg none":     forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil),
			"HS384":        forge(jwt.SigningMethodHS384, s.secret, nil),
			"HS512":        forge(jwt.SigningMethodHS512, s.secret, nil),
			"ES256":        forge(jwt.SigningMethodES256, ecKey, nil),
			"other secret": forge(jwt.SigningMethodHS256, append([]byte("x"), s.secret...), nil),
			"other issuer": forge(jwt.SigningMethodHS256, s.secret, func(c *Claims) { c.Issuer = "evil" }),
			"other audience": forge(jwt.SigningMethodHS256, s.secret, func(c *Claims) {
				c.Audience = jwt.ClaimStrings{"other-api"}
			}),
			"no expiry":                    forge(jwt.SigningMethodHS256, s.secret, func(c *Claims) { c.ExpiresAt = nil }),
			"unknown kind":                 forge(jwt.SigningMethodHS256, s.secret, func(c *Claims) { c.Kind = "admin" }),
			"none header, HS256 signature": noneHeader(forge(jwt.SigningMethodHS256, s.secret, nil)),
		} {
			if _, err := s.parse(raw, typ); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("%s: forged token accepted (%v)", name, err)
			}
		}

		// Time: skew seconds away from the token's window.
		if skew < 0 {
			skew = -(skew + 1)
		}
		skew = skew%(1<<32) + 6 // beyond the 5 s leeway
		for name, at := range map[string]time.Time{
			"expired":                       exp.Add(time.Duration(skew) * time.Second),
			"issued (and valid) only later": fuzzNow.Add(-time.Duration(skew) * time.Second),
		} {
			late := *s
			late.now = func() time.Time { return at }
			if _, err := late.parse(tok, typ); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("%s: token accepted at %v (issued %v, expires %v): %v", name, at, fuzzNow, exp, err)
			}
		}
	})
}

// noneHeader swaps the header of a token for {"alg":"none"}, keeping the
// HS256 signature.
func noneHeader(tok string) string {
	parts := strings.SplitN(tok, ".", 2)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1]
}

// sameSegments reports whether two tokens have the same segments once
// base64url-decoded the way the JWT library decodes them.
func sameSegments(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		da, errA := base64.RawURLEncoding.DecodeString(pa[i])
		db, errB := base64.RawURLEncoding.DecodeString(pb[i])
		if errA != nil || errB != nil || !bytes.Equal(da, db) {
			return false
		}
	}
	return true
}

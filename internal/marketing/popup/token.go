package popup

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// A confirmation token proves that a double opt-in email reached its
// address: Submit issues one, the lead's mailer puts it in the confirmation
// link, and Confirm redeems it. It is
//
//	base64url(payload) "." base64url(HMAC-SHA256(key, "omnisphere popup confirm v1" || payload))
//
// where payload is version (1 byte) || merchant id || customer id || popup
// id (16 bytes each) || issued-at || expires-at (Unix seconds, 8 bytes big
// endian each). Nothing in it is secret; the MAC makes it unforgeable.

const (
	tokenVersion    = 1
	tokenPayloadLen = 1 + 16*3 + 8*2
	tokenContext    = "omnisphere popup confirm v1"
	maxTokenLength  = 256
)

// Errors of token verification (Confirm answers them as user errors).
var (
	errTokenInvalid = errors.New("the confirmation link is not valid")
	errTokenExpired = errors.New("the confirmation link has expired")
)

// confirmation is the content of a token.
type confirmation struct {
	MerchantID, CustomerID, PopupID uuid.UUID
	IssuedAt, ExpiresAt             time.Time
}

func mac(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(tokenContext))
	h.Write(payload)
	return h.Sum(nil)
}

// signToken signs c with key.
func signToken(key []byte, c confirmation) string {
	p := make([]byte, 0, tokenPayloadLen)
	p = append(p, tokenVersion)
	p = append(p, c.MerchantID[:]...)
	p = append(p, c.CustomerID[:]...)
	p = append(p, c.PopupID[:]...)
	p = binary.BigEndian.AppendUint64(p, uint64(c.IssuedAt.Unix()))
	p = binary.BigEndian.AppendUint64(p, uint64(c.ExpiresAt.Unix()))
	enc := base64.RawURLEncoding
	return enc.EncodeToString(p) + "." + enc.EncodeToString(mac(key, p))
}

// verifyToken checks tok against keys (the current one and older ones) and
// its expiry at now.
func verifyToken(keys [][]byte, tok string, now time.Time) (confirmation, error) {
	tok = strings.TrimSpace(tok)
	if len(tok) > maxTokenLength {
		return confirmation{}, errTokenInvalid
	}
	body, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return confirmation{}, errTokenInvalid
	}
	enc := base64.RawURLEncoding
	p, err1 := enc.DecodeString(body)
	s, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || len(p) != tokenPayloadLen || p[0] != tokenVersion || len(s) != sha256.Size {
		return confirmation{}, errTokenInvalid
	}
	valid := false
	for _, k := range keys {
		if hmac.Equal(s, mac(k, p)) {
			valid = true
			break
		}
	}
	if !valid {
		return confirmation{}, errTokenInvalid
	}
	var c confirmation
	copy(c.MerchantID[:], p[1:17])
	copy(c.CustomerID[:], p[17:33])
	copy(c.PopupID[:], p[33:49])
	c.IssuedAt = time.Unix(int64(binary.BigEndian.Uint64(p[49:57])), 0).UTC()
	c.ExpiresAt = time.Unix(int64(binary.BigEndian.Uint64(p[57:65])), 0).UTC()
	if !now.Before(c.ExpiresAt) {
		return c, errTokenExpired
	}
	return c, nil
}

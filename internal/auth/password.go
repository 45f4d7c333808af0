package auth

import (
	"context"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password length limits. bcrypt ignores bytes past 72, so a longer
// password is refused rather than silently truncated.
const (
	MinPasswordLen   = 8
	MaxPasswordBytes = 72
)

// hasher computes bcrypt hashes with bounded concurrency, so that a burst of
// logins queues instead of exhausting the CPU.
type hasher struct {
	cost int
	sem  chan struct{}
	// dummy is a hash of a random password at the same cost: an unknown
	// email is compared against it, so it costs what a wrong password does.
	dummy []byte
}

func newHasher(cost, concurrency int) (*hasher, error) {
	h := &hasher{cost: cost, sem: make(chan struct{}, concurrency)}
	d, err := bcrypt.GenerateFromPassword([]byte(randomToken(24)), cost)
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrBusy
	}
}

func (h *hasher) release() { <-h.sem }

// checkPassword validates a new password's length.
func checkPassword(field, pw string) *Error {
	switch {
	case pw == "":
		return fieldErr(field, CodeRequired, "password is required")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fieldErr(field, CodeTooShort, "password must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordBytes:
		return fieldErr(field, CodeTooLong, "password must be at most %d bytes", MaxPasswordBytes)
	}
	return nil
}

// hash returns the bcrypt hash of pw.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cost)
	return string(b), err
}

// verify reports whether pw matches hash; an empty hash (unknown account, or
// an account with no password) is compared against the dummy hash so that
// the answer takes the same time.
func (h *hasher) verify(ctx context.Context, hash, pw string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if len(pw) > MaxPasswordBytes {
		pw = pw[:MaxPasswordBytes] // never matches: stored passwords are <= 72 bytes
		hash = ""
	}
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(h.dummy, []byte(pw))
		return false, nil
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil, nil
}

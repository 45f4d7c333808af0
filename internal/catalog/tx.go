package catalog

import (
	"context"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Nullable is an optional change of a field that may be cleared: Set false
// leaves the field alone, Set with a nil Value clears it.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// Val returns a Nullable that sets v.
func Val[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: &v} }

// Null returns a Nullable that clears the field.
func Null[T any]() Nullable[T] { return Nullable[T]{Set: true} }

// Ptr returns a Nullable that sets *p, or leaves the field alone when p is nil.
func Ptr[T any](p *T) Nullable[T] {
	if p == nil {
		return Nullable[T]{}
	}
	return Nullable[T]{Set: true, Value: p}
}

// maxAttempts is how often a transaction that lost a race (a unique
// constraint, a PostgreSQL serialization failure or deadlock) is retried;
// its checks then see the winner and answer with a userError.
const maxAttempts = 3

// inTx runs fn in a transaction of ctx's viewer, which must act for a store.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, c *ent.Client) error) error {
	if _, ok := viewer.MerchantFromContext(ctx); !ok {
		return viewer.ErrNoTenant
	}
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = s.tryTx(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (s *Service) tryTx(ctx context.Context, fn func(ctx context.Context, c *ent.Client) error) error {
	return db.InTx(ctx, s.client, func(c *ent.Client) error { return fn(ctx, c) })
}

// retryable reports whether err is a lost race worth running again.
func retryable(err error) bool {
	return db.LostRace(err)
}

// merchantOf returns the store ctx acts for.
func merchantOf(ctx context.Context) uuid.UUID {
	id, _ := viewer.MerchantFromContext(ctx)
	return id
}

// text checks an optional string: trimmed, at most max characters.
func text(p *problems, at []string, v *string, max int) *string {
	if v == nil {
		return nil
	}
	s := strings.TrimSpace(*v)
	if len(s) > max {
		p.add(CodeTooLong, at, "%s is too long (at most %d bytes)", at[len(at)-1], max)
	}
	if strings.ContainsRune(s, 0) {
		p.add(CodeInvalid, at, "%s contains a NUL character", at[len(at)-1])
	}
	return &s
}

// nullableText is text for a Nullable; an empty string clears the field.
func nullableText(p *problems, at []string, v Nullable[string], max int) Nullable[string] {
	if !v.Set || v.Value == nil {
		return v
	}
	s := text(p, at, v.Value, max)
	if *s == "" {
		return Null[string]()
	}
	return Val(*s)
}

// money checks an amount in minor units.
func money(p *problems, at []string, v *int64) {
	if v == nil {
		return
	}
	if *v < 0 {
		p.add(CodeInvalid, at, "%s must not be negative", at[len(at)-1])
	} else if *v > maxAmount {
		p.add(CodeInvalid, at, "%s must be at most %d", at[len(at)-1], int64(maxAmount))
	}
}

// maxAmount bounds prices and costs (minor units), so that sums never overflow.
const maxAmount = 1_000_000_000_000

// checkURL accepts an absolute http(s) URL or a path of this server's media.
func checkURL(p *problems, at []string, raw string) string {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		p.add(CodeRequired, at, "a URL is required")
	case len(s) > 2048:
		p.add(CodeTooLong, at, "the URL is longer than 2048 characters")
	case strings.HasPrefix(s, "/media/"):
		if strings.Contains(s, "..") || strings.ContainsAny(s, " \t\r\n\\") {
			p.add(CodeInvalid, at, "not a valid media path")
		}
	default:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
			p.add(CodeInvalid, at, "the URL must be an absolute http or https URL")
		}
	}
	return s
}

// done releases an entity loaded in a transaction that has ended, so that
// its edges load through the client again (GraphQL resolves them after the
// mutation committed).
func done[T interface{ Unwrap() T }](v T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return v.Unwrap(), nil
}

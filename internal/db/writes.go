package db

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Write is one committed write of the ent client: the table a statement
// (INSERT, UPDATE or DELETE) changed, and the merchant it ran for —
// uuid.Nil when it ran in the system context, which may touch any merchant.
type Write struct {
	MerchantID uuid.UUID
	Table      string
}

// OnWrite sets the function told of every committed write of the ent
// client (nil for none), after its transaction committed: once per table and
// merchant of a transaction, once per statement outside one. It runs on the
// committing goroutine and must be quick. Caches of data derived from the
// database (the storefront response cache) invalidate from it.
func (d *DB) OnWrite(fn func(Write)) {
	if fn == nil {
		d.stats.onWrite.Store(nil)
		return
	}
	d.stats.onWrite.Store(&fn)
}

// writeMerchant is the merchant a write of ctx is scoped to; uuid.Nil for
// the system context (any merchant) and for tenant-less contexts.
func writeMerchant(ctx context.Context) uuid.UUID {
	if _, ok := viewer.IsSystem(ctx); ok {
		return uuid.Nil
	}
	id, _ := viewer.MerchantFromContext(ctx)
	return id
}

// writtenTable returns the table an INSERT, UPDATE or DELETE statement
// changes, as ent writes them (`INSERT INTO "t"`, `UPDATE "t"`,
// `DELETE FROM "t"`, backquotes on SQLite); ok is false for anything else.
func writtenTable(query string) (table string, ok bool) {
	q := strings.TrimLeft(query, " \t\r\n")
	var rest string
	switch {
	case hasPrefixFold(q, "INSERT INTO "):
		rest = q[len("INSERT INTO "):]
	case hasPrefixFold(q, "UPDATE "):
		rest = q[len("UPDATE "):]
	case hasPrefixFold(q, "DELETE FROM "):
		rest = q[len("DELETE FROM "):]
	default:
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", false
	}
	if c := rest[0]; c == '"' || c == '`' {
		end := strings.IndexByte(rest[1:], c)
		if end < 0 {
			return "", false
		}
		return rest[1 : end+1], true
	}
	end := strings.IndexAny(rest, " (\t\n")
	if end < 0 {
		end = len(rest)
	}
	return rest[:end], end > 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

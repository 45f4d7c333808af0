package db

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"entgo.io/ent/dialect"
)

// opTx is the read transaction of one GraphQL query operation on
// PostgreSQL: begun (and fenced) at its first statement, shared by every
// statement of the operation that runs under the same fence, committed when
// the operation ends. It turns 4 round trips per statement (BEGIN, fence,
// statement, COMMIT) into 1 per statement plus 3 per operation, and gives the
// operation one consistent snapshot.
type opTx struct {
	d              *fencedDriver
	role, merchant string
	once           sync.Once
	endOnce        sync.Once
	tx             dialect.Tx
	err            error
}

type opTxKey struct{}

// WithReadTx returns a context whose ent statements share one read-only,
// fenced transaction, and the function that ends it (call it once, when the
// operation is done). Only for query operations: never for mutations (they
// use explicit transactions) or subscriptions (long-lived). On SQLite it
// changes nothing.
func (d *DB) WithReadTx(ctx context.Context) (context.Context, func()) {
	fd, ok := d.driver.(*fencedDriver)
	if !ok {
		return ctx, func() {}
	}
	role, merchant := fenceFor(ctx)
	h := &opTx{d: fd, role: role, merchant: merchant}
	// Should the operation never reach its end (a client gone mid-way), the
	// transaction still ends with the request: no connection is held.
	stop := context.AfterFunc(ctx, h.end)
	return context.WithValue(ctx, opTxKey{}, h), func() {
		stop()
		h.end()
	}
}

// opTxFor returns the operation's transaction when ctx runs under the
// same fence as the operation (a resolver may switch to the system context,
// which then gets a transaction of its own).
func opTxFor(ctx context.Context, d *fencedDriver) *opTx {
	h, ok := ctx.Value(opTxKey{}).(*opTx)
	if !ok || h.d != d {
		return nil
	}
	if role, merchant := fenceFor(ctx); role != h.role || merchant != h.merchant {
		return nil
	}
	return h
}

func (h *opTx) get(ctx context.Context) (dialect.Tx, error) {
	h.once.Do(func() {
		// The transaction outlives no request, but must not die with the
		// first statement's context (a dataloader's, say) either.
		h.tx, h.err = h.d.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	})
	if h.tx == nil && h.err == nil {
		return nil, errOperationEnded
	}
	return h.tx, h.err
}

var errOperationEnded = errors.New("db: statement after its operation ended")

func (h *opTx) end() {
	h.once.Do(func() {}) // no statement ran: nothing to end, and none may start
	h.endOnce.Do(func() {
		if h.tx != nil {
			_ = h.tx.Commit()
		}
	})
}

package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The PostgreSQL roles the server switches to for each transaction. The
// migration creates them NOLOGIN, NOSUPERUSER, NOBYPASSRLS, owning nothing.
const (
	// TenantRole runs all tenant work; RLS limits it to app.merchant_id.
	TenantRole = "omnisphere_app"
	// SystemRole runs the audited cross-tenant paths (viewer.SystemContext).
	SystemRole = "omnisphere_system"
)

// fenceSQL scopes the current transaction: a transaction-local role and
// tenant, both reverted at COMMIT or ROLLBACK so that a pooled connection
// never carries them into the next use. Values are bound, never interpolated.
const fenceSQL = `SELECT set_config('role', $1, true), set_config('app.merchant_id', $2, true)`

// fenceFor returns the role and tenant a context's transaction must run as.
// A context with neither a merchant nor the system mark runs as the tenant
// role with no tenant, which the policies answer with zero rows.
func fenceFor(ctx context.Context) (role, merchant string) {
	if _, ok := viewer.IsSystem(ctx); ok {
		return SystemRole, ""
	}
	if id, ok := viewer.MerchantFromContext(ctx); ok && id != uuid.Nil {
		return TenantRole, id.String()
	}
	return TenantRole, ""
}

// InTenantTx runs fn in a PostgreSQL transaction fenced for ctx's viewer:
// the same fence that every ent statement of the server runs under. It is
// the way to run raw SQL on the tenant path; fn must not keep tx. Its
// writes are not reported to DB.OnWrite: a caller that writes through it
// reports them itself.
func InTenantTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	role, merchant := fenceFor(ctx)
	if _, err := tx.ExecContext(ctx, fenceSQL, role, merchant); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("db: fence transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// fencedDriver is the ent driver on PostgreSQL. Every statement runs inside a
// transaction fenced for the caller's viewer: a statement outside an explicit
// transaction gets a short one of its own (committed when its rows close), and
// an explicit transaction is fenced once when it begins.
type fencedDriver struct {
	*entsql.Driver
	stats *stats
}

var _ dialect.Driver = (*fencedDriver)(nil)

func (d *fencedDriver) begin(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	role, merchant := fenceFor(ctx)
	if err := tx.Exec(ctx, fenceSQL, []any{role, merchant}, nil); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("db: fence transaction: %w", err)
	}
	return tx, nil
}

// Exec runs one statement in its own fenced transaction (or the
// operation's read transaction, see WithReadTx).
func (d *fencedDriver) Exec(ctx context.Context, query string, args, v any) error {
	if h := opTxFor(ctx, d); h != nil {
		tx, err := h.get(ctx)
		if err != nil {
			return err
		}
		return tx.Exec(ctx, query, args, v) // counted by the transaction
	}
	d.stats.statements.Add(1)
	tx, err := d.begin(ctx, nil)
	if err != nil {
		return err
	}
	if err := tx.Exec(ctx, query, args, v); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.stats.wrote(ctx, query)
	return nil
}

// Query runs one statement in its own fenced transaction, which commits when
// the caller closes the rows (ent always does).
func (d *fencedDriver) Query(ctx context.Context, query string, args, v any) error {
	if h := opTxFor(ctx, d); h != nil {
		tx, err := h.get(ctx)
		if err != nil {
			return err
		}
		return tx.Query(ctx, query, args, v) // counted by the transaction
	}
	d.stats.statements.Add(1)
	tx, err := d.begin(ctx, nil)
	if err != nil {
		return err
	}
	if err := tx.Query(ctx, query, args, v); err != nil {
		_ = tx.Rollback()
		return err
	}
	rows, ok := v.(*entsql.Rows)
	if !ok {
		_ = tx.Rollback()
		return fmt.Errorf("db: unexpected rows type %T", v)
	}
	rows.ColumnScanner = &closeHookRows{ColumnScanner: rows.ColumnScanner, after: func(closeErr error) error {
		if closeErr != nil {
			_ = tx.Rollback()
			return closeErr
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		d.stats.wrote(ctx, query)
		return nil
	}}
	return nil
}

// Tx starts an explicit fenced transaction.
func (d *fencedDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx starts an explicit fenced transaction with options.
func (d *fencedDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := d.begin(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &serialTx{Tx: tx, stats: d.stats}, nil
}

// serialDriver is the ent driver on SQLite: no fence (SQLite has no RLS; the
// ent tenant filters guard it), but transactions are serialised like on
// PostgreSQL so both backends behave the same.
type serialDriver struct {
	*entsql.Driver
	stats *stats
}

func (d *serialDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.stats.statements.Add(1)
	if err := d.Driver.Exec(ctx, query, args, v); err != nil {
		return err
	}
	d.stats.wrote(ctx, query) // autocommit: the statement is committed
	return nil
}

func (d *serialDriver) Query(ctx context.Context, query string, args, v any) error {
	d.stats.statements.Add(1)
	if err := d.Driver.Query(ctx, query, args, v); err != nil {
		return err
	}
	if _, write := writtenTable(query); write {
		// An INSERT … RETURNING is done when its rows are.
		if rows, ok := v.(*entsql.Rows); ok {
			rows.ColumnScanner = &closeHookRows{ColumnScanner: rows.ColumnScanner, after: func(closeErr error) error {
				if closeErr == nil {
					d.stats.wrote(ctx, query)
				}
				return closeErr
			}}
		}
	}
	return nil
}

func (d *serialDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

func (d *serialDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &serialTx{Tx: tx, stats: d.stats}, nil
}

// serialTx lets concurrent GraphQL resolvers share one transaction. A
// connection runs one statement at a time (pgx fails with "conn busy"
// otherwise), so each statement holds the lock until its rows are closed.
type serialTx struct {
	dialect.Tx
	mu    sync.Mutex
	stats *stats
	// writes are the tables (per merchant) written so far, reported to the
	// write hook once the transaction commits.
	writes map[Write]struct{}
}

// note records a write of the transaction; t.mu is held.
func (t *serialTx) note(ctx context.Context, query string) {
	table, ok := writtenTable(query)
	if !ok {
		return
	}
	if t.writes == nil {
		t.writes = make(map[Write]struct{})
	}
	t.writes[Write{MerchantID: writeMerchant(ctx), Table: table}] = struct{}{}
}

func (t *serialTx) Exec(ctx context.Context, query string, args, v any) error {
	t.stats.statements.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.Tx.Exec(ctx, query, args, v); err != nil {
		return err
	}
	t.note(ctx, query)
	return nil
}

func (t *serialTx) Query(ctx context.Context, query string, args, v any) error {
	t.stats.statements.Add(1)
	t.mu.Lock()
	t.note(ctx, query)
	if err := t.Tx.Query(ctx, query, args, v); err != nil {
		t.mu.Unlock()
		return err
	}
	rows, ok := v.(*entsql.Rows)
	if !ok {
		t.mu.Unlock()
		return fmt.Errorf("db: unexpected rows type %T", v)
	}
	rows.ColumnScanner = &closeHookRows{ColumnScanner: rows.ColumnScanner, after: func(err error) error {
		t.mu.Unlock()
		return err
	}}
	return nil
}

func (t *serialTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.Tx.Commit(); err != nil {
		return err
	}
	for w := range t.writes {
		t.stats.report(w)
	}
	return nil
}

func (t *serialTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Tx.Rollback()
}

// stats counts what the ent drivers run, and reports committed writes to
// the write hook.
type stats struct {
	statements atomic.Uint64
	onWrite    atomic.Pointer[func(Write)]
}

// wrote reports the committed statement query when it is a write.
func (s *stats) wrote(ctx context.Context, query string) {
	if table, ok := writtenTable(query); ok {
		s.report(Write{MerchantID: writeMerchant(ctx), Table: table})
	}
}

func (s *stats) report(w Write) {
	if fn := s.onWrite.Load(); fn != nil {
		(*fn)(w)
	}
}

// closeHookRows runs after once, when the rows are first closed.
type closeHookRows struct {
	entsql.ColumnScanner
	once  sync.Once
	after func(closeErr error) error
	err   error
}

func (r *closeHookRows) Close() error {
	r.once.Do(func() { r.err = r.after(r.ColumnScanner.Close()) })
	return r.err
}

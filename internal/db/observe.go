package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// Observer is told of every SQL statement a pool sends to the database
// (docs/observability.md): ent's statements, the transaction fences, and
// the raw SQL of the pool (analytics, migrations). Statement returns the
// context the statement runs with (a tracing span's) and the function
// called once the database answered, with the statement's error.
//
// kind is "query" (rows expected) or "exec"; query is the statement text
// as sent, with placeholders for its parameters, never their values.
// Prepared statements and BEGIN/COMMIT are not reported.
type Observer interface {
	Statement(ctx context.Context, kind, query string) (context.Context, func(error))
}

// openPool opens a database/sql pool of driverName; with an observer its
// connections report each statement to it.
func openPool(driverName, dsn string, obs Observer) (*sql.DB, error) {
	if obs == nil {
		return sql.Open(driverName, dsn)
	}
	probe, err := sql.Open(driverName, dsn) // connects to nothing
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	_ = probe.Close()
	var inner driver.Connector
	if dc, ok := drv.(driver.DriverContext); ok {
		if inner, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	} else {
		inner = dsnConnector{dsn: dsn, drv: drv}
	}
	return sql.OpenDB(observedConnector{inner: inner, obs: obs}), nil
}

// dsnConnector is the connector of a driver without DriverContext.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

type observedConnector struct {
	inner driver.Connector
	obs   Observer
}

func (c observedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &observedConn{Conn: conn, obs: c.obs}, nil
}

func (c observedConnector) Driver() driver.Driver { return c.inner.Driver() }

// observedConn passes every optional interface of the drivers in use (pgx's
// stdlib and modernc's sqlite) through to the wrapped connection, so that
// database/sql behaves with it exactly as without it.
type observedConn struct {
	driver.Conn
	obs Observer
}

var (
	_ driver.ExecerContext      = (*observedConn)(nil)
	_ driver.QueryerContext     = (*observedConn)(nil)
	_ driver.ConnBeginTx        = (*observedConn)(nil)
	_ driver.ConnPrepareContext = (*observedConn)(nil)
	_ driver.Pinger             = (*observedConn)(nil)
	_ driver.NamedValueChecker  = (*observedConn)(nil)
	_ driver.SessionResetter    = (*observedConn)(nil)
	_ driver.Validator          = (*observedConn)(nil)
)

func (c *observedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares the statement instead
	}
	ctx, done := c.obs.Statement(ctx, "exec", query)
	res, err := ex.ExecContext(ctx, query, args)
	done(observedErr(err))
	return res, err
}

func (c *observedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, done := c.obs.Statement(ctx, "query", query)
	rows, err := q.QueryContext(ctx, query, args)
	done(observedErr(err))
	return rows, err
}

// observedErr hides driver.ErrSkip (database/sql retries the statement
// another way: no statement ran).
func observedErr(err error) error {
	if errors.Is(err, driver.ErrSkip) {
		return nil
	}
	return err
}

func (c *observedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts.ReadOnly || opts.Isolation != 0 {
		return nil, fmt.Errorf("db: driver %T cannot begin a transaction with options", c.Conn)
	}
	return c.Conn.Begin() //nolint:staticcheck // the fallback database/sql itself uses
}

func (c *observedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c *observedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *observedConn) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip // the default conversion, as without the wrapper
}

func (c *observedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *observedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

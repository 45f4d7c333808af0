// Package db opens OmniSphere's database (the embedded SQLite file or
// PostgreSQL through pgx/v5), migrates it, and builds the ent client whose
// every statement runs fenced for the request's viewer (see tenant.go).
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver (pure Go)

	"github.com/omnisphere/omnisphere/ent"
	_ "github.com/omnisphere/omnisphere/ent/runtime" // schema defaults, hooks and interceptors
)

// Config says which database to open and how to pool connections.
type Config struct {
	// URL is a postgres:// URL; empty selects the embedded SQLite file.
	URL string
	// SQLitePath is the embedded database file (default data/omnisphere.db).
	SQLitePath string
	// MaxOpenConns, MaxIdleConns, ConnMaxLifetime and ConnMaxIdleTime set the
	// pool. Zero values take the defaults below.
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// Observer, when not nil, is told of every statement (observe.go).
	Observer Observer
}

// DB is an open database.
type DB struct {
	// Dialect is dialect.Postgres or dialect.SQLite.
	Dialect string
	// SQL is the raw pool, connected as the DATABASE_URL role: migrations and
	// health checks only. Tenant work goes through Client or InTenantTx.
	SQL *sql.DB
	// Client is the ent client of the server; on PostgreSQL every statement
	// runs in a transaction fenced for the viewer.
	Client *ent.Client

	stats  *stats
	driver any
}

// Statements returns how many SQL statements the ent client has run (the
// fence of each transaction not counted): an operational counter, and what
// tests use to pin the statement count of a request.
func (d *DB) Statements() uint64 { return d.stats.statements.Load() }

// Open opens and pings the configured database. It does not migrate.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.URL != "" {
		return openPostgres(ctx, cfg)
	}
	return openSQLite(ctx, cfg)
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("db: DATABASE_URL must be a postgres:// or postgresql:// URL")
	}
	sqlDB, err := openPool("pgx", cfg.URL, cfg.Observer)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	sqlDB.SetMaxOpenConns(orDefault(cfg.MaxOpenConns, 20))
	sqlDB.SetMaxIdleConns(orDefault(cfg.MaxIdleConns, 10))
	sqlDB.SetConnMaxLifetime(orDefaultDur(cfg.ConnMaxLifetime, 30*time.Minute))
	sqlDB.SetConnMaxIdleTime(orDefaultDur(cfg.ConnMaxIdleTime, 5*time.Minute))
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("db: connect to postgres at %s: %w", redact(u), err)
	}
	st := &stats{}
	drv := &fencedDriver{Driver: entsql.OpenDB(dialect.Postgres, sqlDB), stats: st}
	return &DB{Dialect: dialect.Postgres, SQL: sqlDB, Client: ent.NewClient(ent.Driver(drv)), stats: st, driver: drv}, nil
}

func openSQLite(ctx context.Context, cfg Config) (*DB, error) {
	path := cfg.SQLitePath
	if path == "" {
		path = filepath.Join("data", "omnisphere.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("db: create data directory: %w", err)
	}
	// Foreign keys on (ent's migration needs them), WAL for concurrent
	// readers, NORMAL sync (safe with WAL), a busy timeout for writers, and
	// IMMEDIATE transactions so a read-then-write transaction never fails
	// on lock upgrade.
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	sqlDB, err := openPool("sqlite", dsn, cfg.Observer)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	sqlDB.SetMaxOpenConns(orDefault(cfg.MaxOpenConns, 8))
	sqlDB.SetMaxIdleConns(orDefault(cfg.MaxIdleConns, 8))
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	st := &stats{}
	drv := &serialDriver{Driver: entsql.OpenDB(dialect.SQLite, sqlDB), stats: st}
	return &DB{Dialect: dialect.SQLite, SQL: sqlDB, Client: ent.NewClient(ent.Driver(drv)), stats: st, driver: drv}, nil
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// Close closes the pool.
func (d *DB) Close() error { return d.Client.Close() }

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orDefaultDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// redact drops the password from a URL for error messages and logs.
func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return strings.TrimSpace(c.String())
}

// InTx runs fn in a transaction of client (fenced for ctx's viewer, see
// tenant.go), committed when fn returns nil and rolled back otherwise —
// also when fn panics. It is the one transaction helper of the domain
// packages.
func InTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Client) error) (err error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// analyzedTables are the tables whose planner statistics a bulk write of
// the catalogue (an import, a seed) changes enough to matter: without fresh
// statistics PostgreSQL plans the storefront's batched IN (…) lookups as
// scans of the whole merchant until autovacuum gets to them.
var analyzedTables = []string{
	"products", "product_variants", "inventory", "product_images",
	"product_categories", "warehouses",
}

// Analyze refreshes the planner statistics of the catalogue tables after a
// bulk write. It runs on the raw pool (ANALYZE needs the tables' owner, the
// DATABASE_URL role) and touches no rows.
func (d *DB) Analyze(ctx context.Context) error {
	stmt := "ANALYZE " + strings.Join(analyzedTables, ", ")
	if d.Dialect == dialect.SQLite {
		stmt = "ANALYZE"
	}
	if _, err := d.SQL.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("db: analyze: %w", err)
	}
	return nil
}

// LostRace reports whether err is a transaction that lost a race worth
// running again: a unique or other constraint hit by a concurrent writer,
// a PostgreSQL serialization failure or deadlock. Its checks then see the
// winner and answer with a user error.
func LostRace(err error) bool {
	if ent.IsConstraintError(err) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "40001", "40P01", "23505": // serialization failure, deadlock, unique violation
			return true
		}
	}
	return false
}

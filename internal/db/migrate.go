package db

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log/slog"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/omnisphere/omnisphere/ent"
)

// postgresMigrations are the versioned SQL migrations of PostgreSQL, applied
// in order by goose, which records them in goose_db_version. See
// docs/migrations.md for how to add one.
//
//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// MigrationTable is the migration tool's own bookkeeping table on PostgreSQL.
const MigrationTable = "goose_db_version"

// Migrate brings the schema up to date; it is idempotent and safe to run from
// several processes at once. PostgreSQL applies the versioned SQL files under
// a session advisory lock, as the DATABASE_URL role (the owner): they create
// the tables, the tenant and system roles and the row-level security
// policies. The embedded SQLite file is migrated by ent's auto-migration,
// plus the storefront's FTS5 search table and its triggers (search.go).
func (d *DB) Migrate(ctx context.Context) error {
	switch d.Dialect {
	case dialect.Postgres:
		return migratePostgres(ctx, d)
	default:
		raw := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, d.SQL)))
		if err := raw.Schema.Create(ctx, schema.WithForeignKeys(true)); err != nil {
			return fmt.Errorf("db: migrate sqlite: %w", err)
		}
		return migrateSQLiteSearch(ctx, d.SQL)
	}
}

func migratePostgres(ctx context.Context, d *DB) error {
	fsys, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, d.SQL, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("db: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("db: migrate postgres: %w", err)
	}
	for _, r := range results {
		slog.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// PendingSchemaChanges writes to w the SQL that ent's schema would still
// need on the current database: empty when the versioned migrations match
// ./schema. `go run . migrate diff` prints it to start a new migration file.
func (d *DB) PendingSchemaChanges(ctx context.Context, w io.Writer) error {
	raw := ent.NewClient(ent.Driver(entsql.OpenDB(d.Dialect, d.SQL)))
	return raw.Schema.WriteTo(ctx, w, schema.WithForeignKeys(true))
}

// Package dbtest gives tests real databases: a fresh SQLite file always, and
// a fresh PostgreSQL database when TEST_DATABASE_URL is set (CI sets it).
// Each call creates its own database and drops it when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/omnisphere/omnisphere/internal/db"
)

// Backend names a database kind a test runs on.
type Backend string

// The backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Backends returns the backends to run on: SQLite always, PostgreSQL when
// TEST_DATABASE_URL is set.
func Backends() []Backend {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return []Backend{SQLite, Postgres}
	}
	return []Backend{SQLite}
}

// Open returns a migrated database of the given backend, closed (and, on
// PostgreSQL, dropped) when the test ends.
func Open(t testing.TB, b Backend) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := db.Config{}
	switch b {
	case Postgres:
		cfg.URL = PostgresURL(t)
	default:
		cfg.SQLitePath = filepath.Join(t.TempDir(), "test.db")
	}
	return open(ctx, t, cfg)
}

// OpenPool is Open on PostgreSQL with a pool of at most n connections.
func OpenPool(t testing.TB, n int) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return open(ctx, t, db.Config{URL: PostgresURL(t), MaxOpenConns: n, MaxIdleConns: n})
}

func open(ctx context.Context, t testing.TB, cfg db.Config) *db.DB {
	t.Helper()
	d, err := db.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return d
}

// PostgresURL creates an empty PostgreSQL database for the test and returns
// its URL. It skips the test when TEST_DATABASE_URL is unset and fails it
// when the server does not answer.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		t.Skip("TEST_DATABASE_URL is not set: skipping the PostgreSQL run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	defer adb.Close()
	if err := adb.PingContext(ctx); err != nil {
		t.Fatalf("TEST_DATABASE_URL is set but PostgreSQL does not answer: %v", err)
	}
	name := dbName(t)
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adb, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer adb.Close()
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// dbName makes a database name from the test's name plus randomness.
func dbName(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	n := notIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(n) > 40 {
		n = n[:40]
	}
	return fmt.Sprintf("omni_t_%s_%s", n, hex.EncodeToString(b))
}

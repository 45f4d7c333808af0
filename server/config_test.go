package server_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/server"
)

// env is a map-backed getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func TestLoadConfigDefaults(t *testing.T) {
	// An empty environment: everything is relative to the working directory.
	dir := t.TempDir()
	t.Chdir(dir)

	c, err := server.LoadConfig(env{}.get)
	require.NoError(t, err)
	require.True(t, c.Embedded())
	require.Equal(t, 8080, c.Port)
	require.Equal(t, "data", c.DataDir)
	require.Equal(t, filepath.Join("data", "omnisphere.db"), c.SQLitePath)
	require.Empty(t, c.DatabaseURL)
	require.Empty(t, c.RedisURL)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.True(t, c.AutoMigrate)
	require.Equal(t, 20*time.Second, c.ShutdownTimeout)
	require.Equal(t, 30*time.Minute, c.DBConnMaxLife)
	require.Equal(t, 5*time.Minute, c.DBConnMaxIdle)
	require.Zero(t, c.DBMaxOpenConns)
	require.Zero(t, c.DBMaxIdleConns)

	// The JWT secret is generated into DATA_DIR, readable by the owner only.
	require.GreaterOrEqual(t, len(c.JWTSecret), 32)
	path := filepath.Join(dir, "data", "jwt_secret")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(c.JWTSecret), strings.TrimSpace(string(b)))
	st, err = os.Stat(filepath.Join(dir, "data"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	// ... and reused on the next start, so tokens survive restarts.
	c2, err := server.LoadConfig(env{}.get)
	require.NoError(t, err)
	require.Equal(t, c.JWTSecret, c2.JWTSecret)
}

func TestLoadConfigSecretFromAnotherDataDir(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	c1, err := server.LoadConfig(env{"DATA_DIR": d1}.get)
	require.NoError(t, err)
	c2, err := server.LoadConfig(env{"DATA_DIR": d2}.get)
	require.NoError(t, err)
	require.NotEqual(t, c1.JWTSecret, c2.JWTSecret, "each data directory has its own secret")
	require.Equal(t, filepath.Join(d1, "omnisphere.db"), c1.SQLitePath)
}

func TestLoadConfigRefusesAShortStoredSecret(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "jwt_secret"), []byte("short\n"), 0o600))
	_, err := server.LoadConfig(env{"DATA_DIR": dir}.get)
	require.Error(t, err)
	require.Contains(t, err.Error(), "jwt_secret")
}

func TestLoadConfig(t *testing.T) {
	secret := strings.Repeat("s", 32)
	pg := "postgres://app@db:5432/omni?sslmode=disable"
	tests := []struct {
		name string
		env  env
		// wantErr lists what the error must name; empty means success.
		wantErr []string
		check   func(t *testing.T, c server.Config)
	}{
		{name: "PORT set", env: env{"PORT": " 9090 "}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, 9090, c.Port)
		}},
		{name: "PORT not a number", env: env{"PORT": "abc"}, wantErr: []string{"PORT", `"abc"`}},
		{name: "PORT zero", env: env{"PORT": "0"}, wantErr: []string{"PORT"}},
		{name: "PORT negative", env: env{"PORT": "-1"}, wantErr: []string{"PORT"}},
		{name: "PORT too large", env: env{"PORT": "65536"}, wantErr: []string{"PORT"}},
		{name: "LOG_LEVEL warning", env: env{"LOG_LEVEL": "WARNING"}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, slog.LevelWarn, c.LogLevel)
		}},
		{name: "LOG_LEVEL debug", env: env{"LOG_LEVEL": "debug"}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, slog.LevelDebug, c.LogLevel)
		}},
		{name: "LOG_LEVEL error", env: env{"LOG_LEVEL": "error"}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, slog.LevelError, c.LogLevel)
		}},
		{name: "LOG_LEVEL invalid", env: env{"LOG_LEVEL": "verbose"}, wantErr: []string{"LOG_LEVEL", `"verbose"`}},
		{name: "storefront cache defaults", env: env{}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, 32, c.StorefrontCacheMB)
			require.Equal(t, 10*time.Second, c.StorefrontCacheTTL)
		}},
		{name: "storefront cache off", env: env{"STOREFRONT_CACHE_MB": "0"}, check: func(t *testing.T, c server.Config) {
			require.Zero(t, c.StorefrontCacheMB)
		}},
		{name: "STOREFRONT_CACHE_MB negative", env: env{"STOREFRONT_CACHE_MB": "-1"}, wantErr: []string{"STOREFRONT_CACHE_MB"}},
		{name: "STOREFRONT_CACHE_TTL zero", env: env{"STOREFRONT_CACHE_TTL": "0s"}, wantErr: []string{"STOREFRONT_CACHE_TTL"}},
		{name: "DATABASE_URL without JWT_SECRET", env: env{"DATABASE_URL": pg}, wantErr: []string{"JWT_SECRET", "DATABASE_URL"}},
		{name: "DATABASE_URL with JWT_SECRET", env: env{"DATABASE_URL": pg, "JWT_SECRET": secret}, check: func(t *testing.T, c server.Config) {
			require.False(t, c.Embedded())
			require.Equal(t, pg, c.DatabaseURL)
			require.Equal(t, []byte(secret), c.JWTSecret)
		}},
		{name: "DATABASE_URL postgresql scheme", env: env{"DATABASE_URL": "postgresql://db/omni", "JWT_SECRET": secret}},
		{name: "DATABASE_URL other scheme", env: env{"DATABASE_URL": "mysql://db/omni", "JWT_SECRET": secret}, wantErr: []string{"DATABASE_URL"}},
		{name: "JWT_SECRET too short", env: env{"JWT_SECRET": secret[:31]}, wantErr: []string{"JWT_SECRET", "32"}},
		{name: "JWT_SECRET too short with DATABASE_URL", env: env{"DATABASE_URL": pg, "JWT_SECRET": "short-secret-value"}, wantErr: []string{"JWT_SECRET"}},
		{name: "JWT_SECRET given on embedded", env: env{"JWT_SECRET": secret}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, []byte(secret), c.JWTSecret)
			_, err := os.Stat(filepath.Join(c.DataDir, "jwt_secret"))
			require.ErrorIs(t, err, os.ErrNotExist, "no secret is generated when one is given")
		}},
		{name: "REDIS_URL redis", env: env{"REDIS_URL": "redis://localhost:6379/0"}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, "redis://localhost:6379/0", c.RedisURL)
		}},
		{name: "REDIS_URL rediss", env: env{"REDIS_URL": "rediss://cache:6380"}},
		{name: "REDIS_URL bad scheme", env: env{"REDIS_URL": "http://localhost:6379"}, wantErr: []string{"REDIS_URL"}},
		{name: "REDIS_URL no scheme", env: env{"REDIS_URL": "localhost:6379"}, wantErr: []string{"REDIS_URL"}},
		{name: "SQLITE_PATH", env: env{"SQLITE_PATH": "/tmp/x/shop.db"}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, "/tmp/x/shop.db", c.SQLitePath)
		}},
		{name: "durations and pool", env: env{
			"SHUTDOWN_TIMEOUT": "3s", "DB_CONN_MAX_LIFETIME": "1h", "DB_CONN_MAX_IDLE_TIME": "90s",
			"DB_MAX_OPEN_CONNS": "4", "DB_MAX_IDLE_CONNS": "2", "AUTO_MIGRATE": "false",
		}, check: func(t *testing.T, c server.Config) {
			require.Equal(t, 3*time.Second, c.ShutdownTimeout)
			require.Equal(t, time.Hour, c.DBConnMaxLife)
			require.Equal(t, 90*time.Second, c.DBConnMaxIdle)
			require.Equal(t, 4, c.DBMaxOpenConns)
			require.Equal(t, 2, c.DBMaxIdleConns)
			require.False(t, c.AutoMigrate)
		}},
		{name: "SHUTDOWN_TIMEOUT invalid", env: env{"SHUTDOWN_TIMEOUT": "soon"}, wantErr: []string{"SHUTDOWN_TIMEOUT"}},
		{name: "SHUTDOWN_TIMEOUT negative", env: env{"SHUTDOWN_TIMEOUT": "-1s"}, wantErr: []string{"SHUTDOWN_TIMEOUT"}},
		{name: "AUTO_MIGRATE invalid", env: env{"AUTO_MIGRATE": "maybe"}, wantErr: []string{"AUTO_MIGRATE"}},
		{name: "DB_MAX_OPEN_CONNS invalid", env: env{"DB_MAX_OPEN_CONNS": "many"}, wantErr: []string{"DB_MAX_OPEN_CONNS"}},
		{name: "every problem at once", env: env{
			"PORT": "abc", "LOG_LEVEL": "loud", "REDIS_URL": "memcache://x", "DATABASE_URL": pg,
		}, wantErr: []string{"PORT", "LOG_LEVEL", "REDIS_URL", "JWT_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{"DATA_DIR": t.TempDir()}
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := server.LoadConfig(e.get)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					require.Contains(t, err.Error(), w)
				}
				require.Equal(t, server.Config{}, c, "no partial configuration on error")
				// A secret given in the environment never appears in errors.
				if s := tt.env["JWT_SECRET"]; s != "" {
					require.NotContains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(c.JWTSecret), 32)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

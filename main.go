// Command omnisphere is the OmniSphere server: a multi-tenant GraphQL
// commerce backend. With no configuration it runs on an embedded SQLite
// database in ./data; with DATABASE_URL it runs on PostgreSQL.
//
//	go run .                 serve on :8080 (PORT)
//	go run . migrate         apply migrations and exit
//	go run . migrate diff    print the SQL that ./schema still needs (start of a new migration)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/omnisphere/omnisphere/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "omnisphere:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := server.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log := server.NewLogger(os.Stdout, cfg.LogLevel)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch {
	case len(args) == 0 || args[0] == "serve":
		return serve(ctx, cfg, log)
	case args[0] == "migrate" && len(args) == 1:
		cfg.AutoMigrate = true
		s, err := server.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		log.Info("migrations up to date")
		return s.Close()
	case args[0] == "migrate" && len(args) == 2 && args[1] == "diff":
		cfg.AutoMigrate = false
		s, err := server.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.DB.PendingSchemaChanges(ctx, os.Stdout)
	default:
		return errors.New("usage: omnisphere [serve | migrate | migrate diff]")
	}
}

func serve(ctx context.Context, cfg server.Config, log *slog.Logger) error {
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return err
	}
	backend := "postgres"
	if cfg.Embedded() {
		backend = "sqlite:" + cfg.SQLitePath
	}
	log.Info("omnisphere listening", "addr", ln.Addr().String(), "database", backend,
		"redis", cfg.RedisURL != "", "graphql", "/graphql", "playground", "/playground")
	return s.Serve(ctx, ln)
}

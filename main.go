// Command omnisphere is the OmniSphere server: a multi-tenant GraphQL
// commerce backend. With no configuration it runs on an embedded SQLite
// database in ./data; with DATABASE_URL it runs on PostgreSQL.
//
//	go run .                 serve on :8080 (PORT)
//	go run . migrate         apply migrations and exit
//	go run . migrate diff    print the SQL that ./schema still needs (start of a new migration)
//	go run . --no-demo       serve without seeding the demo store into an empty embedded database
//	go run . seed demo       create the demo store (on any database)
//	go run . seed bench --products N [--merchant SLUG]
//	                         create the benchmark catalogue (../shared/bench/DATASET.md)
//	go run . import FILE --merchant SLUG [--format jsonl|csv]
//	                         import products into a store (docs/catalog.md)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
	case len(args) == 0 || args[0] == "serve" || strings.HasPrefix(args[0], "-"):
		if len(args) > 0 && args[0] == "serve" {
			args = args[1:]
		}
		demo, err := serveFlags(args)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, log, demo)
	case args[0] == "import":
		return importCommand(ctx, cfg, log, os.Stdout, args[1:])
	case args[0] == "seed":
		return seedCommand(ctx, cfg, log, args[1:])
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
		return errors.New("usage: omnisphere [serve [--no-demo] | migrate | migrate diff | seed demo | seed bench --products N [--merchant SLUG] | import FILE --merchant SLUG [--format jsonl|csv]]")
	}
}

func serve(ctx context.Context, cfg server.Config, log *slog.Logger, demo bool) error {
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SeedOnStart(ctx, demo, os.Stderr)
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

// serveFlags parses serve's flags; it reports whether the demo store may be
// seeded (into an empty embedded database).
func serveFlags(args []string) (demo bool, err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	noDemo := fs.Bool("no-demo", false, "do not seed the demo store into an empty embedded database")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return !*noDemo, nil
}

// seedCommand runs `seed demo` and `seed bench --products N [--merchant SLUG]`.
func seedCommand(ctx context.Context, cfg server.Config, log *slog.Logger, args []string) error {
	const usage = "usage: omnisphere seed demo | seed bench --products N [--merchant SLUG]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("seed "+args[0], flag.ContinueOnError)
	products := fs.Int("products", 1000, "products of the bench catalogue")
	merchant := fs.String("merchant", "bench", "slug of the bench store")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if (args[0] != "demo" && args[0] != "bench") || fs.NArg() > 0 {
		return errors.New(usage)
	}
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	if args[0] == "demo" {
		_, err = s.SeedDemo(ctx, os.Stdout)
		return err
	}
	return s.SeedBench(ctx, *products, *merchant, os.Stdout)
}

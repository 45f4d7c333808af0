package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

const importUsage = "usage: omnisphere import FILE --merchant SLUG [--format jsonl|csv]  (FILE - reads stdin)"

// importCommand runs `import FILE --merchant SLUG [--format jsonl|csv]`: the
// importer of productImport (docs/catalog.md), as a staff viewer of the
// store, which is looked up by slug on the system path. It prints a summary
// and every row error, and fails when a row failed.
func importCommand(ctx context.Context, cfg server.Config, log *slog.Logger, out io.Writer, args []string) error {
	file, slug, format, err := importFlags(args)
	if err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := s.DB.Client.MerchantAccount.Query().Where(merchantaccount.Slug(slug)).
		Only(viewer.SystemContext(ctx, "import: find the store by slug"))
	if ent.IsNotFound(err) {
		return fmt.Errorf("import: no store with slug %q", slug)
	}
	if err != nil {
		return err
	}
	staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID})
	res, err := s.Catalog.Import(staff, r, format)
	if e, ok := catalog.IsUserError(err); ok {
		return fmt.Errorf("import: %s", e.Errors[0].Message)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %s into %s: %d created, %d updated, %d failed\n", file, slug, res.Created, res.Updated, res.Failed)
	for _, e := range res.Errors {
		field := ""
		if e.Field != "" {
			field = " " + e.Field + ":"
		}
		fmt.Fprintf(out, "row %d:%s %s (%s)\n", e.Row, field, e.Message, e.Code)
	}
	if res.Failed > 0 {
		return fmt.Errorf("import: %d products failed", res.Failed)
	}
	return nil
}

// importFlags parses FILE (before or after the flags), --merchant and
// --format (default: csv for a .csv file, jsonl otherwise).
func importFlags(args []string) (file, slug string, format catalog.Format, err error) {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	merchant := fs.String("merchant", "", "slug of the store to import into")
	formatName := fs.String("format", "", "jsonl or csv (default: from the file name)")
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return "", "", "", err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 || strings.TrimSpace(*merchant) == "" {
		return "", "", "", errors.New(importUsage)
	}
	name := *formatName
	if name == "" {
		name = "jsonl"
		if strings.EqualFold(filepath.Ext(files[0]), ".csv") {
			name = "csv"
		}
	}
	f, ok := catalog.ParseFormat(name)
	if !ok {
		return "", "", "", fmt.Errorf("import: --format must be jsonl or csv, got %q", name)
	}
	return files[0], strings.TrimSpace(*merchant), f, nil
}

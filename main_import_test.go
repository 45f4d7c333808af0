package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/internal/catalog"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/server"
)

func TestImportFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		file   string
		slug   string
		format catalog.Format
		bad    bool
	}{
		{args: []string{"p.jsonl", "--merchant", "acme"}, file: "p.jsonl", slug: "acme", format: catalog.FormatJSONL},
		{args: []string{"--merchant=acme", "P.CSV"}, file: "P.CSV", slug: "acme", format: catalog.FormatCSV},
		{args: []string{"p.txt", "--merchant", "acme", "--format", "csv"}, file: "p.txt", slug: "acme", format: catalog.FormatCSV},
		{args: []string{"-", "--merchant", "acme"}, file: "-", slug: "acme", format: catalog.FormatJSONL},
		{args: []string{"p.jsonl"}, bad: true},
		{args: []string{"--merchant", "acme"}, bad: true},
		{args: []string{"a", "b", "--merchant", "acme"}, bad: true},
		{args: []string{"p", "--merchant", "acme", "--format", "xml"}, bad: true},
		{args: []string{"p", "--merchant", "acme", "--bogus"}, bad: true},
	} {
		file, slug, format, err := importFlags(tc.args)
		if tc.bad {
			require.Error(t, err, tc.args)
			continue
		}
		require.NoError(t, err, tc.args)
		require.Equal(t, []any{tc.file, tc.slug, tc.format}, []any{file, slug, format}, tc.args)
	}
}

// TestImportCommand runs `import FILE --merchant SLUG` on an embedded
// database: the rows land in that store, a bad row fails the command.
func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, SQLitePath: filepath.Join(dir, "x.db"), AutoMigrate: true,
		JWTSecret: []byte("0123456789abcdef0123456789abcdef-test"), LogLevel: slog.LevelError}
	log := server.NewLogger(io.Discard, slog.LevelError)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := server.New(ctx, cfg, log)
	require.NoError(t, err)
	m, err := s.DB.Client.MerchantAccount.Create().SetName("Acme").SetSlug("acme").Save(viewer.SystemContext(ctx, "test"))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	file := filepath.Join(dir, "p.csv")
	require.NoError(t, os.WriteFile(file, []byte("title,sku,price,inventory\nLamp,LAMP-1,4500,3\nBad,,-1,\n"), 0o600))
	var out bytes.Buffer
	err = importCommand(ctx, cfg, log, &out, []string{file, "--merchant", "acme"})
	require.EqualError(t, err, "import: 1 products failed")
	require.Contains(t, out.String(), "1 created, 0 updated, 1 failed")
	require.Contains(t, out.String(), "row 3: price: price must not be negative (INVALID)")

	err = importCommand(ctx, cfg, log, &out, []string{file, "--merchant", "nobody"})
	require.EqualError(t, err, `import: no store with slug "nobody"`)

	s, err = server.New(ctx, cfg, log)
	require.NoError(t, err)
	defer s.Close()
	staff := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID})
	p, err := s.DB.Client.Product.Query().Where(product.Slug("lamp")).WithVariants().Only(staff)
	require.NoError(t, err)
	require.Equal(t, "LAMP-1", p.Edges.Variants[0].Sku)
	require.Equal(t, 3, p.TotalInventory)
}

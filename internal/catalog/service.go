// Package catalog owns a merchant's catalogue administration: products with
// their options and variants, the category tree, product images (external
// URLs and uploads into the local media directory), warehouses and stock
// levels (with low-stock alerts written to the outbox), the storefront
// configuration, and the bulk import of products from JSONL or CSV.
//
// It knows nothing of GraphQL or HTTP. Every operation runs as the viewer of
// its context (a store's staff, or the system path acting for one store) and
// returns *Error for input the caller can fix.
package catalog

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/omnisphere/omnisphere/ent"
)

// Service is the catalogue administration service.
type Service struct {
	client   *ent.Client
	log      *slog.Logger
	mediaDir string
	now      func() time.Time

	// AfterImport, when set, runs after an import that wrote rows (the
	// server refreshes the planner statistics there, see db.DB.Analyze);
	// its error is logged, not returned.
	AfterImport func(ctx context.Context) error
}

// New returns a Service writing through client. mediaDir is where uploaded
// images are stored (one directory per merchant), now the clock (time.Now
// when nil).
func New(client *ent.Client, log *slog.Logger, mediaDir string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{client: client, log: log, mediaDir: mediaDir, now: now}
}

// Format is the format of an import file.
type Format string

// The import formats (docs/catalog.md describes both).
const (
	FormatJSONL Format = "JSONL"
	FormatCSV   Format = "CSV"
)

// ImportResult is the outcome of an import: how many products were created
// and updated, how many rows failed, and why each failed.
type ImportResult struct {
	Created int
	Updated int
	Failed  int
	Errors  []RowError
}

// RowError is the problem of one row of an import file.
type RowError struct {
	// Row is the 1-based line (JSONL) or record (CSV, the header being 1).
	Row     int
	Field   string
	Message string
	Code    Code
}

// Import reads products from r in format and upserts them (by product slug
// and variant SKU) as the staff viewer of ctx, in transactions of
// ImportBatchSize rows. Rows that fail are reported and skipped; the error
// is non-nil only when the import could not run at all.
func (s *Service) Import(ctx context.Context, r io.Reader, format Format) (*ImportResult, error) {
	return s.importProducts(ctx, r, format)
}

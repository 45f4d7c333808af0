package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func BenchmarkScratchSeed(b *testing.B) {
	ctx := context.Background()
	d, err := db.Open(ctx, db.Config{URL: "postgres://postgres@127.0.0.1:5432/omni_analytics_scratch?sslmode=disable"})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	sys := viewer.SystemContext(ctx, "scratch")
	ma, err := d.Client.MerchantAccount.Create().SetName("Big").SetSlug("big").SetTimezone("Europe/Paris").Save(sys)
	if err != nil {
		b.Fatal(err)
	}
	mo, _ := d.Client.MerchantAccount.Create().SetName("Other").SetSlug("other").Save(sys)
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	generate(ctx, b, d, ma.ID, end, benchOrders, benchCustomers, benchProducts, benchEvents)
	generate(ctx, b, d, mo.ID, end, otherOrders, 5_000, 50, 50_000)
	d.SQL.ExecContext(ctx, `ANALYZE`)
	fmt.Println("MERCHANT", ma.ID)
}

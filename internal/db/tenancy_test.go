package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/ids"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func ctxFor(m uuid.UUID) context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m})
}

// fill gives merchant one row in every table, written through the tenant
// path of that merchant on PostgreSQL (so the policies' WITH CHECK admits
// its own rows) and directly on SQLite.
func fill(t *testing.T, b dbtest.Backend, d *db.DB, merchant uuid.UUID) map[string]uuid.UUID {
	t.Helper()
	mark := dbtest.SQLiteMark
	if b == dbtest.Postgres {
		mark = dbtest.PostgresMark
	}
	stmts, rowIDs := dbtest.FillStatements(merchant, mark)
	run := func(tx *sql.Tx) error {
		for _, s := range stmts {
			if s.Table == "webhook_events" {
				continue // system only; filled by fillSystem
			}
			if _, err := tx.Exec(s.SQL, s.Args...); err != nil {
				return fmt.Errorf("%s: %w", s.Table, err)
			}
		}
		return nil
	}
	ctx := ctxFor(merchant)
	if b == dbtest.Postgres {
		require.NoError(t, db.InTenantTx(ctx, d.SQL, run))
	} else {
		tx, err := d.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, run(tx))
		require.NoError(t, tx.Commit())
	}
	return rowIDs
}

func tables(t *testing.T, b dbtest.Backend, d *db.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if b == dbtest.Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`
	}
	rows, err := d.SQL.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	sort.Strings(out)
	return out
}

func TestMigrationCreatesExactlyTheSchemaTables(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			want := ids.Tables()
			require.Len(t, want, 37)
			if b == dbtest.Postgres {
				want = append(want, db.MigrationTable)
			} else {
				// The storefront's FTS5 search table and the shadow tables
				// FTS5 keeps its index in (internal/db/search.go); PostgreSQL
				// searches with GIN indexes instead and has no such table.
				want = append(want, db.SQLiteSearchTables...)
			}
			sort.Strings(want)
			require.Equal(t, want, tables(t, b, d))

			// Migrating again changes nothing and does not fail.
			require.NoError(t, d.Migrate(context.Background()))
			require.Equal(t, want, tables(t, b, d))

			// The versioned SQL migrations produce exactly what ./schema
			// describes: ent's planner has nothing left to do.
			var pending strings.Builder
			require.NoError(t, d.PendingSchemaChanges(context.Background(), &pending))
			require.Empty(t, strings.TrimSpace(pending.String()), "schema drift: add a migration (go run . migrate diff)")
		})
	}
}

func TestEveryTableIsFencedByForcedRowLevelSecurity(t *testing.T) {
	d := dbtest.Open(t, dbtest.Postgres)
	rows, err := d.SQL.Query(`
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       EXISTS (SELECT 1 FROM information_schema.columns col
		               WHERE col.table_schema = current_schema() AND col.table_name = c.relname
		                 AND col.column_name = 'merchant_id'),
		       COALESCE((SELECT string_agg(p.policyname || ':' || array_to_string(p.roles, ','), ' ' ORDER BY p.policyname)
		                 FROM pg_policies p WHERE p.schemaname = current_schema() AND p.tablename = c.relname), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname <> $1`, db.MigrationTable)
	require.NoError(t, err)
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var name, policies string
		var enabled, forced, hasTenant bool
		require.NoError(t, rows.Scan(&name, &enabled, &forced, &hasTenant, &policies))
		seen++
		require.True(t, enabled, "%s: row level security not enabled", name)
		require.True(t, forced, "%s: row level security not forced", name)
		switch {
		case name == "webhook_events":
			require.Equal(t, "system_access:"+db.SystemRole, policies, name)
		case hasTenant || name == "merchant_accounts":
			require.Equal(t, "system_access:"+db.SystemRole+" tenant_isolation:"+db.TenantRole, policies, name)
		default:
			t.Errorf("%s has no merchant_id: every table must belong to a tenant or be system-only", name)
		}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 37, seen)

	// The tenant policy reads the setting with NULLIF, so it fails closed
	// instead of raising a cast error on an empty setting.
	var qual string
	require.NoError(t, d.SQL.QueryRow(`SELECT qual FROM pg_policies WHERE tablename = 'products' AND policyname = 'tenant_isolation'`).Scan(&qual))
	require.Contains(t, qual, "NULLIF")
}

func TestServerRolesAreUnprivileged(t *testing.T) {
	d := dbtest.Open(t, dbtest.Postgres)
	for _, role := range []string{db.TenantRole, db.SystemRole} {
		var super, bypass, login bool
		require.NoError(t, d.SQL.QueryRow(`SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1`, role).
			Scan(&super, &bypass, &login), role)
		require.False(t, super, "%s is superuser", role)
		require.False(t, bypass, "%s has BYPASSRLS", role)
		require.False(t, login, "%s can log in", role)
		var owned int
		require.NoError(t, d.SQL.QueryRow(`
			SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1`, role).Scan(&owned))
		require.Zero(t, owned, "%s owns %d relations", role, owned)
	}
	// Tenant work really runs as the tenant role, even though the test
	// connects as a superuser.
	var who, tenant string
	m := uuid.New()
	require.NoError(t, db.InTenantTx(ctxFor(m), d.SQL, func(tx *sql.Tx) error {
		return tx.QueryRow(`SELECT current_user, current_setting('app.merchant_id')`).Scan(&who, &tenant)
	}))
	require.Equal(t, db.TenantRole, who)
	require.Equal(t, m.String(), tenant)
}

func TestMerchantsNeverSeeEachOthersRows(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			a, bm := ids.New(ids.Code("merchant_accounts")), ids.New(ids.Code("merchant_accounts"))
			fill(t, b, d, a)
			rowsB := fill(t, b, d, bm)
			ctxA := ctxFor(a)
			counters := entCounters(d.Client)
			require.Len(t, counters, len(dbtest.TenantTables()), "entCounters must list every tenant table")

			for _, tbl := range dbtest.TenantTables() {
				count := counters[tbl.Name]
				require.NotNil(t, count, tbl.Name)
				// Through ent, the resolvers' path.
				n, err := count(ctxA, bm)
				require.NoError(t, err, tbl.Name)
				require.Zero(t, n, "%s: merchant A read merchant B's rows through ent", tbl.Name)
				n, err = count(ctxA, a)
				require.NoError(t, err, tbl.Name)
				require.Equal(t, 1, n, "%s: merchant A must see its own row", tbl.Name)
			}
			// The tenant itself.
			n, err := d.Client.MerchantAccount.Query().Count(ctxA)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			_, err = d.Client.MerchantAccount.Get(ctxA, bm)
			require.True(t, ent.IsNotFound(err), "merchant A got merchant B's account: %v", err)
			// System-only data stays closed to tenants.
			_, err = d.Client.WebhookEvent.Query().Count(ctxA)
			require.ErrorIs(t, err, viewer.ErrSystemOnly)

			// ent refuses to write another merchant's id, and cannot update
			// or delete another merchant's rows.
			_, err = d.Client.Warehouse.Create().SetMerchantID(bm).SetName("x").SetCode("x").Save(ctxA)
			require.ErrorIs(t, err, viewer.ErrCrossTenant)
			_, err = d.Client.Product.UpdateOneID(rowsB["products"]).SetTitle("stolen").Save(ctxA)
			require.True(t, ent.IsNotFound(err), "update of B's product from A: %v", err)
			deleted, err := d.Client.Product.Delete().Where(product.ID(rowsB["products"])).Exec(ctxA)
			require.NoError(t, err)
			require.Zero(t, deleted)
			// Nothing of B changed.
			p, err := d.Client.Product.Get(ctxFor(bm), rowsB["products"])
			require.NoError(t, err)
			require.NotEqual(t, "stolen", p.Title)

			if b != dbtest.Postgres {
				return
			}
			// Raw SQL on the same tenant path is fenced by RLS.
			for _, tbl := range dbtest.TenantTables() {
				var foreign, own int
				require.NoError(t, db.InTenantTx(ctxA, d.SQL, func(tx *sql.Tx) error {
					if err := tx.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q WHERE merchant_id = $1`, tbl.Name), bm).Scan(&foreign); err != nil {
						return err
					}
					return tx.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q`, tbl.Name)).Scan(&own)
				}), tbl.Name)
				require.Zero(t, foreign, "%s: raw SQL of A read B's rows", tbl.Name)
				require.Equal(t, 1, own, "%s: raw SQL of A must see exactly its own row", tbl.Name)
			}
			// An INSERT carrying B's merchant_id fails on every tenant table.
			stmts, _ := dbtest.FillStatements(bm, dbtest.PostgresMark)
			for _, s := range stmts {
				if s.Table == "merchant_accounts" || s.Table == "webhook_events" {
					continue
				}
				err := db.InTenantTx(ctxA, d.SQL, func(tx *sql.Tx) error {
					_, err := tx.Exec(s.SQL, s.Args...)
					return err
				})
				var pgErr *pgconn.PgError
				require.ErrorAs(t, err, &pgErr, s.Table)
				require.Equal(t, "42501", pgErr.Code, "%s: want an RLS violation, got %v", s.Table, err)
			}
			// The tenant role cannot reach system-only data at all.
			err = db.InTenantTx(ctxA, d.SQL, func(tx *sql.Tx) error {
				var n int
				return tx.QueryRow(`SELECT count(*) FROM webhook_events`).Scan(&n)
			})
			require.Error(t, err)
		})
	}
}

func TestNoTenantSeesNothing(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			a := ids.New(ids.Code("merchant_accounts"))
			fill(t, b, d, a)
			anon := context.Background()
			// ent refuses outright (the GraphQL layer answers FORBIDDEN).
			_, err := d.Client.Product.Query().Count(anon)
			require.ErrorIs(t, err, viewer.ErrNoTenant)
			_, err = d.Client.Product.Create().SetTitle("x").SetSlug("x").Save(anon)
			require.ErrorIs(t, err, viewer.ErrNoTenant)
			if b != dbtest.Postgres {
				return
			}
			// Raw SQL with no tenant: zero rows and no error on every table.
			for _, tbl := range append(dbtest.TenantTables(), nil) {
				name := "merchant_accounts"
				if tbl != nil {
					name = tbl.Name
				}
				var n int
				require.NoError(t, db.InTenantTx(anon, d.SQL, func(tx *sql.Tx) error {
					return tx.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q`, name)).Scan(&n)
				}), name)
				require.Zero(t, n, name)
			}
			// The system path sees everything.
			sys := viewer.SystemContext(context.Background(), "test")
			n, err := d.Client.Product.Query().Count(sys)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
	}
}

func TestPooledConnectionCarriesNoTenantAndNoRole(t *testing.T) {
	d := dbtest.OpenPool(t, 1) // one connection: the next use gets the same one
	a := ids.New(ids.Code("merchant_accounts"))
	fill(t, dbtest.Postgres, d, a)
	_, err := d.Client.Product.Query().All(ctxFor(a))
	require.NoError(t, err)
	tx, err := d.Client.Tx(ctxFor(a))
	require.NoError(t, err)
	_, err = tx.Product.Query().All(ctxFor(a))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())

	var who, tenant, login string
	require.NoError(t, d.SQL.QueryRow(`SELECT current_user, COALESCE(current_setting('app.merchant_id', true), ''), session_user`).
		Scan(&who, &tenant, &login))
	require.Equal(t, login, who, "a pooled connection kept a role")
	require.Empty(t, tenant, "a pooled connection kept a tenant")
}

func TestConcurrentTenantsOverTwoConnections(t *testing.T) {
	d := dbtest.OpenPool(t, 2)
	a, b := ids.New(ids.Code("merchant_accounts")), ids.New(ids.Code("merchant_accounts"))
	fill(t, dbtest.Postgres, d, a)
	fill(t, dbtest.Postgres, d, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		m := a
		if i%2 == 1 {
			m = b
		}
		wg.Add(1)
		go func(m uuid.UUID) {
			defer wg.Done()
			c := viewer.NewContext(ctx, viewer.Viewer{Kind: viewer.Staff, MerchantID: m})
			for j := 0; j < 5; j++ {
				ps, err := d.Client.Product.Query().All(c)
				if err != nil {
					errs <- err
					return
				}
				for _, p := range ps {
					if p.MerchantID != m {
						errs <- fmt.Errorf("merchant %s saw product of %s", m, p.MerchantID)
					}
				}
				var seen []string
				err = db.InTenantTx(c, d.SQL, func(tx *sql.Tx) error {
					rows, err := tx.Query(`SELECT merchant_id::text FROM products UNION ALL SELECT merchant_id::text FROM customers`)
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
						var s string
						if err := rows.Scan(&s); err != nil {
							return err
						}
						seen = append(seen, s)
					}
					return rows.Err()
				})
				if err != nil {
					errs <- err
					return
				}
				if len(seen) != 2 {
					errs <- fmt.Errorf("merchant %s saw %d rows, want 2", m, len(seen))
				}
				for _, s := range seen {
					if s != m.String() {
						errs <- fmt.Errorf("merchant %s saw a row of %s", m, s)
					}
				}
			}
		}(m)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// GraphQL resolves fields concurrently; within one transaction (mutations)
// their statements must not collide on the connection.
func TestOneTransactionSharedByConcurrentResolvers(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			a := ids.New(ids.Code("merchant_accounts"))
			fill(t, b, d, a)
			ctx := ctxFor(a)
			tx, err := d.Client.Tx(ctx)
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := 0; i < 20; i++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					if _, err := tx.Product.Query().WithVariants().All(ctx); err != nil {
						errs <- err
					}
				}()
				go func(i int) {
					defer wg.Done()
					if _, err := tx.Warehouse.Create().SetName(fmt.Sprintf("w%d", i)).SetCode(fmt.Sprintf("W%d", i)).Save(ctx); err != nil {
						errs <- err
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			require.NoError(t, tx.Commit())
			n, err := d.Client.Warehouse.Query().Count(ctx)
			require.NoError(t, err)
			require.Equal(t, 21, n)
		})
	}
}

func TestUniquesAreScopedPerMerchant(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			sys := viewer.SystemContext(context.Background(), "test")
			c := d.Client
			var merchants []uuid.UUID
			for _, slug := range []string{"store-a", "store-b"} {
				m, err := c.MerchantAccount.Create().SetName(slug).SetSlug(slug).Save(sys)
				require.NoError(t, err)
				merchants = append(merchants, m.ID)
			}
			// The store slug is unique across the platform.
			_, err := c.MerchantAccount.Create().SetName("again").SetSlug("store-a").Save(sys)
			require.True(t, ent.IsConstraintError(err), "duplicate store slug: %v", err)

			for i, m := range merchants {
				ctx := ctxFor(m)
				p, err := c.Product.Create().SetTitle("Shirt").SetSlug("shirt").Save(ctx)
				require.NoError(t, err, "merchant %d product slug", i)
				_, err = c.ProductVariant.Create().SetProductID(p.ID).SetSku("SKU-1").SetTitle("S").SetPrice(1000).Save(ctx)
				require.NoError(t, err, "merchant %d sku", i)
				_, err = c.Customer.Create().SetEmail("ann@example.com").Save(ctx)
				require.NoError(t, err, "merchant %d customer email", i)
				_, err = c.Discount.Create().SetCode("WELCOME10").SetTitle("Welcome").SetKind("PERCENTAGE").SetValue(1000).Save(ctx)
				require.NoError(t, err, "merchant %d discount code", i)
				_, err = c.ProductCategory.Create().SetName("Tops").SetSlug("tops").Save(ctx)
				require.NoError(t, err, "merchant %d category slug", i)
			}
			// Within one merchant they stay unique.
			ctx := ctxFor(merchants[0])
			_, err = c.Product.Create().SetTitle("Shirt 2").SetSlug("shirt").Save(ctx)
			require.True(t, ent.IsConstraintError(err), "duplicate product slug: %v", err)
			p, err := c.Product.Create().SetTitle("Other").SetSlug("other").Save(ctx)
			require.NoError(t, err)
			_, err = c.ProductVariant.Create().SetProductID(p.ID).SetSku("SKU-1").SetTitle("M").SetPrice(1).Save(ctx)
			require.True(t, ent.IsConstraintError(err), "duplicate sku: %v", err)
			_, err = c.Customer.Create().SetEmail("ann@example.com").Save(ctx)
			require.True(t, ent.IsConstraintError(err), "duplicate customer email: %v", err)
			_, err = c.Discount.Create().SetCode("WELCOME10").SetTitle("x").SetKind("PERCENTAGE").SetValue(1).Save(ctx)
			require.True(t, ent.IsConstraintError(err), "duplicate discount code: %v", err)
			_, err = c.ProductCategory.Create().SetName("Tops 2").SetSlug("tops").Save(ctx)
			require.True(t, ent.IsConstraintError(err), "duplicate category slug: %v", err)
			require.False(t, errors.Is(err, viewer.ErrNoTenant))
		})
	}
}

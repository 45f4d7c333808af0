package dbtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent/migrate"
	"github.com/omnisphere/omnisphere/internal/ids"
)

// TenantTables returns the tables of ./schema that carry merchant_id as a
// required tenant column (every table but merchant_accounts, the tenant
// itself, and webhook_events, which is system-only).
func TenantTables() []*schema.Table {
	var out []*schema.Table
	for _, t := range migrate.Tables {
		for _, c := range t.Columns {
			if c.Name == "merchant_id" && !c.Nullable {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// FillStatements returns INSERT statements that give merchant one row in
// every table of the schema (merchant_accounts first, then in foreign-key
// order), with every NOT NULL column set and foreign keys pointing at the
// merchant's own rows. placeholder formats the n-th (1-based) bind variable.
// It knows nothing of the tables by name, so a new table is covered at once.
func FillStatements(merchant uuid.UUID, placeholder func(n int) string) ([]Statement, map[string]uuid.UUID) {
	rowIDs := map[string]uuid.UUID{"merchant_accounts": merchant}
	var stmts []Statement
	for _, t := range fkOrder(migrate.Tables) {
		id := merchant
		if t.Name != "merchant_accounts" {
			id = ids.New(ids.Code(t.Name))
			rowIDs[t.Name] = id
		}
		fks := map[string]string{}
		for _, fk := range t.ForeignKeys {
			fks[fk.Columns[0].Name] = fk.RefTable.Name
		}
		var cols, marks []string
		var args []any
		for _, c := range t.Columns {
			var v any
			switch {
			case c.Name == "id":
				v = id
			case c.Name == "merchant_id":
				v = merchant
			case fks[c.Name] != "":
				ref, ok := rowIDs[fks[c.Name]]
				if !ok { // self reference (category parent): leave it empty
					continue
				}
				v = ref
			case c.Nullable:
				continue
			default:
				v = sample(c)
			}
			cols = append(cols, `"`+c.Name+`"`)
			args = append(args, v)
			marks = append(marks, placeholder(len(args)))
		}
		stmts = append(stmts, Statement{
			Table: t.Name,
			SQL:   fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES (%s)`, t.Name, strings.Join(cols, ", "), strings.Join(marks, ", ")),
			Args:  args,
		})
	}
	return stmts, rowIDs
}

// Statement is one INSERT of FillStatements.
type Statement struct {
	Table string
	SQL   string
	Args  []any
}

// PostgresMark and SQLiteMark are the placeholder styles.
func PostgresMark(n int) string { return fmt.Sprintf("$%d", n) }

// SQLiteMark is the placeholder of SQLite.
func SQLiteMark(int) string { return "?" }

func sample(c *schema.Column) any {
	switch c.Type {
	case field.TypeEnum:
		return c.Enums[0]
	case field.TypeBool:
		return false
	case field.TypeTime:
		return time.Now().UTC()
	case field.TypeJSON:
		return "null" // a JSON null decodes into any Go shape (map, list)
	case field.TypeUUID:
		return uuid.New()
	case field.TypeString:
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		s := "t" + hex.EncodeToString(b)
		if c.Size > 0 && int64(len(s)) > c.Size {
			s = s[:c.Size]
		}
		return s
	case field.TypeFloat32, field.TypeFloat64:
		return 1.0
	default: // integers
		return 1
	}
}

// fkOrder sorts tables so that every table comes after those it references.
func fkOrder(tables []*schema.Table) []*schema.Table {
	byName := map[string]*schema.Table{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	names := make([]string, 0, len(tables))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*schema.Table
	seen := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, fk := range byName[n].ForeignKeys {
			if fk.RefTable.Name != n {
				visit(fk.RefTable.Name)
			}
		}
		out = append(out, byName[n])
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

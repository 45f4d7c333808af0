package segment

import (
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent/predicate"
)

// Predicate returns the rule as an ent predicate on customers, for
// merchantID at instant now: what full evaluation runs. The SQL is written
// for the dialect of the query (PostgreSQL or SQLite); every value is a
// bound parameter, and every identifier comes from this package's
// whitelists. Subqueries on customer_events, orders, order_items and
// products name the merchant explicitly, so the translation is tenant-safe
// on SQLite too (PostgreSQL's RLS fences them as well). DELETED customers
// never match.
func Predicate(r *Rule, merchantID uuid.UUID, now time.Time) predicate.Customer {
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			c := &compiler{b: b, col: s.C, merchant: merchantID, now: now.UTC(), pg: b.Dialect() == dialect.Postgres}
			b.WriteString(s.C("status") + " <> 'DELETED' AND ")
			c.cond(&r.Root)
		}))
	}
}

type compiler struct {
	b        *sql.Builder
	col      func(string) string
	merchant uuid.UUID
	now      time.Time
	pg       bool
}

func (c *compiler) w(s string) { c.b.WriteString(s) }

// arg writes a placeholder for v.
func (c *compiler) arg(v any) { c.b.Arg(v) }

func (c *compiler) float() string {
	if c.pg {
		return "float8"
	}
	return "REAL"
}

// cond writes c as a boolean expression that is never NULL.
func (c *compiler) cond(n *Condition) {
	switch n.Kind {
	case KindGroup:
		sep := " AND "
		if n.Match == MatchAny {
			sep = " OR "
		}
		c.w("(")
		for i := range n.Conditions {
			if i > 0 {
				c.w(sep)
			}
			c.cond(&n.Conditions[i])
		}
		c.w(")")
	case KindProfile:
		c.field(profileFields[n.Field], n.Operator, n.Value)
	case KindAttribute:
		c.json(c.col("properties"), n.Key, n.Operator, n.Value)
	case KindTag:
		if n.Operator == OpHasNot {
			c.w("NOT ")
		}
		if c.pg {
			c.w("COALESCE(" + c.col("tags") + " @> jsonb_build_array(CAST(")
			c.arg(n.Value.Str)
			c.w(" AS text)), FALSE)")
		} else {
			c.w("EXISTS (SELECT 1 FROM json_each(" + c.col("tags") + ") AS t WHERE t.type = 'text' AND t.value = ")
			c.arg(n.Value.Str)
			c.w(")")
		}
	case KindConsent:
		col := "email_consent"
		if n.Channel == "sms" {
			col = "sms_consent"
		}
		c.field(profileField{col: col, typ: tEnum}, n.Operator, n.Value)
	case KindEvent:
		c.event(n)
	case KindOrder:
		switch n.Field {
		case OrderLastOrderWithinDays:
			c.w("COALESCE(" + c.col("last_order_at") + " >= ")
			c.arg(daysBefore(c.now, n.Value.Days))
			c.w(", FALSE)")
		case OrderNoOrderWithinDays:
			c.w("(" + c.col("last_order_at") + " IS NULL OR " + c.col("last_order_at") + " < ")
			c.arg(daysBefore(c.now, n.Value.Days))
			c.w(")")
		case OrderBoughtProduct, OrderBoughtCategory:
			c.bought(n)
		default:
			c.field(profileFields[orderNumberFields[n.Field]], n.Operator, n.Value)
		}
	default:
		c.w("FALSE")
	}
}

// list writes (?, ?, …) of vs, each wrapped by wrap ("%s" when empty).
func list[T any](c *compiler, vs []T, before, after string) {
	c.w("(")
	for i, v := range vs {
		if i > 0 {
			c.w(", ")
		}
		c.w(before)
		c.arg(v)
		c.w(after)
	}
	c.w(")")
}

// field writes an operator on a typed customer column.
func (c *compiler) field(f profileField, op Operator, v Value) {
	col := c.col(f.col)
	switch f.typ {
	case tString, tEnum:
		e := col
		if f.nullable {
			e = "COALESCE(" + col + ", '')"
		}
		switch op {
		case OpEquals, OpNotEquals:
			c.w(e + map[Operator]string{OpEquals: " = ", OpNotEquals: " <> "}[op])
			c.arg(v.Str)
		case OpContains, OpNotContains, OpStartsWith:
			if op == OpNotContains {
				c.w("NOT ")
			}
			c.strpos(e, v.Str)
			if op == OpStartsWith {
				c.w(" = 1")
			} else {
				c.w(" > 0")
			}
		case OpIn, OpNotIn:
			if op == OpNotIn {
				c.w(e + " NOT IN ")
			} else {
				c.w(e + " IN ")
			}
			list(c, v.Strs, "", "")
		case OpExists:
			c.w(e + " <> ''")
		case OpNotExists:
			c.w(e + " = ''")
		default:
			c.w("FALSE")
		}
	case tNumber:
		e := "CAST(" + col + " AS " + c.float() + ")"
		cast := "CAST("
		end := " AS " + c.float() + ")"
		switch op {
		case OpIn, OpNotIn:
			if op == OpNotIn {
				c.w(e + " NOT IN ")
			} else {
				c.w(e + " IN ")
			}
			list(c, v.Nums, cast, end)
		default:
			c.w(e + cmp[op] + cast)
			c.arg(v.Num)
			c.w(end)
		}
	case tBool:
		c.w(col + cmp[op])
		c.arg(v.Bool)
	case tTime:
		switch op {
		case OpExists:
			c.w(col + " IS NOT NULL")
		case OpNotExists:
			c.w(col + " IS NULL")
		default:
			c.w("COALESCE(" + col + cmp[op])
			c.arg(v.at(c.now))
			c.w(", FALSE)")
		}
	}
}

var cmp = map[Operator]string{
	OpEquals: " = ", OpNotEquals: " <> ", OpGreaterThan: " > ", OpLessThan: " < ",
}

// strpos writes the 1-based position of the argument sub in e (0 when
// absent): strpos on PostgreSQL, instr on SQLite; both count characters.
func (c *compiler) strpos(e, sub string) {
	if c.pg {
		c.w("strpos(" + e + ", ")
	} else {
		c.w("instr(" + e + ", ")
	}
	c.arg(sub)
	c.w(")")
}

// jsonType writes the JSON type of prop[key]: PostgreSQL's jsonb_typeof
// names (string, number, boolean, null, object, array) or SQLite's
// json_type names (text, integer, real, true, false, null, object, array);
// NULL when the key is missing.
func (c *compiler) jsonType(prop, key string) {
	if c.pg {
		c.w("jsonb_typeof(" + prop + " -> CAST(")
		c.arg(key)
		c.w(" AS text))")
		return
	}
	c.w("json_type(" + prop + ", ")
	c.arg(jsonPath(key))
	c.w(")")
}

// jsonText writes prop[key] as text (PostgreSQL) or as its SQL value
// (SQLite).
func (c *compiler) jsonText(prop, key string) {
	if c.pg {
		c.w("(" + prop + " ->> CAST(")
		c.arg(key)
		c.w(" AS text))")
		return
	}
	c.w("json_extract(" + prop + ", ")
	c.arg(jsonPath(key))
	c.w(")")
}

// jsonPath is SQLite's path of a top-level key; keys match keyPattern, so
// they hold no quote or backslash.
func jsonPath(key string) string { return `$."` + key + `"` }

// isString / isNumber write a test of prop[key]'s JSON type.
func (c *compiler) isString(prop, key string) {
	c.jsonType(prop, key)
	if c.pg {
		c.w(" = 'string'")
	} else {
		c.w(" = 'text'")
	}
}

func (c *compiler) isNumber(prop, key string) {
	c.jsonType(prop, key)
	if c.pg {
		c.w(" = 'number'")
	} else {
		c.w(" IN ('integer', 'real')")
	}
}

// number writes prop[key] as a float.
func (c *compiler) number(prop, key string) {
	c.w("CAST(")
	c.jsonText(prop, key)
	c.w(" AS " + c.float() + ")")
}

// json writes an operator on the JSON property key of the JSON object
// column prop, with Evaluate's semantics (see evalJSON).
func (c *compiler) json(prop, key string, op Operator, v Value) {
	switch op {
	case OpNotEquals, OpNotContains, OpNotIn:
		c.w("NOT ")
		c.json(prop, key, map[Operator]Operator{OpNotEquals: OpEquals, OpNotContains: OpContains, OpNotIn: OpIn}[op], v)
		return
	case OpExists, OpNotExists:
		c.w("COALESCE(")
		c.jsonType(prop, key)
		if op == OpExists {
			c.w(", 'null') <> 'null'")
		} else {
			c.w(", 'null') = 'null'")
		}
		return
	}
	numeric := (op == OpEquals && v.typ == vNumber) || op == OpGreaterThan || op == OpLessThan ||
		(op == OpIn && v.typ == vNumbers)
	if numeric {
		c.w("COALESCE(CASE WHEN ")
		c.isNumber(prop, key)
		c.w(" THEN ")
		c.number(prop, key)
		if op == OpIn {
			c.w(" IN ")
			list(c, v.Nums, "CAST(", " AS "+c.float()+")")
		} else {
			c.w(cmp[op] + "CAST(")
			c.arg(v.Num)
			c.w(" AS " + c.float() + ")")
		}
		c.w(" ELSE FALSE END, FALSE)")
		return
	}
	c.w("COALESCE(")
	switch {
	case op == OpEquals && v.typ == vBool:
		lit := "'false'"
		if v.Bool {
			lit = "'true'"
		}
		if c.pg {
			c.jsonType(prop, key)
			c.w(" = 'boolean' AND ")
			c.jsonText(prop, key)
			c.w(" = " + lit)
		} else {
			c.jsonType(prop, key)
			c.w(" = " + lit)
		}
	case op == OpEquals:
		c.isString(prop, key)
		c.w(" AND ")
		c.jsonText(prop, key)
		c.w(" = ")
		c.arg(v.Str)
	case op == OpIn:
		c.isString(prop, key)
		c.w(" AND ")
		c.jsonText(prop, key)
		c.w(" IN ")
		list(c, v.Strs, "", "")
	case op == OpContains || op == OpStartsWith:
		c.isString(prop, key)
		c.w(" AND ")
		if c.pg {
			c.w("strpos(")
		} else {
			c.w("instr(")
		}
		c.jsonText(prop, key)
		c.w(", ")
		c.arg(v.Str)
		if op == OpStartsWith {
			c.w(") = 1")
		} else {
			c.w(") > 0")
		}
	default:
		c.w("FALSE")
	}
	c.w(", FALSE)")
}

// event writes an event-count condition as a semi-join (at_least) or an
// anti-join (at_most) on the customers whose matching events are counted
// in one grouped scan of customer_events.
func (c *compiler) event(n *Condition) {
	if n.Count.Operator != OpAtMost && n.Count.N <= 0 {
		c.w("(1 = 1)")
		return
	}
	if n.Count.Operator == OpAtMost {
		c.w(c.col("id") + " NOT IN ")
	} else {
		c.w(c.col("id") + " IN ")
	}
	c.w("(SELECT e.customer_id FROM customer_events AS e WHERE e.merchant_id = ")
	c.arg(c.merchant)
	c.w(" AND e.type = ")
	c.arg(n.Event)
	c.w(" AND e.customer_id IS NOT NULL")
	if n.WithinDays > 0 {
		c.w(" AND e.occurred_at >= ")
		c.arg(daysBefore(c.now, n.WithinDays))
	}
	for _, f := range n.Filters {
		c.w(" AND ")
		c.json("e.properties", f.Property, f.Operator, f.Value)
	}
	c.w(" GROUP BY e.customer_id HAVING count(*) ")
	if n.Count.Operator == OpAtMost {
		c.w("> ")
	} else {
		c.w(">= ")
	}
	c.arg(n.Count.N)
	c.w(")")
}

// bought writes bought_product / bought_category as a semi-join (in) or an
// anti-join (not_in) on the buyers of purchased orders.
func (c *compiler) bought(n *Condition) {
	if n.Operator == OpNotIn {
		c.w(c.col("id") + " NOT IN ")
	} else {
		c.w(c.col("id") + " IN ")
	}
	c.w("(SELECT o.customer_id FROM orders AS o JOIN order_items AS oi ON oi.order_id = o.id")
	if n.Field == OrderBoughtCategory {
		c.w(" JOIN products AS p ON p.id = oi.product_id")
	}
	c.w(" WHERE o.merchant_id = ")
	c.arg(c.merchant)
	c.w(" AND o.customer_id IS NOT NULL AND o.status IN ")
	list(c, purchasedStatuses, "", "")
	if n.Field == OrderBoughtCategory {
		c.w(" AND p.category_id IN ")
	} else {
		c.w(" AND oi.product_id IN ")
	}
	list(c, n.Value.IDs, "", "")
	c.w(")")
}

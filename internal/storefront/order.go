package storefront

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
)

// rankAlias is the selected column holding a product's search rank.
const rankAlias = "storefront_rank"

// order is the resolved sort of one List call: a key and a direction, with
// the product id breaking ties in the same direction. Its cursors are
// keyset positions: (key value, id) of a product, tagged with the sort key
// so that a cursor of another sort is refused rather than misread.
type order struct {
	key   SortKey
	desc  bool // the direction of the sort itself (after Reverse)
	terms []string
}

func newOrder(key SortKey, reverse bool, terms []string) (order, error) {
	switch key {
	case "":
		key = SortTitle
	case SortTitle, SortPrice, SortCreatedAt:
	case SortRelevance:
		if len(terms) == 0 {
			key = SortTitle
		}
	default:
		return order{}, inputErr("sortKey", "unknown sort key %q", key)
	}
	desc := key == SortCreatedAt || key == SortRelevance
	if reverse {
		desc = !desc
	}
	return order{key: key, desc: desc, terms: terms}, nil
}

// column is the sorted column; "" for relevance.
func (o order) column() string {
	switch o.key {
	case SortPrice:
		return product.FieldPriceMin
	case SortCreatedAt:
		return product.FieldCreatedAt
	case SortRelevance:
		return ""
	default:
		return product.FieldTitle
	}
}

// keyExpr is the sort key of a row of s.
func (o order) keyExpr(s *sql.Selector) sql.Querier {
	if o.key == SortRelevance {
		return rank(s, o.terms)
	}
	col := s.C(o.column())
	return sql.ExprFunc(func(b *sql.Builder) { b.WriteString(col) })
}

// selectAndSort selects what the cursors need and orders the rows: in the
// sort's direction when paging forward, the other way when paging back
// (List reverses those rows again).
func (o order) selectAndSort(forward bool) func(*sql.Selector) {
	return func(s *sql.Selector) {
		dir := " ASC"
		if o.desc == forward {
			dir = " DESC"
		}
		id := s.C(product.FieldID)
		if o.key == SortRelevance {
			s.AppendSelectExprAs(rank(s, o.terms), rankAlias)
			s.OrderExpr(sql.ExprFunc(func(b *sql.Builder) {
				b.WriteString(rankAlias + dir + ", " + id + dir)
			}))
			return
		}
		// The key's column is selected even when field collection narrowed
		// the selection: the cursor is read from it.
		col := s.C(o.column())
		s.AppendSelect(col)
		s.OrderExpr(sql.ExprFunc(func(b *sql.Builder) {
			b.WriteString(col + dir + ", " + id + dir)
		}))
	}
}

// position is a decoded cursor.
type position struct {
	id    uuid.UUID
	value any // string, int64, time.Time or float64, by sort key
}

// seek keeps the rows after pos in the sort (forward) or before it.
func (o order) seek(pos *position, forward bool) func(*sql.Selector) {
	op := " < "
	if forward != o.desc {
		op = " > "
	}
	return func(s *sql.Selector) {
		key, id := o.keyExpr(s), s.C(product.FieldID)
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("(")
			b.Join(key).WriteString(op).Arg(pos.value)
			b.WriteString(" OR (")
			b.Join(key).WriteString(" = ").Arg(pos.value)
			b.WriteString(" AND " + id + op).Arg(pos.id)
			b.WriteString("))")
		}))
	}
}

// cursor is the cursor of p in this order.
func (o order) cursor(p *ent.Product) (ent.Cursor, error) {
	var v string
	switch o.key {
	case SortPrice:
		v = strconv.FormatInt(p.PriceMin, 10)
	case SortCreatedAt:
		// The time keeps its zone offset, so that it compares equal to the
		// stored value on SQLite too (which stores text).
		v = p.CreatedAt.Format(time.RFC3339Nano)
	case SortRelevance:
		r, err := p.Value(rankAlias)
		if err != nil {
			return ent.Cursor{}, fmt.Errorf("storefront: rank of %s: %w", p.ID, err)
		}
		f, err := toFloat(r)
		if err != nil {
			return ent.Cursor{}, fmt.Errorf("storefront: rank of %s: %w", p.ID, err)
		}
		v = strconv.FormatFloat(f, 'g', -1, 64)
	default:
		v = p.Title
	}
	return ent.Cursor{ID: p.ID, Value: string(o.key) + ":" + v}, nil
}

// decode checks that c is a cursor of this order and returns its position.
func (o order) decode(field string, c *ent.Cursor) (*position, error) {
	if c == nil {
		return nil, nil
	}
	bad := func(why string) error {
		return inputErr(field, "this cursor does not belong to a %s sort (%s)", o.key, why)
	}
	s, ok := c.Value.(string)
	if !ok {
		return nil, bad("malformed")
	}
	raw, found := strings.CutPrefix(s, string(o.key)+":")
	if !found || c.ID == uuid.Nil {
		return nil, bad("another sort")
	}
	pos := &position{id: c.ID}
	switch o.key {
	case SortPrice:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, bad("malformed price")
		}
		pos.value = n
	case SortCreatedAt:
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return nil, bad("malformed time")
		}
		pos.value = t
	case SortRelevance:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad("malformed rank")
		}
		pos.value = f
	default:
		pos.value = raw
	}
	return pos, nil
}

func toFloat(v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case []byte:
		return strconv.ParseFloat(string(v), 64)
	case string:
		return strconv.ParseFloat(v, 64)
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("unexpected rank type %T", v)
}

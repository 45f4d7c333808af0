package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/ids"
)

type cursor = entgql.Cursor[uuid.UUID]

// marshalCursor is the string a connection hands out for c (without the
// JSON quotes).
func marshalCursor(t *testing.T, c cursor) string {
	t.Helper()
	var b bytes.Buffer
	c.MarshalGQL(&b)
	s := b.String()
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		t.Fatalf("cursor %q is not a quoted GraphQL string", s)
	}
	inner := s[1 : len(s)-1]
	if _, err := base64.RawStdEncoding.DecodeString(inner); err != nil {
		t.Fatalf("cursor %q is not unpadded standard base64: %v", inner, err)
	}
	return inner
}

// sameValue compares cursor values as the SQL builder will use them:
// msgpack gives integers back in the smallest type that holds them and
// times in the local zone, so numbers compare by value and times by instant.
func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	if na, ok := number(a); ok {
		nb, ok := number(b)
		return ok && na == nb
	}
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// omitted reports whether msgpack's omitempty drops v from a cursor: nil,
// a zero value, an empty map, slice or string.
func omitted(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.String:
		if rv.Len() == 0 {
			return true
		}
	}
	return rv.IsZero()
}

func number(v any) (string, bool) {
	switch n := v.(type) {
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return fmt.Sprint(n), true
	case float32:
		return strconv.FormatFloat(float64(n), 'g', -1, 64), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), true
	}
	return "", false
}

// FuzzCursor checks the Relay cursors of every connection (entgql's
// Cursor[uuid.UUID]: msgpack of the id and the order value, base64).
//
// Round trip: a cursor made of any id and an order value of each kind the
// schema orders by (none, string, integer, float, time) marshals to a
// quoted base64 string that unmarshals to the same id and value (except
// zero values, which entgql drops: see below).
//
// Garbage: UnmarshalGQL of any string never panics; what it accepts
// marshals and unmarshals again to the same cursor (a client echoing a
// cursor back gets the same page); a value that is not a string is refused.
func FuzzCursor(f *testing.F) {
	id := ids.New(ids.Code("products"))
	var good bytes.Buffer
	cursor{ID: id, Value: "Organic Cotton Tee"}.MarshalGQL(&good)
	f.Add(id[:], byte(0), "", int64(0), 0.0, strings.Trim(good.String(), `"`))
	f.Add(id[:], byte(1), "Canvas Tote Bag ✓", int64(2500), 19.99, "")
	f.Add(id[:], byte(2), "", int64(math.MinInt64), math.Inf(1), "gqFp2SQ")
	f.Add(uuid.Nil[:], byte(3), "\x00\xff", int64(1<<40), -0.0, "not a cursor")
	f.Add([]byte{1, 2}, byte(4), "", int64(1_700_000_000_123), math.NaN(), "////////")
	f.Add(id[:], byte(4), "", int64(-62135596800000), 1e308, "gqFpxBD/////////////////////////oXbO/////w")
	// Hostile lengths: an array of 2^32-1 items, alone and as the value;
	// a string of 2^32-1 bytes.
	for _, b := range [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0x82, 0xa1, 'i', 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 'v', 0xdd, 0xff, 0xff, 0xff, 0xff},
		{0x82, 0xa1, 'i', 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 'v', 0xdb, 0xff, 0xff, 0xff, 0xff},
		{0x82, 0xa1, 'i', 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 'v', 0xdf, 0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(id[:], byte(0), "", int64(0), 0.0, base64.RawStdEncoding.EncodeToString(b))
	}
	f.Fuzz(func(t *testing.T, raw []byte, kind byte, s string, n int64, fl float64, garbage string) {
		var u uuid.UUID
		copy(u[:], raw)
		c := cursor{ID: u}
		switch kind % 5 {
		case 1:
			c.Value = s
		case 2:
			c.Value = n
		case 3:
			if math.IsNaN(fl) {
				fl = 0
			}
			c.Value = fl
		case 4:
			// Times as PostgreSQL keeps them (microseconds), within
			// years 1..9999.
			ms := n % 253402300800000
			c.Value = time.UnixMilli(ms).UTC()
		}
		enc := marshalCursor(t, c)
		var back cursor
		if err := back.UnmarshalGQL(enc); err != nil {
			t.Fatalf("UnmarshalGQL(%q) of %+v: %v", enc, c, err)
		}
		if back.ID != c.ID {
			t.Fatalf("cursor %+v came back as %+v", c, back)
		}
		// A zero order value (0, 0.0, "", the zero time) comes back as
		// nil: entgql tags Cursor.Value msgpack "omitempty". The cursor
		// then pages by id alone (docs/fuzzing.md, findings); every other
		// value must survive.
		if !omitted(c.Value) && !sameValue(back.Value, c.Value) {
			t.Fatalf("cursor %+v came back as %+v", c, back)
		}

		var g cursor
		if err := g.UnmarshalGQL(garbage); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
		} else {
			enc := marshalCursor(t, g)
			var again cursor
			if err := again.UnmarshalGQL(enc); err != nil {
				t.Fatalf("accepted %q as %+v, but its re-marshalled form %q fails: %v", garbage, g, enc, err)
			}
			if again.ID != g.ID || (!omitted(g.Value) && !sameValue(again.Value, g.Value)) {
				t.Fatalf("accepted %q as %+v, re-marshalled it came back as %+v", garbage, g, again)
			}
		}
		for _, v := range []any{nil, n, fl, []byte(garbage), map[string]any{"i": garbage}} {
			var x cursor
			if err := x.UnmarshalGQL(v); err == nil {
				t.Fatalf("UnmarshalGQL(%T) accepted a value that is not a string", v)
			}
		}
	})
}

// FuzzNodeID checks global ids as node(id:) and nodes(ids:) read them: the
// ID scalar parses any string without panicking; a parsed id prints back to
// an id that parses to itself; nodeType names exactly the table that
// internal/ids codes into the id, and refuses every other id with a
// NOT_FOUND error (never a panic, never a guess).
func FuzzNodeID(f *testing.F) {
	for _, s := range []string{
		ids.New(ids.Code("products")).String(),
		ids.New(ids.Code("outbox_events")).String(),
		ids.New(ids.Code("customers")).String(),
		strings.ToUpper(ids.New(ids.Code("orders")).String()),
		"{" + ids.New(ids.Code("discounts")).String() + "}",
		"urn:uuid:" + ids.New(ids.Code("users")).String(),
		strings.ReplaceAll(ids.New(ids.Code("products")).String(), "-", ""),
		uuid.New().String(),
		uuid.Nil.String(),
		"ffffffff-ffff-7fff-bfff-ffffffffffff",
		"gid://shopify/Product/1",
		"UHJvZHVjdDox",
		"",
		"00000000-0000-7000-8000-00000000000g",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	known := map[string]bool{}
	for _, t := range ids.Tables() {
		known[t] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := graphql.UnmarshalUUID(s)
		if err != nil {
			return
		}
		if id != uuid.Nil {
			var b bytes.Buffer
			graphql.MarshalUUID(id).MarshalGQL(&b)
			printed, err := strconv.Unquote(b.String())
			if err != nil {
				t.Fatalf("MarshalUUID(%s) wrote %q: %v", id, b.String(), err)
			}
			if again, err := graphql.UnmarshalUUID(printed); err != nil || again != id {
				t.Fatalf("id %s printed as %q parses to %s, %v", id, printed, again, err)
			}
		}
		table, err := nodeType(ctx, id)
		want, ok := ids.TableOf(id)
		switch {
		case ok && (err != nil || table != want || !known[table]):
			t.Fatalf("nodeType(%s) = %q, %v; want %q", id, table, err, want)
		case !ok:
			var c *coded
			if err == nil || !errors.As(err, &c) || c.code != CodeNotFound {
				t.Fatalf("nodeType(%s) of a foreign id = %q, %v; want a NOT_FOUND error", id, table, err)
			}
		}
	})
}

// FuzzCheckPage checks the page-size rules of connections: first and last
// within 0..100 pass and anything else is a BAD_USER_INPUT error; with
// neither given a page holds 50, and a given first is kept as is.
func FuzzCheckPage(f *testing.F) {
	f.Add(10, 0, true, false)
	f.Add(0, 100, true, true)
	f.Add(101, -1, true, true)
	f.Add(math.MaxInt, math.MinInt, false, true)
	f.Add(0, 0, false, false)
	f.Fuzz(func(t *testing.T, first, last int, hasFirst, hasLast bool) {
		var fp, lp *int
		if hasFirst {
			fp = &first
		}
		if hasLast {
			lp = &last
		}
		in := func(p *int) bool { return p == nil || (*p >= 0 && *p <= maxPage) }
		err := checkPage(fp, lp)
		if ok := in(fp) && in(lp); ok != (err == nil) {
			t.Fatalf("checkPage(%v %d, %v %d) = %v", hasFirst, first, hasLast, last, err)
		}
		if err != nil {
			var c *coded
			if !errors.As(err, &c) || c.code != CodeBadUserInput {
				t.Fatalf("checkPage error %v is not BAD_USER_INPUT", err)
			}
		}
		got := defaultFirst(fp, lp)
		switch {
		case fp == nil && lp == nil:
			if got == nil || *got != defaultPage {
				t.Fatalf("defaultFirst(nil, nil) = %v, want %d", got, defaultPage)
			}
		case got != fp:
			t.Fatalf("defaultFirst changed a given first")
		}
	})
}

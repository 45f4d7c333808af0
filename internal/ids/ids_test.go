package ids

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestRoundTrip(t *testing.T) {
	for _, table := range Tables() {
		t.Run(table, func(t *testing.T) {
			id := New(Code(table))
			got, ok := TableOf(id)
			if !ok || got != table {
				t.Fatalf("TableOf(%s) = %q, %v; want %q", id, got, ok, table)
			}
			if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
				t.Fatalf("id %s is not an RFC 9562 v7 UUID", id)
			}
		})
	}
}

func TestTableOfRejectsForeignIDs(t *testing.T) {
	cases := map[string]uuid.UUID{
		"random v4": uuid.New(),
		"nil":       uuid.Nil,
		"code zero": func() uuid.UUID { u := New(1); u[6], u[7] = 0x70, 0; return u }(),
		"code past the end": func() uuid.UUID {
			u := New(1)
			u[6], u[7] = 0x7F, 0xFF
			return u
		}(),
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			if table, ok := TableOf(id); ok {
				t.Fatalf("TableOf(%s) = %q, want not ok", id, table)
			}
		})
	}
}

func TestIDsAreTimeOrdered(t *testing.T) {
	a := newAt(Code("products"), time.UnixMilli(1_700_000_000_000))
	b := newAt(Code("products"), time.UnixMilli(1_700_000_000_001))
	if a.String() >= b.String() {
		t.Fatalf("%s should sort before %s", a, b)
	}
}

func TestCodePanicsOnUnknownTable(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Code(unknown) did not panic")
		}
	}()
	Code("no_such_table")
}

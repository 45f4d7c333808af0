package ids

import (
	"encoding/binary"
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

func TestSequenceIsMonotonicWithinAMillisecond(t *testing.T) {
	s := NewSequence(Code("outbox_events"))
	at := time.UnixMilli(1_700_000_000_000)
	prev := s.at(at)
	for i := 0; i < 10_000; i++ {
		next := s.at(at) // the same millisecond every time
		if next.String() <= prev.String() {
			t.Fatalf("id %d: %s does not sort after %s", i, next, prev)
		}
		if table, ok := TableOf(next); !ok || table != "outbox_events" {
			t.Fatalf("TableOf(%s) = %q, %v", next, table, ok)
		}
		if next.Version() != 7 || next.Variant() != uuid.RFC4122 {
			t.Fatalf("id %s is not an RFC 9562 v7 UUID", next)
		}
		prev = next
	}
	// A clock that goes back does not break the order either.
	if back := s.at(at.Add(-time.Second)); back.String() <= prev.String() {
		t.Fatalf("after the clock went back: %s does not sort after %s", back, prev)
	}
	later := s.at(at.Add(time.Millisecond))
	if later.String() <= prev.String() {
		t.Fatalf("next millisecond: %s does not sort after %s", later, prev)
	}
}

func TestSequenceCarriesIntoTheNextMillisecond(t *testing.T) {
	s := NewSequence(Code("outbox_events"))
	at := time.UnixMilli(1_700_000_000_000)
	first := s.at(at)
	s.tail = tailBits // as if 2^62 ids had been made in this millisecond
	next := s.at(at)
	if next.String() <= first.String() {
		t.Fatalf("%s does not sort after %s", next, first)
	}
	if got := int64(binary.BigEndian.Uint64(append([]byte{0, 0}, next[0:6]...))); got != at.UnixMilli()+1 {
		t.Fatalf("timestamp = %d, want the next millisecond %d", got, at.UnixMilli()+1)
	}
}

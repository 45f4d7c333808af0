package ids

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/uuid"
)

// maxMillis is the last millisecond the 48-bit timestamp of a UUIDv7 holds
// (the year 10889).
const maxMillis = 1<<48 - 1

// FuzzTableOf checks the table coding of ids both ways.
//
// Made ids: for any code of a known table and any millisecond in the 48-bit
// range, newAt makes an RFC 9562 version 7 UUID whose timestamp is that
// millisecond and whose table TableOf gives back; its text form parses back
// to the same id.
//
// Foreign ids: for arbitrary 16 bytes TableOf never panics, and it names a
// table only for a version 7, RFC 9562 variant UUID whose 12-bit code is
// that table's Code; stamping a known code into any v7 UUID makes TableOf
// name exactly that table.
func FuzzTableOf(f *testing.F) {
	prod := newAt(Code("products"), time.UnixMilli(1_700_000_000_000))
	f.Add(prod[:], uint16(Code("products")), int64(1_700_000_000_000))
	f.Add(uuid.Nil[:], uint16(0), int64(0))
	f.Add(bytes.Repeat([]byte{0xff}, 16), uint16(0xfff), int64(maxMillis))
	v4 := uuid.MustParse("9b2d3c4e-5f60-4718-9a2b-3c4d5e6f7a8b")
	f.Add(v4[:], uint16(len(tables)), int64(-1))
	v7 := uuid.MustParse("01890a5d-ac96-774b-bcce-b302099a8057")
	f.Add(v7[:], uint16(len(tables)+1), int64(1<<62))
	f.Add([]byte{1, 2, 3}, uint16(1), int64(1))
	f.Fuzz(func(t *testing.T, raw []byte, code uint16, ms int64) {
		// Arbitrary bytes.
		var u uuid.UUID
		copy(u[:], raw)
		if table, ok := TableOf(u); ok {
			c := uint16(u[6]&0x0F)<<8 | uint16(u[7])
			if u.Version() != 7 || u.Variant() != uuid.RFC4122 || Code(table) != c {
				t.Fatalf("TableOf(%s) = %q for a UUID of version %d, variant %v, code %d", u, table, u.Version(), u.Variant(), c)
			}
		}

		// A known code stamped into a v7 UUID.
		c := code%uint16(len(tables)) + 1
		v := u
		v[6] = 0x70 | byte(c>>8)&0x0F
		v[7] = byte(c)
		v[8] = v[8]&0x3F | 0x80
		if table, ok := TableOf(v); !ok || table != tables[c-1] {
			t.Fatalf("TableOf(%s) = %q, %v; want %q", v, table, ok, tables[c-1])
		}

		// A made id.
		if ms < 0 {
			ms = -(ms + 1)
		}
		ms %= maxMillis + 1
		id := newAt(c, time.UnixMilli(ms))
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("newAt made %s: version %d, variant %v", id, id.Version(), id.Variant())
		}
		if table, ok := TableOf(id); !ok || table != tables[c-1] {
			t.Fatalf("TableOf(newAt(%d)) = %q, %v; want %q", c, table, ok, tables[c-1])
		}
		if got := int64(binary.BigEndian.Uint64(append([]byte{0, 0}, id[0:6]...))); got != ms {
			t.Fatalf("timestamp of %s = %d, want %d", id, got, ms)
		}
		back, err := uuid.Parse(id.String())
		if err != nil || back != id {
			t.Fatalf("uuid.Parse(%q) = %s, %v", id.String(), back, err)
		}
	})
}

// FuzzSequence drives a Sequence with a clock the fuzzer moves (forwards,
// backwards, not at all): every id sorts after the one before it, as text
// and as bytes, and keeps its table.
func FuzzSequence(f *testing.F) {
	f.Add(uint16(Code("outbox_events")), int64(1_700_000_000_000), []byte{0, 0, 0, 1, 0x80, 0xff, 3})
	f.Add(uint16(1), int64(0), []byte{})
	f.Add(uint16(0xfff), int64(maxMillis-10), []byte{0x7f, 0x7f, 0x7f, 0x81})
	f.Add(uint16(len(tables)), int64(1_700_000_000_000), bytes.Repeat([]byte{0}, 64))
	f.Fuzz(func(t *testing.T, code uint16, start int64, steps []byte) {
		c := code%uint16(len(tables)) + 1
		if start < 0 {
			start = -(start + 1)
		}
		// Leave room for the steps and for carries into the next
		// millisecond, so that the 48-bit clock never wraps.
		start %= maxMillis - 1<<16
		if len(steps) > 512 {
			steps = steps[:512]
		}
		s := NewSequence(c)
		ms := start
		prev := s.at(time.UnixMilli(ms))
		for i, st := range steps {
			ms += int64(int8(st)) // -128..127 ms: the clock also goes back
			ms = max(ms, 0)
			next := s.at(time.UnixMilli(ms))
			if bytes.Compare(next[:], prev[:]) <= 0 || next.String() <= prev.String() {
				t.Fatalf("step %d (clock %d): %s does not sort after %s", i, ms, next, prev)
			}
			if table, ok := TableOf(next); !ok || table != tables[c-1] {
				t.Fatalf("TableOf(%s) = %q, %v; want %q", next, table, ok, tables[c-1])
			}
			prev = next
		}
	})
}

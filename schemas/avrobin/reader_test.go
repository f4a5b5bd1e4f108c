package avrobin

import (
	"errors"
	"math"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// TestReadsWhatGoavroWrites reads every primitive, at its edges, from
// goavro's encoding of it.
func TestReadsWhatGoavroWrites(t *testing.T) {
	enc := func(schema string, v any) *Reader {
		t.Helper()
		c, err := goavro.NewCodec(schema)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.BinaryFromNative(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		return &Reader{Buf: b}
	}
	for _, n := range []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64} {
		r := enc(`"long"`, n)
		if got, err := r.Long(); err != nil || got != n || !r.Done() {
			t.Errorf("long %d: got %d, %v, done %v", n, got, err, r.Done())
		}
	}
	for _, n := range []int32{0, -1, math.MaxInt32, math.MinInt32} {
		if got, err := enc(`"int"`, n).Int(); err != nil || got != n {
			t.Errorf("int %d: got %d, %v", n, got, err)
		}
	}
	if _, err := enc(`"long"`, int64(math.MaxInt32)+1).Int(); err == nil {
		t.Error("an int beyond 32 bits was read")
	}
	for _, b := range []bool{true, false} {
		if got, err := enc(`"boolean"`, b).Boolean(); err != nil || got != b {
			t.Errorf("boolean %v: got %v, %v", b, got, err)
		}
	}
	if got, err := enc(`"float"`, float32(-1.5)).Float(); err != nil || got != -1.5 {
		t.Errorf("float: got %v, %v", got, err)
	}
	if got, err := enc(`"double"`, math.Pi).Double(); err != nil || got != math.Pi {
		t.Errorf("double: got %v, %v", got, err)
	}
	for _, s := range []string{"", "Grüße 🛒 <b>"} {
		if got, err := enc(`"string"`, s).Bytes(); err != nil || string(got) != s {
			t.Errorf("string %q: got %q, %v", s, got, err)
		}
	}
	r := enc(`{"type": "array", "items": "long"}`, []any{int64(7), int64(8)})
	n, err := r.BlockCount()
	if err != nil || n != 2 {
		t.Fatalf("block count %d, %v; want 2", n, err)
	}
	r.Long()
	r.Long()
	if n, err := r.BlockCount(); err != nil || n != 0 || !r.Done() {
		t.Errorf("end of array: %d, %v, done %v", n, err, r.Done())
	}
	// A negative count is followed by the block's size in bytes.
	r = &Reader{Buf: []byte{3, 4, 14, 16, 0}} // -2 items, 2 bytes, 7, 8, end
	if n, err := r.BlockCount(); err != nil || n != 2 {
		t.Errorf("negative block count: %d, %v; want 2", n, err)
	}
	if a, _ := r.Long(); a != 7 {
		t.Errorf("first item after a sized block's header: %d, want 7", a)
	}
}

func TestShortAndBadInput(t *testing.T) {
	for name, read := range map[string]func(*Reader) error{
		"long":    func(r *Reader) error { _, err := r.Long(); return err },
		"boolean": func(r *Reader) error { _, err := r.Boolean(); return err },
		"float":   func(r *Reader) error { _, err := r.Float(); return err },
		"double":  func(r *Reader) error { _, err := r.Double(); return err },
		"bytes":   func(r *Reader) error { _, err := r.Bytes(); return err },
	} {
		if err := read(&Reader{Buf: []byte{0x80}}); err == nil {
			t.Errorf("%s from a truncated input: no error", name)
		}
	}
	if _, err := (&Reader{Buf: []byte{10, 'a'}}).Bytes(); !errors.Is(err, ErrShort) {
		t.Errorf("bytes longer than the input: %v, want ErrShort", err)
	}
	if _, err := (&Reader{Buf: []byte{1}}).Bytes(); err == nil {
		t.Error("a negative length was read")
	}
	if _, err := (&Reader{Buf: []byte{2}}).Boolean(); err == nil {
		t.Error("boolean byte 2 was read")
	}
	if _, err := (&Reader{Buf: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}).Long(); err == nil {
		t.Error("a varint beyond 64 bits was read")
	}
}

package warehouse

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// A shredder writes one Avro value as the Parquet values of its leaf
// columns, with the repetition and definition levels of the Dremel
// encoding: rep is the repetition level of the value's first leaf value,
// def the definition level its parent reached.
type shredder interface {
	shred(w *rowBuilder, v any, rep, def int) error
	// nulls writes one null for every leaf column below.
	nulls(w *rowBuilder, rep, def int)
}

// rowBuilder collects one row column by column (Parquet rows list their
// values in column order, and nested lists interleave columns).
type rowBuilder struct {
	cols  [][]parquet.Value
	bytes int // estimated uncompressed size of the row
}

func newRowBuilder(columns int) *rowBuilder {
	return &rowBuilder{cols: make([][]parquet.Value, columns)}
}

func (w *rowBuilder) reset() {
	for i := range w.cols {
		w.cols[i] = w.cols[i][:0]
	}
	w.bytes = 0
}

func (w *rowBuilder) add(col int, v parquet.Value, size int) {
	w.cols[col] = append(w.cols[col], v)
	w.bytes += size
}

// appendRow appends the collected values to row in column order.
func (w *rowBuilder) appendRow(row parquet.Row) parquet.Row {
	for _, c := range w.cols {
		row = append(row, c...)
	}
	return row
}

type recordField struct {
	name string
	s    shredder
}

type recordShredder struct{ fields []recordField }

func (r *recordShredder) shred(w *rowBuilder, v any, rep, def int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a record, got %T", v)
	}
	for _, f := range r.fields {
		if err := f.s.shred(w, m[f.name], rep, def); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

func (r *recordShredder) nulls(w *rowBuilder, rep, def int) {
	for _, f := range r.fields {
		f.s.nulls(w, rep, def)
	}
}

// optionalShredder is a ["null", T] union: goavro gives nil or a
// one-entry map from the branch name to the value.
type optionalShredder struct {
	inner shredder
	// keepUnion passes the union map on as is (the JSON column of a
	// union Parquet cannot express).
	keepUnion bool
}

func (o *optionalShredder) shred(w *rowBuilder, v any, rep, def int) error {
	if v == nil {
		o.inner.nulls(w, rep, def)
		return nil
	}
	if !o.keepUnion {
		u, ok := v.(map[string]any)
		if !ok || len(u) != 1 {
			return fmt.Errorf("want a union value, got %T", v)
		}
		for _, inner := range u {
			v = inner
		}
	}
	return o.inner.shred(w, v, rep, def+1)
}

func (o *optionalShredder) nulls(w *rowBuilder, rep, def int) { o.inner.nulls(w, rep, def) }

// listShredder is an Avro array as a Parquet LIST: an empty list has a
// defined list group and no element.
type listShredder struct {
	elem shredder
	rep  int // repetition level of the list's elements
}

func (l *listShredder) shred(w *rowBuilder, v any, rep, def int) error {
	arr, ok := v.([]any)
	if !ok && v != nil {
		return fmt.Errorf("want an array, got %T", v)
	}
	if len(arr) == 0 {
		l.elem.nulls(w, rep, def)
		return nil
	}
	for i, x := range arr {
		r := l.rep
		if i == 0 {
			r = rep
		}
		if err := l.elem.shred(w, x, r, def+1); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

func (l *listShredder) nulls(w *rowBuilder, rep, def int) { l.elem.nulls(w, rep, def) }

// mapShredder is an Avro map as a Parquet MAP, keys sorted so that the
// same record always gives the same bytes.
type mapShredder struct {
	key   *leafShredder
	value shredder
	rep   int
}

func (m *mapShredder) shred(w *rowBuilder, v any, rep, def int) error {
	mm, ok := v.(map[string]any)
	if !ok && v != nil {
		return fmt.Errorf("want a map, got %T", v)
	}
	if len(mm) == 0 {
		m.nulls(w, rep, def)
		return nil
	}
	keys := make([]string, 0, len(mm))
	for k := range mm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		r := m.rep
		if i == 0 {
			r = rep
		}
		if err := m.key.shred(w, k, r, def+1); err != nil {
			return err
		}
		if err := m.value.shred(w, mm[k], r, def+1); err != nil {
			return fmt.Errorf("[%q]: %w", k, err)
		}
	}
	return nil
}

func (m *mapShredder) nulls(w *rowBuilder, rep, def int) {
	m.key.nulls(w, rep, def)
	m.value.nulls(w, rep, def)
}

type leafShredder struct {
	col  int
	conv converter
}

func (l *leafShredder) shred(w *rowBuilder, v any, rep, def int) error {
	val, size, err := l.conv(v)
	if err != nil {
		return err
	}
	w.add(l.col, val.Level(rep, def, l.col), size)
	return nil
}

func (l *leafShredder) nulls(w *rowBuilder, rep, def int) {
	w.add(l.col, parquet.Value{}.Level(rep, def, l.col), 1)
}

// A converter turns one goavro native value into a Parquet value and an
// estimate of its size.
type converter func(v any) (parquet.Value, int, error)

func mismatch(want string, v any) error { return fmt.Errorf("want %s, got %T", want, v) }

func convBool(v any) (parquet.Value, int, error) {
	b, ok := v.(bool)
	if !ok {
		return parquet.Value{}, 0, mismatch("boolean", v)
	}
	return parquet.BooleanValue(b), 1, nil
}

func convInt(v any) (parquet.Value, int, error) {
	n, ok := v.(int32)
	if !ok {
		return parquet.Value{}, 0, mismatch("int", v)
	}
	return parquet.Int32Value(n), 4, nil
}

func convLong(v any) (parquet.Value, int, error) {
	n, ok := v.(int64)
	if !ok {
		return parquet.Value{}, 0, mismatch("long", v)
	}
	return parquet.Int64Value(n), 8, nil
}

func convFloat(v any) (parquet.Value, int, error) {
	f, ok := v.(float32)
	if !ok {
		return parquet.Value{}, 0, mismatch("float", v)
	}
	return parquet.FloatValue(f), 4, nil
}

func convDouble(v any) (parquet.Value, int, error) {
	f, ok := v.(float64)
	if !ok {
		return parquet.Value{}, 0, mismatch("double", v)
	}
	return parquet.DoubleValue(f), 8, nil
}

func convDate(v any) (parquet.Value, int, error) {
	t, ok := v.(time.Time)
	if !ok {
		return parquet.Value{}, 0, mismatch("date", v)
	}
	return parquet.Int32Value(int32(t.Unix() / 86400)), 4, nil
}

func convTimeMillis(v any) (parquet.Value, int, error) {
	d, ok := v.(time.Duration)
	if !ok {
		return parquet.Value{}, 0, mismatch("time-millis", v)
	}
	return parquet.Int32Value(int32(d.Milliseconds())), 4, nil
}

func convTimeMicros(v any) (parquet.Value, int, error) {
	d, ok := v.(time.Duration)
	if !ok {
		return parquet.Value{}, 0, mismatch("time-micros", v)
	}
	return parquet.Int64Value(d.Microseconds()), 8, nil
}

func convTimestampMillis(v any) (parquet.Value, int, error) {
	switch t := v.(type) {
	case time.Time:
		return parquet.Int64Value(t.UnixMilli()), 8, nil
	case int64:
		return parquet.Int64Value(t), 8, nil
	}
	return parquet.Value{}, 0, mismatch("timestamp", v)
}

func convTimestampMicros(v any) (parquet.Value, int, error) {
	switch t := v.(type) {
	case time.Time:
		return parquet.Int64Value(t.UnixMicro()), 8, nil
	case int64:
		return parquet.Int64Value(t), 8, nil
	}
	return parquet.Value{}, 0, mismatch("timestamp", v)
}

// convString does not copy: parquet-go copies the bytes into its column
// buffer when the row is written, before the string can go away.
func convString(v any) (parquet.Value, int, error) {
	s, ok := v.(string)
	if !ok {
		return parquet.Value{}, 0, mismatch("string", v)
	}
	return parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))), len(s) + 4, nil
}

func convBytes(v any) (parquet.Value, int, error) {
	b, ok := v.([]byte)
	if !ok {
		return parquet.Value{}, 0, mismatch("bytes", v)
	}
	return parquet.ByteArrayValue(b), len(b) + 4, nil
}

func convFixed(v any) (parquet.Value, int, error) {
	b, ok := v.([]byte)
	if !ok {
		return parquet.Value{}, 0, mismatch("fixed", v)
	}
	return parquet.FixedLenByteArrayValue(b), len(b), nil
}

// convDecimal writes decimals as exact decimal strings: goavro gives a
// *big.Rat, and a string keeps every digit without a precision to pick.
func convDecimal(scale int) converter {
	return func(v any) (parquet.Value, int, error) {
		r, ok := v.(*big.Rat)
		if !ok {
			return parquet.Value{}, 0, mismatch("decimal", v)
		}
		return convString(r.FloatString(scale))
	}
}

func convJSON(v any) (parquet.Value, int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return parquet.Value{}, 0, fmt.Errorf("union value as JSON: %w", err)
	}
	return parquet.ByteArrayValue(b), len(b) + 4, nil
}

func convNever(v any) (parquet.Value, int, error) {
	return parquet.Value{}, 0, mismatch("null", v)
}

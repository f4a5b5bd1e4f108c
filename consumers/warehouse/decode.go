package warehouse

import (
	"fmt"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/hookbridge/hookbridge/schemas/avrobin"
)

// A decoder reads one Avro value of the writer's schema from its binary
// encoding straight into a row, as its shredder would write goavro's
// native form of the same value: the same values, levels and size
// estimates (decode_test.go checks this on every record of the test
// corpora). It saves goavro's maps, interfaces and per-string copies,
// most of the CPU of the whole path.
type decoder interface {
	decode(w *rowBuilder, r *avrobin.Reader, rep, def int) error
}

// compileDecoder compiles a decoder for t, whose shredder is s (built by
// newMapping from the same type). ok is false when t has something it
// does not decode (maps, enums, fixed, decimals, unions of several
// types, unknown logical types): the table then decodes with goavro.
func compileDecoder(t *avroType, s shredder) (decoder, bool) {
	if inner, ok := t.nullable(); ok {
		o, _ := s.(*optionalShredder)
		if o == nil || o.keepUnion {
			return nil, false
		}
		d, ok := compileDecoder(inner, o.inner)
		if !ok {
			return nil, false
		}
		null := int64(0)
		if t.branches[1].kind == avroNull {
			null = 1
		}
		return &optionalDecoder{null: null, inner: d, nulls: o.inner}, true
	}
	switch t.kind {
	case avroRecord:
		rs, _ := s.(*recordShredder)
		if rs == nil || len(rs.fields) != len(t.fields) {
			return nil, false
		}
		rd := &recordDecoder{}
		for i, f := range t.fields {
			d, ok := compileDecoder(f.typ, rs.fields[i].s)
			if !ok {
				return nil, false
			}
			rd.fields = append(rd.fields, d)
		}
		return rd, true
	case avroArray:
		ls, _ := s.(*listShredder)
		if ls == nil {
			return nil, false
		}
		d, ok := compileDecoder(t.items, ls.elem)
		if !ok {
			return nil, false
		}
		return &listDecoder{elem: d, nulls: ls.elem, rep: ls.rep}, true
	}
	l, _ := s.(*leafShredder)
	read := leafReader(t)
	if l == nil || read == nil {
		return nil, false
	}
	return &leafDecoder{col: l.col, read: read}, true
}

type recordDecoder struct{ fields []decoder }

func (d *recordDecoder) decode(w *rowBuilder, r *avrobin.Reader, rep, def int) error {
	for _, f := range d.fields {
		if err := f.decode(w, r, rep, def); err != nil {
			return err
		}
	}
	return nil
}

// optionalDecoder is a ["null", T] union (or [T, "null"]).
type optionalDecoder struct {
	null  int64 // the branch index of null
	inner decoder
	nulls shredder
}

func (d *optionalDecoder) decode(w *rowBuilder, r *avrobin.Reader, rep, def int) error {
	b, err := r.Long()
	switch {
	case err != nil:
		return err
	case b == d.null:
		d.nulls.nulls(w, rep, def)
		return nil
	case b == 1-d.null:
		return d.inner.decode(w, r, rep, def+1)
	}
	return fmt.Errorf("avro: union branch %d of 2", b)
}

type listDecoder struct {
	elem  decoder
	nulls shredder
	rep   int
}

func (d *listDecoder) decode(w *rowBuilder, r *avrobin.Reader, rep, def int) error {
	i := 0
	for {
		n, err := r.BlockCount()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		for ; n > 0; n-- {
			at := d.rep
			if i == 0 {
				at = rep
			}
			if err := d.elem.decode(w, r, at, def+1); err != nil {
				return err
			}
			i++
		}
	}
	if i == 0 {
		d.nulls.nulls(w, rep, def)
	}
	return nil
}

type leafDecoder struct {
	col  int
	read func(r *avrobin.Reader) (parquet.Value, int, error)
}

func (d *leafDecoder) decode(w *rowBuilder, r *avrobin.Reader, rep, def int) error {
	v, size, err := d.read(r)
	if err != nil {
		return err
	}
	w.add(d.col, v.Level(rep, def, d.col), size)
	return nil
}

// leafReader returns how to read a primitive of type t as the converter
// leafFor picks gives it, or nil. The logical types it takes are those
// whose Parquet value is the Avro number itself.
func leafReader(t *avroType) func(r *avrobin.Reader) (parquet.Value, int, error) {
	switch {
	case t.kind == avroBoolean && t.logical == "":
		return func(r *avrobin.Reader) (parquet.Value, int, error) {
			b, err := r.Boolean()
			return parquet.BooleanValue(b), 1, err
		}
	case t.kind == avroInt && (t.logical == "" || t.logical == "date" || t.logical == "time-millis"):
		return func(r *avrobin.Reader) (parquet.Value, int, error) {
			n, err := r.Int()
			return parquet.Int32Value(n), 4, err
		}
	case t.kind == avroLong && (t.logical == "" || t.logical == "timestamp-millis" || t.logical == "timestamp-micros" ||
		t.logical == "local-timestamp-millis" || t.logical == "local-timestamp-micros" || t.logical == "time-micros"):
		return func(r *avrobin.Reader) (parquet.Value, int, error) {
			n, err := r.Long()
			return parquet.Int64Value(n), 8, err
		}
	case t.kind == avroFloat && t.logical == "":
		return func(r *avrobin.Reader) (parquet.Value, int, error) {
			f, err := r.Float()
			return parquet.FloatValue(f), 4, err
		}
	case t.kind == avroDouble && t.logical == "":
		return func(r *avrobin.Reader) (parquet.Value, int, error) {
			f, err := r.Double()
			return parquet.DoubleValue(f), 8, err
		}
	case t.kind == avroString && (t.logical == "" || t.logical == "uuid"), t.kind == avroBytes && t.logical == "":
		return func(r *avrobin.Reader) (parquet.Value, int, error) {
			b, err := r.Bytes()
			return parquet.ByteArrayValue(b), len(b) + 4, err
		}
	}
	return nil
}

// eventTimeColumn is a top-level timestamp field as a leaf column.
type eventTimeColumn struct {
	col    int
	micros bool
}

// eventTimeOfRow is table.eventTime for a row a decoder built.
func (t *table) eventTimeOfRow(w *rowBuilder) (time.Time, bool) {
	for _, c := range t.eventTimeCols {
		if vs := w.cols[c.col]; len(vs) == 1 && !vs[0].IsNull() {
			if c.micros {
				return time.UnixMicro(vs[0].Int64()).UTC(), true
			}
			return time.UnixMilli(vs[0].Int64()).UTC(), true
		}
	}
	return time.Time{}, false
}

package warehouse

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
)

// Metadata columns added after the Avro fields of every file.
const (
	colTopic          = "_topic"
	colPartition      = "_partition"
	colOffset         = "_offset"
	colKafkaTimestamp = "_kafka_timestamp"
)

// mapping is the Parquet form of one Avro schema: the Parquet schema and
// the shredder that turns goavro native data into rows of it.
type mapping struct {
	schema  *parquet.Schema
	root    *recordShredder
	columns int // leaf columns, the metadata columns included
	meta    int // index of the first metadata column
}

// newMapping maps an Avro record schema to Parquet: records become
// groups in field order, ["null", T] unions optional columns, arrays
// Parquet LISTs, maps Parquet MAPs, timestamp-millis TIMESTAMP(MILLIS, UTC)
// and so on (see leafFor). Unions of more than one non-null type, which
// Parquet cannot express, become a JSON string column.
func newMapping(name string, t *avroType) (*mapping, error) {
	if t.kind != avroRecord {
		return nil, fmt.Errorf("the top-level Avro type is not a record")
	}
	b := columnBuilder{visiting: make(map[*avroType]bool)}
	node, sh, err := b.record(t, 0)
	if err != nil {
		return nil, err
	}
	root := node.(*orderedGroup)
	for _, f := range root.fields {
		if strings.HasPrefix(f.Name(), "_") && isMetaColumn(f.Name()) {
			return nil, fmt.Errorf("field %q collides with a metadata column", f.Name())
		}
	}
	meta := b.next
	root.fields = append(root.fields,
		&field{Node: parquet.String(), name: colTopic},
		&field{Node: parquet.Int(32), name: colPartition},
		&field{Node: parquet.Int(64), name: colOffset},
		&field{Node: parquet.Timestamp(parquet.Millisecond), name: colKafkaTimestamp},
	)
	return &mapping{
		schema:  parquet.NewSchema(name, root),
		root:    sh.(*recordShredder),
		columns: meta + 4,
		meta:    meta,
	}, nil
}

func isMetaColumn(name string) bool {
	switch name {
	case colTopic, colPartition, colOffset, colKafkaTimestamp:
		return true
	}
	return false
}

// columnBuilder walks an Avro type depth first, as Parquet numbers leaf
// columns, handing out column indexes and repetition levels.
type columnBuilder struct {
	next     int // next leaf column index
	visiting map[*avroType]bool
}

// node maps t; rep is the repetition level of the enclosing repeated
// field (0 at the top).
func (b *columnBuilder) node(t *avroType, rep int) (parquet.Node, shredder, error) {
	if inner, ok := t.nullable(); ok {
		n, s, err := b.node(inner, rep)
		if err != nil {
			return nil, nil, err
		}
		return parquet.Optional(n), &optionalShredder{inner: s}, nil
	}
	switch t.kind {
	case avroRecord:
		return b.record(t, rep)
	case avroArray:
		elem, s, err := b.node(t.items, rep+1)
		if err != nil {
			return nil, nil, err
		}
		return parquet.List(elem), &listShredder{elem: s, rep: rep + 1}, nil
	case avroMap:
		key := b.leaf(convString)
		val, s, err := b.node(t.values, rep+1)
		if err != nil {
			return nil, nil, err
		}
		return parquet.Map(parquet.String(), val), &mapShredder{key: key, value: s, rep: rep + 1}, nil
	case avroUnion:
		// Parquet has no sum type: keep the value, as JSON.
		return parquet.Optional(parquet.JSON()), &optionalShredder{inner: b.leaf(convJSON), keepUnion: true}, nil
	case avroNull:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType)), &optionalShredder{inner: b.leaf(convNever)}, nil
	}
	n, conv := leafFor(t)
	return n, b.leaf(conv), nil
}

func (b *columnBuilder) leaf(conv converter) *leafShredder {
	s := &leafShredder{col: b.next, conv: conv}
	b.next++
	return s
}

func (b *columnBuilder) record(t *avroType, rep int) (parquet.Node, shredder, error) {
	if b.visiting[t] {
		return nil, nil, fmt.Errorf("record %s refers to itself, which Parquet cannot express", t.name)
	}
	b.visiting[t] = true
	defer delete(b.visiting, t)
	g := &orderedGroup{}
	rs := &recordShredder{}
	for _, f := range t.fields {
		n, s, err := b.node(f.typ, rep)
		if err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		g.fields = append(g.fields, &field{Node: n, name: f.name})
		rs.fields = append(rs.fields, recordField{name: f.name, s: s})
	}
	if len(g.fields) == 0 {
		return nil, nil, fmt.Errorf("record %s has no fields, which Parquet cannot express", t.name)
	}
	return g, rs, nil
}

// leafFor returns the Parquet leaf of a primitive Avro type and the
// converter of its native values.
func leafFor(t *avroType) (parquet.Node, converter) {
	switch t.kind {
	case avroBoolean:
		return parquet.Leaf(parquet.BooleanType), convBool
	case avroInt:
		switch t.logical {
		case "date":
			return parquet.Date(), convDate
		case "time-millis":
			return parquet.Time(parquet.Millisecond), convTimeMillis
		}
		return parquet.Int(32), convInt
	case avroLong:
		switch t.logical {
		case "timestamp-millis":
			return parquet.Timestamp(parquet.Millisecond), convTimestampMillis
		case "timestamp-micros":
			return parquet.Timestamp(parquet.Microsecond), convTimestampMicros
		case "local-timestamp-millis":
			return parquet.TimestampAdjusted(parquet.Millisecond, false), convTimestampMillis
		case "local-timestamp-micros":
			return parquet.TimestampAdjusted(parquet.Microsecond, false), convTimestampMicros
		case "time-micros":
			return parquet.Time(parquet.Microsecond), convTimeMicros
		}
		return parquet.Int(64), convLong
	case avroFloat:
		return parquet.Leaf(parquet.FloatType), convFloat
	case avroDouble:
		return parquet.Leaf(parquet.DoubleType), convDouble
	case avroBytes:
		if t.logical == "decimal" {
			return parquet.String(), convDecimal(t.scale)
		}
		return parquet.Leaf(parquet.ByteArrayType), convBytes
	case avroFixed:
		if t.logical == "decimal" {
			return parquet.String(), convDecimal(t.scale)
		}
		return parquet.Leaf(parquet.FixedLenByteArrayType(t.size)), convFixed
	}
	// string (uuid included) and enum symbols.
	return parquet.String(), convString
}

// orderedGroup is a Parquet group that keeps its fields in the order given.
// parquet.Group is a map and sorts its fields by name; the Avro field
// order is what people who know the schema expect to see.
type orderedGroup struct{ fields []parquet.Field }

func (g *orderedGroup) ID() int                     { return 0 }
func (g *orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *orderedGroup) Optional() bool              { return false }
func (g *orderedGroup) Repeated() bool              { return false }
func (g *orderedGroup) Required() bool              { return true }
func (g *orderedGroup) Leaf() bool                  { return false }
func (g *orderedGroup) Fields() []parquet.Field     { return g.fields }
func (g *orderedGroup) Encoding() encoding.Encoding { return nil }
func (g *orderedGroup) Compression() compress.Codec { return nil }
func (g *orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }
func (g *orderedGroup) String() string              { return parquet.NewSchema("group", g).String() }

// field names a node inside a group.
type field struct {
	parquet.Node
	name string
}

func (f *field) Name() string { return f.name }

// Value is only used by parquet-go's reflection-based writers, which this
// package does not use: rows are built by the shredders.
func (f *field) Value(base reflect.Value) reflect.Value { return reflect.Value{} }

package warehouse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// Decoder decodes Confluent wire-format values; *schemas.Registry is one.
type Decoder interface {
	Decode(ctx context.Context, value []byte) (schemas.Decoded, error)
}

// SchemaSource returns the Avro schema text registered under id; with
// franz-go's sr client it is
//
//	func(ctx context.Context, id int) (string, error) {
//		s, err := cl.SchemaByID(ctx, id)
//		return s.Schema, err
//	}
type SchemaSource func(ctx context.Context, id int) (string, error)

// errPermanent marks failures that retrying cannot fix: the record goes to
// the dead-letter topic.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	var p errPermanent
	return errors.As(err, &p)
}

// table is what the warehouse knows about one writer schema id.
type table struct {
	id      int
	mapping *mapping
	// eventTimeFields are the top-level timestamp fields that give the
	// event time, in order of preference.
	eventTimeFields []string
	// decoder, when the schema has nothing it cannot decode, reads values
	// straight into rows; eventTimeCols are then eventTimeFields' columns.
	decoder       decoder
	eventTimeCols []eventTimeColumn
}

// eventTime returns the time the event happened: occurred_at, else
// received_at, else (ok false) nothing the record says.
func (t *table) eventTime(native map[string]any) (time.Time, bool) {
	for _, f := range t.eventTimeFields {
		v := native[f]
		if u, ok := v.(map[string]any); ok && len(u) == 1 {
			for _, inner := range u {
				v = inner
			}
		}
		if ts, ok := v.(time.Time); ok {
			return ts, true
		}
	}
	return time.Time{}, false
}

// catalog compiles and caches one table per schema id; processors of
// every partition share it.
type catalog struct {
	source SchemaSource

	mu     sync.Mutex
	tables map[int]*table
}

func newCatalog(source SchemaSource) *catalog {
	return &catalog{source: source, tables: make(map[int]*table)}
}

// table returns the table of schema id, fetching the schema the first
// time. A schema that cannot be mapped gives an errPermanent.
func (c *catalog) table(ctx context.Context, id int) (*table, error) {
	c.mu.Lock()
	t, ok := c.tables[id]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	text, err := c.source(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("fetching schema id %d from the schema registry: %w", id, err)
	}
	t, err = compileTable(id, text)
	if err != nil {
		return nil, errPermanent{err}
	}
	c.mu.Lock()
	c.tables[id] = t
	c.mu.Unlock()
	return t, nil
}

func compileTable(id int, text string) (*table, error) {
	at, err := parseAvro(text)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	m, err := newMapping(recordName(at), at)
	if err != nil {
		return nil, fmt.Errorf("schema id %d cannot be written as Parquet: %w", id, err)
	}
	t := &table{id: id, mapping: m}
	t.decoder, _ = compileDecoder(at, m.root)
	for _, name := range []string{"occurred_at", "received_at"} {
		for i, f := range at.fields {
			ft := f.typ
			if inner, ok := ft.nullable(); ok {
				ft = inner
			}
			if f.name == name && ft.kind == avroLong && (ft.logical == "timestamp-millis" || ft.logical == "timestamp-micros") {
				t.eventTimeFields = append(t.eventTimeFields, name)
				t.eventTimeCols = append(t.eventTimeCols, eventTimeColumn{col: leafColumn(m.root.fields[i].s), micros: ft.logical == "timestamp-micros"})
			}
		}
	}
	return t, nil
}

// leafColumn is the column of a leaf or optional leaf shredder.
func leafColumn(s shredder) int {
	if o, ok := s.(*optionalShredder); ok {
		s = o.inner
	}
	return s.(*leafShredder).col
}

func recordName(t *avroType) string {
	if t.name == "" {
		return "record"
	}
	return t.name
}

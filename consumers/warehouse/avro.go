package warehouse

import (
	"encoding/json"
	"fmt"
	"strings"
)

// avroKind is the kind of an Avro type.
type avroKind int

const (
	avroNull avroKind = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroArray
	avroMap
	avroFixed
	avroUnion
)

// avroType is a parsed Avro schema: just what the Parquet mapping needs.
type avroType struct {
	kind     avroKind
	logical  string      // logicalType, e.g. timestamp-millis
	name     string      // full name of a record, enum or fixed
	fields   []avroField // record
	items    *avroType   // array
	values   *avroType   // map
	branches []*avroType // union
	size     int         // fixed
	scale    int         // decimal
}

type avroField struct {
	name string
	typ  *avroType
}

// nullable returns T when t is the union ["null", T] or [T, "null"].
func (t *avroType) nullable() (*avroType, bool) {
	if t.kind != avroUnion || len(t.branches) != 2 {
		return nil, false
	}
	switch {
	case t.branches[0].kind == avroNull:
		return t.branches[1], true
	case t.branches[1].kind == avroNull:
		return t.branches[0], true
	}
	return nil, false
}

// parseAvro parses an Avro schema in its JSON form.
func parseAvro(schema string) (*avroType, error) {
	var raw any
	if err := json.Unmarshal([]byte(schema), &raw); err != nil {
		return nil, fmt.Errorf("avro schema is not JSON: %w", err)
	}
	p := avroParser{named: make(map[string]*avroType)}
	return p.parse(raw, "")
}

type avroParser struct {
	named map[string]*avroType
}

func (p *avroParser) parse(raw any, ns string) (*avroType, error) {
	switch v := raw.(type) {
	case string:
		return p.primitiveOrNamed(v, ns)
	case []any:
		u := &avroType{kind: avroUnion}
		for _, b := range v {
			bt, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, bt)
		}
		return u, nil
	case map[string]any:
		return p.complex(v, ns)
	}
	return nil, fmt.Errorf("avro schema: unexpected %T", raw)
}

func (p *avroParser) primitiveOrNamed(name, ns string) (*avroType, error) {
	switch name {
	case "null":
		return &avroType{kind: avroNull}, nil
	case "boolean":
		return &avroType{kind: avroBoolean}, nil
	case "int":
		return &avroType{kind: avroInt}, nil
	case "long":
		return &avroType{kind: avroLong}, nil
	case "float":
		return &avroType{kind: avroFloat}, nil
	case "double":
		return &avroType{kind: avroDouble}, nil
	case "bytes":
		return &avroType{kind: avroBytes}, nil
	case "string":
		return &avroType{kind: avroString}, nil
	}
	full := fullName(name, ns)
	if t, ok := p.named[full]; ok {
		return t, nil
	}
	if t, ok := p.named[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("avro schema: unknown type %q", name)
}

func (p *avroParser) complex(m map[string]any, ns string) (*avroType, error) {
	typ, _ := m["type"].(string)
	logical, _ := m["logicalType"].(string)
	if typ == "" {
		// {"type": {...}} or {"type": [...]} wraps another schema.
		return p.parse(m["type"], ns)
	}
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := m["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("avro schema: %s without a name", typ)
		}
		if n, ok := m["namespace"].(string); ok && !strings.Contains(name, ".") {
			ns = n
		}
		full := fullName(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		}
		t := &avroType{name: full, logical: logical}
		p.named[full] = t
		switch typ {
		case "enum":
			t.kind = avroEnum
		case "fixed":
			t.kind = avroFixed
			size, _ := m["size"].(float64)
			t.size = int(size)
			scale, _ := m["scale"].(float64)
			t.scale = int(scale)
		default:
			t.kind = avroRecord
			fields, _ := m["fields"].([]any)
			for _, f := range fields {
				fm, _ := f.(map[string]any)
				fname, _ := fm["name"].(string)
				if fname == "" {
					return nil, fmt.Errorf("avro schema: record %s has a field without a name", full)
				}
				ft, err := p.parse(fm["type"], ns)
				if err != nil {
					return nil, fmt.Errorf("field %s.%s: %w", full, fname, err)
				}
				t.fields = append(t.fields, avroField{name: fname, typ: ft})
			}
		}
		return t, nil
	case "array":
		items, err := p.parse(m["items"], ns)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: avroArray, items: items}, nil
	case "map":
		values, err := p.parse(m["values"], ns)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: avroMap, values: values}, nil
	}
	t, err := p.primitiveOrNamed(typ, ns)
	if err != nil {
		return nil, err
	}
	if logical == "" || t.kind > avroString {
		return t, nil
	}
	c := *t
	c.logical = logical
	if scale, ok := m["scale"].(float64); ok {
		c.scale = int(scale)
	}
	return &c, nil
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

package schemas

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// Incompatibility is one way a new schema breaks readers of a registered
// one, or the other way round.
type Incompatibility struct {
	// Rule is BACKWARD (readers on the new schema cannot read records
	// written with the registered one: what the schema registry enforces)
	// or FORWARD (consumers still on the registered schema cannot read
	// records written with the new one).
	Rule string
	// Field is the dotted path of the field, e.g. decision.action.
	Field string
	// Reason says what is wrong, in Avro's terms.
	Reason string
}

func (i Incompatibility) String() string {
	return fmt.Sprintf("%s: field %s: %s", i.Rule, i.Field, i.Reason)
}

// Compatibility checks next against the registered schema prev, both
// directions: BACKWARD is the subjects' registry rule, and FORWARD keeps the
// consumers data teams run on the registered schema decoding new records
// (adding an optional field keeps both; removing a field without a default
// breaks FORWARD). The Avro resolution rules are hamba/avro's; this only
// finds the field each break is at.
func Compatibility(next, prev string) ([]Incompatibility, error) {
	n, err := avro.ParseWithCache(next, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schemas: new schema does not parse: %w", err)
	}
	p, err := avro.ParseWithCache(prev, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schemas: registered schema does not parse: %w", err)
	}
	var out []Incompatibility
	for _, dir := range []struct {
		rule           string
		reader, writer avro.Schema
	}{{"BACKWARD", n, p}, {"FORWARD", p, n}} {
		if avro.NewSchemaCompatibility().Compatible(dir.reader, dir.writer) == nil {
			continue
		}
		for _, b := range locate(dir.reader, dir.writer, "") {
			b.Rule = dir.rule
			out = append(out, b)
		}
	}
	return out, nil
}

// locate descends reader and writer to the fields whose types do not
// resolve, and says why at each.
func locate(reader, writer avro.Schema, path string) []Incompatibility {
	reader, writer = resolved(reader), resolved(writer)
	if avro.NewSchemaCompatibility().Compatible(reader, writer) == nil {
		return nil
	}
	rr, rok := reader.(*avro.RecordSchema)
	wr, wok := writer.(*avro.RecordSchema)
	switch {
	case rok && wok && rr.FullName() == wr.FullName():
		return locateFields(rr, wr, path)
	case reader.Type() == avro.Array && writer.Type() == avro.Array:
		return locate(reader.(*avro.ArraySchema).Items(), writer.(*avro.ArraySchema).Items(), path+"[]")
	case reader.Type() == avro.Map && writer.Type() == avro.Map:
		return locate(reader.(*avro.MapSchema).Values(), writer.(*avro.MapSchema).Values(), path+"{}")
	case writer.Type() == avro.Union:
		var out []Incompatibility
		for _, w := range writer.(*avro.UnionSchema).Types() {
			out = append(out, locate(reader, w, path)...)
		}
		return out
	case reader.Type() == avro.Union:
		for _, r := range reader.(*avro.UnionSchema).Types() {
			if resolved(r).Type() == writer.Type() {
				return locate(r, writer, path)
			}
		}
	}
	err := avro.NewSchemaCompatibility().Compatible(reader, writer)
	return []Incompatibility{{Field: orRoot(path), Reason: fmt.Sprintf("written as %s, read as %s: %v", typeName(writer), typeName(reader), err)}}
}

func locateFields(reader, writer *avro.RecordSchema, path string) []Incompatibility {
	var out []Incompatibility
	for _, rf := range reader.Fields() {
		name := join(path, rf.Name())
		wf := fieldFor(writer, rf)
		if wf == nil {
			if !rf.HasDefault() {
				out = append(out, Incompatibility{Field: name, Reason: "records written without this field cannot be read: it has no default " +
					"(give it a default such as null, or, for a rename, an alias of its old name)"})
			}
			continue
		}
		out = append(out, locate(rf.Type(), wf.Type(), name)...)
	}
	return out
}

// fieldFor is the writer's field that rf reads: same name, or one of rf's
// aliases.
func fieldFor(writer *avro.RecordSchema, rf *avro.Field) *avro.Field {
	for _, wf := range writer.Fields() {
		if wf.Name() == rf.Name() {
			return wf
		}
	}
	for _, wf := range writer.Fields() {
		for _, a := range rf.Aliases() {
			if wf.Name() == a {
				return wf
			}
		}
	}
	return nil
}

func resolved(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func typeName(s avro.Schema) string {
	switch s := resolved(s).(type) {
	case avro.NamedSchema:
		return s.FullName()
	case *avro.UnionSchema:
		names := make([]string, len(s.Types()))
		for i, b := range s.Types() {
			names[i] = typeName(b)
		}
		return "[" + strings.Join(names, ", ") + "]"
	}
	return string(s.Type())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "(record)"
	}
	return path
}

package warehouse

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

// TestDecoderRowsAreGoavros decodes every record of the test corpora —
// both schemas, every optional field null and set, nested records, lists
// of records, empty lists, and an evolved writer schema with an added
// optional field — with the compiled decoder and with goavro plus the
// shredder, and wants the same Parquet values, levels, size estimates and
// event hour from both.
func TestDecoderRowsAreGoavros(t *testing.T) {
	k := newKit(t)
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: discardStore{}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, evs := range [][]schemas.Event{sampleDecisions(300), sampleMessages(300), oneHourMessages(5)} {
		for i, e := range evs {
			recs = append(recs, k.record(t, e, 0, int64(i)))
		}
	}
	recs = append(recs, evolvedDecisions(t, k, 40)...)
	p := testProcessor(t, g, "x", 0, nil)
	ctx := context.Background()
	ids := map[int]bool{}
	for i, r := range recs {
		fast, err := g.decode(ctx, r.Value, p.builder)
		if err != nil || !fast.built {
			t.Fatalf("record %d: the compiled decoder did not take it (built %v, err %v)", i, fast.built, err)
		}
		ids[fast.table.id] = true
		fastAt, fastOK := fast.table.eventTimeOfRow(p.rb)
		fastRow, fastSize, err := p.row(fast, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		fastRow = fastRow.Clone()

		nd, err := k.decoder.Decode(ctx, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		goavroTable := *fast.table
		goavroTable.decoder = nil
		slow := decoded{table: &goavroTable, native: nd.Native.(map[string]any)}
		slowAt, slowOK := slow.table.eventTime(slow.native)
		slowRow, slowSize, err := p.row(slow, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fastOK != slowOK || !fastAt.Equal(slowAt) {
			t.Errorf("record %d: event time %v %v, goavro's %v %v", i, fastAt, fastOK, slowAt, slowOK)
		}
		if fastSize != slowSize {
			t.Errorf("record %d: size estimate %d, goavro's %d", i, fastSize, slowSize)
		}
		if !sameRow(fastRow, slowRow) {
			t.Fatalf("record %d (schema id %d):\n got  %v\n want %v", i, fast.table.id, fastRow, slowRow)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("%d schema ids decoded, want 3 (two schemas and an evolved one)", len(ids))
	}
}

func sameRow(a, b parquet.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind() != y.Kind() || x.Column() != y.Column() || x.RepetitionLevel() != y.RepetitionLevel() ||
			x.DefinitionLevel() != y.DefinitionLevel() || x.IsNull() != y.IsNull() || !bytes.Equal(x.Bytes(), y.Bytes()) {
			return false
		}
	}
	return true
}

// evolvedDecisions are DecisionMade records written with a newer schema
// that adds an optional field, set on every other record.
func evolvedDecisions(t *testing.T, k *kit, n int) []*kgo.Record {
	t.Helper()
	encode := evolvedDecisionSchema(t, k)
	var out []*kgo.Record
	for i, e := range sampleDecisions(n) {
		native := e.Native()
		native["channel"] = nil
		if i%2 == 0 {
			native["channel"] = goavro.Union("string", "e-mail ✉")
		}
		r := k.record(t, e, 0, int64(i))
		r.Value = encode(native)
		out = append(out, r)
	}
	return out
}

// evolvedDecisionSchema registers a DecisionMade schema with an added
// optional field "channel" and returns how to write a record value with it.
func evolvedDecisionSchema(t *testing.T, k *kit) func(native map[string]any) []byte {
	t.Helper()
	topic := k.deduped(schemas.KindDecisionMade)
	v2 := strings.Replace(schemas.KindDecisionMade.Source(), `{"name": "raw_json"`,
		`{"name": "channel", "type": ["null", "string"], "default": null},
    {"name": "raw_json"`, 1)
	cl, err := connect.SchemaRegistry(k.env.Config.SchemaRegistry)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := cl.CreateSchema(context.Background(), schemas.Subject(topic), sr.Schema{Schema: v2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(v2)
	if err != nil {
		t.Fatal(err)
	}
	return func(native map[string]any) []byte {
		var hdr sr.ConfluentHeader
		val, err := hdr.AppendEncode(nil, ss.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if val, err = codec.BinaryFromNative(val, native); err != nil {
			t.Fatal(err)
		}
		return val
	}
}

// TestDecoderFallsBack: what the compiled decoder does not take goes to
// goavro — a schema with a map, enum or multi-type union gets no decoder,
// and a value the decoder cannot read is goavro's to judge.
func TestDecoderFallsBack(t *testing.T) {
	for _, typ := range []string{`{"type": "map", "values": "long"}`, `{"type": "enum", "name": "E", "symbols": ["A"]}`, `["null", "string", "long"]`} {
		tb, err := compileTable(1, `{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}, {"name": "x", "type": `+typ+`}]}`)
		if err != nil {
			t.Fatal(err)
		}
		if tb.decoder != nil {
			t.Errorf("%s: compiled a decoder, want goavro", typ)
		}
	}
	k := newKit(t)
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: discardStore{}})
	if err != nil {
		t.Fatal(err)
	}
	p := testProcessor(t, g, "x", 0, nil)
	r := k.record(t, sampleDecisions(1)[0], 0, 0)
	for _, v := range [][]byte{r.Value[:len(r.Value)-3], append(r.Value, 0)} {
		if d, err := g.decode(context.Background(), v, p.builder); err == nil || !isPermanent(err) || d.built {
			t.Errorf("a truncated or padded value: built %v, err %v; want goavro's permanent error", d.built, err)
		}
	}
}

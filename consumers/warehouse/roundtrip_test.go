package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	pqfile "github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// expectRow is the row an event should become, in the JSON form of
// arrow-go's RecordToJSON.
func expectRow(t testing.TB, e schemas.Event, r *kgo.Record) map[string]any {
	t.Helper()
	norm := func(v any) any {
		switch x := v.(type) {
		case *string:
			if x == nil {
				return nil
			}
			return *x
		case *int64:
			if x == nil {
				return nil
			}
			return *x
		case *float64:
			if x == nil {
				return nil
			}
			return *x
		case *bool:
			if x == nil {
				return nil
			}
			return *x
		case *time.Time:
			if x == nil {
				return nil
			}
			return x.UTC().Format(time.RFC3339Nano)
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		}
		return v
	}
	products := func(ps []schemas.Product) []any {
		out := []any{}
		for _, p := range ps {
			var img any
			if p.Image != nil {
				img = map[string]any{"scalable_url": norm(p.Image.ScalableURL), "url": norm(p.Image.URL)}
			}
			out = append(out, map[string]any{"title": norm(p.Title), "description": norm(p.Description), "image": img,
				"url": norm(p.URL), "price": norm(p.Price), "old_price": norm(p.OldPrice), "currency": norm(p.Currency), "on_sale": norm(p.OnSale)})
		}
		return out
	}
	m := map[string]any{
		"_topic": r.Topic, "_partition": r.Partition, "_offset": r.Offset, "_kafka_timestamp": norm(r.Timestamp),
	}
	switch e := e.(type) {
	case *schemas.DecisionMade:
		cart := []any{}
		for _, c := range e.Session.CartItems {
			cart = append(cart, c)
		}
		m["event_id"], m["event_type"], m["occurred_at"], m["received_at"] = e.EventID, e.EventType, norm(e.OccurredAt), norm(e.ReceivedAt)
		m["svix_id"], m["raw_json"] = norm(e.SvixID), e.RawJSON
		m["decision"] = map[string]any{"id": norm(e.Decision.ID), "action": norm(e.Decision.Action), "reason": norm(e.Decision.Reason), "llm_reasoning": norm(e.Decision.LLMReasoning)}
		m["session"] = map[string]any{"visitor_id": norm(e.Session.VisitorID), "email": norm(e.Session.Email), "event_count": norm(e.Session.EventCount),
			"duration_seconds": norm(e.Session.DurationSeconds), "products_viewed": norm(e.Session.ProductsViewed), "cart_items": cart}
	case *schemas.AgentMessage:
		m["event_id"], m["message_type"], m["occurred_at"], m["received_at"] = e.EventID, norm(e.MessageType), norm(e.OccurredAt), norm(e.ReceivedAt)
		m["customer"] = map[string]any{"id": norm(e.Customer.ID), "email": norm(e.Customer.Email)}
		c := e.Content
		m["content"] = map[string]any{"subject": norm(c.Subject), "preview_text": norm(c.PreviewText), "headline": norm(c.Headline), "body": norm(c.Body), "call_to_action": norm(c.CallToAction)}
		m["primary_products"], m["other_products"], m["raw_json"] = products(e.PrimaryProducts), products(e.OtherProducts), e.RawJSON
	}
	// Through JSON, so numbers compare as arrow-go prints them.
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordsInFilesOut writes records of both schemas over several
// partitions and hours, reads every file back with arrow-go (a reader
// independent of parquet-go, which wrote them) and compares each row with
// its record field by field: nulls, nested records, lists of records,
// HTML and non-ASCII text, timestamps, and the Kafka columns. It also
// checks where each file lies and what it is named.
func TestRecordsInFilesOut(t *testing.T) {
	k := newKit(t)
	dir := t.TempDir()
	store, err := NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]map[string]any{} // by topic/partition/offset
	for _, evs := range [][]schemas.Event{sampleDecisions(40), sampleMessages(30)} {
		for part := int32(0); part < 2; part++ {
			p := testProcessor(t, g, k.deduped(evs[0].Kind()), part, nil)
			var batch []*kgo.Record
			for i, e := range evs {
				if i%2 != int(part) {
					continue
				}
				r := k.record(t, e, part, int64(100+i))
				want[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = expectRow(t, e, r)
				batch = append(batch, r)
			}
			if c, err := p.process(ctx, batch); err != nil || c != -1 {
				t.Fatalf("Process = %d, %v; want -1 (buffered), nil", c, err)
			}
			last := batch[len(batch)-1].Offset
			if c, err := p.flush(ctx); err != nil || c != last+1 {
				t.Fatalf("Flush = %d, %v; want %d", c, err, last+1)
			}
			if c, err := p.flush(ctx); err != nil || c != -1 {
				t.Fatalf("second Flush = %d, %v; want -1", c, err)
			}
			p.Close()
		}
	}

	got := 0
	for _, path := range parquetFiles(t, dir) {
		rel, _ := filepath.Rel(dir, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 4 || !strings.HasPrefix(parts[1], "dt=") || !strings.HasPrefix(parts[2], "hr=") {
			t.Fatalf("file %s is not <topic>/dt=…/hr=…/<name>", rel)
		}
		rows := arrowFileRows(t, path)
		if len(rows) == 0 {
			t.Fatalf("%s has no rows", rel)
		}
		first := int64(-1)
		for _, row := range rows {
			off, _ := row["_offset"].(json.Number).Int64()
			if first < 0 || off < first {
				first = off
			}
			key := fmt.Sprintf("%s/%v/%d", row["_topic"], row["_partition"], off)
			w, ok := want[key]
			if !ok {
				t.Fatalf("%s: unexpected or repeated row %s", rel, key)
			}
			delete(want, key)
			got++
			for col, wv := range w {
				if !reflect.DeepEqual(row[col], wv) {
					t.Errorf("%s row %s column %s = %#v, want %#v", rel, key, col, row[col], wv)
				}
			}
			if len(row) != len(w) {
				t.Errorf("%s row %s has %d columns, want %d", rel, key, len(row), len(w))
			}
			// The partition directory is the event hour: occurred_at, else received_at.
			at, _ := row["occurred_at"].(string)
			if at == "" {
				at = row["received_at"].(string)
			}
			ts, _ := time.Parse(time.RFC3339Nano, at)
			if wantDir := ts.UTC().Format("dt=2006-01-02/hr=15"); parts[1]+"/"+parts[2] != wantDir {
				t.Errorf("%s holds row %s of %s, want it under %s", rel, key, at, wantDir)
			}
			if parts[0] != row["_topic"] {
				t.Errorf("%s holds a row of topic %v", rel, row["_topic"])
			}
		}
		part, _ := rows[0]["_partition"].(json.Number).Int64()
		if wantName := fmt.Sprintf("%s+%d+%019d.parquet", parts[0], part, first); parts[3] != wantName {
			t.Errorf("file %s is named %s, want %s (its first offset)", rel, parts[3], wantName)
		}
	}
	if len(want) != 0 || got == 0 {
		t.Fatalf("%d rows read, %d records missing from the files", got, len(want))
	}
}

// TestParquetSchemaForEngines checks the Parquet types engines see,
// through arrow-go: timestamps as TIMESTAMP(MILLIS, UTC), arrays as
// lists, nested records as structs, nullability as in Avro, Avro field
// order, and the Kafka columns.
func TestParquetSchemaForEngines(t *testing.T) {
	k := newKit(t)
	dir := t.TempDir()
	store, _ := NewLocalStore(dir)
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := sampleMessages(1)[0]
	p := testProcessor(t, g, k.deduped(e.Kind()), 0, nil)
	if _, err := p.process(ctx, []*kgo.Record{k.record(t, e, 0, 7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	files := parquetFiles(t, dir)
	pf, err := pqfile.OpenParquetFile(files[0], false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if got := pf.MetaData().RowGroups[0].Columns[0].MetaData.Codec.String(); got != "ZSTD" {
		t.Errorf("codec %s, want ZSTD", got)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := fr.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	wantNames := "event_id message_type occurred_at received_at customer content primary_products other_products raw_json _topic _partition _offset _kafka_timestamp"
	if strings.Join(names, " ") != wantNames {
		t.Errorf("columns %v, want %s", names, wantNames)
	}
	for _, c := range []struct {
		name, typ string
		nullable  bool
	}{
		{"event_id", "utf8", false},
		{"message_type", "utf8", true},
		{"occurred_at", "timestamp[ms, tz=UTC]", true},
		{"received_at", "timestamp[ms, tz=UTC]", false},
		{"customer", "struct<id: utf8 nullable, email: utf8 nullable>", false},
		{"_kafka_timestamp", "timestamp[ms, tz=UTC]", false},
		{"_partition", "int32", false},
		{"_offset", "int64", false},
	} {
		fs, ok := sc.FieldsByName(c.name)
		if !ok {
			t.Errorf("no column %s", c.name)
			continue
		}
		if got := fs[0].Type.String(); got != c.typ || fs[0].Nullable != c.nullable {
			t.Errorf("column %s: %s nullable=%v, want %s nullable=%v", c.name, got, fs[0].Nullable, c.typ, c.nullable)
		}
	}
	fs, _ := sc.FieldsByName("primary_products")
	if got := fs[0].Type.String(); !strings.HasPrefix(got, "list<element: struct<title: utf8 nullable, description: utf8 nullable, image: struct<scalable_url: utf8 nullable, url: utf8 nullable> nullable") {
		t.Errorf("primary_products is %s, want a list of product structs", got)
	}
}

func TestFileName(t *testing.T) {
	for _, c := range []struct {
		first int64
		want  string
	}{
		{0, "t.v1+3+0000000000000000000.parquet"},
		{42, "t.v1+3+0000000000000000042.parquet"},
		{9223372036854775807, "t.v1+3+9223372036854775807.parquet"},
	} {
		if got := FileName("t.v1", 3, c.first); got != c.want {
			t.Errorf("FileName(%d) = %s, want %s", c.first, got, c.want)
		}
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	if got := (Layout{}).Key("t.v1", 3, at, 5); got != "t.v1/dt=2025-01-02/hr=02/t.v1+3+0000000000000000005.parquet" {
		t.Errorf("Key = %s", got)
	}
}

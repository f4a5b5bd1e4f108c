package warehouse

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	arrowpq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// Benchmarks (not tests): records per second into Parquet on one core
// (per wall-clock second, and per second of the process's CPU time, which
// the machine's other load moves less) and the peak heap, for
// docs/benchmarks.md. Run with
//
//	go test -run '^$' -bench . -benchtime 200000x -cpu 1 ./consumers/warehouse/

// discardStore counts bytes and keeps nothing.
type discardStore struct{}

func (discardStore) Stat(context.Context, string) (Stored, bool, error) { return Stored{}, false, nil }
func (discardStore) List(context.Context, string) ([]string, error)     { return nil, nil }
func (discardStore) Create(context.Context, string) (Staged, error)     { return discardStaged{}, nil }
func (discardStore) String() string                                     { return "discard" }

type discardStaged struct{}

func (discardStaged) Write(p []byte) (int, error)           { return len(p), nil }
func (discardStaged) Publish(context.Context, Stored) error { return nil }
func (discardStaged) Abort()                                {}

// peakHeap samples the heap every so many records.
type peakHeap struct{ max uint64 }

func (p *peakHeap) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.max = max(p.max, ms.HeapAlloc)
}

func benchRecords(b *testing.B, k *kit, evs []schemas.Event) []*kgo.Record {
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		recs[i] = k.record(b, e, 0, int64(i))
	}
	return recs
}

// mixedDecisions are DecisionMade events in one hour, half with every
// field set.
func mixedDecisions(n int) []schemas.Event {
	evs := sampleDecisions(n)
	at := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	for _, e := range evs {
		d := e.(*schemas.DecisionMade)
		d.OccurredAt = &at
	}
	return evs
}

// BenchmarkProcess is the whole per-record path of a partition: Avro
// decode, event time, shredding, parquet-go with zstd, a flush every
// 100,000 records; files discarded.
func BenchmarkProcess(b *testing.B) {
	for _, c := range []struct {
		name   string
		evs    []schemas.Event
		buffer int64
	}{{"DecisionMade", mixedDecisions(4096), 0}, {"AgentMessage", oneHourMessages(4096), 0},
		{"AgentMessage/700-hours", sampleMessages(4096), 0},
		{"AgentMessage/700-hours/buffer-64MiB", sampleMessages(4096), 64 << 20},
		{"AgentMessage/720-hours", sampleMessages(4321), 0}} {
		b.Run(c.name, func(b *testing.B) {
			benchProcess(b, c.evs, c.buffer)
		})
	}
}

func benchProcess(b *testing.B, evs []schemas.Event, buffer int64) {
	k := newKit(b)
	recs := benchRecords(b, k, evs)
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source,
		Store: discardStore{}, FlushRecords: 100_000, RowGroupBytes: 16 << 20, BufferBytes: buffer})
	if err != nil {
		b.Fatal(err)
	}
	p := testProcessor(b, g, recs[0].Topic, 0, nil)
	ctx := context.Background()
	var peak peakHeap
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, cpuOK := cpuTime()
	var bytes int64
	for i := 0; i < b.N; i += 256 {
		n := min(256, b.N-i)
		batch := make([]*kgo.Record, n)
		for j := range n {
			r := *recs[(i+j)%len(recs)]
			r.Offset = int64(i + j)
			batch[j] = &r
			bytes += int64(len(r.Value))
		}
		if _, err := p.process(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if i%16384 == 0 {
			peak.sample()
		}
	}
	if _, err := p.flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if cpu1, ok := cpuTime(); ok && cpuOK {
		b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "records/cpu-s")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
	b.SetBytes(bytes / int64(max(b.N, 1)))
}

// BenchmarkWriteParquetGo is the writer alone: goavro native data already
// decoded, shredded and written by parquet-go with zstd.
func BenchmarkWriteParquetGo(b *testing.B) {
	k := newKit(b)
	evs := mixedDecisions(4096)
	t, err := newCatalog(k.source).table(context.Background(), mustID(b, k))
	if err != nil {
		b.Fatal(err)
	}
	natives := nativesOf(b, k, evs)
	p := &processor{}
	var peak peakHeap
	opts := fileOptions{rowGroupBytes: 16 << 20, codec: newGroupCodec()}
	f := newFile("bench", t, 0, "t", 0, opts)
	if err := f.start(discardStaged{}, newWriter(t, opts)); err != nil {
		b.Fatal(err)
	}
	r := &kgo.Record{Topic: "pique.decisions.v1.deduped"}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.Offset = int64(i)
		row, size, err := p.row(decoded{table: t, native: natives[i%len(natives)]}, r, nil)
		if err != nil {
			b.Fatal(err)
		}
		f.add(row, size, int64(i))
		if err := f.flushRows(); err != nil {
			b.Fatal(err)
		}
		if i%16384 == 0 {
			peak.sample()
		}
	}
	if err := f.publish(context.Background(), int64(b.N)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
}

// BenchmarkWriteArrowGo is the same job with arrow-go: the same native
// data appended to Arrow builders (a hand-written mapping for
// DecisionMade) and written by pqarrow with zstd, 4,096-row batches.
func BenchmarkWriteArrowGo(b *testing.B) {
	natives := nativesOf(b, newKit(b), mixedDecisions(4096))
	str := func(nullable bool, name string) arrow.Field {
		return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: nullable}
	}
	ts := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		str(false, "event_id"), str(false, "event_type"),
		{Name: "occurred_at", Type: ts, Nullable: true}, {Name: "received_at", Type: ts},
		str(true, "svix_id"),
		{Name: "decision", Type: arrow.StructOf(str(true, "id"), str(true, "action"), str(true, "reason"), str(true, "llm_reasoning"))},
		{Name: "session", Type: arrow.StructOf(str(true, "visitor_id"), str(true, "email"),
			arrow.Field{Name: "event_count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "duration_seconds", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			arrow.Field{Name: "products_viewed", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "cart_items", Type: arrow.ListOf(arrow.BinaryTypes.String)})},
		str(false, "raw_json"), str(false, "_topic"),
		{Name: "_partition", Type: arrow.PrimitiveTypes.Int32}, {Name: "_offset", Type: arrow.PrimitiveTypes.Int64},
		{Name: "_kafka_timestamp", Type: ts},
	}, nil)
	props := arrowpq.NewWriterProperties(arrowpq.WithCompression(compress.Codecs.Zstd), arrowpq.WithMaxRowGroupLength(100_000))
	fw, err := pqarrow.NewFileWriter(schema, io.Discard, props, pqarrow.DefaultWriterProps())
	if err != nil {
		b.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	u := func(v any) any {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for _, x := range m {
				return x
			}
		}
		return v
	}
	appendStr := func(sb *array.StringBuilder, v any) {
		if s, ok := u(v).(string); ok {
			sb.Append(s)
		} else {
			sb.AppendNull()
		}
	}
	appendI64 := func(ib *array.Int64Builder, v any) {
		if n, ok := u(v).(int64); ok {
			ib.Append(n)
		} else {
			ib.AppendNull()
		}
	}
	var peak peakHeap
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := natives[i%len(natives)]
		appendStr(bld.Field(0).(*array.StringBuilder), m["event_id"])
		appendStr(bld.Field(1).(*array.StringBuilder), m["event_type"])
		tb := bld.Field(2).(*array.TimestampBuilder)
		if t, ok := u(m["occurred_at"]).(time.Time); ok {
			tb.Append(arrow.Timestamp(t.UnixMilli()))
		} else {
			tb.AppendNull()
		}
		bld.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(m["received_at"].(time.Time).UnixMilli()))
		appendStr(bld.Field(4).(*array.StringBuilder), m["svix_id"])
		db := bld.Field(5).(*array.StructBuilder)
		db.Append(true)
		d := m["decision"].(map[string]any)
		for j, name := range []string{"id", "action", "reason", "llm_reasoning"} {
			appendStr(db.FieldBuilder(j).(*array.StringBuilder), d[name])
		}
		sb := bld.Field(6).(*array.StructBuilder)
		sb.Append(true)
		s := m["session"].(map[string]any)
		appendStr(sb.FieldBuilder(0).(*array.StringBuilder), s["visitor_id"])
		appendStr(sb.FieldBuilder(1).(*array.StringBuilder), s["email"])
		appendI64(sb.FieldBuilder(2).(*array.Int64Builder), s["event_count"])
		fb := sb.FieldBuilder(3).(*array.Float64Builder)
		if f, ok := u(s["duration_seconds"]).(float64); ok {
			fb.Append(f)
		} else {
			fb.AppendNull()
		}
		appendI64(sb.FieldBuilder(4).(*array.Int64Builder), s["products_viewed"])
		lb := sb.FieldBuilder(5).(*array.ListBuilder)
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for _, c := range s["cart_items"].([]any) {
			vb.Append(c.(string))
		}
		appendStr(bld.Field(7).(*array.StringBuilder), m["raw_json"])
		bld.Field(8).(*array.StringBuilder).Append("pique.decisions.v1.deduped")
		bld.Field(9).(*array.Int32Builder).Append(0)
		bld.Field(10).(*array.Int64Builder).Append(int64(i))
		bld.Field(11).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + int64(i)))
		if (i+1)%4096 == 0 || i == b.N-1 {
			rec := bld.NewRecordBatch()
			if err := fw.Write(rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		if i%16384 == 0 {
			peak.sample()
		}
	}
	if err := fw.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
}

func mustID(b *testing.B, k *kit) int {
	id, err := k.env.Schemas.SchemaID(schemas.KindDecisionMade)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// nativesOf encodes and decodes evs, as the processor sees them.
func nativesOf(b *testing.B, k *kit, evs []schemas.Event) []map[string]any {
	out := make([]map[string]any, len(evs))
	for i, e := range evs {
		d, err := k.decoder.Decode(context.Background(), k.record(b, e, 0, 0).Value)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = d.Native.(map[string]any)
	}
	return out
}

func newGroupCodec() *zstd.Codec { return &zstd.Codec{Level: zstd.SpeedFastest, Concurrency: 1} }

// oneHourMessages are AgentMessages of one event hour.
func oneHourMessages(n int) []schemas.Event {
	evs := sampleMessages(n)
	at := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	for _, e := range evs {
		m := e.(*schemas.AgentMessage)
		m.OccurredAt, m.ReceivedAt = &at, at
	}
	return evs
}

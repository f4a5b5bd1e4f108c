package warehouse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// TestReusedWriterWritesWhatANewOneWrites writes the same records twice,
// once with the writer of each published file reused for the next file of
// its schema and once with a new writer for every file, and wants the same
// bytes in every file: a reused writer keeps nothing of the files it wrote
// before and loses nothing a new one writes (column chunk paths, types,
// encodings, codec, value counts, offsets, statistics, page indexes, row
// groups, key/value metadata). Spark and parquet-mr read these footers by
// path and field; see checkColumnPaths.
func TestReusedWriterWritesWhatANewOneWrites(t *testing.T) {
	k := newKit(t)
	for _, c := range []struct {
		name        string
		evs         []schemas.Event
		streamBytes int // 0: as configured (files wait in memory)
	}{
		{"messages held", manyHourMessages(), 0},
		// Files stream from their first row, in row groups of a few rows,
		// so files of many row groups and of one follow each other.
		{"messages streaming", slices.Concat(oneHourMessages(100), manyHourMessages(), oneHourMessages(100)), 1},
		{"decisions held", sampleDecisions(300), 0},
		{"decisions streaming", slices.Concat(fewHourDecisions(), sampleDecisions(300), fewHourDecisions()), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			reused, n := writeAll(t, k, c.evs, c.streamBytes, true)
			fresh, _ := writeAll(t, k, c.evs, c.streamBytes, false)
			if n == 0 {
				t.Fatalf("no writer was reused over %d files", len(reused))
			}
			if len(reused) != len(fresh) {
				t.Fatalf("%d files with reused writers, %d with new ones", len(reused), len(fresh))
			}
			multi := 0
			for name, want := range fresh {
				if len(footerOf(t, want).RowGroups) > 1 {
					multi++
				}
				got, ok := reused[name]
				if !ok {
					t.Fatalf("%s was written by new writers only", name)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: a reused writer wrote %d bytes, a new one %d, which differ: %s", name, len(got), len(want), footerDiff(t, got, want))
				}
			}
			if c.streamBytes > 0 && multi == 0 {
				t.Fatal("no file has more than one row group")
			}
			t.Logf("%d files, %d of them by a reused writer, %d of more than one row group", len(fresh), n, multi)
		})
	}
}

// fewHourDecisions are 60 DecisionMade events over two event hours.
func fewHourDecisions() []schemas.Event {
	var out []schemas.Event
	for i, e := range sampleDecisions(120) {
		if i%2 == 1 { // no occurred_at: the hour is received_at's
			out = append(out, e)
		}
	}
	return out
}

// reuseSwitch is a store that, when reuse is off, takes away the
// processor's spare writers before each file gets one, and counts the
// files that get a spare.
type reuseSwitch struct {
	Store
	p      *processor
	reuse  bool
	reused int
}

func (s *reuseSwitch) Create(ctx context.Context, key string) (Staged, error) {
	if !s.reuse {
		clear(s.p.spare)
	}
	if len(s.p.spare) > 0 {
		s.reused++
	}
	return s.Store.Create(ctx, key)
}

// writeAll writes evs through one processor with little room (3 open
// files, 48 KiB held, 4 KiB row groups) and returns every file written by
// its path and how many files got a reused writer.
func writeAll(t *testing.T, k *kit, evs []schemas.Event, streamBytes int, reuse bool) (map[string][]byte, int) {
	t.Helper()
	dir := t.TempDir()
	local, err := NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &reuseSwitch{Store: local, reuse: reuse}
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: store,
		FlushRecords: 1 << 30, MaxOpenFiles: 3, BufferBytes: 48 << 10, RowGroupBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if streamBytes > 0 {
		g.fileOpts.streamBytes = streamBytes
	}
	p := testProcessor(t, g, k.deduped(evs[0].Kind()), 0, nil)
	store.p = p.processor
	ctx := context.Background()
	for i := 0; i < len(evs); i += 25 {
		batch := make([]*kgo.Record, 0, 25)
		for j := i; j < min(i+25, len(evs)); j++ {
			batch = append(batch, k.record(t, evs[j], 0, int64(j)))
		}
		if _, err := p.process(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, path := range parquetFiles(t, dir) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			t.Fatal(err)
		}
		files[rel] = b
	}
	return files, store.reused
}

// footerDiff names the first footer field in which two Parquet files
// differ.
func footerDiff(t *testing.T, got, want []byte) string {
	t.Helper()
	g, w := footerOf(t, got), footerOf(t, want)
	if len(g.RowGroups) != len(w.RowGroups) {
		return fmt.Sprintf("%d row groups, want %d", len(g.RowGroups), len(w.RowGroups))
	}
	for i := range w.RowGroups {
		gr, wr := g.RowGroups[i], w.RowGroups[i]
		for j := range wr.Columns {
			if j >= len(gr.Columns) {
				return fmt.Sprintf("row group %d has %d column chunks, want %d", i, len(gr.Columns), len(wr.Columns))
			}
			if !reflect.DeepEqual(gr.Columns[j], wr.Columns[j]) {
				return fmt.Sprintf("row group %d, column chunk %d:\n got  %+v\n want %+v", i, j, gr.Columns[j], wr.Columns[j])
			}
		}
		gr.Columns, wr.Columns = nil, nil
		if !reflect.DeepEqual(gr, wr) {
			return fmt.Sprintf("row group %d:\n got  %+v\n want %+v", i, gr, wr)
		}
	}
	g.RowGroups, w.RowGroups = nil, nil
	if !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("file metadata:\n got  %+v\n want %+v", g, w)
	}
	return "the footers are the same, the pages or page indexes are not"
}

func footerOf(t *testing.T, b []byte) format.FileMetaData {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return *f.Metadata()
}

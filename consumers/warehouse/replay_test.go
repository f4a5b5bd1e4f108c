package warehouse

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// openCounter is a store that counts the files open (created, neither
// published nor aborted) at once.
type openCounter struct {
	Store
	mu         sync.Mutex
	open, peak int
}

func (c *openCounter) Create(ctx context.Context, key string) (Staged, error) {
	s, err := c.Store.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.open++
	c.peak = max(c.peak, c.open)
	c.mu.Unlock()
	return &countedStaged{Staged: s, c: c}, nil
}

type countedStaged struct {
	Staged
	c    *openCounter
	once sync.Once
}

func (s *countedStaged) done() {
	s.once.Do(func() { s.c.mu.Lock(); s.c.open--; s.c.mu.Unlock() })
}
func (s *countedStaged) Publish(ctx context.Context, st Stored) error {
	s.done()
	return s.Staged.Publish(ctx, st)
}
func (s *countedStaged) Abort() { s.done(); s.Staged.Abort() }

// TestReplayOverManyHours replays events spread over ~100 hours through a
// partition with room for 3 open files and 48 KiB of held rows, once with
// files that open at their first row and once as configured: flushes come
// from those limits, never more than 3 files are open at once, every
// record lands exactly once, and each file's footer (written by a reused
// writer) names its own first and last offsets.
func TestReplayOverManyHours(t *testing.T) {
	for _, c := range []struct {
		name        string
		streamBytes int
	}{{"open files", 1}, {"held rows", 0}} {
		t.Run(c.name, func(t *testing.T) { testReplay(t, c.streamBytes) })
	}
}

func testReplay(t *testing.T, streamBytes int) {
	k := newKit(t)
	dir := t.TempDir()
	local, err := NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &openCounter{Store: local}
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: store,
		FlushRecords: 1 << 30, MaxOpenFiles: 3, BufferBytes: 48 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if streamBytes > 0 {
		g.fileOpts.streamBytes = streamBytes
	}
	evs := manyHourMessages()
	p := testProcessor(t, g, k.deduped(evs[0].Kind()), 0, nil)
	ctx := context.Background()
	commits := 0
	for i := 0; i < len(evs); i += 25 {
		var batch = make([]*kgo.Record, 0, 25)
		for j := i; j < min(i+25, len(evs)); j++ {
			batch = append(batch, k.record(t, evs[j], 0, int64(j)))
		}
		c, err := p.process(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if c > 0 {
			commits++
		}
	}
	if c, err := p.flush(ctx); err != nil || c != int64(len(evs)) {
		t.Fatalf("last Flush = %d, %v; want %d", c, err, len(evs))
	}
	if commits < 3 {
		t.Errorf("%d commits before the last flush: the memory and open-file limits did not flush", commits)
	}
	if store.peak > 3 || store.peak == 0 {
		t.Errorf("%d files were open at once, want 1 to 3", store.peak)
	}
	counts := map[int64]int{}
	for _, path := range parquetFiles(t, dir) {
		first, last := int64(-1), int64(-1)
		for _, row := range arrowFileRows(t, path) {
			off, _ := row["_offset"].(json.Number).Int64()
			counts[off]++
			if first < 0 {
				first = off
			}
			last = off
		}
		checkColumnPaths(t, path)
		meta := footerMeta(t, path)
		if meta[metaFirstOffset] != strconv.FormatInt(first, 10) || meta[metaLastOffset] != strconv.FormatInt(last, 10) {
			t.Errorf("%s holds offsets %d to %d, its footer says %s to %s", path, first, last, meta[metaFirstOffset], meta[metaLastOffset])
		}
	}
	checkOnce(t, counts, int64(len(evs)))
}

// manyHourMessages returns 600 AgentMessages over ~100 hours; every other
// event of the first half is in one of four hours, so that more files than
// may be open grow big enough to open.
func manyHourMessages() []schemas.Event {
	evs := sampleMessages(600)
	for i := range evs[:300] {
		if i%2 == 0 {
			m := oneHourMessages(1)[0].(*schemas.AgentMessage)
			at := m.OccurredAt.Add(time.Duration(i/2%4) * time.Hour)
			m.OccurredAt = &at
			evs[i] = m
		}
	}
	return evs
}

func footerMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	pf := openParquet(t, path)
	out := map[string]string{}
	for _, kv := range pf.Metadata().KeyValueMetadata {
		out[kv.Key] = kv.Value
	}
	return out
}

// checkColumnPaths checks that every column chunk of the file at path names
// its column: Spark, Athena and parquet-mr look chunks up by that path and
// refuse a file whose chunks lack it (DuckDB and arrow-go go by position).
func checkColumnPaths(t *testing.T, path string) {
	t.Helper()
	pf := openParquet(t, path)
	want := pf.Schema().Columns()
	for i, rg := range pf.Metadata().RowGroups {
		for j, cc := range rg.Columns {
			if j >= len(want) || !slices.Equal(cc.MetaData.PathInSchema, want[j]) {
				t.Fatalf("%s: row group %d, column chunk %d names path %q, want %q", path, i, j, cc.MetaData.PathInSchema, want[min(j, len(want)-1)])
			}
		}
	}
}

// openParquet opens the Parquet file at path for its footer; the file is
// closed when t ends.
func openParquet(t *testing.T, path string) *parquet.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

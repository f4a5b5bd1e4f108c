package warehouse

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testStore is a store and a way to read back what it holds.
type testStore struct {
	Store
	// files copies every finished file into a local directory and returns it.
	files func(t *testing.T) string
}

func localTestStore(t *testing.T) testStore {
	dir := t.TempDir()
	s, err := NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return testStore{Store: s, files: func(*testing.T) string { return dir }}
}

// s3TestStore is an S3Store against gofakes3 on loopback: the same HTTP
// requests as against S3 or MinIO, conditional PUTs included.
func s3TestStore(t *testing.T) testStore {
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return s3TestStoreAt(t, strings.TrimPrefix(srv.URL, "http://"), "warehouse")
}

// s3TestStoreAt is an S3Store under prefix in the bucket "lake" of the S3
// server at endpoint (host:port, plain HTTP).
func s3TestStoreAt(t *testing.T, endpoint, prefix string) testStore {
	t.Helper()
	s, err := NewS3Store(S3Options{
		Endpoint: endpoint, Bucket: "lake", Prefix: prefix,
		Region: "us-east-1", PathStyle: true, SpoolDir: t.TempDir(),
		Credentials: credentials.NewStaticV4("test-key", "test-secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return testStore{Store: s, files: func(t *testing.T) string {
		dir := t.TempDir()
		ctx := context.Background()
		for obj := range s.client.ListObjects(ctx, "lake", minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(obj.Key, prefix+"/")))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := s.client.FGetObject(ctx, "lake", obj.Key, dst, minio.GetObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}}
}

var stores = []struct {
	name string
	make func(*testing.T) testStore
}{{"local", localTestStore}, {"s3", s3TestStore}}

// offsetCounts reads back every file and counts the rows of each offset.
func offsetCounts(t *testing.T, s testStore) map[int64]int {
	t.Helper()
	counts := map[int64]int{}
	for _, row := range arrowRows(t, s.files(t)) {
		off, _ := row["_offset"].(json.Number).Int64()
		counts[off]++
	}
	return counts
}

// checkOnce fails unless offsets [0, n) are each in exactly one row.
func checkOnce(t *testing.T, counts map[int64]int, n int64) {
	t.Helper()
	var missing, twice []int64
	for off := range n {
		switch c := counts[off]; {
		case c == 0:
			missing = append(missing, off)
		case c > 1:
			twice = append(twice, off)
		}
	}
	if len(counts) > int(n) {
		t.Errorf("rows of offsets beyond %d: %v", n, counts)
	}
	if len(missing)+len(twice) > 0 {
		t.Fatalf("not exactly once: missing %v, more than once %v", missing, twice)
	}
}

// fixture is one partition of records and processors that share a group.
type fixture struct {
	k    *kit
	g    *group
	recs []*kgo.Record
}

func newFixture(t *testing.T, s Store, n int) *fixture {
	k := newKit(t)
	g, err := newGroup(Options{Group: "g", Topics: []string{"x"}, Decoder: k.decoder, Schemas: k.source, Store: s,
		FlushRecords: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{k: k, g: g}
	for i, e := range sampleDecisions(n) {
		f.recs = append(f.recs, k.record(t, e, 0, int64(i)))
	}
	return f
}

func (f *fixture) processor(t *testing.T) *driven {
	return testProcessor(t, f.g, f.recs[0].Topic, 0, &deadLetters{})
}

// step processes recs[from:to] and then flushes, expecting the commit.
func (f *fixture) step(t *testing.T, p *driven, from, to int, wantCommit int64) {
	t.Helper()
	ctx := context.Background()
	if from < to {
		if c, err := p.process(ctx, f.recs[from:to]); err != nil || c != -1 {
			t.Fatalf("Process [%d, %d) = %d, %v", from, to, c, err)
		}
	}
	if wantCommit == -2 {
		return // no flush
	}
	c, err := p.flush(ctx)
	if err != nil || c != wantCommit {
		t.Fatalf("Flush after [%d, %d) = %d, %v; want %d", from, to, c, err, wantCommit)
	}
}

// TestCrashBetweenUploadAndCommit: a processor uploads two epochs whose
// commits never reach Kafka, then dies with a third in memory. Its
// successor re-reads from the last commit with different flush points; the
// files afterwards hold every record exactly once.
func TestCrashBetweenUploadAndCommit(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.make(t)
			f := newFixture(t, s, 120)
			a := f.processor(t)
			f.step(t, a, 0, 30, 30) // committed
			f.step(t, a, 30, 70, 70)
			f.step(t, a, 70, 90, 90)
			f.step(t, a, 90, 100, -2)
			a.Close() // crash: commits 70 and 90 lost, 90..99 never flushed

			b := f.processor(t)
			f.step(t, b, 30, 45, -1) // A's files reach offset 89: not before then
			f.step(t, b, 45, 80, -1)
			f.step(t, b, 80, 95, 95)
			f.step(t, b, 95, 120, 120)
			b.Close()
			if got := testutil.ToFloat64(f.g.metrics.skipped); got == 0 {
				t.Error("the successor skipped nothing; the probe did not find the crashed writer's files")
			}
			checkOnce(t, offsetCounts(t, s), 120)
		})
	}
}

// TestRebalanceMidStream covers a partition that moves while its old owner
// still runs (a zombie): whichever of the two publishes a file first, the
// files hold every record, and exactly once when the zombie does not go
// on past its epoch.
func TestRebalanceMidStream(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name+"/zombie publishes first", func(t *testing.T) {
			s := st.make(t)
			f := newFixture(t, s, 90)
			a := f.processor(t)
			f.step(t, a, 0, 20, 20)
			f.step(t, a, 20, 60, 60) // the commit is refused: A was fenced
			b := f.processor(t)
			f.step(t, b, 20, 40, -1) // must reach A's horizon, 59
			f.step(t, b, 40, 90, 90)
			checkOnce(t, offsetCounts(t, s), 90)
		})
		t.Run(st.name+"/zombie publishes after", func(t *testing.T) {
			s := st.make(t)
			f := newFixture(t, s, 90)
			a := f.processor(t)
			f.step(t, a, 0, 20, 20)
			f.step(t, a, 20, 60, -2) // A buffers; the partition moves to B
			b := f.processor(t)
			f.step(t, b, 20, 40, 40)
			f.step(t, b, 40, 90, 90)
			// A flushes late: it may not replace B's files, so nothing is lost.
			_, err := a.flush(context.Background())
			t.Logf("zombie flush: %v", err)
			counts := offsetCounts(t, s)
			for off := range int64(90) {
				if counts[off] == 0 {
					t.Fatalf("offset %d lost (zombie flush error: %v)", off, err)
				}
			}
		})
		t.Run(st.name+"/zombie publishes between probe and upload", func(t *testing.T) {
			s := st.make(t)
			f := newFixture(t, s, 90)
			a := f.processor(t)
			f.step(t, a, 0, 20, 20)
			b := f.processor(t)
			f.step(t, b, 20, 60, -2) // B probed and opened its files
			f.step(t, a, 20, 40, 40) // zombie A publishes names B holds open
			if _, err := b.flush(context.Background()); err == nil {
				t.Fatal("B committed although a zombie's file with fewer records took one of its names")
			}
			b.Close()
			c := f.processor(t) // B stopped without committing: C resumes from 20
			f.step(t, c, 20, 50, -2)
			if _, err := c.flush(context.Background()); err != nil { // 50, or -1 if B's own files reach 59
				t.Fatal(err)
			}
			f.step(t, c, 50, 90, 90)
			checkOnce(t, offsetCounts(t, s), 90)
		})
	}
}

// TestReplayIntoAStoredEpoch: replay moves the group's committed offset to
// a time, an offset or the earliest one retention left, which can be
// inside an epoch an earlier run landed, where files of several hours
// start before it. The next run adds nothing twice and loses nothing,
// whether it starts there, at an epoch's start, or flushes before it has
// passed the stored files.
func TestReplayIntoAStoredEpoch(t *testing.T) {
	for _, st := range stores {
		for _, c := range []struct {
			name string
			from int
			cut  int // b flushes here first, before it passes a's files
		}{
			{"inside an epoch", 30, 70},
			{"inside an epoch, flushing early", 30, 45},
			{"at an epoch's start", 20, 70},
			{"to the first offset", 0, 70},
			{"to an epoch's last offset", 59, 70},
		} {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				s := st.make(t)
				f := newFixture(t, s, 90)
				a := f.processor(t)
				f.step(t, a, 0, 20, 20)
				f.step(t, a, 20, 60, 60)
				a.Close()
				before := offsetCounts(t, s)

				b := f.processor(t)
				want := int64(c.cut)
				if c.cut < 60 {
					want = -1 // a's files reach offset 59
				}
				f.step(t, b, c.from, c.cut, want)
				f.step(t, b, c.cut, 90, 90)
				b.Close()
				counts := offsetCounts(t, s)
				for off := range int64(60) {
					if counts[off] != before[off] {
						t.Errorf("offset %d was in %d rows after the first run and is in %d after the replay", off, before[off], counts[off])
					}
				}
				checkOnce(t, counts, 90)
			})
		}
	}
}

// TestReplayIntoAnEpochMissingASchemasFile: a file of another schema that
// holds the replay's first offsets does not stand in for one of the
// record's own schema that is not there (its writer died publishing the
// epoch): those records are written, and the other schema's are not
// written twice.
func TestReplayIntoAnEpochMissingASchemasFile(t *testing.T) {
	s := localTestStore(t)
	f := newFixture(t, s, 0)
	decisions, messages := fewHourDecisions(), oneHourMessages(20)
	for i := range 40 { // both schemas, all in one hour: 09:00 to 10:00
		e := messages[i/2]
		if i%2 == 0 {
			e = decisions[i/2]
		}
		r := f.k.record(t, e, 0, int64(i))
		r.Topic = "x"
		f.recs = append(f.recs, r)
	}
	a := f.processor(t)
	f.step(t, a, 0, 40, 40)
	a.Close()
	dir := s.files(t)
	var removed string
	for _, path := range parquetFiles(t, dir) {
		if footerMeta(t, path)[metaFirstOffset] == "0" { // the decisions' file
			removed = path
		}
	}
	if err := os.Remove(removed); err != nil {
		t.Fatal(err)
	}

	b := f.processor(t)
	f.step(t, b, 10, 40, 40)
	b.Close()
	counts := offsetCounts(t, s)
	for off := int64(0); off < 10; off += 2 {
		counts[off]++ // the removed file's decisions before where b started
	}
	checkOnce(t, counts, 40)
}

// Dead letters: undecodable values go to the dead-letter topic and the
// offset still advances.
func TestUndecodableRecordsAreDeadLettered(t *testing.T) {
	s := localTestStore(t)
	f := newFixture(t, s, 3)
	dl := &deadLetters{}
	p := testProcessor(t, f.g, f.recs[0].Topic, 0, dl)
	bad := &kgo.Record{Topic: f.recs[0].Topic, Offset: 3, Value: []byte("not avro")}
	bad2 := &kgo.Record{Topic: f.recs[0].Topic, Offset: 4, Value: []byte{0, 0, 0, 0, 1, 0xff}}
	recs := append(append([]*kgo.Record{}, f.recs...), bad, bad2)
	if _, err := p.process(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if c, err := p.flush(context.Background()); err != nil || c != 5 {
		t.Fatalf("Flush = %d, %v; want 5", c, err)
	}
	if len(dl.recs) != 2 {
		t.Fatalf("%d records dead-lettered, want 2", len(dl.recs))
	}
	if dl.reasons[0] != "undecodable" || dl.reasons[1] != "undecodable" {
		t.Errorf("dead-letter reasons %v, want undecodable twice", dl.reasons)
	}
	checkOnce(t, offsetCounts(t, s), 3)
}

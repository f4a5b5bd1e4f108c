package warehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pqfile "github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// kit is a schema registry with hookbridge's schemas and what the
// warehouse needs to decode with it.
type kit struct {
	env     *testkit.Env
	source  SchemaSource
	decoder Decoder
}

func newKit(t testing.TB) *kit {
	t.Helper()
	return newKitOn(t, testkit.Start(t))
}

// newKitOn is newKit on env's Kafka (in-process or real).
func newKitOn(t testing.TB, env *testkit.Env) *kit {
	t.Helper()
	cl, err := connect.SchemaRegistry(env.Config.SchemaRegistry)
	if err != nil {
		t.Fatal(err)
	}
	return &kit{
		env: env,
		source: func(ctx context.Context, id int) (string, error) {
			s, err := cl.SchemaByID(ctx, id)
			return s.Schema, err
		},
		decoder: env.Schemas,
	}
}

func (k *kit) deduped(kind schemas.Kind) string {
	if kind == schemas.KindDecisionMade {
		return k.env.Config.Topics.Deduped(k.env.Config.Topics.Pique())
	}
	return k.env.Config.Topics.Deduped(k.env.Config.Topics.ProductAgents())
}

// record is e as the receiver writes it, as a record of e's deduped topic
// at partition p, offset off, with a record time that moves with off.
func (k *kit) record(t testing.TB, e schemas.Event, p int32, off int64) *kgo.Record {
	t.Helper()
	r := k.env.Record(t, k.deduped(e.Kind()), e)
	r.Partition, r.Offset = p, off
	r.Timestamp = time.UnixMilli(1_700_000_000_000 + off).UTC()
	return r
}

// sampleDecisions returns n DecisionMade events spread over three hours,
// with every optional field alternately set and null.
func sampleDecisions(n int) []schemas.Event {
	base := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	out := make([]schemas.Event, n)
	for i := range n {
		e := &schemas.DecisionMade{
			EventID:    fmt.Sprintf("dec_%04d", i),
			EventType:  "decision.made",
			ReceivedAt: base.Add(time.Duration(i) * time.Minute).Add(time.Second),
			RawJSON:    fmt.Sprintf(`{"id":"dec_%04d","note":"Grüße <b>%d</b>"}`, i, i),
		}
		if i%2 == 0 {
			e.OccurredAt = new(base.Add(time.Duration(i*67) * time.Minute))
			e.SvixID = new(fmt.Sprintf("msg_%d", i))
			e.Decision = schemas.Decision{ID: new(e.EventID), Action: new("cart_abandonment"), Reason: new("<p>left a cart — 🛒</p>"), LLMReasoning: new("Der Kunde zögerte.")}
			e.Session = schemas.Session{VisitorID: new(fmt.Sprintf("v%d", i%7)), Email: new("ada@example.com"),
				EventCount: new(int64(i)), DurationSeconds: new(float64(i) / 3), ProductsViewed: new(int64(2)),
				CartItems: []string{"sku-1", "sku-ü"}}
		}
		out[i] = e
	}
	return out
}

// sampleMessages returns AgentMessages with nested products, images that
// are there or not, HTML and non-ASCII text, and empty product lists.
func sampleMessages(n int) []schemas.Event {
	base := time.Date(2025, 3, 14, 23, 30, 0, 0, time.UTC)
	out := make([]schemas.Event, n)
	for i := range n {
		e := &schemas.AgentMessage{
			EventID:    fmt.Sprintf("evt_%04d", i),
			ReceivedAt: base.Add(time.Duration(i) * 10 * time.Minute),
			RawJSON:    fmt.Sprintf(`{"event":{"id":"evt_%04d"}}`, i),
		}
		if i%3 != 2 {
			e.MessageType = new("abandoned_cart")
			e.OccurredAt = new(base.Add(time.Duration(i) * 7 * time.Minute))
			e.Customer = schemas.Customer{ID: new(fmt.Sprintf("c%d", i)), Email: new("zoë@example.com")}
			e.Content = schemas.Content{Subject: new("Still thinking? 😊"), Body: new(`<div class="x">Hello &amp; "welcome"</div>`), Headline: new("日本語の見出し")}
			e.PrimaryProducts = []schemas.Product{
				{Title: new("Mug"), Price: new(12.5), OldPrice: new(15.0), Currency: new("EUR"), OnSale: new(true),
					Image: &schemas.Image{URL: new("https://img/1.png"), ScalableURL: new("https://img/1_{w}.png")}},
				{Title: new("Tee <i>cotton</i>"), Description: new("weiß"), OnSale: new(false)},
			}
			if i%3 == 1 {
				e.OtherProducts = []schemas.Product{{URL: new("https://shop/p/9")}}
			}
		}
		out[i] = e
	}
	return out
}

// arrowRows reads every .parquet file under dir with arrow-go's reader
// (not parquet-go, which wrote them) and returns the rows as JSON objects.
func arrowRows(t testing.TB, dir string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, path := range parquetFiles(t, dir) {
		rows = append(rows, arrowFileRows(t, path)...)
	}
	return rows
}

func arrowFileRows(t testing.TB, path string) []map[string]any {
	t.Helper()
	pf, err := pqfile.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("arrow-go cannot open %s: %v", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow-go cannot read %s: %v", path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow-go cannot read %s: %v", path, err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	var rows []map[string]any
	for tr.Next() {
		var buf bytes.Buffer
		if err := array.RecordToJSON(tr.RecordBatch(), &buf); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(&buf)
		dec.UseNumber()
		for dec.More() {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, m)
		}
	}
	return rows
}

// parquetFiles lists the finished files under dir, relative paths sorted.
func parquetFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, Suffix) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// deadLetters collects what a processor sends to the dead-letter topic.
type deadLetters struct {
	mu      sync.Mutex
	recs    []*kgo.Record
	reasons []string
}

func (d *deadLetters) send(_ context.Context, r *kgo.Record, reason string, _ error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recs = append(d.recs, r)
	d.reasons = append(d.reasons, reason)
	return nil
}

// driven is a processor a test hands records to as the runner's worker
// does, with the worker's commit rule: process and flush return the offset
// the runner would commit now, or -1 when it would not move.
type driven struct {
	*processor
	first, next, committed int64
}

func (d *driven) process(ctx context.Context, recs []*kgo.Record) (int64, error) {
	if d.first < 0 {
		d.first = recs[0].Offset
	}
	if err := d.Process(ctx, recs); err != nil {
		return -1, err
	}
	d.next = recs[len(recs)-1].Offset + 1
	return d.commit(), nil
}

func (d *driven) flush(ctx context.Context) (int64, error) {
	if err := d.Flush(ctx); err != nil {
		return -1, err
	}
	return d.commit(), nil
}

func (d *driven) commit() int64 {
	at := d.next
	if off, ok := d.Pending(); ok {
		at = min(at, off)
	}
	if d.first < 0 || at <= d.first || at <= d.committed {
		return -1
	}
	d.committed = at
	return at
}

func testProcessor(t testing.TB, g *group, topic string, p int32, dl *deadLetters) *driven {
	t.Helper()
	pc := consumers.PartitionContext{Group: "test", Topic: topic, Partition: p, Logger: testkit.NewLogBuffer(t).Logger()}
	if dl != nil {
		pc.DeadLetter = dl.send
	}
	return &driven{processor: newProcessor(g, pc), first: -1, next: -1, committed: -1}
}

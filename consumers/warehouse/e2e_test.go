package warehouse

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// TestTimeFlushWritesQuietPartition runs the group through the real runner
// on an in-process Kafka: three records, far below every size limit, land
// as a file once the flush interval passes, and the offsets are committed.
func TestTimeFlushWritesQuietPartition(t *testing.T) {
	k := newKit(t)
	s := localTestStore(t)
	topic := k.deduped(schemas.KindDecisionMade)
	prod := k.env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, e := range sampleDecisions(3) {
		r := k.record(t, e, 1, 0)
		r.Offset, r.Timestamp = 0, time.Time{}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing record %d: %v", i, err)
		}
	}
	g, err := New(Options{Group: "wh-test", Topics: []string{topic}, Decoder: k.decoder, Schemas: k.source, Store: s,
		FlushInterval: 100 * time.Millisecond, FlushRecords: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	opts := k.env.ConsumerOptions(t)
	logs := testkit.NewLogBuffer(t)
	opts.StartFrom, opts.Logger = consumers.StartEarliest, logs.Logger()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- consumers.Run(runCtx, opts, g) }()
	// Wait for the commit, which comes only after the file is durable.
	testkit.Eventually(t, 30*time.Second, "offset 3 of partition 1 is committed", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the runner stopped: %v", err)
		default:
		}
		return k.env.Committed(t, "wh-test")[topic][1] == 3
	})
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	checkOnce(t, offsetCounts(t, s), 3)
	flushed := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "msg=flushed") {
			continue
		}
		flushed++
		if n := strings.Count(line, " topic="); n != 1 || strings.Count(line, " partition=") != 1 {
			t.Errorf("the flushed line names the topic %d times, want once: %s", n, line)
		}
	}
	if flushed == 0 {
		t.Errorf("no flushed line was logged:\n%s", logs.String())
	}
}

// TestSchemaChangeStartsNewFile: a record written with a newer schema id
// goes to a file of its own, whose columns include the new field, even in
// the same hour as records of the older id.
func TestSchemaChangeStartsNewFile(t *testing.T) {
	k := newKit(t)
	s := localTestStore(t)
	ctx := context.Background()
	topic := k.deduped(schemas.KindDecisionMade)
	encode := evolvedDecisionSchema(t, k)
	evs := sampleDecisions(2)
	evs[1].(*schemas.DecisionMade).OccurredAt = evs[0].(*schemas.DecisionMade).OccurredAt
	old := k.record(t, evs[0], 0, 0)
	native := evs[1].Native()
	native["channel"] = goavro.Union("string", "email")
	newer := k.record(t, evs[1], 0, 1)
	newer.Value = encode(native)

	g, err := newGroup(Options{Group: "g", Topics: []string{topic}, Decoder: k.decoder, Schemas: k.source, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	p := testProcessor(t, g, topic, 0, nil)
	if _, err := p.process(ctx, []*kgo.Record{old, newer}); err != nil {
		t.Fatal(err)
	}
	if c, err := p.flush(ctx); err != nil || c != 2 {
		t.Fatalf("Flush = %d, %v", c, err)
	}
	files := parquetFiles(t, s.files(t))
	if len(files) != 2 {
		t.Fatalf("%d files, want 2 (one per schema id): %v", len(files), files)
	}
	rows := arrowFileRows(t, files[1])
	if len(rows) != 1 || rows[0]["channel"] != "email" {
		t.Fatalf("the newer schema's file holds %v, want one row with channel=email", rows)
	}
	if _, ok := arrowFileRows(t, files[0])[0]["channel"]; ok {
		t.Fatal("the older schema's file has the newer schema's column")
	}
}

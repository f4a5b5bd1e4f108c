package dedupe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// stream returns n distinct events over both raw topics with duplicates
// of earlier ids (from this stream or from prior) injected at random
// positions, and the ids it holds.
type streamGen struct {
	rng  *rand.Rand
	ids  []*kgo.Record // one record per distinct id, for duplicating
	next int
	at   time.Time
}

func newStreamGen(seed uint64) *streamGen {
	return &streamGen{rng: rand.New(rand.NewPCG(seed, seed)), at: base}
}

func (g *streamGen) batch(t testing.TB, env *testkit.Env, n int, dupRate float64) []*kgo.Record {
	var out []*kgo.Record
	for range n {
		g.at = g.at.Add(time.Second)
		if len(g.ids) > 0 && g.rng.Float64() < dupRate {
			orig := g.ids[g.rng.IntN(len(g.ids))]
			// A retry arrives later with the same body. (A fresh record:
			// a produced one carries franz-go's internal state.)
			out = append(out, &kgo.Record{Topic: orig.Topic, Key: orig.Key, Value: orig.Value,
				Headers: orig.Headers, Timestamp: g.at})
			continue
		}
		topic := env.Config.Topics.Raw()[g.rng.IntN(2)]
		r := event(t, env, topic, fmt.Sprintf("ev-%04d", g.next), g.at)
		g.next++
		g.ids = append(g.ids, r)
		out = append(out, r)
	}
	return out
}

func (g *streamGen) want() map[string]bool {
	w := make(map[string]bool, len(g.ids))
	for _, r := range g.ids {
		w[schemas.Header(r, HeaderEventID)] = true
	}
	return w
}

func TestDedupeEmitsEachIDOnceAcrossRestarts(t *testing.T) {
	env := testkit.Start(t)
	g := newStreamGen(1)
	c := testConfig(env, "dedupe-restarts")

	env.Produce(t, g.batch(t, env, 300, 0.3)...)
	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// After the restart the seen ids come back from the changelog: the
	// duplicates of the first run's ids must still be dropped.
	env.Produce(t, g.batch(t, env, 300, 0.4)...)
	stop = start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, g.want(), outputIDs(t, env))
}

func TestDedupeCrashMidTransactionNeitherDuplicatesNorLoses(t *testing.T) {
	env := testkit.Start(t)
	g := newStreamGen(2)
	c := testConfig(env, "dedupe-crash")

	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The next transaction is flushed to the broker and then the
	// instance dies before ending it: its outputs and changelog entries
	// sit in the log uncommitted.
	env.Produce(t, g.batch(t, env, 200, 0.4)...)
	crashed := make(chan struct{})
	crashing := c
	crashing.beforeEnd = func() error {
		close(crashed)
		return errCrash
	}
	stop = start(t, env, crashing)
	select {
	case <-crashed:
	case <-time.After(30 * time.Second):
		t.Fatal("the crashing instance never reached the end of a transaction")
	}
	if err := stop(); !errors.Is(err, errCrash) {
		t.Fatalf("Run returned %v, want the simulated crash", err)
	}

	// The restart (same transactional id, as a restarted pod) fences the
	// dead producer, whose open transaction is aborted.
	stop = start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, g.want(), outputIDs(t, env))
}

func TestDedupeTwoInstancesMemberLeavesAndJoinsMidStream(t *testing.T) {
	env := testkit.Start(t)
	g := newStreamGen(3)
	ca, cb := testConfig(env, "dedupe-a"), testConfig(env, "dedupe-b")

	stopA := start(t, env, ca)
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	stopB := start(t, env, cb)
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	waitCaughtUp(t, env, ca.Group)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	stopA = start(t, env, ca)
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	waitCaughtUp(t, env, ca.Group)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, g.want(), outputIDs(t, env))
}

func TestDedupeEmitsAnIDAgainOnceItLeftTheWindow(t *testing.T) {
	env := testkit.Start(t)
	c := testConfig(env, "dedupe-window")
	c.Window = time.Hour
	topic := env.Config.Topics.ProductAgents()
	env.Produce(t,
		event(t, env, topic, "x", base),
		event(t, env, topic, "x", base.Add(59*time.Minute)), // within the window: dropped
		event(t, env, topic, "x", base.Add(61*time.Minute)), // past it: emitted again
		event(t, env, topic, "x", base.Add(62*time.Minute)), // within the new window: dropped
	)
	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// After a restart the restored state judges by the same clock.
	env.Produce(t,
		event(t, env, topic, "x", base.Add(90*time.Minute)),  // within 1h of 61m: dropped
		event(t, env, topic, "x", base.Add(125*time.Minute)), // past it: emitted
	)
	stop = start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for _, r := range env.ReadAll(t, env.Config.Topics.Deduped(topic)) {
		at = append(at, r.Timestamp.Sub(base))
	}
	want := []time.Duration{0, 61 * time.Minute, 125 * time.Minute}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Fatalf("x emitted at %v after base, want %v", at, want)
	}
}

func TestDedupeDeadLettersRecordsWithoutADecodableID(t *testing.T) {
	env := testkit.Start(t)
	c := testConfig(env, "dedupe-dl")
	topic := env.Config.Topics.Pique()
	good := event(t, env, topic, "good", base)
	noHeader := event(t, env, topic, "from-value", base)
	noHeader.Headers = nil
	garbage := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("{not avro"), Timestamp: base,
		Headers: []kgo.RecordHeader{{Key: HeaderEventID, Value: []byte("g1")}}}
	badAvro := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte{0, 0, 0, 0, 99, 1, 2}, Timestamp: base}
	env.Produce(t, good, noHeader, garbage, badAvro)

	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := env.ReadAll(t, env.Config.Topics.Deduped(topic))
	if len(out) != 2 {
		t.Fatalf("deduped topic holds %d records, want 2 (the good one and the one whose id came from its value)", len(out))
	}
	dls := env.ReadAll(t, env.Config.Topics.DeadLetter())
	if len(dls) != 2 {
		t.Fatalf("dead-letter topic holds %d records, want 2", len(dls))
	}
	for _, dl := range dls {
		for _, h := range []string{consumers.HeaderError, consumers.HeaderFailedAt, consumers.HeaderConsumerGroup,
			consumers.HeaderOriginalTopic, consumers.HeaderOriginalPartition, consumers.HeaderOriginalOffset} {
			if schemas.Header(dl, h) == "" {
				t.Errorf("dead letter %q lacks header %s", dl.Value, h)
			}
		}
		if got := schemas.Header(dl, consumers.HeaderErrorKind); got != kindUndecodable {
			t.Errorf("dead letter %q has error-kind %q, want %s", dl.Value, got, kindUndecodable)
		}
		if schemas.Header(dl, consumers.HeaderConsumerGroup) != c.Group || schemas.Header(dl, consumers.HeaderOriginalTopic) != topic {
			t.Errorf("dead letter headers %v name the wrong group or topic", dl.Headers)
		}
	}
}

// An aborted transaction emitted nothing, so its changelog entries must
// not count as seen when a partition's state is restored (the changelog is
// read read_committed): otherwise the id's only real copy would be dropped
// as a duplicate and never reach the deduped topic.
func TestDedupeRestoreIgnoresAbortedChangelogEntries(t *testing.T) {
	env := testkit.Start(t)
	c := testConfig(env, "dedupe-restore-aborted")
	topic := env.Config.Topics.Pique()
	changelog := c.Changelog(topic)

	// A transaction that wrote the changelog entries of "aborted-once"
	// (for every partition: wherever its record lands) and then aborted.
	tx := env.Client(t, kgo.TransactionalID("dedupe-aborted-writer"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := t.Context()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range int32(testkit.Partitions) {
		if err := tx.ProduceSync(ctx, changelogRecord(changelog, p, hashID("aborted-once"), base.UnixMilli())).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	// The entries are in the log, only their transaction says they never
	// happened.
	if n := len(testkit.ReadCommitted(t, env.Config.Kafka.Brokers, changelog)); n != 0 {
		t.Fatalf("a read_committed reader sees %d entries of the aborted transaction", n)
	}

	env.Produce(t, event(t, env, topic, "aborted-once", base.Add(time.Minute)))
	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := outputIDs(t, env)["aborted-once"]; got != 1 {
		t.Fatalf("aborted-once emitted %d times, want 1: the aborted changelog entries counted as seen", got)
	}
}

// The receiver writes records of up to receiver.max_record_bytes, which is
// more than franz-go's default batch bound: dedupe must copy them, not
// stop the group on MESSAGE_TOO_LARGE.
func TestDedupeCopiesTheLargestRecordTheReceiverWrites(t *testing.T) {
	env := testkit.Start(t)
	c := testConfig(env, "dedupe-large")
	topic := env.Config.Topics.ProductAgents()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := &schemas.AgentMessage{EventID: "big", ReceivedAt: base, Customer: schemas.Customer{ID: new("k-big")},
		RawJSON: strings.Repeat("x", int(env.Config.Receiver.MaxRecordBytes)-64<<10)}
	big := env.Record(t, topic, ev)
	prod := env.Client(t, kgo.ProducerBatchMaxBytes(int32(env.Config.Topics.MaxMessageBytes)))
	if err := prod.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatalf("producing a %d-byte record: %v", len(big.Value), err)
	}

	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatalf("dedupe stopped on a record the receiver accepts: %v", err)
	}
	if out := env.ReadAll(t, env.Config.Topics.Deduped(topic)); len(out) != 1 || len(out[0].Value) != len(big.Value) {
		t.Fatalf("deduped topic holds %d records, want the one %d-byte record", len(out), len(big.Value))
	}
}

// A record written without the event-id header needs the registry to read
// its id: while the registry is down that is the registry's fault, not the
// record's, so dedupe waits and then deduplicates it, dead-lettering
// nothing.
func TestDedupeWaitsOutTheRegistryForAHeaderlessRecord(t *testing.T) {
	env := testkit.Start(t)
	rr := env.RefusingRegistry(t, http.StatusServiceUnavailable, `{"error_code":50301,"message":"down"}`)
	c := testConfig(env, "dedupe-registry-down")
	c.Schemas = rr.Registry
	topic := env.Config.Topics.Pique()
	noHeader := event(t, env, topic, "needs-the-registry", base)
	noHeader.Headers = nil
	env.Produce(t, noHeader)
	logs := testkit.NewLogBuffer(t)
	opts := testOptions(t, env)
	opts.Logger = logs.Logger()
	stop := testkit.Background("dedupe Run", func(ctx context.Context) error { return Run(ctx, opts, c) })
	testkit.Eventually(t, 20*time.Second, "dedupe retries the registry", func() bool {
		return rr.Refused.Load() >= 2 && strings.Contains(logs.String(), "reading an event id through the schema registry")
	})
	rr.Refuse.Store(false)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out := env.ReadAll(t, env.Config.Topics.Deduped(topic)); len(out) != 1 || !bytes.Equal(out[0].Value, noHeader.Value) {
		t.Errorf("deduped topic holds %d records, want the one", len(out))
	}
	if dls := env.ReadAll(t, env.Config.Topics.DeadLetter()); len(dls) != 0 {
		t.Errorf("%d dead letters, want none: the registry was down, the record is fine", len(dls))
	}
}

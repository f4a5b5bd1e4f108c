package consumers_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// recorder is a Processor shared by every partition of a test: it notes
// each record it processes and commits right away.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int // value → times processed
	// owner is the member whose processor holds each partition; overlaps
	// notes every time a processor started while another member's
	// processor of that partition was still open.
	owner    map[int32]string
	overlaps []string
}

func newRecorder() *recorder {
	return &recorder{seen: make(map[string]int), owner: make(map[int32]string)}
}

func (r *recorder) claim(member string, p int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := r.owner[p]; ok && o != member {
		r.overlaps = append(r.overlaps, fmt.Sprintf("partition %d assigned to %s while %s still held it", p, member, o))
	}
	r.owner[p] = member
}

func (r *recorder) release(member string, p int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner[p] == member {
		delete(r.owner, p)
	}
}

// owns returns how many partitions each member holds.
func (r *recorder) owns() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int)
	for _, m := range r.owner {
		out[m]++
	}
	return out
}

func (r *recorder) count(value string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[value]
}

// waitFor waits until every value was processed at least once.
func (r *recorder) waitFor(t *testing.T, values []string) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("all %d records from %s are processed", len(values), values[0]), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, v := range values {
			if r.seen[v] == 0 {
				return false
			}
		}
		return true
	})
}

type recProc struct {
	r      *recorder
	pc     consumers.PartitionContext
	member string
}

func (p *recProc) Process(ctx context.Context, recs []*kgo.Record) error {
	for _, rec := range recs {
		switch string(rec.Value) {
		case "poison":
			if err := p.pc.DeadLetter(ctx, rec, "poison", errors.New("poison: cannot be processed")); err != nil {
				return err
			}
		case "fatal":
			return errors.New("fatal record")
		}
		p.r.mu.Lock()
		p.r.seen[string(rec.Value)]++
		p.r.mu.Unlock()
	}
	return nil
}

func (p *recProc) Flush(context.Context) error { return nil }
func (p *recProc) Pending() (int64, bool)      { return 0, false }
func (p *recProc) Close()                      { p.r.release(p.member, p.pc.Partition) }

func group(env *testkit.Env, r *recorder, name string) consumers.Group {
	return groupAs(env, r, name, "")
}

// groupAs is group for one named member of it.
func groupAs(env *testkit.Env, r *recorder, name, member string) consumers.Group {
	return consumers.Group{
		Name:   name,
		Topics: []string{env.Config.Topics.Pique()},
		NewProcessor: func(pc consumers.PartitionContext) (consumers.Processor, error) {
			r.claim(member, pc.Partition)
			return &recProc{r: r, pc: pc, member: member}, nil
		},
		FlushInterval: 50 * time.Millisecond,
	}
}

func options(t *testing.T, env *testkit.Env) consumers.Options {
	t.Helper()
	return env.ConsumerOptions(t)
}

// produce writes values round-robin over the partitions of topic.
func produce(t *testing.T, env *testkit.Env, topic string, values ...string) {
	t.Helper()
	cl := env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, v := range values {
		rec := &kgo.Record{Topic: topic, Partition: int32(i % testkit.Partitions), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// start runs g in the background; stop cancels it and returns Run's error.
func start(opts consumers.Options, g consumers.Group) (stop func() error) {
	return testkit.Background("Run", func(ctx context.Context) error { return consumers.Run(ctx, opts, g) })
}

func committed(t *testing.T, env *testkit.Env, groupName string) map[int32]int64 {
	t.Helper()
	return env.Committed(t, groupName)[env.Config.Topics.Pique()]
}

func TestRunProcessesCommitsOnShutdownAndResumes(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	topic := env.Config.Topics.Pique()
	first := values("a", 30)
	produce(t, env, topic, first...)

	stop := start(options(t, env), group(env, r, "g1"))
	r.waitFor(t, first)
	if err := stop(); err != nil {
		t.Fatalf("Run after shutdown: %v", err)
	}
	got := committed(t, env, "g1")
	for p := int32(0); p < testkit.Partitions; p++ {
		if got[p] != 10 {
			t.Fatalf("partition %d committed at %d after a graceful shutdown, want 10 (all): %v", p, got[p], got)
		}
	}

	second := values("b", 12)
	produce(t, env, topic, second...)
	stop = start(options(t, env), group(env, r, "g1"))
	r.waitFor(t, second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, v := range append(first, second...) {
		if n := r.count(v); n != 1 {
			t.Errorf("%s processed %d times across a clean restart, want 1", v, n)
		}
	}
}

func TestRunDeadLettersPoisonRecords(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	topic := env.Config.Topics.Pique()
	produce(t, env, topic, "x0", "poison", "x2", "x3")

	stop := start(options(t, env), group(env, r, "g-dl"))
	r.waitFor(t, []string{"x0", "poison", "x2", "x3"})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dls := env.ReadAll(t, env.Config.Topics.DeadLetter())
	if len(dls) != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", len(dls))
	}
	dl := dls[0]
	want := map[string]string{
		consumers.HeaderError:             "poison: cannot be processed",
		consumers.HeaderErrorKind:         "poison",
		consumers.HeaderConsumerGroup:     "g-dl",
		consumers.HeaderOriginalTopic:     topic,
		consumers.HeaderOriginalPartition: "1",
		consumers.HeaderOriginalOffset:    "0",
	}
	for k, v := range want {
		if got := schemas.Header(dl, k); got != v {
			t.Errorf("dead letter header %s = %q, want %q", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, schemas.Header(dl, consumers.HeaderFailedAt)); err != nil {
		t.Errorf("failed-at header: %v", err)
	}
	if string(dl.Value) != "poison" {
		t.Errorf("dead letter value %q, want the original", dl.Value)
	}
}

func TestRunStopsOnProcessorErrorWithoutCommittingPastIt(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	topic := env.Config.Topics.Pique()
	// Partition 0 gets y0, fatal; partitions 1 and 2 get y1 and y2.
	produce(t, env, topic, "y0", "y1", "y2", "fatal")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := consumers.Run(ctx, options(t, env), group(env, r, "g-err"))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run returned %v (ctx %v), want the processor's error", err, ctx.Err())
	}
	if want := "fatal record"; !strings.Contains(err.Error(), want) {
		t.Fatalf("Run returned %v, want it to wrap %q", err, want)
	}
	if got := committed(t, env, "g-err")[0]; got > 1 {
		t.Fatalf("partition 0 committed at %d, past the record that failed (offset 1)", got)
	}
}

func TestRunHandsPartitionsOverWhenAMemberJoinsAndLeaves(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	topic := env.Config.Topics.Pique()
	opts := options(t, env)
	// No periodic commits: what a member hands over is committed by the
	// revoke alone, so a revoke that does not commit shows as records
	// processed twice.
	opts.CommitInterval = time.Hour

	stopA := start(opts, groupAs(env, r, "g-two", "A"))
	batch1 := values("c", 30)
	produce(t, env, topic, batch1...)
	r.waitFor(t, batch1)

	// B joins: A hands some partitions over and keeps the others.
	stopB := start(opts, groupAs(env, r, "g-two", "B"))
	testkit.Eventually(t, 30*time.Second, "A and B each own partitions", func() bool {
		o := r.owns()
		return o["A"] > 0 && o["B"] > 0 && o["A"]+o["B"] == testkit.Partitions
	})
	batch2 := values("d", 30)
	produce(t, env, topic, batch2...)
	r.waitFor(t, batch2)

	// A leaves: B takes everything.
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "B owns every partition", func() bool {
		return r.owns()["B"] == testkit.Partitions
	})
	batch3 := values("e", 30)
	produce(t, env, topic, batch3...)
	r.waitFor(t, batch3)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	// Revokes flush and commit before the partitions move, so clean
	// handovers process nothing twice, and no partition ever has two
	// owners.
	for _, v := range append(append(batch1, batch2...), batch3...) {
		if n := r.count(v); n != 1 {
			t.Errorf("%s processed %d times, want exactly 1 with clean handovers", v, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.overlaps {
		t.Errorf("two owners at once: %s", o)
	}
}

func TestStartOffset(t *testing.T) {
	for _, s := range []string{"", "committed", "earliest", "latest", "2024-05-01T00:00:00Z"} {
		if _, err := consumers.StartOffset(s); err != nil {
			t.Errorf("StartOffset(%q): %v", s, err)
		}
	}
	if _, err := consumers.StartOffset("yesterday"); err == nil {
		t.Error(`StartOffset("yesterday") succeeded, want an error`)
	}
}

// A caught-up partition of a transactional topic (the .deduped topics
// dedupe writes) has lag 0: the commit marker after the last record is no
// record to read, and the end a read_committed reader can reach is the last
// stable offset.
func TestRunLagIsZeroWhenCaughtUpOnATransactionalTopic(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	topic := env.Config.Topics.Deduped(env.Config.Topics.Pique())
	tx := env.Client(t, kgo.TransactionalID("lag-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := values("t", 4)
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range want {
		if err := tx.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	opts := options(t, env)
	opts.Metrics = reg
	g := group(env, r, "g-lag")
	g.Topics = []string{topic}
	stop := start(opts, g)
	defer stop()
	r.waitFor(t, want)
	lag := func() (float64, bool) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "hookbridge_consumer_lag_records" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "partition" && l.GetValue() == "0" {
						return m.GetGauge().GetValue(), true
					}
				}
			}
		}
		return 0, false
	}
	testkit.Eventually(t, 10*time.Second, "the lag of partition 0 is reported", func() bool { _, ok := lag(); return ok })
	testkit.Eventually(t, 10*time.Second, "the lag of the caught-up partition 0 reads 0", func() bool { v, _ := lag(); return v == 0 })
	// The commit passes the marker too, so tools that compute lag from the
	// committed offset (kadm, kafka-consumer-groups) read 0 as well.
	testkit.Eventually(t, 10*time.Second, "partition 0 is committed past the commit marker (offset 5)", func() bool {
		return env.Committed(t, "g-lag")[topic][0] == int64(len(want))+1
	})
	if n := r.count("t0"); n != 1 {
		t.Errorf("t0 processed %d times, want 1", n)
	}
}

// A dead letter that cannot be written leaves its record not done: the
// group stops with an error naming the dead-letter topic, and the poison
// record's offset is not committed, so nothing is skipped.
func TestRunStopsWhenADeadLetterCannotBeWritten(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	topic := env.Config.Topics.Pique()
	// Partition 0 gets z0 and z3, partition 1 the poison record, 2 gets z2.
	produce(t, env, topic, "z0", "poison", "z2", "z3")

	opts := options(t, env)
	opts.DeadLetterTopic = "hookbridge.no-such-topic"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := consumers.Run(ctx, opts, group(env, r, "g-dl-down"))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run returned %v (ctx %v), want the dead letter's error", err, ctx.Err())
	}
	if !strings.Contains(err.Error(), "hookbridge.no-such-topic") {
		t.Errorf("Run returned %v, want it to name the dead-letter topic", err)
	}
	if got, ok := env.Committed(t, "g-dl-down")[topic][1]; ok && got > 0 {
		t.Fatalf("partition 1 committed at %d past a poison record whose dead letter was never written", got)
	}
	if n := r.count("poison"); n != 0 {
		t.Errorf("the poison record counted as processed %d times though its dead letter failed", n)
	}
}

// holdProc holds every record whose value starts with "hold" until Flush,
// and says so through Pending.
type holdProc struct {
	held []int64
}

func (p *holdProc) Process(_ context.Context, recs []*kgo.Record) error {
	for _, r := range recs {
		if strings.HasPrefix(string(r.Value), "hold") {
			p.held = append(p.held, r.Offset)
		}
	}
	return nil
}

func (p *holdProc) Flush(context.Context) error { p.held = nil; return nil }
func (p *holdProc) Close()                      {}
func (p *holdProc) Pending() (int64, bool) {
	if len(p.held) == 0 {
		return 0, false
	}
	return p.held[0], true
}

// The runner commits up to the oldest record a processor still holds, not
// past it, and everything once the final flush released it.
func TestRunCommitsNothingAProcessorStillHolds(t *testing.T) {
	env := testkit.Start(t)
	topic := env.Config.Topics.Pique()
	// Round robin: partition 0 gets p0, hold3, p6; 1 and 2 get the rest.
	produce(t, env, topic, "p0", "p1", "p2", "hold3", "p4", "p5", "p6", "p7", "p8")
	g := consumers.Group{Name: "g-hold", Topics: []string{topic},
		NewProcessor: func(consumers.PartitionContext) (consumers.Processor, error) { return &holdProc{}, nil }}
	stop := start(options(t, env), g)
	testkit.Eventually(t, 20*time.Second, "partitions 1 and 2 are committed to their ends", func() bool {
		c := committed(t, env, "g-hold")
		return c[1] == 3 && c[2] == 3
	})
	// Partition 0 holds offset 1 (hold3): nothing from there on may be
	// committed, though offset 0 may.
	if got, ok := committed(t, env, "g-hold")[0]; ok && got > 1 {
		t.Errorf("partition 0 committed at %d past offset 1, which its processor still holds", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, env, "g-hold")[0]; got != 3 {
		t.Errorf("partition 0 committed at %d after the final flush, want 3", got)
	}
}

// With GroupProtocol consumer the group runs KIP-848's protocol (the broker
// assigns), processes everything and commits it on shutdown.
func TestRunUnderTheConsumerGroupProtocol(t *testing.T) {
	env := testkit.Start(t)
	r := newRecorder()
	vs := values("k", 30)
	produce(t, env, env.Config.Topics.Pique(), vs...)
	opts := options(t, env)
	opts.GroupProtocol = consumers.ProtocolConsumer
	stop := start(opts, group(env, r, "kip848"))
	r.waitFor(t, vs)
	adm := kadm.NewClient(env.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	described, err := adm.DescribeConsumerGroups(ctx, "kip848")
	if err != nil {
		t.Fatal(err)
	}
	if g := described["kip848"]; g.Err != nil || len(g.Members) != 1 {
		t.Errorf("ConsumerGroupDescribe of the running group: err %v, %d members; want one member of a KIP-848 group", g.Err, len(g.Members))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := committed(t, env, "kip848")
	for p := int32(0); p < testkit.Partitions; p++ {
		if got[p] != 10 {
			t.Errorf("partition %d committed at %d, want 10: %v", p, got[p], got)
		}
	}
}

package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
)

func addPartitions(t *testing.T, env *testkit.Env, n int, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := kadm.NewClient(env.Client(t)).CreatePartitions(ctx, n, names...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("adding %d partitions to %v: %v", n, names, err)
	}
}

// A raw topic given partitions its changelog lacks must stop dedupe before
// it consumes: the ids of those partitions would be stored where a restore
// stops looking once the changelog grows, and their copies emitted again.
func TestDedupeRefusesARawTopicWithMorePartitionsThanItsChangelog(t *testing.T) {
	env := testkit.Start(t)
	raw := env.Config.Topics.Pique()
	addPartitions(t, env, 2, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, testOptions(t, env), testConfig(env, "dedupe-refuses"))
	if !errors.Is(err, errLayout) {
		t.Fatalf("Run = %v, want the partition-count error", err)
	}
	for _, want := range []string{raw + " has 5 partitions", topics.DedupeChangelog(raw) + " has 3",
		env.Config.Topics.Deduped(raw) + " has 3", "--partitions 5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if committed := env.Committed(t, "dedupe-test"); len(committed) != 0 {
		t.Errorf("refused dedupe committed offsets: %v", committed)
	}
}

// Once the changelog and deduped topics got the raw topic's new partitions,
// ids of those partitions are remembered across a restart and written to
// the same partition number.
func TestDedupeDeduplicatesPartitionsAddedToAllItsTopics(t *testing.T) {
	env := testkit.Start(t)
	raw := env.Config.Topics.Pique()
	addPartitions(t, env, 2, raw, topics.DedupeChangelog(raw), env.Config.Topics.Deduped(raw))
	cl := env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	want := map[string]bool{}
	for i := range 10 {
		id := fmt.Sprintf("ev-%d", i)
		r := event(t, env, raw, id, base.Add(time.Duration(i)*time.Second))
		r.Partition = int32(testkit.Partitions + i%2) // only the added partitions
		recs = append(recs, r)
		want[id] = true
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := testConfig(env, "dedupe-added-partitions")
	stop := start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var dups []*kgo.Record
	for _, r := range recs {
		dups = append(dups, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value,
			Headers: r.Headers, Timestamp: r.Timestamp.Add(time.Minute)})
	}
	if err := cl.ProduceSync(ctx, dups...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stop = start(t, env, c)
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, want, outputIDs(t, env))
	for _, r := range env.ReadAll(t, env.Config.Topics.Deduped(raw)) {
		if r.Partition < testkit.Partitions {
			t.Errorf("output of an added partition went to partition %d", r.Partition)
		}
	}
}

// Partitions added to a raw topic while dedupe runs stop it when they are
// assigned, before any of their records is processed.
func TestDedupeStopsWhenARawTopicGrowsWhileRunning(t *testing.T) {
	env := testkit.Start(t)
	raw := env.Config.Topics.Pique()
	opts := testOptions(t, env)
	opts.Kafka = append(opts.Kafka, kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(250*time.Millisecond)) // notice the new partitions soon
	c := testConfig(env, "dedupe-grows")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, opts, c) }()
	env.Produce(t, event(t, env, raw, "before", base))
	waitCaughtUp(t, env, c.Group)

	addPartitions(t, env, 2, raw)
	late := event(t, env, raw, "after", base.Add(time.Second))
	late.Partition = testkit.Partitions
	if err := env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, late).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, errLayout) {
		t.Fatalf("Run = %v, want the partition-count error", err)
	}
	if got := outputIDs(t, env); got["after"] != 0 || got["before"] != 1 {
		t.Errorf("outputs %v, want only the record from before the partitions were added", got)
	}
}

// Right after `topics apply` a broker's metadata may not show a changelog
// yet: dedupe waits for it, saying what it waits for, instead of exiting,
// and deduplicates once it is there.
func TestDedupeWaitsForAMissingChangelog(t *testing.T) {
	env := testkit.Start(t)
	raw := env.Config.Topics.Pique()
	changelog := topics.DedupeChangelog(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(env.Client(t))
	if resps, err := adm.DeleteTopics(ctx, changelog); err != nil || resps.Error() != nil {
		t.Fatalf("deleting %s: %v %v", changelog, err, resps.Error())
	}
	env.Produce(t, event(t, env, raw, "waited", base))
	logs := testkit.NewLogBuffer(t)
	opts := testOptions(t, env)
	opts.Logger = logs.Logger()
	c := testConfig(env, "dedupe-waits")
	stop := testkit.Background("dedupe Run", func(ctx context.Context) error { return Run(ctx, opts, c) })
	testkit.Eventually(t, 20*time.Second, "dedupe says it waits for the changelog", func() bool {
		return strings.Contains(logs.String(), changelog+" does not (yet)")
	})
	if _, err := topics.Apply(ctx, adm, 1, topics.Specs(env.Config.Topics)); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env, c.Group)
	if err := stop(); err != nil {
		t.Fatalf("dedupe: %v", err)
	}
	if got := outputIDs(t, env)["waited"]; got != 1 {
		t.Errorf("waited emitted %d times, want 1", got)
	}
}

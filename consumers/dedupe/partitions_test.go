package dedupe

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/testkit"
)

// A raw topic that got partitions its changelog and .deduped topics lack
// still deduplicates across a restart: the ids of raw partition p live in
// changelog partition p mod the changelog's count, keyed by p, and restore
// reads them back from there.
func TestDedupeRestoresIDsOfPartitionsAddedToTheRawTopic(t *testing.T) {
	env := testkit.Start(t)
	raw := env.Config.Topics.Pique()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(env.Client(t)).CreatePartitions(ctx, 2, raw); err != nil {
		t.Fatal(err)
	}
	cl := env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
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
}

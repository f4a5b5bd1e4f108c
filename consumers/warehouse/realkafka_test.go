//go:build realkafka

package warehouse

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/kafkatest"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) {
	code := real.Main(m)
	stopWeed()
	os.Exit(code)
}

// whMember is one warehouse group member run by the shared runner.
type whMember struct {
	stop func()
	done chan error
}

func startWarehouse(t *testing.T, k *kit, s Store, group, proto string, shutdown time.Duration) *whMember {
	t.Helper()
	g, err := New(Options{Group: group, Topics: []string{k.deduped(schemas.KindDecisionMade)}, Decoder: k.decoder,
		Schemas: k.source, Store: s, FlushInterval: 200 * time.Millisecond, FlushRecords: 40})
	if err != nil {
		t.Fatal(err)
	}
	kopts, err := connect.KafkaOpts(k.env.Config.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	kopts = append(kopts, kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	m := &whMember{stop: cancel, done: make(chan error, 1)}
	logs := testkit.NewLogBuffer(t)
	go func() {
		m.done <- consumers.Run(ctx, consumers.Options{Kafka: kopts, StartFrom: consumers.StartEarliest, GroupProtocol: proto,
			DeadLetterTopic: k.env.Config.Topics.DeadLetter(), Logger: logs.Logger(),
			CommitInterval: 50 * time.Millisecond, ShutdownTimeout: shutdown}, g)
	}()
	t.Cleanup(func() { cancel(); <-m.done })
	return m
}

// TestRealWarehouseMemberKilledAndRebalance exports a deduped topic with
// two members on the real cluster: one joins mid-stream (a rebalance), the
// other is then stopped with no time to flush or commit, as a kill leaves
// it. Every event is in the Parquet files exactly once.
func TestRealWarehouseMemberKilledAndRebalance(t *testing.T) {
	kafkatest.EachProtocol(t, func(t *testing.T, proto string) {
		c := real.Get(t)
		k := newKitOn(t, c.Env(t))
		s := localTestStore(t)
		group := k.env.Config.Topics.Prefix + "warehouse"
		evs := sampleDecisions(600)
		produce := func(evs []schemas.Event) {
			var recs []*kgo.Record
			for _, e := range evs {
				r := k.record(t, e, 0, 0)
				// The time of now: a real broker deletes records older
				// than the topic's retention.
				r.Partition, r.Offset, r.Timestamp = 0, 0, time.Now()
				recs = append(recs, r)
			}
			k.env.Produce(t, recs...)
		}
		produce(evs[:200])
		a := startWarehouse(t, k, s, group, proto, time.Millisecond) // no time to flush when stopped
		waitCommitted(t, k, group, 100)
		b := startWarehouse(t, k, s, group, proto, 5*time.Second)
		produce(evs[200:400])
		a.stop()
		if err := <-a.done; err != nil {
			t.Logf("member a: %v", err)
		}
		a.done <- nil
		produce(evs[400:])
		waitCommitted(t, k, group, 600)
		b.stop()
		<-b.done
		b.done <- nil

		counts := map[string]int{}
		for _, row := range arrowRows(t, s.files(t)) {
			counts[fmt.Sprint(row["event_id"])]++
		}
		for _, e := range evs {
			if n := counts[e.ID()]; n != 1 {
				t.Errorf("event %s is in %d Parquet rows, want 1", e.ID(), n)
			}
		}
		if len(counts) != len(evs) {
			t.Errorf("%d distinct events in Parquet, %d produced", len(counts), len(evs))
		}
	})
}

// waitCommitted waits until the group committed at least n records of
// the deduped topic (summed over partitions).
func waitCommitted(t *testing.T, k *kit, group string, n int64) {
	t.Helper()
	adm := kadm.NewClient(k.env.Client(t))
	testkit.Eventually(t, 90*time.Second, fmt.Sprintf("group %s committed %d records", group, n), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum >= n
	})
}

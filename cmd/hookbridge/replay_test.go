package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/testkit"
)

// replayFixture is a testkit cluster with perPartition records on every
// partition of topic, record i of each partition stamped base + i minutes.
type replayFixture struct {
	env   *testkit.Env
	adm   *kadm.Client
	topic string
	base  time.Time
}

const perPartition = 10

func newReplayFixture(t *testing.T) *replayFixture {
	t.Helper()
	return newReplayFixtureOn(t, testkit.Start(t))
}

// newReplayFixtureOn is newReplayFixture on env's Kafka (in-process or real).
func newReplayFixtureOn(t *testing.T, env *testkit.Env) *replayFixture {
	t.Helper()
	hermeticEnv(t)
	t.Setenv("HOOKBRIDGE_KAFKA_BROKERS", strings.Join(env.Config.Kafka.Brokers, ","))
	t.Setenv("HOOKBRIDGE_SCHEMA_REGISTRY_URL", env.Config.SchemaRegistry.URL)
	f := &replayFixture{env: env, topic: env.Config.Topics.Pique(),
		// Recent times: a real broker deletes records older than the
		// topic's retention by their timestamps.
		base: time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)}
	prod := env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	f.adm = kadm.NewClient(env.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for p := int32(0); p < testkit.Partitions; p++ {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: f.topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i),
				Timestamp: f.base.Add(time.Duration(i) * time.Minute)})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return f
}

// commit sets group's committed offset on every partition of the topic.
func (f *replayFixture) commit(t *testing.T, group string, at int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs := make(kadm.Offsets)
	for p := int32(0); p < testkit.Partitions; p++ {
		offs.Add(kadm.Offset{Topic: f.topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	resps, err := f.adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("committing offsets of %s: %v", group, err)
	}
}

// committed returns group's committed offset per partition of the topic.
func (f *replayFixture) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := f.adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	resps.Each(func(o kadm.OffsetResponse) {
		if o.Topic == f.topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

func (f *replayFixture) wantCommitted(t *testing.T, group string, want int64) {
	t.Helper()
	got := f.committed(t, group)
	for p := int32(0); p < testkit.Partitions; p++ {
		if got[p] != want {
			t.Errorf("group %s partition %d: committed %d, want %d (all: %v)", group, p, got[p], want, got)
		}
	}
}

func replay(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, stderr, err := runCmd(t, 30*time.Second, cmdReplay, args...)
	return out + stderr, err
}

func mustReplay(t *testing.T, args ...string) string {
	t.Helper()
	out, err := replay(t, args...)
	if err != nil {
		t.Fatalf("replay %v: %v\n%s", args, err, out)
	}
	return out
}

// TestReplay checks each --to form against the offsets the group ends up
// with, and that replay leaves a running group alone.
func TestReplay(t *testing.T) { checkReplay(t, newReplayFixture(t)) }

// checkReplay is TestReplay's assertions, shared with the real-Kafka tier.
func checkReplay(t *testing.T, f *replayFixture) {
	const g = "replay-test"

	t.Run("earliest", func(t *testing.T) {
		f.commit(t, g, perPartition)
		out := mustReplay(t, "--group", g, "--to", "earliest")
		f.wantCommitted(t, g, 0)
		if !strings.Contains(out, "group "+g+" reset") || !strings.Contains(out, f.topic) {
			t.Errorf("replay output does not report the reset:\n%s", out)
		}
	})

	t.Run("latest", func(t *testing.T) {
		f.commit(t, g, 2)
		mustReplay(t, "--group", g, "--to", "latest")
		f.wantCommitted(t, g, perPartition)
	})

	t.Run("time", func(t *testing.T) {
		f.commit(t, g, perPartition)
		// Records are a minute apart: 3m30s after the first, the first
		// record at or after is the fifth (offset 4).
		mustReplay(t, "--group", g, "--to", f.base.Add(3*time.Minute+30*time.Second).Format(time.RFC3339))
		f.wantCommitted(t, g, 4)
		// Exactly on a record's timestamp picks that record.
		mustReplay(t, "--group", g, "--to", f.base.Add(7*time.Minute).Format(time.RFC3339))
		f.wantCommitted(t, g, 7)
		// Before everything: the start; after everything: the end.
		mustReplay(t, "--group", g, "--to", f.base.Add(-time.Hour).Format(time.RFC3339))
		f.wantCommitted(t, g, 0)
		mustReplay(t, "--group", g, "--to", f.base.Add(time.Hour).Format(time.RFC3339))
		f.wantCommitted(t, g, perPartition)
	})

	t.Run("offset", func(t *testing.T) {
		f.commit(t, g, perPartition)
		mustReplay(t, "--group", g, "--to", "5", "--topic", f.topic)
		f.wantCommitted(t, g, 5)

		out, err := replay(t, "--group", g, "--to", "5")
		if err == nil || !strings.Contains(err.Error(), "--topic") {
			t.Errorf("numeric --to without --topic: err %v, want one asking for --topic\n%s", err, out)
		}
		out, err = replay(t, "--group", g, "--to", "50", "--topic", f.topic)
		if err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("--to 50 past the log end: err %v, want 'outside'\n%s", err, out)
		}
		f.wantCommitted(t, g, 5) // a refused replay commits nothing
	})

	t.Run("dry-run", func(t *testing.T) {
		f.commit(t, g, 3)
		out := mustReplay(t, "--group", g, "--to", "earliest", "--dry-run")
		f.wantCommitted(t, g, 3)
		if !strings.Contains(out, "dry run") || !strings.Contains(out, f.topic) {
			t.Errorf("dry-run output:\n%s", out)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		for _, args := range [][]string{
			{"--group", g},
			{"--to", "earliest"},
			{"--group", g, "--to", "yesterday"},
			{"--group", g, "--to", "-3", "--topic", f.topic},
		} {
			if out, err := replay(t, args...); err == nil {
				t.Errorf("replay %v succeeded:\n%s", args, out)
			}
		}
		// A group with no commits needs --topic, and gets one with it.
		if out, err := replay(t, "--group", "never-committed", "--to", "earliest"); err == nil || !strings.Contains(err.Error(), "no committed offsets") {
			t.Errorf("group without commits: err %v, want 'no committed offsets'\n%s", err, out)
		}
		mustReplay(t, "--group", "never-committed", "--to", "3", "--topic", f.topic)
		f.wantCommitted(t, "never-committed", 3)
		if out, err := replay(t, "--group", g, "--to", "earliest", "--topic", "no-such-topic"); err == nil {
			t.Errorf("replay of a topic that does not exist succeeded:\n%s", out)
		}
	})

	t.Run("refuses an active group", func(t *testing.T) {
		const live = "replay-live"
		f.commit(t, live, 2)
		member := f.env.Client(t, kgo.ConsumerGroup(live), kgo.ConsumeTopics(f.topic), kgo.DisableAutoCommit())
		ctx, cancel := context.WithCancel(context.Background())
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			for ctx.Err() == nil {
				member.PollFetches(ctx)
			}
		}()
		stopMember := func() {
			cancel()
			<-polled
			member.Close() // leaves the group
		}
		defer func() {
			if ctx.Err() == nil {
				stopMember()
			}
		}()
		f.waitMembers(t, live, func(n int) bool { return n > 0 })

		out, err := replay(t, "--group", live, "--to", "earliest")
		if err == nil || !strings.Contains(err.Error(), "active member") {
			t.Fatalf("replay of a running group: err %v, want a refusal naming active members\n%s", err, out)
		}
		f.wantCommitted(t, live, 2)

		stopMember()
		f.waitMembers(t, live, func(n int) bool { return n == 0 })
		mustReplay(t, "--group", live, "--to", "earliest")
		f.wantCommitted(t, live, 0)
	})
}

// waitMembers polls the group's member count until ok holds.
func (f *replayFixture) waitMembers(t *testing.T, group string, ok func(int) bool) {
	t.Helper()
	waitFor(t, 15*time.Second, "group "+group+" membership", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := f.adm.DescribeGroups(ctx, group)
		if err != nil {
			return false, err
		}
		return ok(len(d[group].Members)), d[group].Err
	})
}

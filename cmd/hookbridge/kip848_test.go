package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/testkit"
)

// Groups whose members run KIP-848's consumer group protocol
// (group.protocol=consumer: the broker assigns), on kfake and, through
// realkafka_test.go, on a real Kafka 4 cluster.

func TestReplayRefusesActiveKIP848Group(t *testing.T) {
	checkReplayRefusesActiveKIP848Group(t, newReplayFixture(t))
}

// kfake's ConsumerGroupDescribe names assigned topics only by id, so
// this tier checks the group, its member and the committed partition's lag;
// the real tier checks the assignment too.
func TestGroupsShowsKIP848Members(t *testing.T) {
	checkGroupsShowsKIP848Members(t, newReplayFixture(t), false)
}

// checkReplayRefusesActiveKIP848Group: a group whose members run the
// KIP-848 protocol (the broker assigns) is active too; replay must refuse
// it as it refuses a classic group with members.
func checkReplayRefusesActiveKIP848Group(t *testing.T, f *replayFixture) {
	live := f.env.Config.Topics.Prefix + "replay-kip848"
	f.commit(t, live, 2)
	runKIP848Member(t, f, live)
	out, err := replay(t, "--group", live, "--to", "earliest")
	if err == nil || !strings.Contains(err.Error(), "active member") {
		t.Errorf("replay of a running KIP-848 group: err %v, want a refusal naming active members\n%s", err, out)
	}
	f.wantCommitted(t, live, 2)
}

// checkGroupsShowsKIP848Members: groups describes a group whose members
// run the KIP-848 protocol (which the classic DescribeGroups does not
// know): its state, its member and what the broker assigned it, and the
// lag of a committed and of never-committed partitions.
func checkGroupsShowsKIP848Members(t *testing.T, f *replayFixture, assignments bool) {
	live := f.env.Config.Topics.Prefix + "groups-kip848"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := f.adm.CommitOffsets(ctx, live, kadm.OffsetsFromRecords(kgo.Record{Topic: f.topic, Partition: 0, Offset: 1, LeaderEpoch: -1}))
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	runKIP848Member(t, f, live, kgo.ClientID("kip848-reader"))

	var g groupView
	testkit.Eventually(t, 30*time.Second, "groups shows the member (with every partition assigned)", func() bool {
		gs := groupsJSON(t, "--group", live)
		if len(gs) != 1 || len(gs[0].Members) != 1 {
			return false
		}
		g = gs[0]
		return !assignments || len(g.Members[0].Assigned[f.topic]) == testkit.Partitions
	})
	if g.Type != "consumer" || g.State != "Stable" || g.Members[0].ClientID != "kip848-reader" {
		t.Errorf("group %s: type %q, state %q, members %+v; want consumer, Stable, kip848-reader", live, g.Type, g.State, g.Members)
	}
	// The committed partition is always shown; assigned partitions
	// without a commit are shown once the broker names the assignment.
	if !assignments {
		g.Partitions = slices.DeleteFunc(g.Partitions, func(p partitionView) bool { return p.Committed < 0 })
	}
	if len(g.Partitions) == 0 || assignments && len(g.Partitions) != testkit.Partitions {
		t.Fatalf("partitions shown: %+v; want partition 0 (and, with assignments, all %d)", g.Partitions, testkit.Partitions)
	}
	var total int64
	for _, p := range g.Partitions {
		wantCommitted, wantLag := int64(-1), int64(perPartition)
		if p.Partition == 0 {
			wantCommitted, wantLag = 2, perPartition-2
		}
		if p.Committed != wantCommitted || p.Lag != wantLag || (assignments && p.MemberID != g.Members[0].MemberID) {
			t.Errorf("%s/%d: committed %d, lag %d, member %q; want committed %d, lag %d, member %s",
				p.Topic, p.Partition, p.Committed, p.Lag, p.MemberID, wantCommitted, wantLag, g.Members[0].MemberID)
		}
		total += wantLag
	}
	if assignments && g.TotalLag != total {
		t.Errorf("total lag %d, want %d", g.TotalLag, total)
	}
}

// runKIP848Member runs a member of group that consumes f.topic under the
// KIP-848 protocol (the broker assigns) and never commits, until the test
// ends.
func runKIP848Member(t *testing.T, f *replayFixture, group string, opts ...kgo.Opt) {
	t.Helper()
	member := f.env.Client(t, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(f.topic), kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer()}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			member.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-polled })
	testkit.Eventually(t, 30*time.Second, "the group runs under the KIP-848 protocol", func() bool {
		pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer pcancel()
		described, err := f.adm.DescribeConsumerGroups(pctx, group)
		return err == nil && described[group].Err == nil && len(described[group].Members) > 0
	})
}

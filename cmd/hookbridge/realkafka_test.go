//go:build realkafka

package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/kafkatest"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(real.Main(m)) }

// TestRealReplay runs replay's assertions against a real group
// coordinator: it refuses while the group has active members, and resets
// each partition to the earliest offset, a timestamp (the broker's
// ListOffsets by time) and an offset.
func TestRealReplay(t *testing.T) {
	checkReplay(t, newReplayFixtureOn(t, real.Get(t).Env(t)))
}

// TestRealReplayRefusesActiveKIP848Group: a group whose members run the
// KIP-848 protocol (the broker assigns) is active too; replay must refuse
// it as it refuses a classic group with members.
func TestRealReplayRefusesActiveKIP848Group(t *testing.T) {
	c := real.Get(t)
	f := newReplayFixtureOn(t, c.Env(t))
	live := f.env.Config.Topics.Prefix + "replay-kip848"
	f.commit(t, live, 2)
	member := f.env.Client(t, kgo.ConsumerGroup(live), kgo.ConsumeTopics(f.topic), kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			member.PollFetches(ctx)
		}
	}()
	defer func() { cancel(); <-polled }()
	testkit.Eventually(t, 30*time.Second, "the group runs under the KIP-848 protocol", func() bool {
		pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer pcancel()
		p, _ := c.GroupProtocol(pctx, live)
		return p == kafkatest.ConsumerProtocol
	})
	out, err := replay(t, "--group", live, "--to", "earliest")
	if err == nil || !strings.Contains(err.Error(), "active member") {
		t.Errorf("replay of a running KIP-848 group: err %v, want a refusal naming active members\n%s", err, out)
	}
	f.wantCommitted(t, live, 2)
}

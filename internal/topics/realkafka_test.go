//go:build realkafka

package topics_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/hookbridge/hookbridge/internal/kafkatest"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(real.Main(m)) }

// TestRealTopicsApply checks, with DescribeConfigs on a real broker,
// that every topic `topics apply` made has the replication and every
// config it asked for (retention, cleanup policy, min ISR, and any other
// the spec sets), and that a second apply changes nothing.
func TestRealTopicsApply(t *testing.T) {
	env := real.Get(t).Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(env.Client(t))
	specs := topics.Specs(env.Config.Topics)
	again, err := topics.Apply(ctx, adm, 3, specs)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range again {
		if r.Created {
			t.Errorf("second apply created %s again", r.Topic)
		}
	}
	for _, s := range specs {
		if _, ok := s.Configs["min.insync.replicas"]; !ok {
			t.Errorf("%s: apply does not set min.insync.replicas", s.Name)
		}
		// The broker asked may not know a topic made a moment ago yet
		// (UNKNOWN_TOPIC_OR_PARTITION until its metadata catches up).
		var rc kadm.ResourceConfig
		testkit.Eventually(t, 20*time.Second, "a broker describes "+s.Name, func() bool {
			described, err := adm.DescribeTopicConfigs(ctx, s.Name)
			if err != nil {
				return false
			}
			rc, err = described.On(s.Name, nil)
			return err == nil && rc.Err == nil
		})
		got := map[string]string{}
		for _, kv := range rc.Configs {
			got[kv.Key] = kv.MaybeValue()
		}
		for k, want := range s.Configs {
			if got[k] != *want {
				t.Errorf("%s: %s = %q, apply set %q", s.Name, k, got[k], *want)
			}
		}
		tds, err := adm.ListTopics(ctx, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range tds[s.Name].Partitions {
			if len(p.Replicas) != 3 || len(p.ISR) != 3 {
				t.Errorf("%s/%d: replicas %v, ISR %v; want 3 of each", s.Name, p.Partition, p.Replicas, p.ISR)
			}
		}
	}
}

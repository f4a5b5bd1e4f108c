package topics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
)

func TestApplyCreatesThenIsIdempotent(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config.Topics{Prefix: "t.", Partitions: 4, ReplicationFactor: 1, Retention: 48 * time.Hour, MaxMessageBytes: 3 << 20}
	specs := Specs(cfg)

	first, err := Apply(ctx, adm, 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Apply(ctx, adm, 1, specs)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for i := range specs {
		if !first[i].Created || second[i].Created || second[i].Partitions != 4 {
			t.Errorf("%s: first %+v, second %+v", specs[i].Name, first[i], second[i])
		}
	}
	want := map[string]string{cfg.Pique(): "delete", cfg.Deduped(cfg.Pique()): "delete", cfg.DeadLetter(): "delete", DedupeChangelog(cfg.Pique()): "compact"}
	described, err := adm.DescribeTopicConfigs(ctx, cfg.Pique(), cfg.Deduped(cfg.Pique()), cfg.DeadLetter(), DedupeChangelog(cfg.Pique()))
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range described {
		for _, kv := range rc.Configs {
			if kv.Key == "cleanup.policy" && (kv.Value == nil || !contains(*kv.Value, want[rc.Name])) {
				t.Errorf("%s cleanup.policy = %v, want %s", rc.Name, kv.MaybeValue(), want[rc.Name])
			}
			if kv.Key == "max.message.bytes" && kv.MaybeValue() != "3145728" {
				t.Errorf("%s max.message.bytes = %s", rc.Name, kv.MaybeValue())
			}
			if kv.Key == "retention.ms" && kv.MaybeValue() != "172800000" {
				t.Errorf("%s retention.ms = %s", rc.Name, kv.MaybeValue())
			}
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

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

// fakeAdmin is an admin client of a one-broker kfake cluster that lives
// until t ends.
func fakeAdmin(t *testing.T, opts ...kfake.Opt) *kadm.Client {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func TestApplyCreatesThenIsIdempotent(t *testing.T) {
	adm := fakeAdmin(t)
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

// MaxMessageBytes reads what the broker holds, whoever set it; a topic it
// does not know is missing and named in the error.
func TestMaxMessageBytesReadsTheBroker(t *testing.T) {
	adm := fakeAdmin(t, kfake.SeedTopics(1, "by-hand"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config.Topics{Partitions: 1, ReplicationFactor: 1, Retention: time.Hour, MaxMessageBytes: 3 << 20}
	if _, err := Apply(ctx, adm, 1, Specs(cfg)[:1]); err != nil {
		t.Fatal(err)
	}
	applied := Specs(cfg)[0].Name
	got, err := MaxMessageBytes(ctx, adm, applied, "by-hand", "missing")
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %v, want one naming the missing topic", err)
	}
	if got[applied] != 3<<20 || got["by-hand"] <= 0 || len(got) != 2 {
		t.Errorf("max.message.bytes %v, want %s at %d and by-hand at the broker's default", got, applied, 3<<20)
	}
}

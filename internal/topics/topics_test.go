package topics

import (
	"context"
	"slices"
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
	return fakeAdmins(t, opts...)()
}

// fakeAdmins starts a one-broker kfake cluster that lives until t ends and
// returns a maker of admin clients of it. Each `topics apply` is a process
// of its own, with a client of its own; one client asked about a topic
// before it existed keeps seeing it missing for a while (kgo caches
// metadata), so a test that applies twice takes a new client each time.
func fakeAdmins(t *testing.T, opts ...kfake.Opt) func() *kadm.Client {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return func() *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}
}

func TestApplyCreatesThenIsIdempotent(t *testing.T) {
	admin := fakeAdmins(t)
	adm := admin()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config.Topics{Prefix: "t.", Partitions: 4, ReplicationFactor: 1, Retention: 48 * time.Hour, MaxMessageBytes: 3 << 20}
	specs := Specs(cfg)

	first, err := Apply(ctx, adm, 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Apply(ctx, admin(), 1, specs)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for i := range specs {
		if !first[i].Created || second[i].Created || second[i].Partitions != 4 || len(second[i].Set)+len(second[i].Kept) > 0 {
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

// configOf reads one config of topic from the broker.
func configOf(t *testing.T, adm *kadm.Client, topic, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	described, err := describeConfigs(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	tc := described.of(topic)
	if tc.err != nil {
		t.Fatal(tc.err)
	}
	return tc.configs[key]
}

// An operator who raised a topic's retention by hand keeps it: apply
// leaves a config the topic has above the configuration (reporting it as
// kept) unless told to lower it, sets the others that differ reporting
// old → new, and a dry run changes nothing.
func TestApplyKeepsRaisedConfigsAndReportsChanges(t *testing.T) {
	admin := fakeAdmins(t)
	adm := admin()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config.Topics{Partitions: 2, ReplicationFactor: 1, Retention: 168 * time.Hour, MaxMessageBytes: 3 << 20}
	specs := Specs(cfg)
	if _, err := Apply(ctx, adm, 1, specs); err != nil {
		t.Fatal(err)
	}
	raw, month := cfg.Pique(), "2592000000"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr(month)},
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	}, raw); err != nil {
		t.Fatal(err)
	}
	resultOf := func(rs []Result) Result {
		for _, r := range rs {
			if r.Topic == raw {
				return r
			}
		}
		t.Fatalf("no result for %s in %+v", raw, rs)
		return Result{}
	}
	wantSet := []Change{{Config: "cleanup.policy", Old: "compact", New: "delete"}}
	wantKept := []Change{{Config: "retention.ms", Old: month, New: "604800000"}}

	dry, err := ApplyWith(ctx, admin(), 1, specs, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := resultOf(dry); !slices.Equal(r.Set, wantSet) || !slices.Equal(r.Kept, wantKept) {
		t.Errorf("dry run: set %v, kept %v; want set %v, kept %v", r.Set, r.Kept, wantSet, wantKept)
	}
	if got := configOf(t, adm, raw, "cleanup.policy"); got != "compact" {
		t.Errorf("the dry run changed cleanup.policy to %s", got)
	}

	applied, err := Apply(ctx, admin(), 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	if r := resultOf(applied); !slices.Equal(r.Set, wantSet) || !slices.Equal(r.Kept, wantKept) {
		t.Errorf("apply: set %v, kept %v; want set %v, kept %v", r.Set, r.Kept, wantSet, wantKept)
	}
	if got := configOf(t, adm, raw, "retention.ms"); got != month {
		t.Errorf("apply lowered the hand-raised retention.ms to %s", got)
	}
	if got := configOf(t, adm, raw, "cleanup.policy"); got != "delete" {
		t.Errorf("apply left cleanup.policy at %s", got)
	}

	lowered, err := ApplyWith(ctx, admin(), 1, specs, Options{Lower: true})
	if err != nil {
		t.Fatal(err)
	}
	wantLowered := []Change{{Config: "retention.ms", Old: month, New: "604800000"}}
	if r := resultOf(lowered); !slices.Equal(r.Set, wantLowered) || len(r.Kept) > 0 {
		t.Errorf("apply --lower: set %v, kept %v; want set %v", r.Set, r.Kept, wantLowered)
	}
	if got := configOf(t, adm, raw, "retention.ms"); got != "604800000" {
		t.Errorf("apply with Lower left retention.ms at %s", got)
	}
}

func TestHigher(t *testing.T) {
	for _, c := range []struct {
		key, cur, want string
		higher         bool
	}{
		{"retention.ms", "2592000000", "604800000", true},
		{"retention.ms", "-1", "604800000", true},
		{"retention.ms", "604800000", "-1", false},
		{"retention.ms", "-1", "-1", false},
		{"retention.ms", "86400000", "604800000", false},
		{"min.insync.replicas", "3", "2", true},
		{"max.message.bytes", "10485760", "3145728", true},
		{"max.message.bytes", "", "3145728", false},
		{"cleanup.policy", "delete", "compact", false},
	} {
		if got := higher(c.key, c.cur, c.want); got != c.higher {
			t.Errorf("higher(%s, %s, %s) = %v, want %v", c.key, c.cur, c.want, got, c.higher)
		}
	}
}

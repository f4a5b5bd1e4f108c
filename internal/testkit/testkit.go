// Package testkit starts what hookbridge's tests need in-process: a kfake
// Kafka cluster with hookbridge's topics, an srfake schema registry with the
// schemas registered, and a configuration that points at both. Only tests
// import it.
package testkit

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/schemas"
)

// Partitions is the partition count of every topic in a test cluster.
const Partitions = 3

// Env is one test's Kafka, schema registry and configuration.
type Env struct {
	Cluster  *kfake.Cluster
	Registry *srfake.Registry
	Config   *config.Config
	Schemas  *schemas.Registry
}

// Start brings up a cluster and a registry for t and stops them when t ends.
// Extra kfake options are added after hookbridge's own.
func Start(t testing.TB, opts ...kfake.Opt) *Env {
	t.Helper()
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Topics.Partitions = Partitions
	var names []string
	for _, s := range topics.Specs(cfg.Topics) {
		names = append(names, s.Name)
	}
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(Partitions, names...), kfake.AllowAutoTopicCreation()}, opts...)
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)

	cfg.Kafka.Brokers = cluster.ListenAddrs()
	env := withRegistry(t, cfg)
	env.Cluster = cluster
	env.applyTopics(t, 1)
	return env
}

// applyTopics gives the topics the configs `topics apply` sets (creating
// any that are missing), so records are held to the same max.message.bytes
// as in production.
func (e *Env) applyTopics(t testing.TB, replication int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := topics.Apply(ctx, kadm.NewClient(e.Client(t)), replication, topics.Specs(e.Config.Topics)); err != nil {
		t.Fatalf("applying the topics on %v: %v", e.Config.Kafka.Brokers, err)
	}
}

// withRegistry starts an srfake registry for cfg's topics and registers
// the schemas there.
func withRegistry(t testing.TB, cfg *config.Config) *Env {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cfg.SchemaRegistry.URL = reg.URL()
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		t.Fatal(err)
	}
	sch := schemas.NewRegistry(src)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sch.Register(ctx, Subjects(cfg.Topics)); err != nil {
		t.Fatal(err)
	}
	return &Env{Registry: reg, Config: cfg, Schemas: sch}
}

// StartOn is Start on a real cluster at brokers: the topics get a prefix
// of t's own, so tests sharing the cluster never see each other's records,
// and are created by topics.Apply with the replication and min ISR that
// tweak sets (Cluster is nil).
func StartOn(t testing.TB, brokers []string, tweak func(*config.Topics)) *Env {
	t.Helper()
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = brokers
	cfg.Topics.Partitions = Partitions
	cfg.Topics.Prefix = strings.NewReplacer("/", ".", "#", ".").Replace(t.Name()) + "." + strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + "."
	if tweak != nil {
		tweak(&cfg.Topics)
	}
	env := withRegistry(t, cfg)
	env.applyTopics(t, int16(cfg.Topics.ReplicationFactor))
	return env
}

// Subjects maps each event kind to its subject under cfg's topic names.
func Subjects(t config.Topics) map[schemas.Kind]string {
	return schemas.Subjects(t.Prefix)
}

// Client returns a franz-go client for the cluster, closed when t ends.
func (e *Env) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base, err := connect.KafkaOpts(e.Config.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// SetMaxMessageBytes sets max.message.bytes of each topic to n, as topics
// apply does, or as a topic created by hand may hold less.
func (e *Env) SetMaxMessageBytes(t testing.TB, n int64, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(e.Client(t))
	value := kadm.StringPtr(strconv.FormatInt(n, 10))
	for _, name := range topics {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: value}}, name)
		if err == nil {
			_, err = resp.On(name, nil)
		}
		if err != nil {
			t.Fatalf("setting max.message.bytes of %s to %d: %v", name, n, err)
		}
	}
}

// ReadAll returns every committed record of topic up to now (its last
// stable offsets), read_committed, without the transaction markers.
func (e *Env) ReadAll(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	return ReadCommitted(t, e.Config.Kafka.Brokers, topic)
}

// ReadCommitted reads topic read_committed from the start up to its last
// stable offsets and returns the data records: every committed record there
// is, however many transaction markers the log holds. It keeps control
// records to see the reader reach the end (the last offset below the LSO is
// always a marker or a committed record).
func ReadCommitted(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stable, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		t.Fatalf("listing the last stable offsets of %s: %v", topic, err)
	}
	left := map[int32]int64{} // partition → last stable offset not yet reached
	stable.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s to its end: %v (still to reach: %v)", topic, ctx.Err(), left)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() && r.Offset < stable[topic][r.Partition].Offset {
				out = append(out, r)
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

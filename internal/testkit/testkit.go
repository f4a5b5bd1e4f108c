// Package testkit starts what hookbridge's tests need in-process: a kfake
// Kafka cluster with hookbridge's topics, an srfake schema registry with the
// schemas registered, and a configuration that points at both. Only tests
// import it.
package testkit

import (
	"context"
	"testing"
	"time"

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
	reg := srfake.New()
	t.Cleanup(reg.Close)

	cfg.Kafka.Brokers = cluster.ListenAddrs()
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
	return &Env{Cluster: cluster, Registry: reg, Config: cfg, Schemas: sch}
}

// Subjects maps each event kind to its subject under cfg's topic names.
func Subjects(t config.Topics) map[schemas.Kind]string {
	return schemas.SubjectsFor(t.Pique(), t.ProductAgents())
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

// ReadAll returns every committed record of topic up to now. It writes a
// sentinel record (header "testkit-sentinel") to each partition and reads,
// read_committed, until it has seen them all: whatever was committed before
// is then in hand, however many transaction markers the log holds. Sentinels
// are left out of the result but stay in the topic.
func (e *Env) ReadAll(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nonce := []byte(time.Now().Format(time.RFC3339Nano))
	prod := e.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < Partitions; p++ {
		r := &kgo.Record{Topic: topic, Partition: p, Headers: []kgo.RecordHeader{{Key: sentinelHeader, Value: nonce}}}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("writing sentinel to %s/%d: %v", topic, p, err)
		}
	}
	cl := e.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for seen := 0; seen < Partitions; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v (have %d records)", topic, err, len(out))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if IsSentinel(r) {
				if schemas.Header(r, sentinelHeader) == string(nonce) {
					seen++
				}
				return
			}
			out = append(out, r)
		})
	}
	return out
}

const sentinelHeader = "testkit-sentinel"

// IsSentinel reports whether r is a sentinel written by ReadAll.
func IsSentinel(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == sentinelHeader {
			return true
		}
	}
	return false
}

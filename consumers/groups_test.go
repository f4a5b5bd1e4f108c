package consumers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/consumers/dedupe"
	"github.com/hookbridge/hookbridge/consumers/klaviyo"
	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
	"github.com/hookbridge/hookbridge/consumers/warehouse"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/schemas"
)

// realGroup is one of hookbridge's consumer groups as `consume` runs it,
// against a test environment: the topics it reads and a way to run it.
type realGroup struct {
	name   string
	inputs func(env *testkit.Env) []string
	run    func(t *testing.T, ctx context.Context, env *testkit.Env, opts consumers.Options) error
}

func realGroups() []realGroup {
	deduped := func(env *testkit.Env) []string {
		tc := env.Config.Topics
		return []string{tc.Deduped(tc.Pique()), tc.Deduped(tc.ProductAgents())}
	}
	return []realGroup{
		{
			name:   "dedupe",
			inputs: func(env *testkit.Env) []string { return env.Config.Topics.Raw() },
			run: func(t *testing.T, ctx context.Context, env *testkit.Env, opts consumers.Options) error {
				tc := env.Config.Topics
				return dedupe.Run(ctx, opts, dedupe.Config{
					Group: "dedupe", Topics: tc.Raw(), Output: tc.Deduped, Changelog: topics.DedupeChangelog,
					Window: 24 * time.Hour, MaxIDsPerPartition: 1000, TransactionalID: "dedupe-" + t.Name(),
					TransactionTimeout: 10 * time.Second, Schemas: env.Schemas,
				})
			},
		},
		{
			name:   "klaviyo",
			inputs: deduped,
			run: func(t *testing.T, ctx context.Context, env *testkit.Env, opts consumers.Options) error {
				const key = "pk_test_groups"
				fake := klaviyofake.New(klaviyofake.Options{APIKey: key})
				t.Cleanup(fake.Close)
				m, err := klaviyo.NewMetrics(prometheus.NewRegistry())
				if err != nil {
					return err
				}
				client, err := klaviyo.NewClient(klaviyo.ClientOptions{BaseURL: fake.URL(), APIKey: key, Metrics: m,
					Backoff: klaviyo.Backoff{Base: time.Millisecond, Cap: 20 * time.Millisecond}})
				if err != nil {
					return err
				}
				return consumers.Run(ctx, opts, consumers.Group{
					Name: "klaviyo", Topics: deduped(env), FlushInterval: 20 * time.Millisecond,
					NewProcessor: klaviyo.NewProcessorFunc(klaviyo.Options{Client: client, Decoder: env.Schemas,
						Mapper: klaviyo.NewMapper(klaviyo.MappingOptions{}), Metrics: m}),
				})
			},
		},
		{
			name:   "warehouse",
			inputs: deduped,
			run: func(t *testing.T, ctx context.Context, env *testkit.Env, opts consumers.Options) error {
				store, err := warehouse.NewLocalStore(t.TempDir())
				if err != nil {
					return err
				}
				g, err := warehouse.New(warehouse.Options{Group: "warehouse", Topics: deduped(env), Decoder: env.Schemas,
					Schemas: env.Schemas.SchemaText, Store: store, FlushInterval: 20 * time.Millisecond})
				if err != nil {
					return err
				}
				return consumers.Run(ctx, opts, g)
			},
		},
	}
}

// decisionOn returns a record of topic for partition p, as the receiver
// writes it.
func decisionOn(t *testing.T, env *testkit.Env, topic string, p int32, id string) *kgo.Record {
	email, action, visitor := "ada@example.com", "cart_abandonment", "v-"+id
	ev := &schemas.DecisionMade{EventID: id, EventType: "decision.made", ReceivedAt: time.Now().UTC().Truncate(time.Millisecond),
		Decision: schemas.Decision{ID: &id, Action: &action}, Session: schemas.Session{VisitorID: &visitor, Email: &email},
		RawJSON: `{"id":"` + id + `"}`}
	rec := env.Record(t, topic, ev)
	rec.Partition = p
	return rec
}

// produceOn writes n records to each listed partition of topic.
func produceOn(t *testing.T, env *testkit.Env, topic, prefix string, n int, parts ...int32) {
	t.Helper()
	cl := env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range parts {
		for i := range n {
			rec := decisionOn(t, env, topic, p, fmt.Sprintf("%s-%d-%d", prefix, p, i))
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runUntilCommitted runs g until it committed want on topic's partitions,
// then shuts it down gracefully (a final flush and commit of every
// partition it owns).
func runUntilCommitted(t *testing.T, env *testkit.Env, g realGroup, topic string, want map[int32]int64) {
	t.Helper()
	opts := options(t, env)
	stop := testkit.Background("group "+g.name, func(ctx context.Context) error { return g.run(t, ctx, env, opts) })
	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("group %s commits %v on %s", g.name, want, topic), func() bool {
		got := env.Committed(t, g.name)[topic]
		for p, off := range want {
			if got[p] < off {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatalf("group %s: %v", g.name, err)
	}
}

// Restarting a group whose partitions got nothing new must leave every
// committed offset where it was: a processor that took nothing commits
// nothing (the Klaviyo forwarder once committed 0 on idle partitions and
// re-sent everything), and a partition that never had a record gets no
// commit at all.
func TestGroupsRestartOnIdlePartitionsNeverRewind(t *testing.T) {
	for _, g := range realGroups() {
		t.Run(g.name, func(t *testing.T) {
			env := testkit.Start(t)
			topic := g.inputs(env)[0]
			// Partitions 0 and 1 get records, 2 never does.
			produceOn(t, env, topic, "first", 3, 0, 1)
			runUntilCommitted(t, env, g, topic, map[int32]int64{0: 3, 1: 3})
			before := env.Committed(t, g.name)

			// The restart sees new records only on partition 0; partition 1
			// is idle and is flushed (on the interval and at shutdown).
			produceOn(t, env, topic, "second", 2, 0)
			runUntilCommitted(t, env, g, topic, map[int32]int64{0: 5})
			after := env.Committed(t, g.name)

			for tp, parts := range before {
				for p, off := range parts {
					if after[tp][p] < off {
						t.Errorf("%s/%d committed at %d after a restart, back from %d", tp, p, after[tp][p], off)
					}
				}
			}
			if got := after[topic][1]; got != 3 {
				t.Errorf("idle partition %s/1 committed at %d, want 3 (unchanged)", topic, got)
			}
			if got, ok := after[topic][2]; ok && got >= 0 {
				t.Errorf("partition %s/2 never had a record but was committed at %d", topic, got)
			}
		})
	}
}

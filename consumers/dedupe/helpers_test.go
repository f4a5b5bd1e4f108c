package dedupe

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/schemas"
)

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// event builds a raw-topic record as the receiver writes it, received at
// at. Copies of one id share a key, so they land on one partition, as the
// receiver's do.
func event(t testing.TB, env *testkit.Env, topic, id string, at time.Time) *kgo.Record {
	t.Helper()
	key := "k-" + id
	var ev schemas.Event
	if topic == env.Config.Topics.Pique() {
		ev = &schemas.DecisionMade{EventID: id, EventType: "decision.made", ReceivedAt: at,
			Session: schemas.Session{VisitorID: &key}, RawJSON: `{"id":"` + id + `"}`}
	} else {
		ev = &schemas.AgentMessage{EventID: id, ReceivedAt: at, Customer: schemas.Customer{ID: &key},
			RawJSON: `{"event":{"id":"` + id + `"}}`}
	}
	return env.Record(t, topic, ev)
}

func testConfig(env *testkit.Env, txnID string) Config {
	tc := env.Config.Topics
	return Config{
		Group:              "dedupe-test",
		Topics:             tc.Raw(),
		Output:             tc.Deduped,
		Changelog:          topics.DedupeChangelog,
		Window:             7 * 24 * time.Hour,
		MaxIDsPerPartition: 1_000_000,
		TransactionalID:    txnID,
		TransactionTimeout: 10 * time.Second,
		MaxBatch:           10_000,
		Schemas:            env.Schemas,
	}
}

func testOptions(t testing.TB, env *testkit.Env) consumers.Options {
	t.Helper()
	return env.ConsumerOptions(t)
}

// start runs one dedupe instance until stop is called; stop returns Run's
// error.
func start(t testing.TB, env *testkit.Env, c Config) (stop func() error) {
	opts := testOptions(t, env)
	return testkit.Background("dedupe Run", func(ctx context.Context) error { return Run(ctx, opts, c) })
}

// waitCaughtUp waits until the group committed every input record written
// so far: then the transactions holding their outputs have committed.
func waitCaughtUp(t testing.TB, env *testkit.Env, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(env.Client(t)).ListEndOffsets(ctx, env.Config.Topics.Raw()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	behind := ""
	defer func() {
		if t.Failed() {
			t.Logf("group %s behind: %s", group, behind)
		}
	}()
	testkit.Eventually(t, 60*time.Second, "group "+group+" commits every input record", func() bool {
		committed, err := env.FetchCommitted(t, group)
		if err != nil {
			behind = err.Error() // a broker of the group's coordinator may be down: poll again
			return false
		}
		behind = ""
		ends.Each(func(e kadm.ListedOffset) {
			if at, ok := committed[e.Topic][e.Partition]; e.Offset > 0 && (!ok || at < e.Offset) && behind == "" {
				behind = fmt.Sprintf("%s/%d at %d of %d", e.Topic, e.Partition, at, e.Offset)
			}
		})
		return behind == ""
	})
}

// outputIDs returns how often each event id is in the deduped topics,
// read_committed, and checks each output equals an input record.
func outputIDs(t testing.TB, env *testkit.Env) map[string]int {
	t.Helper()
	counts := make(map[string]int)
	for _, raw := range env.Config.Topics.Raw() {
		for _, r := range env.ReadAll(t, env.Config.Topics.Deduped(raw)) {
			id := schemas.Header(r, HeaderEventID)
			if string(r.Key) != "k-"+id {
				t.Fatalf("output record of %s has key %q, want the input's", id, r.Key)
			}
			counts[id]++
		}
	}
	return counts
}

func checkExactlyOnce(t testing.TB, want map[string]bool, got map[string]int) {
	t.Helper()
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s emitted %d times, want 1", id, n)
		}
		if !want[id] {
			t.Errorf("event %s emitted but never produced", id)
		}
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("event %s was never emitted", id)
		}
	}
}

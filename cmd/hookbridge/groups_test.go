package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/testkit"
)

// groupsFixture is a testkit cluster the group commands read through the
// environment, as a developer's shell would point them.
func groupsFixture(t *testing.T) *testkit.Env {
	t.Helper()
	hermeticEnv(t)
	env := testkit.Start(t)
	t.Setenv("HOOKBRIDGE_KAFKA_BROKERS", strings.Join(env.Config.Kafka.Brokers, ","))
	t.Setenv("HOOKBRIDGE_SCHEMA_REGISTRY_URL", env.Config.SchemaRegistry.URL)
	return env
}

// produceTxn writes n records to topic in one transaction of cl and
// commits it when commit is set; otherwise the transaction stays open.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, n int, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if commit {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

func groupsJSON(t *testing.T, args ...string) []groupView {
	t.Helper()
	out, stderr, err := runCmd(t, 30*time.Second, cmdGroups, append([]string{"--json"}, args...)...)
	if err != nil {
		t.Fatalf("groups %v: %v\nstderr: %s", args, err, stderr)
	}
	var gs []groupView
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		t.Fatalf("groups --json printed what is not JSON: %v\n%s", err, out)
	}
	return gs
}

// A group that read everything committed of a transactional topic has lag
// 0, though a commit marker follows its committed offsets and a transaction
// is still open past them; a group behind on a plain topic shows its lag.
func TestGroupsLagToTheLastStableOffset(t *testing.T) {
	env := groupsFixture(t)
	txnTopic, plainTopic := env.Config.Topics.Deduped(env.Config.Topics.Pique()), env.Config.Topics.Unrouted()
	const committedTxn, openTxn = 12, 5
	producer := env.Client(t, kgo.TransactionalID("groups-test"))
	produceTxn(t, producer, txnTopic, committedTxn, true)

	reader := env.Client(t, kgo.ConsumerGroup("analytics"), kgo.ConsumeTopics(txnTopic), kgo.ClientID("analytics-reader"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for read := 0; read < committedTxn; {
		fs := reader.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("reading %s: %v", txnTopic, err)
		}
		read += len(fs.Records())
	}
	if err := reader.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, producer, txnTopic, openTxn, false) // past the LSO: not lag

	env.Produce(t, &kgo.Record{Topic: plainTopic, Partition: 0, Value: []byte("a")}, &kgo.Record{Topic: plainTopic, Value: []byte("b")})
	commitAt(t, env, "lagging", plainTopic, 0)

	var analytics, behind *groupView
	gs := groupsJSON(t)
	for i := range gs {
		switch gs[i].Group {
		case "analytics":
			analytics = &gs[i]
		case "lagging":
			behind = &gs[i]
		}
	}
	if analytics == nil || behind == nil {
		t.Fatalf("groups lists %+v; want analytics and lagging", gs)
	}
	if analytics.TotalLag != 0 {
		t.Errorf("caught-up transactional group: total lag %d, want 0: %+v", analytics.TotalLag, analytics.Partitions)
	}
	var pastStable int64
	for _, p := range analytics.Partitions {
		pastStable += p.End - p.Committed
		if p.Lag != 0 {
			t.Errorf("%s/%d: committed %d, stable %d, end %d: lag %d, want 0", p.Topic, p.Partition, p.Committed, p.Stable, p.End, p.Lag)
		}
	}
	if pastStable < openTxn {
		t.Errorf("the open transaction is not past the committed offsets (end−committed = %d): the test does not test lag to the LSO", pastStable)
	}
	if analytics.State != "Stable" || analytics.Type != "classic" || len(analytics.Members) != 1 || analytics.Members[0].ClientID != "analytics-reader" ||
		len(analytics.Members[0].Assigned[txnTopic]) != testkit.Partitions {
		t.Errorf("analytics: state %s, type %s, members %+v; want Stable, classic, with analytics-reader assigned all %d partitions", analytics.State, analytics.Type, analytics.Members, testkit.Partitions)
	}
	if behind.TotalLag != 2 || behind.State != "Empty" {
		t.Errorf("lagging: state %s, total lag %d; want Empty with lag 2: %+v", behind.State, behind.TotalLag, behind.Partitions)
	}

	table, _, err := runCmd(t, 30*time.Second, cmdGroups)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(table, "\n", 4)
	if !strings.HasPrefix(first[0], "GROUP") || !strings.Contains(table, "analytics-reader") {
		t.Errorf("the table does not start with the summary or misses the member:\n%s", table)
	}
}

// commitAt commits offset at on every partition of topic for group.
func commitAt(t *testing.T, env *testkit.Env, group, topic string, at int64) {
	t.Helper()
	f := &replayFixture{env: env, topic: topic}
	f.adm = kadm.NewClient(env.Client(t))
	f.commit(t, group, at)
}

func TestGroupsNamedGroupMustExist(t *testing.T) {
	env := groupsFixture(t)
	commitAt(t, env, "known", env.Config.Topics.Unrouted(), 0)
	if gs := groupsJSON(t, "--group", "known"); len(gs) != 1 || gs[0].Group != "known" {
		t.Errorf("groups --group known: %+v", gs)
	}
	_, _, err := runCmd(t, 30*time.Second, cmdGroups, "--group", "nobody")
	if err == nil || !strings.Contains(err.Error(), `"nobody" does not exist`) {
		t.Errorf("groups --group nobody: %v; want an error saying it does not exist", err)
	}
}

//go:build realkafka

package kafkatest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var shared = NewShared(Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// TestRealKillAndRestartMovesLeadership kills a partition's leader, sees
// another broker take over and the record written before the kill still
// read, then restarts the node on its data.
func TestRealKillAndRestartMovesLeadership(t *testing.T) {
	c := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := c.Client(kgo.DefaultProduceTopic("kafkatest.smoke"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "kafkatest.smoke"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leader, err := c.LeaderOf(ctx, "kafkatest.smoke", 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(leader)
	for {
		if l, err := c.LeaderOf(ctx, "kafkatest.smoke", 0); err == nil && l != leader {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no new leader after killing broker %d", leader)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("producing with broker %d dead: %v", leader, err)
	}
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	coord, err := c.CoordinatorOf(ctx, Transaction, "kafkatest-txn")
	if err != nil || coord < 1 || coord > 3 {
		t.Fatalf("coordinator of a transactional id: %d %v", coord, err)
	}
}

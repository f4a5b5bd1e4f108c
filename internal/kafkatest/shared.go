package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Shared is the one cluster of a test package's run, shared by its tests,
// each on its own topics and groups. The first Get starts it (so a run
// that selects none of the tier's tests starts no JVM) and Main stops it.
type Shared struct {
	opts    Options
	once    sync.Once
	cluster *Cluster
	err     error
}

// NewShared returns a Shared that starts a cluster with o.
func NewShared(o Options) *Shared { return &Shared{opts: o} }

// Main runs the tests and then stops the cluster and removes its
// directory: `func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }`.
// The nodes also die with the test process if it is killed (Pdeathsig).
func (s *Shared) Main(m *testing.M) int {
	defer func() {
		if s.cluster != nil {
			s.cluster.Stop()
		}
	}()
	return m.Run()
}

// Get returns the running cluster. Without the broker installed it skips
// t, saying how to install it, except under CI=true, where that fails t;
// a cluster that does not start always fails t. When t fails, the nodes'
// logs written during t are printed.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	if lib, ok := Installed(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Kafka broker for the realkafka tier is not installed in %s (CI=true); install it with: %s", lib, Install)
		}
		t.Skip("real Kafka not installed; install it with: " + Install)
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		// A port picked free can be taken (by an outgoing connection's
		// ephemeral port) before the broker binds it: pick again.
		for range 3 {
			if s.cluster, s.err = Start(ctx, s.opts); s.err == nil || !strings.Contains(s.err.Error(), "Address already in use") {
				break
			}
		}
		if s.err == nil {
			fmt.Fprintf(os.Stderr, "kafkatest: %d-node cluster up in %v at %v\n", len(s.cluster.nodes), time.Since(start).Round(time.Millisecond), s.cluster.Bootstrap())
		}
	})
	if s.err != nil {
		t.Fatalf("starting a Kafka cluster: %v", s.err)
	}
	// A test before this one may have left a node down or paused.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.cluster.Heal(ctx); err != nil {
		t.Fatalf("kafkatest: bringing every node back: %v", err)
	}
	mark := s.cluster.Mark()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker logs during %s:\n%s", t.Name(), s.cluster.Logs(mark, 150))
		}
	})
	return s.cluster
}

// The consumer group protocols of Kafka 4: the classic one (JoinGroup and
// SyncGroup, the client assigns) and KIP-848's (the broker assigns, via
// ConsumerGroupHeartbeat; franz-go's kgo.ServerSideBalancer). They are the
// values of consumers.Options.GroupProtocol (consumers.group_protocol).
const (
	ClassicProtocol  = "classic"
	ConsumerProtocol = "consumer"
)

// EachProtocol runs test as a subtest under each group protocol.
func EachProtocol(t *testing.T, test func(t *testing.T, protocol string)) {
	for _, p := range []string{ClassicProtocol, ConsumerProtocol} {
		t.Run(p, func(t *testing.T) { test(t, p) })
	}
}

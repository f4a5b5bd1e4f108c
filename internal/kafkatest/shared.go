package kafkatest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// Shared is the one cluster of a test package's run: TestMain starts it
// with Main, each test takes it with Get and works on its own topics and
// groups.
type Shared struct {
	opts    Options
	cluster *Cluster
	skip    string
}

// NewShared returns a Shared that Main will start with o.
func NewShared(o Options) *Shared { return &Shared{opts: o} }

// inCI is true where a missing broker must fail the run, not skip it.
func inCI() bool { return os.Getenv("CI") == "true" }

// Main starts the cluster, runs the tests and stops it; use it as
// `func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }`. Without the
// broker installed the tests skip, saying how to install it, except under
// CI=true, where that is a failure; a cluster that does not start is
// always a failure.
func (s *Shared) Main(m *testing.M) int {
	if lib, ok := Installed(); !ok {
		if inCI() {
			fmt.Fprintf(os.Stderr, "FAIL: the Kafka broker for the realkafka tier is not installed in %s (CI=true); install it with: %s\n", lib, Install)
			return 1
		}
		s.skip = "real Kafka not installed; install it with: " + Install
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, s.opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: starting a %d-node Kafka cluster: %v\n", max(s.opts.Nodes, 3), err)
		return 1
	}
	defer c.Stop()
	fmt.Fprintf(os.Stderr, "kafkatest: %d-node cluster up in %v at %v\n", len(c.nodes), time.Since(start).Round(time.Millisecond), c.Bootstrap())
	s.cluster = c
	return m.Run()
}

// Get returns the running cluster, or skips t when the broker is not
// installed. When t fails, the nodes' logs written during t are printed.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	if s.skip != "" {
		t.Skip(s.skip)
	}
	if s.cluster == nil {
		t.Fatal("kafkatest: no cluster: call Shared.Main from TestMain")
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

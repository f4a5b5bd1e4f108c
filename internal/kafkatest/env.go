package kafkatest

import (
	"testing"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// Env returns a testkit.Env on the cluster with hookbridge's topics made
// by `topics apply` (topics.Apply) as production has them: replicated to
// three brokers with min.insync.replicas 2, under a prefix of t's own.
func (c *Cluster) Env(t testing.TB) *testkit.Env {
	t.Helper()
	return testkit.StartOn(t, c.Bootstrap(), func(tc *config.Topics) {
		tc.ReplicationFactor = min(len(c.nodes), 3)
		tc.MinInsyncReplicas = min(len(c.nodes), 2)
	})
}

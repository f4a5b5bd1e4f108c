//go:build datakit

package examples

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// node returns the node binary once the example's modules are installed
// (.ci/datakit.sh runs npm ci).
func node(t *testing.T) string {
	t.Helper()
	need(t, filepath.Join("node", "node_modules", "kafkajs"), "cd examples/node && npm ci")
	p, err := exec.LookPath("node")
	if err != nil {
		need(t, "node", "install Node.js 18 or later")
	}
	return p
}

func TestNodeConsumerPrintsWhatWasPosted(t *testing.T) {
	nodeBin := node(t)
	d := startDev(t)
	postWebhooks(t, d)
	want := expected(t, d)
	checkCompression(t, d)
	printed := inTwoRuns(t, "node", 2, func(max int) []byte {
		return run(t, 90*time.Second, "node", cleanEnv(), nodeBin, "consumer.js", "--bootstrap", d.Kafka, "--registry", d.Registry,
			"--topic", decisionsDeduped+","+messagesDeduped, "--group", "datakit-node", "--max", fmt.Sprint(max))
	})
	checkPrinted(t, "node", printed, want)
}

//go:build datakit

package examples

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// python is the example's virtualenv interpreter (.ci/datakit.sh makes it).
func python(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("python", ".venv", "bin", "python"))
	return need(t, p, "python3 -m venv examples/python/.venv && examples/python/.venv/bin/pip install -r examples/python/requirements.txt")
}

func TestPythonConsumerPrintsWhatWasPosted(t *testing.T) {
	py := python(t)
	d := startDev(t)
	postWebhooks(t, d)
	want := expected(t, d)
	out := run(t, 90*time.Second, "python", cleanEnv(), py, "consumer.py", "--bootstrap", d.Kafka, "--registry", d.Registry,
		"--topic", decisionsDeduped+","+messagesDeduped, "--group", "datakit-python", "--max", fmt.Sprint(len(webhooks)))
	checkPrinted(t, "python", parseLines(t, "python", out), want)
}

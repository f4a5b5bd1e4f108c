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
	printed := inTwoRuns(t, "python", 2, func(max int) []byte {
		return run(t, 90*time.Second, "python", cleanEnv(), py, "consumer.py", "--bootstrap", d.Kafka, "--registry", d.Registry,
			"--topic", decisionsDeduped+","+messagesDeduped, "--group", "datakit-python", "--max", fmt.Sprint(max))
	})
	checkPrinted(t, "python", printed, want)
}

// A consumer written for the schema as it is now keeps decoding records
// written after a BACKWARD-compatible change (an added optional field):
// with its own reader schema it leaves the new field out.
func TestPythonConsumerDecodesAfterSchemaEvolution(t *testing.T) {
	py := python(t)
	d := startDev(t)
	d.post(t, "product-agents", "msg_evt-old", []byte(`{"event":{"id":"evt-old"},"customer":{"id":"cus-evolved"}}`))
	d.tail(t, messagesDeduped, 1)
	writeEvolved(t, d, "evt-new")
	reader, _ := filepath.Abs(filepath.Join("..", "schemas", "agent_message.avsc"))
	out := run(t, 90*time.Second, "python", cleanEnv(), py, "consumer.py", "--bootstrap", d.Kafka, "--registry", d.Registry,
		"--topic", messagesDeduped, "--group", "datakit-python-old", "--reader-schema", reader, "--max", "2")
	lines := parseLines(t, "python", out)
	if len(lines) != 2 || lines[0].Value["event_id"] != "evt-old" || lines[1].Value["event_id"] != "evt-new" {
		t.Fatalf("the old consumer printed %+v; want evt-old then evt-new", lines)
	}
	if _, has := lines[1].Value["channel"]; has {
		t.Errorf("decoded with the old reader schema, the new record still has the added field: %v", lines[1].Value)
	}
	if c, _ := lines[1].Value["customer"].(map[string]any); c["id"] != "cus-evolved" {
		t.Errorf("the new record decoded wrong: %v", lines[1].Value)
	}
}

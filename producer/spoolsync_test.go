//go:build linux

package producer

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// TestSpoolSyncsBeforeEveryAnswer watches a receiver process's system calls
// with strace while Kafka refuses every produce, so each Product Agents
// webhook is spooled: between reading a request and writing its 202, the
// process must have finished an fdatasync or fsync of the spool file. A
// SIGKILL keeps the page cache, so only this shows that a 202 would survive
// a power cut. strace is a Debian package; .ci/run installs it.
func TestSpoolSyncsBeforeEveryAnswer(t *testing.T) {
	strace := requireStrace(t)
	env := testkit.Start(t)
	refuseProduce(env.Cluster)
	token, dir := sample.NewToken(), t.TempDir()
	c := startChild(t, []string{
		"HOOKBRIDGE_KAFKA_BROKERS=" + strings.Join(env.Config.Kafka.Brokers, ","),
		"HOOKBRIDGE_SCHEMA_REGISTRY_URL=" + env.Config.SchemaRegistry.URL,
		"HOOKBRIDGE_PIQUE_SECRETS=" + sample.NewSvixSecret(),
		"HOOKBRIDGE_PRODUCT_AGENTS_TOKEN=" + token,
		"HOOKBRIDGE_SPOOL_DIR=" + dir,
		"HOOKBRIDGE_SPOOL_DEADLINE=200ms",
	})
	trace := traceProcess(t, strace, c.cmd.Process.Pid)

	const webhooks = 5
	g := sample.NewGenerator(7)
	for i := range webhooks {
		body, id := g.ProductAgents(time.Now())
		if a := post(t, c.url+"/webhooks/product-agents", sample.TokenHeaders(token), body); a.code != http.StatusAccepted {
			t.Fatalf("webhook %d (%s) answered %d %v; want 202 from the spool", i, id, a.code, a.body)
		}
	}
	calls := trace.stop(t)

	real, err := filepath.EvalSymlinks(dir) // strace names files by their resolved paths
	if err != nil {
		t.Fatal(err)
	}
	answered, synced, err := syncedAnswers(calls, filepath.Join(real, SpoolFile))
	if err != nil {
		t.Fatalf("%v\nsystem calls seen:\n%s", err, strings.Join(calls, "\n"))
	}
	if answered != webhooks || synced != webhooks {
		t.Fatalf("%d of %d answers were written after the spool file was synced (%d answers seen); "+
			"a 202 must wait for fdatasync of the spool", synced, webhooks, answered)
	}
}

// requireStrace returns strace's path; without it the test is skipped on a
// developer's machine and fails under CI=true.
func requireStrace(t *testing.T) string {
	path, err := exec.LookPath("strace")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("strace is not installed (CI=true); install it with: apt-get install strace")
	}
	t.Skip("strace is not installed: apt-get install strace to see the spool's fsync before each 202")
	return ""
}

// tracer is strace attached to a running process and its threads.
type tracer struct {
	cmd  *exec.Cmd
	out  string
	logs *testkit.LogBuffer
}

// traceProcess attaches strace to pid and returns once every thread is
// traced. The calls traced are the reads and writes of sockets and files
// and the syncs; -y names each descriptor's file or socket.
func traceProcess(t *testing.T, strace string, pid int) *tracer {
	tr := &tracer{out: filepath.Join(t.TempDir(), "strace.out"), logs: testkit.NewLogBuffer(t)}
	tr.cmd = exec.Command(strace, "-f", "-y", "-s", "48", "-e", "trace=read,write,fdatasync,fsync",
		"-e", "signal=none", "-o", tr.out, "-p", fmt.Sprint(pid))
	stderr, err := tr.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.cmd.Process.Kill(); _ = tr.cmd.Wait() })
	attached := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(tr.logs, line)
			if strings.Contains(line, "attached") {
				attached <- nil
			}
		}
		attached <- errors.New("strace ended before attaching")
	}()
	select {
	case err := <-attached:
		if err != nil {
			tr.failToAttach(t, err)
		}
	case <-time.After(30 * time.Second):
		tr.failToAttach(t, errors.New("strace did not attach within 30s"))
	}
	return tr
}

// failToAttach fails or skips as requireStrace does: a machine whose
// kernel or container forbids ptrace cannot run this test.
func (tr *tracer) failToAttach(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true): ptrace must be allowed; strace said:\n%s", err, tr.logs)
	}
	t.Skipf("%v; strace said:\n%s", err, tr.logs)
}

// stop detaches strace (SIGINT) and returns the calls it saw, each whole:
// a call split by another thread's (<unfinished ...> then <... resumed>)
// is joined again.
func (tr *tracer) stop(t *testing.T) []string {
	t.Helper()
	_ = tr.cmd.Process.Signal(os.Interrupt)
	_ = tr.cmd.Wait()
	raw, err := os.ReadFile(tr.out)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[string]string{}
	var calls []string
	for line := range strings.Lines(string(raw)) {
		pid, call := splitPid(strings.TrimSuffix(line, "\n"))
		if head, ok := strings.CutSuffix(call, " <unfinished ...>"); ok {
			pending[pid] = head
			continue
		}
		if m := resumed.FindStringSubmatchIndex(call); m != nil {
			call = pending[pid] + call[m[1]:]
			delete(pending, pid)
		}
		calls = append(calls, call)
	}
	return calls
}

var (
	resumed = regexp.MustCompile(`^<\.\.\. \w+ resumed>`)
	// strace -f -o starts each line with the thread's id.
	pidPrefix = regexp.MustCompile(`^(\d+) +`)
	// fd captures a call's name and its first argument's descriptor text.
	fdArg = regexp.MustCompile(`^(\w+)\((\d+)<([^>]*)>`)
)

func splitPid(line string) (pid, call string) {
	if m := pidPrefix.FindStringSubmatch(line); m != nil {
		return m[1], line[len(m[0]):]
	}
	return "", line
}

// syncedAnswers counts the HTTP 202 answers in calls, and those of them
// written after a successful sync of spool that itself followed the read
// of their request on the same connection.
func syncedAnswers(calls []string, spool string) (answered, synced int, err error) {
	requestRead := map[string]int{} // connection → index of its last request read
	lastSync := -1
	for i, call := range calls {
		m := fdArg.FindStringSubmatch(call)
		if m == nil {
			continue
		}
		name, conn := m[1], m[2]+"<"+m[3]+">"
		switch {
		case (name == "fdatasync" || name == "fsync") && m[3] == spool && strings.HasSuffix(call, "= 0"):
			lastSync = i
		case name == "read" && strings.Contains(call, `"POST /webhooks/`):
			requestRead[conn] = i
		case name == "write" && strings.Contains(call, `"HTTP/1.1 202`):
			answered++
			read, ok := requestRead[conn]
			if !ok {
				return answered, synced, fmt.Errorf("a 202 was written on %s without its request read in the trace", conn)
			}
			if lastSync > read {
				synced++
			}
		}
	}
	return answered, synced, nil
}

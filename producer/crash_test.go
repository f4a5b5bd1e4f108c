package producer

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// childEnv marks the test binary re-executed as a receiver process.
const childEnv = "HOOKBRIDGE_TEST_RECEIVER_CHILD"

// TestHelperReceiverProcess is not a test: TestSIGKILLMidLoadLosesNothing
// runs the test binary again with this test selected and childEnv set, and
// it then runs a receiver the way `hookbridge serve` does, configured from
// the environment (HOOKBRIDGE_KAFKA_BROKERS, HOOKBRIDGE_SPOOL_DIR, ...). It
// prints "LISTEN <addr>" once it serves, and stops gracefully on SIGTERM.
func TestHelperReceiverProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("a receiver process that the crash test starts and kills")
	}
	if err := runChildReceiver(); err != nil {
		fmt.Fprintln(os.Stderr, "child receiver:", err)
		os.Exit(1)
	}
}

func runChildReceiver() error {
	cfg, err := config.Default(os.LookupEnv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	// The same wiring as `hookbridge serve`.
	return Run(ctx, RunOptions{Config: cfg, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Metrics: prometheus.NewRegistry(), Health: &health.Checks{}, Listener: ln})
}

// child is a receiver process.
type child struct {
	cmd  *exec.Cmd
	url  string
	logs *testkit.LogBuffer
	done chan error
}

// startChild runs a receiver process with env added to the test's
// environment and waits until it listens.
func startChild(t *testing.T, env []string) *child {
	t.Helper()
	c := &child{logs: testkit.NewLogBuffer(t), done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperReceiverProcess$", "-test.count=1")
	c.cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	c.cmd.Stderr = c.logs
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				listening <- addr
			}
		}
		c.done <- c.cmd.Wait() // after stdout is read to its end, as Wait requires
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
		}
		c.wait(t)
	})
	select {
	case addr := <-listening:
		c.url = "http://" + addr
	case err := <-c.done:
		t.Fatalf("receiver process exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("receiver process did not listen within 60s")
	}
	return c
}

// wait waits for the process to exit and returns how it ended.
func (c *child) wait(t *testing.T) error {
	t.Helper()
	select {
	case err, ok := <-c.done:
		if ok {
			close(c.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("receiver process did not exit within 30s")
		return nil
	}
}

// spoolEntries reads the spool's depth from /readyz.
func spoolEntries(t testing.TB, url string) (int, bool) {
	_, body := readyz(t, url)
	sp, _ := body["spool"].(map[string]any)
	n, ok := sp["entries"].(float64)
	return int(n), ok
}

// TestSIGKILLMidLoadLosesNothing runs the receiver as a process of its own,
// lets webhooks pile up in its spool while the broker refuses every
// produce, kills it with SIGKILL in the middle of the load, and restarts it
// on the same spool dir: every webhook it acknowledged must reach Kafka.
func TestSIGKILLMidLoadLosesNothing(t *testing.T) {
	env := testkit.Start(t)
	secret, token := sample.NewSvixSecret(), sample.NewToken()
	dir := t.TempDir()
	childConfig := []string{
		"HOOKBRIDGE_KAFKA_BROKERS=" + strings.Join(env.Config.Kafka.Brokers, ","),
		"HOOKBRIDGE_SCHEMA_REGISTRY_URL=" + env.Config.SchemaRegistry.URL,
		"HOOKBRIDGE_PIQUE_SECRETS=" + secret,
		"HOOKBRIDGE_PRODUCT_AGENTS_TOKEN=" + token,
		"HOOKBRIDGE_SPOOL_DIR=" + dir,
		"HOOKBRIDGE_ACK_DEADLINE=3s",
		"HOOKBRIDGE_SPOOL_DEADLINE=500ms",
	}
	first := startChild(t, childConfig)
	testkit.Eventually(t, 30*time.Second, "the receiver process is ready", func() bool { return readyCode(first.url) == http.StatusOK })

	l := newLoader(first.url, secret, token)
	l.stopOnError = true
	l.run(200, 3, 300)
	defer l.halt()
	testkit.Eventually(t, 30*time.Second, "the receiver process answered 2xx", func() bool {
		return l.count(func(a answer) bool { return a.code/100 == 2 }) >= 10
	})

	// The broker refuses every produce (it stays reachable, so the
	// drainer keeps trying and failing): Product Agents piles up in the
	// spool, Pique gets 503.
	refuse := refuseProduce(env.Cluster)
	testkit.Eventually(t, 30*time.Second, "the spool holds 100 webhooks", func() bool {
		n, _ := spoolEntries(t, first.url)
		return n >= 100
	})

	// SIGKILL in the middle of the load: no shutdown, no flush.
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.wait(t); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("receiver process ended with %v, want killed", err)
	}
	answers := l.halt()

	// Everything acknowledged but not in Kafka is on disk.
	spooled := spooledEventIDs(t, dir)
	var inSpool int
	for _, a := range answers {
		if a.code == http.StatusAccepted {
			inSpool++
			if !spooled[a.eventID] {
				t.Errorf("%s was answered 202 but is not in the spool after SIGKILL", a.eventID)
			}
		}
	}
	if inSpool < 100 {
		t.Fatalf("only %d webhooks answered 202 before the kill: %v", inSpool, tally(answers))
	}

	// The broker takes produces again; a new process on the same spool
	// drains it at start-up.
	refuse.Remove()
	second := startChild(t, childConfig)
	testkit.Eventually(t, 30*time.Second, "the restarted receiver drained the spool", func() bool {
		n, ok := spoolEntries(t, second.url)
		return ok && n == 0 && readyCode(second.url) == http.StatusOK
	})
	acked := checkAcknowledgedInKafka(t, env, answers)
	for _, a := range answers {
		if a.source == "pique" && a.code == http.StatusAccepted {
			t.Errorf("pique %s answered 202", a.eventID)
		}
	}

	// A graceful stop of the second process.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.wait(t); err != nil {
		t.Errorf("receiver process after SIGTERM: %v", err)
	}
	if !strings.Contains(second.logs.String(), "spool holds webhooks from before the restart") {
		t.Error("the restarted receiver did not log the webhooks it found in the spool")
	}
	t.Logf("%d acknowledged (%d from the spool of a killed process), all in Kafka: %v", acked, inSpool, tally(answers))
}

// spooledEventIDs opens the spool in dir (its process is gone) and returns
// the event ids of what it holds.
func spooledEventIDs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	sp, err := OpenSpool(dir, 1<<30, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	return spoolContents(t, sp)
}

// spoolContents returns the event ids of what sp holds.
func spoolContents(t *testing.T, sp *Spool) map[string]bool {
	t.Helper()
	entries, err := sp.peek(int(sp.Len()) + 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]bool, len(entries))
	for _, e := range entries {
		m, err := mapProductAgents(&e.d, config.Topics{})
		if err != nil {
			t.Fatalf("spooled webhook %d does not map: %v", e.seq, err)
		}
		ids[m.eventID] = true
	}
	if len(entries) != int(sp.Len()) {
		t.Errorf("spool counts %d entries, holds %d", sp.Len(), len(entries))
	}
	return ids
}

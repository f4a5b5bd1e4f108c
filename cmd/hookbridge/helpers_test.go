package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/testkit"
)

// syncBuffer is a bytes.Buffer safe for a command goroutine writing while
// the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hermeticEnv clears every HOOKBRIDGE_* variable for the test (restored
// when it ends), so a developer's shell cannot steer the commands.
func hermeticEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HOOKBRIDGE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// runCmd runs one command in-process with a bounded context and returns
// its error and what it wrote.
func runCmd(t *testing.T, timeout time.Duration, cmd func(context.Context, []string, stdio) error, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errb syncBuffer
	err := cmd(ctx, args, stdio{&out, &errb})
	if ctx.Err() != nil && err == nil {
		err = fmt.Errorf("%v (command ended by its %s deadline)", ctx.Err(), timeout)
	}
	return out.String(), errb.String(), err
}

// devProcess is a `dev` running in a goroutine of the test.
type devProcess struct {
	cancel   context.CancelFunc
	done     chan error
	out, err *syncBuffer

	URL, Kafka, Registry, Warehouse string
}

var (
	bannerReceiver  = regexp.MustCompile(`(?m)^\s+receiver\s+(http://\S+)`)
	bannerKafka     = regexp.MustCompile(`(?m)^\s+kafka\s+(\S+)`)
	bannerRegistry  = regexp.MustCompile(`(?m)^\s+schema registry\s+(http://\S+)`)
	bannerWarehouse = regexp.MustCompile(`warehouse → (\S+)`)
)

// startDev runs `dev` on dataDir with OS-picked ports and waits for its
// banner. The caller stops it with stop; a test that fails before that
// still stops it (t.Cleanup).
func startDev(t *testing.T, dataDir string, extra ...string) *devProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devProcess{cancel: cancel, done: make(chan error, 1), out: &syncBuffer{}, err: &syncBuffer{}}
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"}, extra...)
	go func() { d.done <- cmdDev(ctx, args, stdio{d.out, d.err}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			t.Errorf("dev did not stop within 30s after cancel")
		}
		if t.Failed() {
			t.Logf("dev stdout:\n%s\ndev stderr:\n%s", d.out.String(), d.err.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := d.out.String()
		if strings.Contains(out, "Stop with Ctrl-C.") { // the banner's last line: it is written in parts
			d.URL = submatch(t, bannerReceiver, out)
			d.Kafka = submatch(t, bannerKafka, out)
			d.Registry = submatch(t, bannerRegistry, out)
			d.Warehouse = submatch(t, bannerWarehouse, out)
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("dev stopped before printing its banner: %v\nstderr:\n%s", err, d.err.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dev banner within 20s; stdout:\n%s\nstderr:\n%s", out, d.err.String())
		}
	}
}

// stop cancels dev's context (as SIGINT would) and returns what cmdDev returned.
func (d *devProcess) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s of cancel")
		return nil
	}
}

// useDev points the commands that read the configuration (tail, bench,
// replay) at d, as a developer's shell would.
func (d *devProcess) useDev(t *testing.T) {
	t.Setenv("HOOKBRIDGE_KAFKA_BROKERS", d.Kafka)
	t.Setenv("HOOKBRIDGE_SCHEMA_REGISTRY_URL", d.Registry)
}

func submatch(t *testing.T, re *regexp.Regexp, s string) string {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("banner has no match for %s:\n%s", re, s)
	}
	return m[1]
}

// tailLineJSON is one line `tail` prints.
type tailLineJSON struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Key         string            `json:"key"`
	Headers     map[string]string `json:"headers"`
	SchemaID    int               `json:"schema_id"`
	Value       json.RawMessage   `json:"value"`
	DecodeError string            `json:"decode_error"`
}

// tail runs `tail --topic topic -n n` and parses its lines.
func tail(t *testing.T, topic string, n int) []tailLineJSON {
	t.Helper()
	out, stderr, err := runCmd(t, 20*time.Second, cmdTail, "--topic", topic, "--from", "earliest", "-n", fmt.Sprint(n))
	if err != nil {
		t.Fatalf("tail %s -n %d: %v\nstderr: %s\nstdout: %s", topic, n, err, stderr, out)
	}
	var lines []tailLineJSON
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		var l tailLineJSON
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("tail printed a line that is not JSON: %v: %s", err, sc.Text())
		}
		lines = append(lines, l)
	}
	if len(lines) != n {
		t.Fatalf("tail -n %d printed %d lines", n, len(lines))
	}
	return lines
}

// waitFor polls cond with testkit.Eventually; cond's last error is logged
// when it never holds.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	t.Cleanup(func() {
		if t.Failed() && last != nil {
			t.Logf("%s: last error: %v", what, last)
		}
	})
	testkit.Eventually(t, within, what, func() bool {
		ok, err := cond()
		last = err
		return ok
	})
}

// parquetFiles lists the .parquet files under dir.
func parquetFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && strings.HasSuffix(p, ".parquet") {
			files = append(files, p)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return files, err
}

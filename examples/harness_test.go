//go:build datakit

package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// dev is a `hookbridge dev` process started by a test.
type dev struct {
	bin                                  string
	URL, Kafka, Registry, Warehouse, Dir string
	PiqueSecret, AgentsToken             string
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// hookbridgeBinary builds the command once per test binary.
func hookbridgeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookbridge-datakit-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "hookbridge")
		out, err := exec.Command("go", "build", "-o", built, "../cmd/hookbridge").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

var banner = map[string]*regexp.Regexp{
	"receiver":  regexp.MustCompile(`(?m)^\s+receiver\s+(http://\S+)`),
	"kafka":     regexp.MustCompile(`(?m)^\s+kafka\s+(\S+)`),
	"registry":  regexp.MustCompile(`(?m)^\s+schema registry\s+(http://\S+)`),
	"warehouse": regexp.MustCompile(`warehouse → (\S+)`),
	"pique":     regexp.MustCompile(`HOOKBRIDGE_PIQUE_SECRETS=(\S+)`),
	"token":     regexp.MustCompile(`HOOKBRIDGE_PRODUCT_AGENTS_TOKEN=(\S+)`),
}

// startDev runs `hookbridge dev` on OS-picked ports in its own folder
// (extra flags after the defaults) and waits for its banner; it is stopped
// with SIGINT when the test ends.
func startDev(t *testing.T, extra ...string) *dev {
	t.Helper()
	d := &dev{bin: hookbridgeBinary(t), Dir: t.TempDir()}
	args := append([]string{"dev", "--data-dir", filepath.Join(d.Dir, "data"), "--listen", "127.0.0.1:0",
		"--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(d.bin, args...)
	cmd.Dir = d.Dir
	cmd.Env = cleanEnv()
	out, errb := testkit.NewLogBuffer(t), testkit.NewLogBuffer(t) // printed when the test fails
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("dev did not stop within 30s of SIGINT")
		}
	})
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "Stop with Ctrl-C.") { // the banner's last line
		select {
		case err := <-exited:
			t.Fatalf("dev exited before its banner: %v\n%s", err, errb.String())
		case <-deadline:
			t.Fatalf("no dev banner within 60s:\n%s\n%s", out.String(), errb.String())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
	s := out.String()
	get := func(k string) string {
		m := banner[k].FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("dev banner has no %s:\n%s", k, s)
		}
		return m[1]
	}
	d.URL, d.Kafka, d.Registry, d.PiqueSecret, d.AgentsToken = get("receiver"), get("kafka"), get("registry"), get("pique"), get("token")
	d.Warehouse = get("warehouse")
	if !filepath.IsAbs(d.Warehouse) {
		d.Warehouse = filepath.Join(d.Dir, d.Warehouse)
	}
	return d
}

// cleanEnv is the test's environment without HOOKBRIDGE_* variables, so a
// developer's shell cannot steer dev.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKBRIDGE_") {
			env = append(env, kv)
		}
	}
	return env
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// post sends body to the receiver's route for source, signed as that
// sender signs, and fails the test unless it is acknowledged.
func (d *dev) post(t *testing.T, source string, msgID string, body []byte) {
	t.Helper()
	var h http.Header
	switch source {
	case "pique":
		var err error
		if h, err = sample.SvixHeaders(d.PiqueSecret, msgID, time.Now(), body); err != nil {
			t.Fatal(err)
		}
	case "product-agents":
		h = sample.TokenHeaders(d.AgentsToken)
	}
	req, err := http.NewRequest(http.MethodPost, d.URL+"/webhooks/"+source, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s %s: %s", source, msgID, resp.Status)
	}
}

// line is one JSON line an example or `hookbridge tail` prints.
type line struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Value     map[string]any    `json:"value"`
}

func parseLines(t *testing.T, who string, out []byte) []line {
	t.Helper()
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s printed a line that is not JSON: %v: %s", who, err, sc.Text())
		}
		lines = append(lines, l)
	}
	return lines
}

// run runs a command with a deadline and returns its stdout; it fails the
// test with the command's stderr when it fails.
func run(t *testing.T, within time.Duration, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (deadline %s)\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err, within, tailOf(stderr.String(), 8<<10), tailOf(stdout.String(), 8<<10))
	}
	return stdout.Bytes()
}

// tail returns the first n records of topic as hookbridge itself decodes
// them, waiting until there are n.
func (d *dev) tail(t *testing.T, topic string, n int) []line {
	t.Helper()
	env := append(cleanEnv(), "HOOKBRIDGE_KAFKA_BROKERS="+d.Kafka, "HOOKBRIDGE_SCHEMA_REGISTRY_URL="+d.Registry)
	return parseLines(t, "tail", run(t, 60*time.Second, d.Dir, env, d.bin, "tail", "--topic", topic, "--from", "earliest", "-n", fmt.Sprint(n)))
}

// need returns path when it exists; else the test fails under CI (every
// tier must run there) and is skipped on a developer's machine.
func need(t *testing.T, path, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: %s", path, install)
	}
	t.Skipf("%s is missing (%s)", path, install)
	return ""
}

// checkCompression asserts the codecs the examples' READMEs name: the
// receiver writes snappy batches to the raw topics (receiver.compression's
// default), dedupe snappy (franz-go's default) to the .deduped ones. A
// reader needs a codec for each.
func checkCompression(t *testing.T, d *dev) {
	t.Helper()
	for topic, want := range map[string]uint8{decisionsDeduped: 2, "pique.decisions.v1": 2} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(d.Kafka), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var got []uint8
		for len(got) == 0 && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Attrs.CompressionType()) })
		}
		cancel()
		cl.Close()
		if len(got) == 0 || got[0] != want {
			t.Errorf("%s: batches compressed with codec %v, want %d (2 snappy, 3 lz4): update the examples' codec notes", topic, got, want)
		}
	}
}

package producer

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// spoolWith writes bodies to a fresh spool in dir, as a receiver that
// answered 202 for each did, and closes it.
func spoolWith(t *testing.T, dir string, bodies [][]byte) {
	t.Helper()
	sp, err := OpenSpool(dir, 1<<30, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		if err := sp.Append(context.Background(), &delivery{Source: "product-agents", ReceivedAt: time.Now().UTC(), Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

// agentBodies returns n sample Product Agents bodies from seed.
func agentBodies(seed uint64, n int) [][]byte {
	g := sample.NewGenerator(seed)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i], _ = g.ProductAgents(time.Now())
	}
	return bodies
}

// flipByte corrupts body's spooled copy in the spool file: the first byte
// of its base64 becomes one base64 does not have. bbolt keeps stale copies
// of pages, so every copy is flipped.
func flipByte(t *testing.T, dir string, body []byte) {
	t.Helper()
	path := filepath.Join(dir, SpoolFile)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	needle := []byte(`"body":"` + base64.StdEncoding.EncodeToString(body))
	n := 0
	for i := bytes.Index(file, needle); i >= 0; i = bytes.Index(file, needle) {
		file[i+len(`"body":"`)] = '!'
		n++
	}
	if n == 0 {
		t.Fatal("the body is not in the spool file")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// One flipped byte in one of 50 spooled webhooks: the 49 others drain, the
// one is quarantined to the dead-letter topic and counted, and /readyz says
// so. Today's receiver drained none of them.
func TestCorruptSpoolEntryIsQuarantinedAndTheRestDrain(t *testing.T) {
	env := testkit.Start(t)
	dir := t.TempDir()
	g := sample.NewGenerator(21)
	var bodies [][]byte
	ids := map[string]bool{}
	for range 50 {
		b, id := g.ProductAgents(time.Now())
		bodies, ids[id] = append(bodies, b), true
	}
	spoolWith(t, dir, bodies)
	flipByte(t, dir, bodies[16])

	fr := newRig(t, rigOptions{spool: true, env: env, dir: dir})
	testkit.Eventually(t, 30*time.Second, "the spool drains", func() bool { return fr.spool.Len() == 0 })

	got := eventIDs(t, env, env.Config.Topics.ProductAgents())
	if len(got) != 49 {
		t.Errorf("%d of the 49 intact webhooks reached Kafka", len(got))
	}
	for id := range got {
		if !ids[id] {
			t.Errorf("unexpected event %s", id)
		}
	}
	dls := env.ReadAll(t, env.Config.Topics.DeadLetter())
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	if r := schemas.Header(dls[0], HeaderSpoolReason); r != "corrupt" || schemas.Header(dls[0], consumers.HeaderErrorKind) != r || !strings.Contains(schemas.Header(dls[0], consumers.HeaderError), "does not decode") ||
		!bytes.Contains(dls[0].Value, []byte(`"body":"!`)) {
		t.Errorf("dead letter: reason %q, error %q, value %.80q", r, schemas.Header(dls[0], consumers.HeaderError), dls[0].Value)
	}
	if n := metric(t, fr.url, `hookbridge_spool_quarantined_total{reason="corrupt"}`); n != 1 {
		t.Errorf("hookbridge_spool_quarantined_total{reason=corrupt} = %v, want 1", n)
	}
	_, body := readyz(t, fr.url)
	spool, _ := body["spool"].(map[string]any)
	if status, _ := spool["status"].(string); !strings.Contains(status, "degraded") || !strings.Contains(status, "corrupt") || spool["quarantined"] != 1.0 {
		t.Errorf("/readyz spool: %v", spool)
	}
	// New webhooks go straight to Kafka again.
	next, _ := g.ProductAgents(time.Now())
	if resp := fr.postAgents(t, next); resp.code != http.StatusOK {
		t.Errorf("next webhook: %d %v, want 200", resp.code, resp.body)
	}
}

// A spooled webhook whose record no longer fits (the limit was lowered
// after it was spooled) is quarantined as too large; those behind it drain.
func TestTooLargeSpoolEntryIsQuarantined(t *testing.T) {
	env := testkit.Start(t)
	dir := t.TempDir()
	small, id := sample.NewGenerator(22).ProductAgents(time.Now())
	big := []byte(`{"event":{"id":"big"},"content":{"body":"` + incompressible(300<<10) + `"}}`)
	spoolWith(t, dir, [][]byte{big, small})
	fr := newRig(t, rigOptions{spool: true, env: env, dir: dir, tweak: func(o *Options) {
		o.Receiver.BodyLimit, o.Receiver.MaxRecordBytes = 200<<10, 500_000
	}})
	testkit.Eventually(t, 30*time.Second, "the spool drains", func() bool { return fr.spool.Len() == 0 })
	if got := eventIDs(t, env, env.Config.Topics.ProductAgents()); len(got) != 1 || got[id] != 1 {
		t.Errorf("records in Kafka: %v, want only %s", got, id)
	}
	if n := metric(t, fr.url, `hookbridge_spool_quarantined_total{reason="too_large"}`); n != 1 {
		t.Errorf("quarantined too_large = %v, want 1", n)
	}
	dls := env.ReadAll(t, env.Config.Topics.DeadLetter())
	if len(dls) != 1 || !bytes.Equal(dls[0].Value, big) || schemas.Header(dls[0], schemas.HeaderEventID) != "big" {
		t.Errorf("dead letters: %d", len(dls))
	}
}

// failingPublisher refuses every record, as Kafka does when the
// dead-letter topic cannot be written.
type failingPublisher struct{}

func (failingPublisher) Publish(_ *kgo.Record, done func(error)) {
	done(errors.New("dead-letter topic unavailable"))
}

// When the dead-letter topic cannot take it, a quarantined entry goes to
// the quarantine file beside the spool, fsynced, with its bytes.
func TestQuarantineFallsBackToAFile(t *testing.T) {
	r := newRig(t, rigOptions{spool: true, unserved: true, tweak: func(o *Options) { o.Publisher = failingPublisher{} }})
	srv, sp, dir := r.srv, r.spool, r.dir
	e := spoolEntry{seq: 7, raw: []byte("not json"), err: errors.New("spool entry 7 does not decode")}
	if err := srv.quarantine(context.Background(), e, quarantineCorrupt, e.err); err != nil {
		t.Fatal(err)
	}
	line, err := os.ReadFile(filepath.Join(dir, QuarantineFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, []byte(`"seq":7,"reason":"corrupt"`)) || !bytes.Contains(line, []byte(base64.StdEncoding.EncodeToString([]byte("not json")))) {
		t.Errorf("quarantine file: %s", line)
	}
	if q := sp.lastQuarantine.Load(); q == nil || !strings.Contains(*q, QuarantineFile) {
		t.Errorf("readiness status %v, want it to name the quarantine file", q)
	}
}

// A truncated spool file stops the receiver with a message that names the
// file and what to do, never a bbolt panic.
func TestTruncatedSpoolFileFailsWithWhatToDo(t *testing.T) {
	g := sample.NewGenerator(23)
	var bodies [][]byte
	for range 200 {
		b, _ := g.ProductAgents(time.Now())
		bodies = append(bodies, bytes.Repeat(b, 4))
	}
	for _, keep := range []float64{0.5, 0.3, 0.1, 0.01} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			dir := t.TempDir()
			spoolWith(t, dir, bodies)
			path := filepath.Join(dir, SpoolFile)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, int64(float64(st.Size())*keep)); err != nil {
				t.Fatal(err)
			}
			_, err = OpenSpool(dir, 1<<30, nil, slog.New(slog.DiscardHandler))
			var damaged *DamagedSpoolError
			if !errors.As(err, &damaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "hookbridge spool drain --file") {
				t.Fatalf("opening a truncated spool: %v", err)
			}
		})
	}
}

// A full disk: the webhook gets 503 (nothing was kept) and /readyz's spool
// check says the disk is full, until a write succeeds again.
func TestFullDiskShowsOnReadyz(t *testing.T) {
	fr := newRig(t, rigOptions{spool: true})
	fr.waitReady(t, http.StatusOK)
	full := fmt.Errorf("write %s: %w", fr.spool.path, syscall.ENOSPC)
	fr.spool.writeFault.Store(&full)
	outage(fr.env.Cluster)
	testkit.Eventually(t, 20*time.Second, "/readyz reports Kafka unreachable", func() bool { return readyCode(fr.url) == http.StatusServiceUnavailable })
	body, _ := sample.NewGenerator(24).ProductAgents(time.Now())
	if resp := fr.postAgents(t, body); resp.code != http.StatusServiceUnavailable {
		t.Fatalf("status %d %v with a full disk and Kafka away, want 503", resp.code, resp.body)
	}
	_, ready := readyz(t, fr.url)
	checks, _ := ready["checks"].(map[string]any)
	if msg, _ := checks["spool"].(string); !strings.Contains(msg, "disk is full") {
		t.Fatalf("/readyz spool check: %q, want it to say the disk is full", msg)
	}
	fr.spool.writeFault.Store(nil) // room again
	testkit.Eventually(t, 20*time.Second, "the spool check is ok again", func() bool {
		_, ready := readyz(t, fr.url)
		checks, _ := ready["checks"].(map[string]any)
		return checks["spool"] == "ok"
	})
}

// While the registry is away the receiver retries with backoff and warns
// once, saying what it retries and since when, instead of a warning a
// second.
func TestSchemaRegistrationBacksOff(t *testing.T) {
	src, err := connect.SchemaRegistry(config.SchemaRegistry{URL: "http://" + freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{schemas: schemas.NewRegistry(src), unserved: true})
	srv, logs := r.srv, r.logs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.registerSchemas(ctx); close(done) }()
	testkit.Eventually(t, 20*time.Second, "three attempts failed", func() bool { return strings.Contains(logs.String(), "attempt=3") })
	cancel()
	<-done
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("%d warnings in 3 failed attempts, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "failing_since=") || !strings.Contains(out, "retry_in=2s") || !strings.Contains(out, "retry_in=4s") {
		t.Errorf("the retries do not say since when or back off:\n%s", out)
	}
}

// `hookbridge spool drain --file F` sends what a spool file holds to
// Kafka: all of an intact file, in order, and whatever pages of a
// truncated one still hold.
func TestDrainFile(t *testing.T) {
	g := sample.NewGenerator(25)
	var bodies [][]byte
	ids := map[string]int{}
	for i := range 200 {
		b, id := g.ProductAgents(time.Now())
		bodies, ids[id] = append(bodies, bytes.Repeat([]byte(" "), 1000)), i
		bodies[i] = append(bodies[i], b...) // bigger entries: more pages
	}
	for _, keep := range []float64{1, 0.5} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			env := testkit.Start(t)
			dir := t.TempDir()
			spoolWith(t, dir, bodies)
			path := filepath.Join(dir, SpoolFile)
			if keep < 1 {
				st, _ := os.Stat(path)
				if err := os.Truncate(path, int64(float64(st.Size())*keep)); err != nil {
					t.Fatal(err)
				}
			}
			cl := env.Client(t, ProducerOpts(time.Millisecond)...)
			rep, err := DrainFile(context.Background(), path, Options{Receiver: env.Config.Receiver, Topics: env.Config.Topics,
				Schemas: env.Schemas, Publisher: KafkaPublisher{Client: cl}})
			if err != nil {
				t.Fatal(err)
			}
			recs := env.ReadAll(t, env.Config.Topics.ProductAgents())
			if rep.Salvaged != (keep < 1) || rep.Produced != len(recs) || rep.Quarantined != 0 {
				t.Fatalf("report %+v with %d records in Kafka", rep, len(recs))
			}
			if keep == 1 && len(recs) != 200 {
				t.Fatalf("%d of 200 webhooks drained from an intact file", len(recs))
			}
			if keep < 1 && len(recs) < 50 {
				t.Fatalf("only %d webhooks salvaged from half a file", len(recs))
			}
			for _, r := range recs {
				if _, ok := ids[schemas.Header(r, schemas.HeaderEventID)]; !ok {
					t.Fatalf("unknown event %s", schemas.Header(r, schemas.HeaderEventID))
				}
			}
		})
	}
}

// A damaged spool file in which one entry no longer decodes: `spool drain`
// finds all 10 entries, sends the 9 intact ones and quarantines the tenth
// as corrupt, counted. It used to skip such an entry silently.
func TestDrainFileQuarantinesAnUndecodableEntryOfADamagedFile(t *testing.T) {
	env := testkit.Start(t)
	dir := t.TempDir()
	bodies := agentBodies(34, 10)
	spoolWith(t, dir, bodies)
	flipByte(t, dir, bodies[9])
	path := filepath.Join(dir, SpoolFile)
	damageMetas(t, path)

	cl := env.Client(t, ProducerOpts(time.Millisecond)...)
	rep, err := DrainFile(context.Background(), path, Options{Receiver: env.Config.Receiver, Topics: env.Config.Topics,
		Schemas: env.Schemas, Publisher: KafkaPublisher{Client: cl}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Salvaged || rep.Entries != 10 || rep.Produced != 9 || rep.Quarantined != 1 {
		t.Errorf("report %+v, want salvaged, 10 found, 9 sent, 1 quarantined", rep)
	}
	if n := len(env.ReadAll(t, env.Config.Topics.ProductAgents())); n != 9 {
		t.Errorf("%d records in Kafka, want 9", n)
	}
	dls := env.ReadAll(t, env.Config.Topics.DeadLetter())
	if len(dls) != 1 || schemas.Header(dls[0], HeaderSpoolReason) != quarantineCorrupt || !bytes.Contains(dls[0].Value, []byte(`"body":"!`)) {
		t.Fatalf("%d dead letters, want 1 corrupt one holding the spooled bytes", len(dls))
	}
}

// A damaged file can hold an entry twice, a stale page's copy beside the
// live one; when one of them no longer decodes, the other is sent.
func TestSalvagePrefersACopyThatDecodes(t *testing.T) {
	dir := t.TempDir()
	bodies := agentBodies(34, 10)
	spoolWith(t, dir, bodies)
	path := filepath.Join(dir, SpoolFile)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := false
	for _, b := range bodies {
		needle := []byte(`"body":"` + base64.StdEncoding.EncodeToString(b))
		if bytes.Count(file, needle) >= 2 {
			file[bytes.Index(file, needle)+len(`"body":"`)] = '!' // the copy salvage reads first
			flipped = true
			break
		}
	}
	if !flipped {
		t.Fatal("no entry has two copies in the spool file; the test needs one")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	damageMetas(t, path)
	es, err := salvage(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.err != nil {
			t.Errorf("entry %d: %v, want its intact copy", e.seq, e.err)
		}
	}
	if len(es) != 10 {
		t.Errorf("%d entries salvaged, want 10", len(es))
	}
}

// damageMetas overwrites both bbolt meta pages of the file at path, so
// bbolt refuses it and `spool drain` reads its pages.
func damageMetas(t *testing.T, path string) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := readMeta(file)
	if !m.checksumOK {
		t.Fatal("the spool file's first meta page is not valid to begin with")
	}
	for _, at := range []int{pageHeaderSize, int(m.pageSize) + pageHeaderSize} {
		copy(file[at:at+metaSize], bytes.Repeat([]byte{0xff}, metaSize))
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// dev opens the spool again in one process with one registry: the metrics
// register without a panic and report the spool opened last.
func TestSpoolMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	first, err := OpenSpool(t.TempDir(), 1<<30, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	dir := t.TempDir()
	spoolWith(t, dir, [][]byte{[]byte(`{}`), []byte(`{}`)})
	second, err := OpenSpool(dir, 1<<30, reg, log)
	if err != nil {
		t.Fatalf("second spool on the same registry: %v", err)
	}
	defer second.Close()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "hookbridge_spool_depth" && f.GetMetric()[0].GetGauge().GetValue() != 2 {
			t.Errorf("hookbridge_spool_depth = %v, want the second spool's 2", f.GetMetric()[0].GetGauge().GetValue())
		}
	}
}

// Product Agents never retries: when the spool cannot be written but Kafka
// is up, the webhook goes to Kafka directly rather than getting a 503.
func TestFailingSpoolDiskFallsBackToKafka(t *testing.T) {
	env := testkit.Start(t)
	dir := t.TempDir()
	old, _ := sample.NewGenerator(26).ProductAgents(time.Now())
	spoolWith(t, dir, [][]byte{old}) // non-empty: new webhooks queue behind it
	full := fmt.Errorf("write: %w", syscall.ENOSPC)
	fr := newRig(t, rigOptions{spool: true, env: env, dir: dir, tweak: func(o *Options) { o.Spool.writeFault.Store(&full) }})
	testkit.Eventually(t, 20*time.Second, "Kafka and the schemas are ready, the spool check says the disk is full", func() bool {
		_, ready := readyz(t, fr.url)
		checks, _ := ready["checks"].(map[string]any)
		msg, _ := checks["spool"].(string)
		return checks["kafka"] == "ok" && checks["schemas"] == "ok" && strings.Contains(msg, "disk is full")
	})
	body, id := sample.NewGenerator(27).ProductAgents(time.Now())
	if resp := fr.postAgents(t, body); resp.code != http.StatusOK {
		t.Fatalf("status %d %v with a failing spool disk and Kafka up, want 200", resp.code, resp.body)
	}
	if got := eventIDs(t, env, env.Config.Topics.ProductAgents()); got[id] == 0 {
		t.Errorf("webhook %s not in Kafka", id)
	}
}

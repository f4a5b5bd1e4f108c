package main

import (
	"context"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// devTestEnv is the environment a newcomer's shell would have, with the
// warehouse flushing every second so the test stays short.
func devTestEnv(t *testing.T) {
	t.Helper()
	hermeticEnv(t)
	t.Setenv("HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL", "1s")
	t.Setenv("HOOKBRIDGE_CONSUMER_COMMIT_INTERVAL", "200ms")
	t.Setenv("HOOKBRIDGE_CONSUMER_SHUTDOWN_TIMEOUT", "10s")
}

// startDevWithDefaults runs dev on a fresh data dir in a newcomer's
// environment and points this process's commands at it; it returns the
// default configuration (for topic names) and the data dir.
func startDevWithDefaults(t *testing.T) (*config.Config, string, *devProcess) {
	t.Helper()
	devTestEnv(t)
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dev := startDev(t, dir)
	dev.useDev(t)
	return cfg, dir, dev
}

var sentLine = regexp.MustCompile(`sent (\d+) \S+ webhooks \((\d+) unique, (\d+) duplicates\).*: (\d+) accepted`)

// sendSample runs send-sample and returns how many webhooks it sent and
// how many of them were duplicates.
func sendSample(t *testing.T, args ...string) (sent, dups int) {
	t.Helper()
	out, stderr, err := runCmd(t, 20*time.Second, cmdSendSample, args...)
	if err != nil {
		t.Fatalf("send-sample %v: %v\n%s%s", args, err, out, stderr)
	}
	m := sentLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("send-sample printed no summary: %q", out)
	}
	sent, _ = strconv.Atoi(m[1])
	dups, _ = strconv.Atoi(m[3])
	if acc, _ := strconv.Atoi(m[4]); acc != sent {
		t.Fatalf("send-sample: %d of %d accepted: %s", acc, sent, out)
	}
	return sent, dups
}

// eventIDs counts the lines per event-id header, checking each is a
// decoded Avro record.
func eventIDs(t *testing.T, lines []tailLineJSON) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, l := range lines {
		if l.DecodeError != "" || l.SchemaID <= 0 {
			t.Fatalf("%s/%d@%d not decoded through the registry (schema_id %d): %s", l.Topic, l.Partition, l.Offset, l.SchemaID, l.DecodeError)
		}
		id := l.Headers["event-id"]
		if id == "" {
			t.Fatalf("%s/%d@%d has no event-id header", l.Topic, l.Partition, l.Offset)
		}
		ids[id]++
	}
	return ids
}

// schemaIDs returns the distinct schema ids of lines.
func schemaIDs(lines []tailLineJSON) []int {
	set := map[int]bool{}
	for _, l := range lines {
		set[l.SchemaID] = true
	}
	var ids []int
	for id := range set {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// waitDedupeCaughtUp waits until the dedupe group has committed every
// record of the raw topics: its outputs commit in the same transactions,
// so the .deduped topics are then complete.
func waitDedupeCaughtUp(t *testing.T, brokers string, cfg *config.Config) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitFor(t, 20*time.Second, "dedupe group commits every raw record", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, cfg.Topics.Raw()...)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return false, err
		}
		committed, err := adm.FetchOffsets(ctx, cfg.Dedupe.Group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return false, err
		}
		caught := true
		ends.Each(func(e kadm.ListedOffset) {
			if e.Offset == 0 {
				return
			}
			if c, ok := committed.Lookup(e.Topic, e.Partition); !ok || c.At < e.Offset {
				caught = false
			}
		})
		return caught, nil
	})
}

type recordPos struct {
	partition int32
	offset    int64
	id        string
	schema    int
}

func positions(lines []tailLineJSON) map[recordPos]bool {
	m := map[recordPos]bool{}
	for _, l := range lines {
		m[recordPos{l.Partition, l.Offset, l.Headers["event-id"], l.SchemaID}] = true
	}
	return m
}

// TestDevEndToEnd walks the README's "Try it" path in-process: dev, two
// send-samples, tail of the raw and deduped topics, Parquet in the
// warehouse, a graceful stop, and a restart on the same data directory.
func TestDevEndToEnd(t *testing.T) {
	devTestEnv(t)
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	pique, agents := cfg.Topics.Pique(), cfg.Topics.ProductAgents()
	dir := t.TempDir()

	dev := startDev(t, dir)
	if want := filepath.Join(dir, "warehouse"); dev.Warehouse != want {
		t.Errorf("banner warehouse %q, want %q", dev.Warehouse, want)
	}
	dev.useDev(t)

	sent, dups := sendSample(t, "--source", "pique", "--count", "20", "--duplicates", "0.5", "--seed", "7", "--data-dir", dir, "--url", dev.URL)
	if sent != 20+dups || dups == 0 {
		t.Fatalf("send-sample sent %d with %d duplicates; want 20 + duplicates and some duplicates at 0.5", sent, dups)
	}
	if s, d := sendSample(t, "--source", "product-agents", "--count", "5", "--seed", "7", "--data-dir", dir, "--url", dev.URL); s != 5 || d != 0 {
		t.Fatalf("product-agents: sent %d (%d duplicates), want 5", s, d)
	}

	// The raw topic holds every webhook sent, duplicates included.
	raw := tail(t, pique, sent)
	rawIDs := eventIDs(t, raw)
	if len(rawIDs) != 20 {
		t.Fatalf("raw topic: %d distinct event ids in %d records, want 20", len(rawIDs), len(raw))
	}
	twice := 0
	for _, n := range rawIDs {
		if n == 2 {
			twice++
		}
	}
	if twice != dups {
		t.Errorf("raw topic: %d ids appear twice, send-sample reported %d duplicates", twice, dups)
	}
	if got := len(testkit.ReadCommitted(t, []string{dev.Kafka}, pique)); got != sent {
		t.Errorf("raw topic holds %d records, want %d", got, sent)
	}
	rawSchemas := schemaIDs(raw)
	agentLines := tail(t, agents, 5)
	eventIDs(t, agentLines)
	agentSchemas := schemaIDs(agentLines)

	// The deduped topic holds each id exactly once.
	waitDedupeCaughtUp(t, dev.Kafka, cfg)
	deduped := tail(t, cfg.Topics.Deduped(pique), 20)
	dedupedIDs := eventIDs(t, deduped)
	if len(dedupedIDs) != 20 {
		t.Fatalf("deduped topic: %d distinct ids in its first 20 records, want 20", len(dedupedIDs))
	}
	for id := range dedupedIDs {
		if rawIDs[id] == 0 {
			t.Errorf("deduped id %s is not in the raw topic", id)
		}
	}
	if got := testkit.ReadCommitted(t, []string{dev.Kafka}, cfg.Topics.Deduped(pique)); len(got) != 20 {
		t.Fatalf("deduped topic holds %d committed records, want exactly 20", len(got))
	}
	if got := testkit.ReadCommitted(t, []string{dev.Kafka}, cfg.Topics.Deduped(agents)); len(got) != 5 {
		t.Fatalf("deduped product-agents topic holds %d committed records, want 5", len(got))
	}

	// The warehouse writes Parquet.
	waitFor(t, 15*time.Second, "a .parquet file under "+dev.Warehouse, func() (bool, error) {
		files, err := parquetFiles(dev.Warehouse)
		return len(files) > 0, err
	})

	if err := dev.stop(t); err != nil {
		t.Fatalf("dev returned %v after cancel, want nil (graceful stop)", err)
	}

	// Restart on the same data directory, consumers off: records and schema
	// ids survive.
	dev = startDev(t, dir, "--consumers=false")
	dev.useDev(t)
	again := tail(t, pique, sent)
	if got, want := schemaIDs(again), rawSchemas; !equalInts(got, want) {
		t.Errorf("after restart the raw records carry schema ids %v, before %v", got, want)
	}
	before := positions(raw)
	for p := range positions(again) {
		if !before[p] {
			t.Errorf("after restart: record %+v was not there before", p)
		}
	}
	if got := schemaIDs(tail(t, agents, 5)); !equalInts(got, agentSchemas) {
		t.Errorf("after restart product-agents records carry schema ids %v, before %v", got, agentSchemas)
	}
	if got := testkit.ReadCommitted(t, []string{dev.Kafka}, cfg.Topics.Deduped(pique)); len(got) != 20 {
		t.Errorf("after restart the deduped topic holds %d records, want 20", len(got))
	}

	// New webhooks are registered under the same ids.
	more, _ := sendSample(t, "--source", "pique", "--count", "3", "--seed", "8", "--data-dir", dir, "--url", dev.URL)
	if got := schemaIDs(tail(t, pique, sent+more)); !equalInts(got, rawSchemas) {
		t.Errorf("records sent after the restart carry schema ids %v, want %v as before", got, rawSchemas)
	}

	// The stopped dedupe group (dev left the group on the way down) can be
	// replayed from the start; see docs/readme/consumers-dedupe.md.
	if out, stderr, err := runCmd(t, 20*time.Second, cmdReplay, "--group", cfg.Dedupe.Group, "--to", "earliest"); err != nil {
		t.Fatalf("replay of the stopped dedupe group: %v\n%s%s", err, out, stderr)
	}
	if err := dev.stop(t); err != nil {
		t.Fatalf("restarted dev returned %v after cancel, want nil", err)
	}

	// With the consumers back, dedupe reads the raw topics again from the
	// start but emits only the 3 new ids: the 20 old ones are remembered
	// (changelog), so the deduped topic does not get them twice.
	dev = startDev(t, dir)
	dev.useDev(t)
	waitDedupeCaughtUp(t, dev.Kafka, cfg)
	got := testkit.ReadCommitted(t, []string{dev.Kafka}, cfg.Topics.Deduped(pique))
	ids := map[string]int{}
	for _, r := range got {
		ids[headerValue(r, "event-id")]++
	}
	if len(got) != 20+more || len(ids) != 20+more {
		t.Errorf("after replaying dedupe and %d new webhooks the deduped topic holds %d records with %d distinct ids, want %d of each",
			more, len(got), len(ids), 20+more)
	}
	if err := dev.stop(t); err != nil {
		t.Fatalf("third dev returned %v after cancel, want nil", err)
	}
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// deadLetterFixture writes three dead letters: two Avro decisions that
// klaviyo rejected, half an hour apart (dec-2 written before dead letters
// had an error-kind header), and a value that dedupe found undecodable.
type deadLetterFixture struct {
	env            *testkit.Env
	raw, deduped   string
	decodeFailedAt time.Time
}

func newDeadLetterFixture(t *testing.T) *deadLetterFixture {
	t.Helper()
	env := groupsFixture(t)
	f := &deadLetterFixture{env: env, raw: env.Config.Topics.Pique(), deduped: env.Config.Topics.Deduped(env.Config.Topics.Pique()),
		decodeFailedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	dl := env.Config.Topics.DeadLetter()
	first := env.Record(t, f.deduped, &schemas.DecisionMade{EventID: "dec-1", EventType: "decision.made",
		ReceivedAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Decision: schemas.Decision{Action: new("<b>cart_abandonment</b> é")}, RawJSON: `{"id":"dec-1"}`})
	first.Partition, first.Offset = 2, 40
	second := env.Record(t, f.deduped, &schemas.DecisionMade{EventID: "dec-2", EventType: "decision.made",
		ReceivedAt: time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC), RawJSON: `{"id":"dec-2"}`})
	second.Partition, second.Offset = 1, 7
	bad := &kgo.Record{Topic: f.raw, Partition: 0, Offset: 3, Key: []byte("k"), Value: []byte("not avro"),
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderEventID, Value: []byte("bad-1")}}}
	env.Produce(t,
		consumers.DeadLetterRecord(dl, "hookbridge-klaviyo", first, consumers.WithKind("rejected", errors.New("klaviyo: 400 invalid email")), f.decodeFailedAt.Add(-time.Hour)),
		consumers.DeadLetterRecord(dl, "hookbridge-klaviyo", second, errors.New("klaviyo: 400 invalid email"), f.decodeFailedAt.Add(-30*time.Minute)),
		consumers.DeadLetterRecord(dl, "hookbridge-dedupe", bad, consumers.WithKind("undecodable", errors.New("dedupe: value of 8 bytes is not in the Confluent wire format")), f.decodeFailedAt),
	)
	return f
}

type deadLetterLine struct {
	tailLineJSON
	DeadLetter struct {
		Error             string `json:"error"`
		Kind              string `json:"kind"`
		Group             string `json:"group"`
		FailedAt          string `json:"failed_at"`
		OriginalTopic     string `json:"original_topic"`
		OriginalPartition int32  `json:"original_partition"`
		OriginalOffset    int64  `json:"original_offset"`
	} `json:"dead_letter"`
}

func listDL(t *testing.T, args ...string) []deadLetterLine {
	t.Helper()
	out, stderr, err := runCmd(t, 30*time.Second, cmdDeadLetters, append([]string{"list", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("deadletters list %v: %v\nstderr: %s", args, err, stderr)
	}
	var lines []deadLetterLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l deadLetterLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %v: %s", err, sc.Text())
		}
		lines = append(lines, l)
	}
	return lines
}

func letterIDs(lines []deadLetterLine) string {
	var ids []string
	for _, l := range lines {
		ids = append(ids, l.Headers[schemas.HeaderEventID])
	}
	return strings.Join(ids, ",")
}

func TestDeadLettersListDecodesAndFilters(t *testing.T) {
	f := newDeadLetterFixture(t)
	all := listDL(t)
	if len(all) != 3 {
		t.Fatalf("list printed %d dead letters, want 3", len(all))
	}
	byID := map[string]deadLetterLine{}
	for _, l := range all {
		byID[l.Headers[schemas.HeaderEventID]] = l
	}
	first := byID["dec-1"]
	var v struct {
		EventID  string `json:"event_id"`
		Decision struct {
			Action *string `json:"action"`
		} `json:"decision"`
	}
	if err := json.Unmarshal(first.Value, &v); err != nil || v.EventID != "dec-1" || v.Decision.Action == nil || *v.Decision.Action != "<b>cart_abandonment</b> é" {
		t.Errorf("dec-1 value not decoded through the registry: %s (%v)", first.Value, err)
	}
	if d := first.DeadLetter; d.Group != "hookbridge-klaviyo" || d.OriginalTopic != f.deduped || d.OriginalPartition != 2 ||
		d.OriginalOffset != 40 || d.Error != "klaviyo: 400 invalid email" || d.Kind != "rejected" || d.FailedAt != "2026-05-01T09:00:00Z" {
		t.Errorf("dec-1 error headers: %+v", d)
	}
	if k := byID["dec-2"].DeadLetter.Kind; k != "" {
		t.Errorf("dec-2, written without an error-kind header, lists kind %q", k)
	}
	if bad := byID["bad-1"]; string(bad.Value) != `"not avro"` {
		t.Errorf("a value that is not Avro prints as text: %s", bad.Value)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--group", "hookbridge-dedupe"}, "bad-1"},
		{[]string{"--reason", "WIRE FORMAT"}, "bad-1"},
		{[]string{"--reason", "invalid email"}, "dec-1,dec-2"},
		// dec-2 has no error-kind header: --kind never matches it.
		{[]string{"--kind", "rejected"}, "dec-1"},
		{[]string{"--kind", "undecodable"}, "bad-1"},
		{[]string{"--kind", "reject"}, ""},
		{[]string{"--topic", f.deduped}, "dec-1,dec-2"},
		{[]string{"--since", "2026-05-01T09:15:00Z", "--until", "2026-05-01T10:00:00Z"}, "dec-2"},
		{[]string{"--at", f.deduped + "/2/40"}, "dec-1"},
	} {
		if got := letterIDs(listDL(t, c.args...)); got != c.want {
			t.Errorf("list %v: %s, want %s", c.args, got, c.want)
		}
	}
	table, _, err := runCmd(t, 30*time.Second, cmdDeadLetters, "list")
	if err != nil || !strings.Contains(table, "3 dead letters") || !strings.Contains(table, f.deduped+"/2/40") ||
		!strings.Contains(table, "KIND") || !strings.Contains(table, "undecodable") {
		t.Errorf("list table (%v):\n%s", err, table)
	}
}

// A redrive copies the chosen dead letters with their key, value and
// headers (error headers dropped, redriven-from added); a second redrive
// copies nothing; --dry-run writes nothing.
func TestDeadLettersRedriveOnceWithDryRunFirst(t *testing.T) {
	f := newDeadLetterFixture(t)
	out, _, err := runCmd(t, 30*time.Second, cmdDeadLetters, "redrive", "--topic", f.deduped, "--dry-run")
	if err != nil || !strings.Contains(out, "2 of 2 dead letters would be redriven") {
		t.Fatalf("redrive --dry-run (%v):\n%s", err, out)
	}
	if got := f.env.ReadAll(t, f.deduped); len(got) != 0 {
		t.Fatalf("--dry-run wrote %d records", len(got))
	}
	if _, _, err := runCmd(t, 30*time.Second, cmdDeadLetters, "redrive"); err == nil {
		t.Error("redrive without a filter redrove everything; want it to ask for a choice")
	}
	for run, want := range []string{"2 of 2 dead letters redriven", "0 of 2 dead letters redriven"} {
		out, _, err := runCmd(t, 30*time.Second, cmdDeadLetters, "redrive", "--topic", f.deduped)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("redrive run %d (%v): want %q in\n%s", run+1, err, want, out)
		}
	}
	copies := f.env.ReadAll(t, f.deduped)
	if len(copies) != 2 {
		t.Fatalf("%d copies in %s after two redrives, want 2", len(copies), f.deduped)
	}
	originals := map[string]*kgo.Record{}
	for _, d := range f.env.ReadAll(t, f.env.Config.Topics.DeadLetter()) {
		originals[schemas.Header(d, schemas.HeaderEventID)] = d
	}
	for _, c := range copies {
		id := schemas.Header(c, schemas.HeaderEventID)
		dl := originals[id]
		if dl == nil || string(c.Key) != string(dl.Key) || string(c.Value) != string(dl.Value) || c.Partition != deadLetterOf(dl).OriginalPartition {
			t.Errorf("copy of %s: key, value or partition (%d) differs from the dead letter's", id, c.Partition)
			continue
		}
		if schemas.Header(c, consumers.HeaderError) != "" || schemas.Header(c, consumers.HeaderOriginalTopic) != "" {
			t.Errorf("copy of %s still carries the error headers: %v", id, c.Headers)
		}
		if schemas.Header(c, schemas.HeaderReceivedAt) != schemas.Header(dl, schemas.HeaderReceivedAt) || schemas.Header(c, schemas.HeaderSource) == "" {
			t.Errorf("copy of %s lost the original headers: %v", id, c.Headers)
		}
		if got, want := schemas.Header(c, HeaderRedrivenFrom), deadLetterOf(dl).self(); got != want {
			t.Errorf("copy of %s: redriven-from %q, want %q", id, got, want)
		}
	}
}

// redrive --kind copies the dead letters of that kind only: not those of
// other kinds, nor those written without an error-kind header, whatever
// their error says.
func TestDeadLettersRedriveByKind(t *testing.T) {
	f := newDeadLetterFixture(t)
	out, _, err := runCmd(t, 30*time.Second, cmdDeadLetters, "redrive", "--kind", "rejected")
	if err != nil || !strings.Contains(out, "1 of 1 dead letters redriven") {
		t.Fatalf("redrive --kind rejected (%v):\n%s", err, out)
	}
	copies := f.env.ReadAll(t, f.deduped)
	if len(copies) != 1 || schemas.Header(copies[0], schemas.HeaderEventID) != "dec-1" {
		t.Fatalf("%s holds %d records after redrive --kind rejected, want dec-1 alone", f.deduped, len(copies))
	}
	if k := schemas.Header(copies[0], consumers.HeaderErrorKind); k != "" {
		t.Errorf("the copy still carries error-kind %q", k)
	}
	if got := f.env.ReadAll(t, f.raw); len(got) != 0 {
		t.Errorf("redrive --kind rejected copied %d undecodable dead letters to %s", len(got), f.raw)
	}
}

// A dead letter of dedupe, redriven, goes through dedupe to the .deduped
// topic once: a second redrive copies nothing, and a second copy in the raw
// topic is dropped as a duplicate (what the README promises).
func TestRedrivenDedupeDeadLetterReachesDedupedOnce(t *testing.T) {
	cfg, _, dev := startDevWithDefaults(t)
	raw, deduped := cfg.Topics.Pique(), cfg.Topics.Deduped(cfg.Topics.Pique())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src, err := sr.NewClient(sr.URLs(dev.Registry))
	if err != nil {
		t.Fatal(err)
	}
	reg := schemas.NewRegistry(src)
	if err := reg.Register(ctx, map[schemas.Kind]string{schemas.KindDecisionMade: schemas.Subject(raw), schemas.KindAgentMessage: schemas.Subject(cfg.Topics.ProductAgents())}); err != nil {
		t.Fatal(err)
	}
	ev := &schemas.DecisionMade{EventID: "dec-redrive", EventType: "decision.made", ReceivedAt: time.Now().UTC().Truncate(time.Millisecond), RawJSON: "{}"}
	val, err := reg.AppendEncode(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	failed := &kgo.Record{Topic: raw, Partition: 1, Offset: 5, Key: []byte(ev.Key()), Value: val, Headers: ev.Meta().Headers()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(dev.Kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dl := consumers.DeadLetterRecord(cfg.Topics.DeadLetter(), cfg.Dedupe.Group, failed, errors.New("dedupe: schema registry unavailable"), time.Now())
	if err := cl.ProduceSync(ctx, dl).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for run, want := range []string{"1 of 1 dead letters redriven", "0 of 1 dead letters redriven"} {
		out, stderr, err := runCmd(t, 30*time.Second, cmdDeadLetters, "redrive", "--group", cfg.Dedupe.Group)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("redrive run %d (%v): want %q in\n%s%s", run+1, err, want, out, stderr)
		}
	}
	got := tail(t, deduped, 1)
	if got[0].Headers[schemas.HeaderEventID] != "dec-redrive" || got[0].Headers[HeaderRedrivenFrom] == "" || got[0].Partition != 1 {
		t.Fatalf("the .deduped topic's first record is %+v; want the redriven dec-redrive on partition 1", got[0])
	}

	copied := testkit.ReadCommitted(t, []string{dev.Kafka}, raw)
	if len(copied) != 1 {
		t.Fatalf("raw topic holds %d records after redrive, want the one copy", len(copied))
	}
	again := copied[0]
	again.Offset, again.LeaderEpoch = 0, 0
	if err := cl.ProduceSync(ctx, again).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitDedupeCaughtUp(t, dev.Kafka, cfg)
	n := 0
	for _, r := range testkit.ReadCommitted(t, []string{dev.Kafka}, deduped) {
		if schemas.Header(r, schemas.HeaderEventID) == "dec-redrive" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("dec-redrive is %d times in %s, want once", n, deduped)
	}
}

// polledRecords counts the records a client hands out and how many of
// them the garbage collector has freed.
type polledRecords struct {
	polled, freed atomic.Int64
	atLast        func() // called once, as the last wanted record is polled
	last          int64
}

func (p *polledRecords) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if !polled {
		return
	}
	runtime.AddCleanup(r, func(f *atomic.Int64) { f.Add(1) }, &p.freed)
	if p.polled.Add(1) == p.last {
		p.atLast()
	}
}

// To know which dead letters were already redriven, redrive reads the
// original topic since the earliest failure: it keeps the redriven-from
// values and none of the records (a raw topic can hold days of webhooks,
// values included). By the time the last record is polled, the garbage
// collector has freed most of those read before it.
func TestAlreadyRedrivenKeepsNoRecords(t *testing.T) {
	env := groupsFixture(t)
	topic := env.Config.Topics.Pique()
	const rounds, perRound = 20, 15
	failedAt := time.Now().Add(-time.Hour)
	value := make([]byte, 16<<10)
	want := map[string]bool{}
	for round := range rounds {
		var recs []*kgo.Record
		for i := range perRound {
			r := &kgo.Record{Topic: topic, Partition: int32(i % testkit.Partitions), Value: value}
			if i == 0 {
				from := fmt.Sprintf("%s/0/%d", env.Config.Topics.DeadLetter(), round)
				r.Headers = []kgo.RecordHeader{{Key: HeaderRedrivenFrom, Value: []byte(from)}}
				want[from] = true
			}
			recs = append(recs, r)
		}
		env.Produce(t, recs...) // a batch per partition per round: many fetches
	}

	p := &polledRecords{last: rounds * perRound}
	freedAtLast := int64(-1)
	p.atLast = func() {
		for deadline := time.Now().Add(10 * time.Second); p.freed.Load() < p.last/2 && time.Now().Before(deadline); {
			runtime.GC()
			time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine after a GC
		}
		freedAtLast = p.freed.Load()
		t.Logf("freed %d of %d", freedAtLast, p.last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := alreadyRedriven(ctx, env.Config, []deadLetter{{OriginalTopic: topic, FailedAt: failedAt}},
		kgo.WithHooks(p), kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(done, want) {
		t.Errorf("redriven-from values found: %v, want %v", done, want)
	}
	if p.polled.Load() != p.last {
		t.Fatalf("%d records polled, want %d", p.polled.Load(), p.last)
	}
	if freedAtLast < p.last/2 {
		t.Errorf("when the last of %d records was polled, only %d of those polled were freed: the scan keeps the records it reads", p.last, freedAtLast)
	}
}

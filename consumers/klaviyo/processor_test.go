package klaviyo

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
	"github.com/hookbridge/hookbridge/schemas"
)

// Offsets move only when Klaviyo has answered 202 for everything before
// them: a buffered batch is held (Pending), a flushed one holds nothing.
func TestProcessorCommitsOnlyAfterAccepted(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{BatchSize: 10})
	evs := decisions("c", 25)
	recs := h.records(evs...)

	err := p.Process(ctx, recs[:5])
	if err != nil || held(p) != 0 {
		t.Fatalf("buffered batch: pending %d, err %v; want 0 (all five held)", held(p), err)
	}
	if n := len(h.fake.Events()); n != 0 {
		t.Fatalf("%d events sent before the batch was full", n)
	}
	// 5 more fill the batch of 10: everything up to offset 10 is done.
	h.fake.Inject(klaviyofake.Fault{Status: http.StatusServiceUnavailable}, klaviyofake.Fault{Status: http.StatusBadGateway})
	err = p.Process(ctx, recs[5:15])
	if err != nil || held(p) != 10 {
		t.Fatalf("full batch: pending %d, err %v; want 10", held(p), err)
	}
	err = p.Flush(ctx)
	if err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v; want nothing held", held(p), err)
	}
	before := h.fake.Stats().Total(klaviyofake.PathBulkEvents)
	if err := p.Flush(ctx); err != nil || held(p) != -1 || h.fake.Stats().Total(klaviyofake.PathBulkEvents) != before {
		t.Fatalf("empty flush: pending %d, err %v, requests %d→%d; want nothing held and nothing sent", held(p), err, before, h.fake.Stats().Total(klaviyofake.PathBulkEvents))
	}
	if err = p.Process(ctx, recs[15:]); err != nil || held(p) != -1 {
		t.Fatalf("second full batch: pending %d, err %v; want nothing held", held(p), err)
	}
	expectStored(t, h.fake, NewMapper(MappingOptions{}), evs)
	if s := h.fake.Stats(); s.Requests[klaviyofake.PathBulkEvents][503] != 1 || s.Requests[klaviyofake.PathBulkEvents][502] != 1 {
		t.Errorf("injected 5xx not seen: %v", s.Requests)
	}
}

// Every event arrives exactly once per unique_id through 429s (with and
// without Retry-After), 5xx, answers lost after Klaviyo took the events,
// and stalls past the client's timeout.
func TestProcessorDeliversOnceThroughFaults(t *testing.T) {
	h := newHarness(t, harnessOptions{client: ClientOptions{Timeout: 150 * time.Millisecond}})
	ctx := testContext(t, 20*time.Second)
	p := h.processor(Options{BatchSize: 20})
	evs := decisions("f", 120)
	for i := 0; i < 30; i++ {
		evs = append(evs, message("msg-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "shopper@example.com", "PRICE_DROP_VIEWED_PRODUCT"))
	}
	h.fake.Inject(
		klaviyofake.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0.05"},
		klaviyofake.Fault{Status: http.StatusTooManyRequests},
		klaviyofake.Fault{Status: http.StatusInternalServerError},
		klaviyofake.Fault{Accept: true, Status: http.StatusServiceUnavailable}, // taken, but the client sees 503
		klaviyofake.Fault{Accept: true, Delay: 2 * time.Second},                // taken, answer never arrives in time
		klaviyofake.Fault{Delay: 2 * time.Second},                              // hung server
		klaviyofake.Fault{Status: 524},
	)
	recs := h.records(evs...)
	for i := 0; i < len(recs); i += 7 {
		if err := p.Process(ctx, recs[i:min(i+7, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v; want all %d done", held(p), err, len(recs))
	}
	expectStored(t, h.fake, NewMapper(MappingOptions{}), evs)
	s := h.fake.Stats()
	if s.Duplicates == 0 {
		t.Errorf("no resend was dropped by unique_id; the Accept faults did not bite: %+v", s)
	}
	if got := counter(h.metrics.Sent, "decision") + counter(h.metrics.Sent, "message"); got < float64(len(evs)) {
		t.Errorf("sent metric %v, want at least %d", got, len(evs))
	}
}

// A rejected bulk request is split until the bad events are found: they
// go to the dead-letter topic with Klaviyo's error, the others to Klaviyo.
func TestProcessorDeadLettersOnlyRejectedEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	h.mapping = MappingOptions{DecisionMetrics: map[string]string{"too_long": strings.Repeat("M", 130)}}
	p := h.processor(Options{})
	good := decisions("g", 60)
	badEmail := decision("bad-email", "ada@nodot", "cart_abandonment")
	huge := decision("bad-huge", "ada@example.com", "cart_abandonment")
	huge.Decision.Reason = new(strings.Repeat("r", 101<<10))
	longName := decision("bad-name", "ada@example.com", "too_long")
	all := append([]schemas.Event{}, good[:20]...)
	all = append(all, badEmail)
	all = append(all, good[20:40]...)
	all = append(all, huge, longName)
	all = append(all, good[40:]...)
	recs := h.records(all...)
	poison := h.poison()
	recs = append(recs, poison)
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v; want all through %d done", held(p), err, poison.Offset)
	}
	expectStored(t, h.fake, NewMapper(h.mapping), good)
	dead := h.deadLetters()
	// What Klaviyo would refuse for the event's own limits is not sent at
	// all; what only Klaviyo can judge (the email) is refused by it.
	want := map[string]struct{ reason, about string }{
		"bad-email": {"rejected", "answered 400; invalid: Invalid input.: invalid email"},
		"bad-huge":  {"unmappable", "properties.reason is 103424 bytes"},
		"bad-name":  {"unmappable", "metric name is 130 characters"},
		"":          {"undecodable", "Confluent wire format"},
	}
	if len(dead) != len(want) {
		t.Fatalf("%d dead letters, want %d: %v", len(dead), len(want), dead)
	}
	for _, d := range dead {
		id := string(d.rec.Value)
		if d.rec == poison {
			id = ""
		}
		w, ok := want[id]
		if !ok || d.reason != w.reason || !strings.Contains(d.cause.Error(), w.about) {
			t.Errorf("dead letter %q: %s, %v; want %s, an error about %q", id, d.reason, d.cause, w.reason, w.about)
		}
	}
}

// Klaviyo's error detail quotes the email it refused: it may be logged at
// debug only, while the info lines about the rejected batch keep the
// status and codes.
func TestProcessorLogsKlaviyoErrorDetailAtDebugOnly(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	good := decisions("g", 20)
	email := "ada.private@nodot"
	all := append(append(append([]schemas.Event{}, good[:10]...), decision("bad-email", email, "cart_abandonment")), good[10:]...)
	if err := p.Process(ctx, h.records(all...)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.deadLetters()) != 1 {
		t.Fatalf("%d dead letters, want the one with the bad email", len(h.deadLetters()))
	}
	var debug, rejected bool
	for line := range strings.Lines(h.logs.String()) {
		switch {
		case strings.Contains(line, "level=DEBUG"):
			debug = debug || strings.Contains(line, email)
		case strings.Contains(line, email):
			t.Errorf("the email is logged above debug level: %s", line)
		case strings.Contains(line, "klaviyo rejected a batch"):
			rejected = true
			if !strings.Contains(line, "status=400") || !strings.Contains(line, "codes=") {
				t.Errorf("the rejection's info line lacks the status or codes: %s", line)
			}
		}
	}
	if !rejected || !debug {
		t.Errorf("want the rejection at info (seen: %v) and its detail at debug (seen: %v)", rejected, debug)
	}
}

// An event without an email is never sent, and counted by reason.
func TestProcessorSkipsEventsWithoutEmail(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	noEmail := decision("no-email", "", "cart_abandonment")
	withEmail := decision("with-email", "ada@example.com", "cart_abandonment")
	recs := h.records(noEmail, withEmail, message("msg-no-email", "", "REPLENISHMENT_REMINDER"))
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v; want all 3 done", held(p), err)
	}
	expectStored(t, h.fake, NewMapper(MappingOptions{}), []schemas.Event{withEmail})
	if got := counter(h.metrics.Skipped, SkipNoEmail); got != 2 {
		t.Errorf("skipped{no_email} = %v, want 2", got)
	}
	if !strings.Contains(h.logs.String(), "event_id=no-email reason=no_email") {
		t.Errorf("skip not logged at debug:\n%s", h.logs.String())
	}
	if len(h.deadLetters()) != 0 {
		t.Errorf("skipped events must not be dead-lettered")
	}
}

// A unique_id twice in a batch would fail the whole bulk request; the
// second copy is dropped before sending.
func TestProcessorDropsDuplicateUniqueIDInBatch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	d := decision("twice", "ada@example.com", "gentle_nudge")
	recs := h.records(d, decision("other", "bo@example.com", "gentle_nudge"))
	recs = append(recs, h.records(d)...)
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v", held(p), err)
	}
	if s := h.fake.Stats(); s.Requests[klaviyofake.PathBulkEvents][400] != 0 || s.Deliveries != 2 {
		t.Errorf("stats %+v: want one bulk request with 2 events", s)
	}
}

// A refused key stops the partition without committing, turns readiness
// red, and neither the error nor the logs carry the key.
func TestProcessorStopsOnRefusedKey(t *testing.T) {
	for _, c := range []struct {
		name string
		fake klaviyofake.Options
	}{
		{"401", klaviyofake.Options{APIKey: "pk_other"}},
		{"403", klaviyofake.Options{APIKey: "pk_other", ForbiddenKeys: []string{testKey}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{fake: c.fake})
			ctx := testContext(t, 10*time.Second)
			p := h.processor(Options{})
			if err := h.client.Ready(); err != nil {
				t.Fatalf("ready before any request: %v", err)
			}
			recs := h.records(decisions("k", 3)...)
			if err := p.Process(ctx, recs); err != nil {
				t.Fatal(err)
			}
			err := p.Flush(ctx)
			if !errors.Is(err, ErrUnauthorized) || held(p) != recs[0].Offset {
				t.Fatalf("flush: pending %d, err %v; want %d still held and ErrUnauthorized", held(p), err, recs[0].Offset)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error reveals the key: %v", err)
			}
			if h.client.Ready() == nil {
				t.Errorf("readiness still green after %s", c.name)
			}
			if len(h.deadLetters()) != 0 {
				t.Errorf("a refused key must not dead-letter events")
			}
		})
	}
}

// The client paces itself to the endpoint's limits: a burst of batches
// against a fake with the same limits gets no 429.
func TestClientPacingAvoids429(t *testing.T) {
	lim := Limit{Burst: 5, BurstWindow: 100 * time.Millisecond, Steady: 12, SteadyWindow: 400 * time.Millisecond}
	// Headroom 0.2 leaves two requests of slack per window for the
	// scheduling jitter of a loaded test machine.
	h := newHarness(t, harnessOptions{
		fake:   klaviyofake.Options{Bulk: klaviyofake.Limit(lim), Single: klaviyofake.Limit(fastLimit), FractionalRetryAfter: true},
		client: ClientOptions{Bulk: lim, Single: fastLimit, Headroom: new(0.2)},
	})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{BatchSize: 2})
	evs := decisions("p", 40)
	start := time.Now()
	if err := p.Process(ctx, h.records(evs...)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := h.fake.Stats()
	if s.Requests[klaviyofake.PathBulkEvents][429] != 0 {
		t.Errorf("%d requests got 429: %v", s.Requests[klaviyofake.PathBulkEvents][429], s.Requests)
	}
	// Unpaced, 20 requests take milliseconds (and the fake refuses all
	// but 5); paced at 80% of 12 per 400ms they take about 0.8s.
	if el := time.Since(start); el < 600*time.Millisecond {
		t.Errorf("20 requests took %v: the client did not pace them", el)
	}
	expectStored(t, h.fake, NewMapper(MappingOptions{}), evs)
}

// A client that believes in more quota than the account has (another
// integration uses it too) is told so by 429 and Retry-After, and still
// delivers everything.
func TestClientFollowsRetryAfter(t *testing.T) {
	tight := klaviyofake.Limit{Burst: 3, BurstWindow: 100 * time.Millisecond, Steady: 6, SteadyWindow: 300 * time.Millisecond}
	h := newHarness(t, harnessOptions{
		fake:   klaviyofake.Options{Bulk: tight, Single: klaviyofake.Limit(fastLimit), FractionalRetryAfter: true},
		client: ClientOptions{Bulk: fastLimit, Single: fastLimit},
	})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{BatchSize: 2})
	evs := decisions("r", 30)
	if err := p.Process(ctx, h.records(evs...)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if h.fake.Stats().Requests[klaviyofake.PathBulkEvents][429] == 0 {
		t.Errorf("the fake never throttled; the test proves nothing")
	}
	expectStored(t, h.fake, NewMapper(MappingOptions{}), evs)
}

// Dry-run sends nothing, needs no key and logs masked emails.
func TestDryRun(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var err error
	h.client, err = NewClient(ClientOptions{DryRun: true, Logger: h.client.log, Metrics: h.metrics})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 5*time.Second)
	p := h.processor(Options{})
	if err := p.Process(ctx, h.records(decision("dry", "ada.lovelace@example.com", "cart_abandonment"))); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v", held(p), err)
	}
	if len(h.fake.Events()) != 0 {
		t.Errorf("dry run sent events")
	}
	if got := counter(h.metrics.Sent, "decision"); got != 0 {
		t.Errorf("events_sent_total{decision} = %v in a dry run, want 0: nothing was sent", got)
	}
	if got := counter(h.metrics.DryRun, "decision"); got != 1 {
		t.Errorf("events_dry_run_total{decision} = %v, want 1", got)
	}
	logs := h.logs.String()
	if strings.Contains(logs, "ada.lovelace@example.com") || !strings.Contains(logs, "a***@example.com") || !strings.Contains(logs, "Pique Cart Abandonment") {
		t.Errorf("dry-run log should name the metric and mask the email:\n%s", logs)
	}
}

// A dry run changes nothing the live run sees: a record it cannot send is
// logged, not dead-lettered (the live run dead-letters it when it gets
// there), and the dry run goes on.
func TestDryRunWritesNoDeadLetters(t *testing.T) {
	h := newHarness(t, harnessOptions{client: ClientOptions{DryRun: true}})
	ctx := testContext(t, 5*time.Second)
	p := h.processor(Options{})
	recs := append(h.records(decision("dry-long", "ada@example.com", strings.Repeat("a", 130))), h.poison())
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v", held(p), err)
	}
	if n := len(h.deadLetters()); n != 0 {
		t.Errorf("a dry run wrote %d dead letters", n)
	}
	if logs := h.logs.String(); strings.Count(logs, "klaviyo dry run: would dead-letter") != 2 {
		t.Errorf("want both records logged as would-be dead letters:\n%s", logs)
	}
}

// When every event of a sizeable batch is refused, the setup is wrong, not
// the data: the partition stops uncommitted instead of dead-lettering all.
func TestProcessorStopsWhenEverythingIsRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{client: ClientOptions{Revision: "v3"}}) // the fake wants YYYY-MM-DD
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	recs := h.records(decisions("all-bad", 40)...)
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	err := p.Flush(ctx)
	if err == nil || held(p) != recs[0].Offset || !strings.Contains(err.Error(), "klaviyo.revision") {
		t.Fatalf("flush: pending %d, err %v; want %d still held and a stop naming the configuration", held(p), err, recs[0].Offset)
	}
	if n := len(h.deadLetters()); n != 0 {
		t.Errorf("%d events dead-lettered for a configuration error", n)
	}
	// The stop is logged at error level: Klaviyo's detail, which may
	// quote an email, stays at debug.
	const detail = "malformed revision header"
	if strings.Contains(err.Error(), detail) || !strings.Contains(err.Error(), "answered 400") {
		t.Errorf("the stop error should carry the status and not Klaviyo's detail: %v", err)
	}
	for line := range strings.Lines(h.logs.String()) {
		if strings.Contains(line, detail) && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("Klaviyo's detail is logged above debug: %s", line)
		}
	}
}

// Refusals that point into the events are the events' own, however many a
// sender makes: a batch of events Klaviyo refuses one by one (here each
// with an email it rejects) is dead-lettered and the group goes on.
func TestProcessorNeverStopsOnRejectedContent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	var evs []schemas.Event
	for i := range 2 * systemicRejection {
		evs = append(evs, decision(fmt.Sprintf("refused-%d", i), fmt.Sprintf("user%d@nodot", i), "cart_abandonment"))
	}
	if err := p.Process(ctx, h.records(evs...)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil || held(p) != -1 {
		t.Fatalf("flush: pending %d, err %v; want every event done", held(p), err)
	}
	if got := h.deadLettersFor("rejected"); got != len(evs) {
		t.Errorf("%d dead letters for reason rejected, want %d", got, len(evs))
	}
}

// A client that gave up after max_attempts did not deliver: the events
// are not counted as sent, the partition stops, and the records stay held
// so the offset does not move past them.
func TestProcessorHoldsEventsWhenRetriesRunOut(t *testing.T) {
	h := newHarness(t, harnessOptions{client: ClientOptions{MaxAttempts: 3}})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	h.fake.Inject(klaviyofake.Fault{Status: http.StatusServiceUnavailable}, klaviyofake.Fault{Status: http.StatusServiceUnavailable},
		klaviyofake.Fault{Status: http.StatusServiceUnavailable}, klaviyofake.Fault{Status: http.StatusServiceUnavailable})
	recs := h.records(decisions("out", 3)...)
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	err := p.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Errorf("flush: %v; want the client's giving-up error", err)
	}
	if got := held(p); got != recs[0].Offset {
		t.Errorf("pending %d after the retries ran out, want %d: the offset must not move", got, recs[0].Offset)
	}
	if got := counter(h.metrics.Sent, "decision"); got != 0 {
		t.Errorf("events_sent_total{decision} = %v, want 0: Klaviyo took nothing", got)
	}
	if n := len(h.fake.Events()); n != 0 {
		t.Errorf("the fake stored %d events through injected 503s", n)
	}
	if len(h.deadLetters()) != 0 {
		t.Errorf("events dead-lettered because Klaviyo was down")
	}
}

// A dead letter that cannot be written is not done: Process fails, so the
// runner stops the group instead of committing past the record.
func TestProcessorFailsWhenADeadLetterCannotBeWritten(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	h.deadLetterErr = errors.New("dead-letter topic unavailable")
	recs := append(h.records(decisions("before", 2)...), h.poison())
	if err := p.Process(ctx, recs); err == nil || !strings.Contains(err.Error(), "dead-letter topic unavailable") {
		t.Fatalf("Process: %v; want the dead letter's error", err)
	}
}

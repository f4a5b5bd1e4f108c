package klaviyo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// forwarder is one run of the consumer group against env and a fake.
type forwarder struct {
	cancel context.CancelFunc
	done   chan error
	checks *health.Checks
}

func startForwarder(t *testing.T, env *testkit.Env, h *harness, key string, shutdown time.Duration) *forwarder {
	t.Helper()
	log := h.logs.Logger()
	client, err := NewClient(ClientOptions{
		BaseURL: h.fake.URL(), APIKey: key, Bulk: fastLimit, Single: fastLimit,
		Timeout: 200 * time.Millisecond, Backoff: Backoff{Base: time.Millisecond, Cap: 20 * time.Millisecond},
		Logger: log, Metrics: h.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := &health.Checks{}
	checks.Add("klaviyo-api-key", client.Ready)
	ctx, cancel := context.WithCancel(context.Background())
	f := &forwarder{cancel: cancel, done: make(chan error, 1), checks: checks}
	topics := env.Config.Topics
	opts := env.ConsumerOptions(t)
	opts.StartFrom, opts.Logger, opts.Metrics, opts.Health, opts.ShutdownTimeout = consumers.StartEarliest, log, prometheus.NewRegistry(), checks, shutdown
	go func() {
		f.done <- consumers.Run(ctx, opts, consumers.Group{
			Name:   "hookbridge-klaviyo-test",
			Topics: []string{topics.Deduped(topics.Pique()), topics.Deduped(topics.ProductAgents())},
			NewProcessor: NewProcessorFunc(Options{
				Client: client, Decoder: env.Schemas, Mapper: NewMapper(h.mapping), Metrics: h.metrics, BatchSize: 25,
				Backoff: Backoff{Base: time.Millisecond, Cap: 20 * time.Millisecond},
			}),
			FlushInterval: 20 * time.Millisecond,
		})
	}()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// stop cancels the run and waits for it; it is safe to call twice.
func (f *forwarder) stop(t *testing.T) error {
	t.Helper()
	f.cancel()
	select {
	case err, ok := <-f.done:
		if ok {
			close(f.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the forwarder did not stop")
		return nil
	}
}

// produceEvents writes events to the .deduped topics as dedupe does: the
// records the receiver wrote, copied.
func produceEvents(t *testing.T, env *testkit.Env, evs ...schemas.Event) {
	t.Helper()
	topics := env.Config.Topics
	recs := make([]*kgo.Record, len(evs))
	for i, ev := range evs {
		raw := topics.Pique()
		if ev.Kind() == schemas.KindAgentMessage {
			raw = topics.ProductAgents()
		}
		recs[i] = env.Record(t, topics.Deduped(raw), ev)
	}
	env.Produce(t, recs...)
}

// Through Kafka and the shared runner: every good event reaches Klaviyo
// exactly once per unique_id, through 429s, 5xx, timeouts and a forwarder
// killed and restarted mid-stream; bad events and poison records end in
// the dead-letter topic while their batch-mates arrive; events without an
// email are skipped and counted; the key is in no log line.
func TestForwarderEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	checkForwarderEndToEnd(t, testkit.Start(t))
}

// checkForwarderEndToEnd is TestForwarderEndToEnd on env's Kafka
// (in-process or real).
func checkForwarderEndToEnd(t *testing.T, env *testkit.Env) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 60*time.Second)

	var good, all []schemas.Event
	for i, ev := range decisions("e2e", 240) {
		good = append(good, ev)
		all = append(all, ev)
		if i%40 == 0 {
			all = append(all, decision("no-email-"+ev.ID(), "", "cart_abandonment"))
		}
	}
	for i := 0; i < 60; i++ {
		m := message("e2e-msg-"+string(rune('A'+i%26))+strings.Repeat("z", i/26), "buyer@example.com", "PRICE_DROP_VIEWED_PRODUCT")
		good, all = append(good, m), append(all, m)
	}
	bad := []schemas.Event{decision("bad-email-1", "ada@nodot", "gentle_nudge"), message("bad-email-2", "bo@nodot", "REPLENISHMENT_REMINDER")}
	all = append(all[:100], append(bad, all[100:]...)...)
	h.fake.Inject(
		klaviyofake.Fault{Status: 503},
		klaviyofake.Fault{Status: 429, RetryAfter: "0.05"},
		klaviyofake.Fault{Accept: true, Delay: time.Second}, // taken; the client times out and resends
		klaviyofake.Fault{Status: 500},
		klaviyofake.Fault{Delay: time.Second},
		klaviyofake.Fault{Status: 429},
	)
	produceEvents(t, env, all[:150]...)
	env.Produce(t, &kgo.Record{Topic: env.Config.Topics.Deduped(env.Config.Topics.Pique()), Key: []byte("poison"), Value: []byte("not avro"),
		Headers: schemas.Meta{EventID: "poison-1", Source: schemas.SourcePique, EventType: "decision.made", ReceivedAt: time.Now()}.Headers()})

	// Run 1 is killed (no time for a last flush or commit) once part of
	// the stream is through.
	f1 := startForwarder(t, env, h, testKey, time.Millisecond)
	if err := h.fake.WaitStored(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := f1.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	produceEvents(t, env, all[150:]...)

	f2 := startForwarder(t, env, h, testKey, 5*time.Second)
	if err := h.fake.WaitStored(ctx, len(good)); err != nil {
		t.Fatal(err)
	}
	var dead []*kgo.Record
	testkit.Eventually(t, 20*time.Second, "3 dead letters are written", func() bool {
		dead = env.ReadAll(t, env.Config.Topics.DeadLetter())
		return len(dead) >= 3
	})
	if err := f2.stop(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}

	expectStored(t, h.fake, NewMapper(MappingOptions{}), good)
	ids := map[string]string{}
	for _, r := range dead {
		ids[schemas.Header(r, "event-id")] = schemas.Header(r, consumers.HeaderError)
	}
	if len(dead) != 3 {
		t.Errorf("%d dead letters, want 3: %v", len(dead), ids)
	}
	for _, id := range []string{"bad-email-1", "bad-email-2"} {
		if !strings.Contains(ids[id], "answered 400") || !strings.Contains(ids[id], "invalid email") {
			t.Errorf("dead letter %s: error %q, want Klaviyo's 400 detail", id, ids[id])
		}
	}
	if _, ok := ids["poison-1"]; !ok {
		t.Errorf("poison record not dead-lettered: %v", ids)
	}
	if got := counter(h.metrics.Skipped, SkipNoEmail); got < 6 {
		t.Errorf("skipped{no_email} = %v, want at least 6 (each of 6 events, more when re-read after the kill)", got)
	}
	s := h.fake.Stats()
	t.Logf("fake: %d deliveries, %d dropped by unique_id, requests %v", s.Deliveries, s.Duplicates, s.Requests)
}

// A refused key stops the group with ErrUnauthorized, commits nothing,
// and turns readiness red.
func TestForwarderStopsOnRefusedKey(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	env := testkit.Start(t)
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 30*time.Second)
	produceEvents(t, env, decisions("k", 10)...)
	f := startForwarder(t, env, h, "pk_revoked_"+testKey, time.Second)
	var err error
	select {
	case err = <-f.done:
		close(f.done)
	case <-ctx.Done():
		t.Fatal("the group did not stop on 401")
	}
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("run: %v; want ErrUnauthorized", err)
	}
	if ready, status := f.checks.Status(); ready {
		t.Errorf("readiness green after 401: %v", status)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(h.logs.String(), testKey) {
		t.Errorf("the key leaked into the error or logs")
	}
	for topic, parts := range env.Committed(t, "hookbridge-klaviyo-test") {
		for p, at := range parts {
			if at > 0 {
				t.Errorf("committed %s/%d at %d after a refused key", topic, p, at)
			}
		}
	}
}

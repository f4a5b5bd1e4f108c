package klaviyo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// testKey is the fake's key; no log line or error may contain it.
const testKey = "pk_test_7f3c9a1e5b2d4f6a8c0e"

// fastLimit never gets in the way of a test that is not about pacing.
var fastLimit = Limit{Burst: 100000, BurstWindow: time.Second, Steady: 1000000, SteadyWindow: time.Minute}

// mapDecoder decodes a record whose value is an event id it knows; any
// other value is poison.
type mapDecoder struct {
	mu     sync.Mutex
	events map[string]schemas.Event
}

func (d *mapDecoder) DecodeEvent(_ context.Context, value []byte) (schemas.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev, ok := d.events[string(value)]; ok {
		return ev, nil
	}
	return nil, errors.New("schemas: value is not in the Confluent wire format: too short")
}

type deadLetter struct {
	rec    *kgo.Record
	reason string
	cause  error
}

type harness struct {
	t       *testing.T
	fake    *klaviyofake.Fake
	client  *Client
	logs    *testkit.LogBuffer
	metrics *Metrics
	dec     *mapDecoder
	mapping MappingOptions

	mu   sync.Mutex
	dead []deadLetter
	// deadLetterErr, when set, is what writing a dead letter fails with.
	deadLetterErr error
	next          int64
}

type harnessOptions struct {
	fake   klaviyofake.Options
	client ClientOptions
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.fake.APIKey == "" {
		o.fake.APIKey = testKey
	}
	if o.fake.Bulk.Steady == 0 {
		o.fake.Bulk = klaviyofake.Limit(fastLimit)
		o.fake.Single = klaviyofake.Limit(fastLimit)
	}
	fake := klaviyofake.New(o.fake)
	t.Cleanup(fake.Close)
	logs := testkit.NewLogBuffer(t)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	co := o.client
	co.BaseURL = fake.URL()
	if co.APIKey == "" {
		co.APIKey = testKey
	}
	if co.Bulk.Steady == 0 {
		co.Bulk, co.Single = fastLimit, fastLimit
	}
	if co.Backoff == (Backoff{}) {
		co.Backoff = Backoff{Base: time.Millisecond, Cap: 20 * time.Millisecond}
	}
	if co.Timeout == 0 {
		co.Timeout = 5 * time.Second
	}
	co.Logger = logs.Logger()
	co.Metrics = m
	client, err := NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testKey) {
			t.Errorf("the API key appears in the logs:\n%s", logs.String())
		}
	})
	return &harness{t: t, fake: fake, client: client, logs: logs, metrics: m, dec: &mapDecoder{events: map[string]schemas.Event{}}}
}

// processor returns a processor for partition 0 that dead-letters into h.
func (h *harness) processor(o Options) *Processor {
	o.Client, o.Decoder, o.Metrics = h.client, h.dec, h.metrics
	if o.Mapper == nil {
		o.Mapper = NewMapper(h.mapping)
	}
	o.Backoff = Backoff{Base: time.Millisecond, Cap: 10 * time.Millisecond}
	return NewProcessor(o, consumers.PartitionContext{
		Group: "klaviyo-test", Topic: "pique.decisions.v1.deduped", Partition: 0,
		Logger: h.logs.Logger(),
		DeadLetter: func(_ context.Context, rec *kgo.Record, reason string, cause error) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.deadLetterErr != nil {
				return h.deadLetterErr
			}
			h.dead = append(h.dead, deadLetter{rec, reason, cause})
			return nil
		},
	})
}

// records turns events into consecutive records the decoder knows.
func (h *harness) records(evs ...schemas.Event) []*kgo.Record {
	h.dec.mu.Lock()
	defer h.dec.mu.Unlock()
	var recs []*kgo.Record
	for _, ev := range evs {
		h.dec.events[ev.ID()] = ev
		recs = append(recs, &kgo.Record{Topic: "pique.decisions.v1.deduped", Offset: h.next, Value: []byte(ev.ID())})
		h.next++
	}
	return recs
}

// poison is a record nobody can decode.
func (h *harness) poison() *kgo.Record {
	r := &kgo.Record{Topic: "pique.decisions.v1.deduped", Offset: h.next, Value: []byte{0xde, 0xad}}
	h.next++
	return r
}

// deadLettersFor counts the dead letters of one reason.
func (h *harness) deadLettersFor(reason string) int {
	n := 0
	for _, d := range h.deadLetters() {
		if d.reason == reason {
			n++
		}
	}
	return n
}

// held is what p still holds: the oldest offset not yet done, or -1.
func held(p *Processor) int64 {
	if off, ok := p.Pending(); ok {
		return off
	}
	return -1
}

func (h *harness) deadLetters() []deadLetter {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]deadLetter(nil), h.dead...)
}

// decisions returns n decisions with distinct ids and emails.
func decisions(prefix string, n int) []schemas.Event {
	actions := []string{"cart_abandonment", "browse_abandonment", "price_sensitive", "gentle_nudge", "win_back"}
	out := make([]schemas.Event, n)
	for i := range out {
		out[i] = decision(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("user%d@example.com", i%7), actions[i%len(actions)])
	}
	return out
}

// expectStored checks that the fake holds exactly the events of evs, each
// once, under the metric, profile, time and unique_id the mapper gives.
func expectStored(t *testing.T, fake *klaviyofake.Fake, m *Mapper, evs []schemas.Event) {
	t.Helper()
	got := make(map[string][]klaviyofake.Event)
	for _, e := range fake.Events() {
		got[e.UniqueID] = append(got[e.UniqueID], e)
	}
	for _, ev := range evs {
		want, err := m.Map(ev)
		if err != nil {
			t.Fatalf("mapping %s: %v", ev.ID(), err)
		}
		g := got[ev.ID()]
		if len(g) != 1 {
			t.Errorf("event %s stored %d times, want once", ev.ID(), len(g))
			continue
		}
		e := g[0]
		if e.Metric != want.Metric || e.Email() != want.Profile.Email || e.ExternalID() != want.Profile.ExternalID || !e.Time.Equal(want.Time) {
			t.Errorf("event %s stored as %s/%s/%s/%v, want %s/%s/%s/%v", ev.ID(), e.Metric, e.Email(), e.ExternalID(), e.Time,
				want.Metric, want.Profile.Email, want.Profile.ExternalID, want.Time)
		}
		if e.Properties["action"] != want.Properties["action"] && e.Properties["messageType"] != want.Properties["messageType"] {
			t.Errorf("event %s properties %v", ev.ID(), e.Properties)
		}
		delete(got, ev.ID())
	}
	for id := range got {
		t.Errorf("unexpected event %s in the fake", id)
	}
}

func counter(c *prometheus.CounterVec, label string) float64 {
	return testutil.ToFloat64(c.WithLabelValues(label))
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

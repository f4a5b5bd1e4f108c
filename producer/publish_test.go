package producer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// A record's key, header values and value share one buffer. Each must be
// exactly what the record contract says (built here the plain way, a
// conversion per value), for every kind of webhook, a batch, an unrouted
// body, and an event whose typed fields outgrow the buffer's estimate;
// and appending to one slice must not overwrite another.
func TestRecordsAreByteForByteTheContract(t *testing.T) {
	env := testkit.Start(t)
	tp := env.Config.Topics
	now := time.UnixMilli(1_780_000_000_123).UTC()
	g := sample.NewGenerator(7)
	pique, _ := g.Pique(now)
	agentsBody, _ := g.ProductAgents(now)
	agents := &delivery{Source: "product-agents", ReceivedAt: now, Body: agentsBody}
	system, _ := g.KlaviyoSystem(now, "wh", 3)
	cases := map[string]*delivery{
		"pique":          {Source: "pique", ReceivedAt: now, SvixID: "msg_2", Body: pique},
		"product-agents": agents,
		"klaviyo-system": {Source: "klaviyo-system", ReceivedAt: now, Body: system},
		"unrouted":       {Source: "pique", ReceivedAt: now, SvixID: "msg_3", Body: []byte(`{"type":"decision.unknown"}`)},
	}
	s, err := newServer(Options{Receiver: env.Config.Receiver, Topics: tp, Schemas: env.Schemas}, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range cases {
		ms, err := s.remap(d)
		if err != nil || len(ms) == 0 {
			t.Fatalf("%s: mapping: %d records, %v", name, len(ms), err)
		}
		if (name == "unrouted") != (ms[0].event == nil) || (name == "klaviyo-system") != (len(ms) == 3) {
			t.Fatalf("%s: mapped to %d records, the first with event %T", name, len(ms), ms[0].event)
		}
		checkRecords(t, name, env.Schemas, d, ms)
	}
	// Typed fields far larger than the body the buffer is sized from.
	ms, err := s.remap(agents)
	if err != nil {
		t.Fatal(err)
	}
	ms[0].event.(*schemas.AgentMessage).Content.Body = new(strings.Repeat("<p>long</p>", 500))
	checkRecords(t, "outgrown", env.Schemas, agents, ms)
}

func checkRecords(t *testing.T, name string, reg *schemas.Registry, d *delivery, ms []mapped) {
	t.Helper()
	recs, err := records(reg, d, ms)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(recs) != len(ms) {
		t.Fatalf("%s: %d records of %d mapped", name, len(recs), len(ms))
	}
	for i, m := range ms {
		want := &kgo.Record{Topic: m.topic, Key: []byte(m.key), Value: append([]byte(nil), d.Body...)}
		if m.event != nil {
			if want.Value, err = reg.AppendEncode(nil, m.event); err != nil {
				t.Fatal(err)
			}
		}
		meta := recordMeta(d, m)
		want.Headers = []kgo.RecordHeader{
			{Key: schemas.HeaderEventID, Value: []byte(meta.EventID)},
			{Key: schemas.HeaderSource, Value: []byte(meta.Source)},
			{Key: schemas.HeaderEventType, Value: []byte(meta.EventType)},
			{Key: schemas.HeaderReceivedAt, Value: meta.ReceivedAt.UTC().AppendFormat(nil, schemas.ReceivedAtLayout)},
		}
		if meta.SvixID != "" {
			want.Headers = append(want.Headers, kgo.RecordHeader{Key: schemas.HeaderSvixID, Value: []byte(meta.SvixID)})
		}
		got := recs[i]
		sameRecord(t, name, got, want)
		// Append to every slice, then check nothing else moved.
		got.Key = append(got.Key, '!')
		for j := range got.Headers {
			got.Headers[j].Value = append(got.Headers[j].Value, '!')
		}
		got.Value = append(got.Value, '!')
		got.Key, got.Value = got.Key[:len(got.Key)-1], got.Value[:len(got.Value)-1]
		for j := range got.Headers {
			v := got.Headers[j].Value
			got.Headers[j].Value = v[:len(v)-1]
		}
		sameRecord(t, name+" after appending", got, want)
	}
}

func sameRecord(t *testing.T, name string, got, want *kgo.Record) {
	t.Helper()
	if got.Topic != want.Topic || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("%s: record %s/%q (%d-byte value) differs from the contract's %s/%q (%d bytes)",
			name, got.Topic, got.Key, len(got.Value), want.Topic, want.Key, len(want.Value))
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("%s: %d headers, want %d", name, len(got.Headers), len(want.Headers))
	}
	for j, w := range want.Headers {
		if g := got.Headers[j]; g.Key != w.Key || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
			t.Fatalf("%s: header %d is %s=%q, want %s=%q", name, j, g.Key, g.Value, w.Key, w.Value)
		}
	}
}

// heldPublisher keeps every record's done func, for the test to answer.
type heldPublisher struct {
	mu   sync.Mutex
	done []func(error)
}

func (p *heldPublisher) Publish(_ *kgo.Record, done func(error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, done)
}

func (p *heldPublisher) take() []func(error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.done
	p.done = nil
	return d
}

// Waiters are reused from one webhook to the next. A webhook whose wait
// timed out may still get its answer later (Kafka came back); that answer
// must land nowhere another webhook could see it: the next webhook still
// waits for its own record, whose answer is the one it gets.
func TestALateAckNeverReachesAnotherWebhook(t *testing.T) {
	one := []*kgo.Record{{Topic: "t"}}
	for i := range 50 { // the pool may drop what it is given; some rounds reuse
		held := &heldPublisher{}
		if err := publishAll(held, one).within(time.Millisecond); !errors.Is(err, ErrNotAcked) {
			t.Fatalf("round %d: an unanswered record: %v, want ErrNotAcked", i, err)
		}
		late := held.take()
		for range 3 { // webhooks answered at once, through reused waiters
			if err := publishAll(&countingPublisher{}, one).within(time.Second); err != nil {
				t.Fatal(err)
			}
		}
		next := publishAll(held, one)
		late[0](errors.New("late answer"))
		if left := next.left.Load(); left != 1 || len(next.all) != 0 {
			t.Fatalf("round %d: the timed-out webhook's late answer reached the next webhook's waiter (%d answers left of 1)", i, left)
		}
		own := errors.New("its own answer")
		held.take()[0](own)
		if err := next.within(time.Second); err != own {
			t.Fatalf("round %d: the next webhook got %v, want its own answer", i, err)
		}
	}
}

// A waiter returns the first failure once every record has an answer,
// nil when all were acknowledged (at once for no records), and
// ErrNotAcked while one is missing at the deadline.
func TestAcksWaitForEveryAnswer(t *testing.T) {
	recs := []*kgo.Record{{Topic: "a"}, {Topic: "b"}, {Topic: "c"}}
	first, second := errors.New("first"), errors.New("second")
	for name, c := range map[string]struct {
		answers []error // nil entries ack; fewer answers than recs leave some unanswered
		want    error
	}{
		"all acked":       {answers: []error{nil, nil, nil}},
		"first failure":   {answers: []error{nil, first, second}, want: first},
		"one unanswered":  {answers: []error{nil, nil}, want: ErrNotAcked},
		"failure, one un": {answers: []error{first, nil}, want: ErrNotAcked},
	} {
		for _, ctxWait := range []bool{false, true} {
			held := &heldPublisher{}
			a := publishAll(held, recs)
			done := held.take()
			if len(done) != len(recs) {
				t.Fatalf("%s: %d records published of %d", name, len(done), len(recs))
			}
			go func() {
				for i, err := range c.answers {
					done[i](err)
				}
			}()
			deadline := time.Minute // every answer comes: never reached
			if len(c.answers) < len(recs) {
				deadline = 20 * time.Millisecond
			}
			var err error
			if ctxWait {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				err = a.wait(ctx)
				cancel()
			} else {
				err = a.within(deadline)
			}
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("%s (context %v): %v, want %v", name, ctxWait, err, c.want)
			}
		}
	}
	if err := publishAll(&heldPublisher{}, nil).within(5 * time.Second); err != nil {
		t.Fatalf("no records: %v", err)
	}
}

package producer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// A prefix of the real token is a wrong token, however short or long.
func TestTokenPrefixIsRefused(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	v, err := newTokenVerifier("Authorization", config.Secret(token))
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{token[:1], token[:len(token)-1], token + "x"} {
		if err := v.Verify(nil, headerMap{"Authorization": {"Bearer " + got}}); err == nil {
			t.Errorf("a %d-character token accepted for the %d-character real one", len(got), len(token))
		}
	}
	if err := v.Verify(nil, headerMap{"Authorization": {"Bearer " + token}}); err != nil {
		t.Fatalf("the real token refused: %v", err)
	}
}

// A truncated MAC is a wrong MAC.
func TestHMACPrefixIsRefused(t *testing.T) {
	body := []byte(`{"event":{"id":"e1"}}`)
	v, err := newHMACVerifier("X-Signature", []config.Secret{"key-1"})
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("key-1"))
	m.Write(body)
	full := hex.EncodeToString(m.Sum(nil))
	for _, n := range []int{2, 32} {
		if err := v.Verify(body, headerMap{"X-Signature": {full[:n]}}); err == nil {
			t.Errorf("a MAC truncated to %d hex characters accepted", n)
		}
	}
	if err := v.Verify(body, headerMap{"X-Signature": {"sha256=" + full}}); err != nil {
		t.Fatalf("the real MAC refused: %v", err)
	}
}

// The spool's 202 promises the webhook is on disk: bbolt must fsync every
// commit. SIGKILL keeps the page cache, so a crash test passes without the
// fsync; the database's own setting is what says whether it happens.
func TestSpoolFsyncsEveryCommit(t *testing.T) {
	sp, err := OpenSpool(t.TempDir(), 1<<30, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.db.NoSync {
		t.Fatal("the spool's database is opened with NoSync: a 202 would not survive a power cut")
	}
	if err := sp.Append(context.Background(), &delivery{Source: "product-agents", ReceivedAt: time.Now(), Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if sp.db.NoSync {
		t.Fatal("NoSync was set after the first append")
	}
}

// raw_json is the body byte for byte, surrounding whitespace included.
func TestRawJSONKeepsSurroundingWhitespace(t *testing.T) {
	r := newRig(t, rigOptions{})
	body := []byte(" \n\r\t{\"event\":{\"id\":\"ws-1\"},\"content\":{\"body\":\"<p>Caf\u00e9 \u2615</p>\"}}\n \r\t")
	if a := r.postAgents(t, body); a.code != http.StatusOK || a.body["events"] != 1.0 || a.body["event_id"] != "ws-1" {
		t.Fatalf("answer %d %v; want 200 with events 1 and event_id ws-1", a.code, a.body)
	}
	recs := r.env.ReadAll(t, r.env.Config.Topics.ProductAgents())
	if len(recs) != 1 {
		t.Fatalf("%d records; want 1", len(recs))
	}
	ev, err := r.env.Schemas.DecodeEvent(context.Background(), recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(*schemas.AgentMessage).RawJSON; got != string(body) {
		t.Fatalf("raw_json %q; want the body byte for byte %q", got, body)
	}
}

// gatedPublisher holds the first record it is given until release, so a
// test can look at the receiver while the drainer is mid-round.
type gatedPublisher struct {
	inner    Publisher
	first    atomic.Bool
	reached  chan struct{}
	released chan struct{}
}

func (g *gatedPublisher) Publish(rec *kgo.Record, done func(error)) {
	if g.first.CompareAndSwap(false, true) {
		close(g.reached)
		<-g.released
	}
	g.inner.Publish(rec, done)
}

// While the spool holds webhooks, a new one of a spooling source queues
// behind them even with Kafka up: otherwise it would overtake older
// webhooks of the same key.
func TestNewWebhooksQueueBehindANonEmptySpoolWhileKafkaIsUp(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir, 1<<30, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old-1", "old-2"} {
		body := []byte(`{"event":{"id":"` + id + `"},"customer":{"id":"cus-1"}}`)
		if err := sp.Append(context.Background(), &delivery{Source: "product-agents", ReceivedAt: time.Now(), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	gate := &gatedPublisher{reached: make(chan struct{}), released: make(chan struct{})}
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		o.Spool = sp
		gate.inner = o.Publisher
		o.Publisher = gate
	}})
	t.Cleanup(func() { sp.Close() })
	<-gate.reached // Kafka is up (the drainer runs only then) and the spool is not empty
	a := r.postAgents(t, []byte(`{"event":{"id":"new-1"},"customer":{"id":"cus-1"}}`))
	close(gate.released)
	if a.code != http.StatusAccepted {
		t.Fatalf("answer %d %v; want 202: the new webhook must queue behind the spooled ones", a.code, a.body)
	}
	topic := r.env.Config.Topics.ProductAgents()
	var ids []string
	testkit.Eventually(t, 20*time.Second, "three records in the topic", func() bool {
		ids = ids[:0]
		for _, rec := range r.env.ReadAll(t, topic) {
			ids = append(ids, schemas.Header(rec, schemas.HeaderEventID))
		}
		return len(ids) >= 3
	})
	if want := []string{"old-1", "old-2", "new-1"}; !slices.Equal(ids, want) {
		t.Fatalf("order %q; want %q", ids, want)
	}
}

// A spool file written by the previous release (one entry per request)
// drains with today's code, bodies byte for byte.
func TestSpoolFileOfThePreviousReleaseDrains(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Open("testdata/spool-v1/spool.db")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(dir, SpoolFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	sp, err := OpenSpool(dir, 1<<30, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if sp.Len() != 3 {
		t.Fatalf("fixture spool holds %d entries; want 3", sp.Len())
	}
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Spool = sp }})
	testkit.Eventually(t, 20*time.Second, "the spool drained", func() bool { return sp.Len() == 0 })
	agents := r.env.ReadAll(t, r.env.Config.Topics.ProductAgents())
	pique := r.env.ReadAll(t, r.env.Config.Topics.Pique())
	if len(agents) != 2 || len(pique) != 1 {
		t.Fatalf("%d product agents and %d pique records; want 2 and 1", len(agents), len(pique))
	}
	i := slices.IndexFunc(agents, func(rec *kgo.Record) bool { return schemas.Header(rec, schemas.HeaderEventID) == "evt_fixture_2" })
	if i < 0 {
		t.Fatal("evt_fixture_2 not in the topic")
	}
	ev, err := r.env.Schemas.DecodeEvent(context.Background(), agents[i].Value)
	if err != nil {
		t.Fatal(err)
	}
	if want := " \n{\"event\":{\"id\":\"evt_fixture_2\"},\"content\":{\"body\":\"<p>Caf\u00e9 \u2615</p>\"}}\r\t"; ev.(*schemas.AgentMessage).RawJSON != want || ev.ID() != "evt_fixture_2" {
		t.Fatalf("event %q raw_json %q; want evt_fixture_2 with %q", ev.ID(), ev.(*schemas.AgentMessage).RawJSON, want)
	}
	if got := schemas.Header(pique[0], schemas.HeaderEventID); got != "dec_fixture_3" {
		t.Fatalf("pique event id %q; want dec_fixture_3", got)
	}
}

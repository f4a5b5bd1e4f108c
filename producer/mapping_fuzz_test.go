package producer

import (
	"errors"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/schemas"
)

// The seed corpora run as ordinary tests; `go test -fuzz FuzzMapPique
// ./producer` explores further.

func FuzzMapPique(f *testing.F) {
	g := sample.NewGenerator(11)
	for range 3 {
		b, _ := g.Pique(time.Now())
		f.Add(b, "msg_1")
	}
	for _, s := range []string{
		`{"type":"decision.made","decision":{"id":"a1b2c3d4-...","action":"cart_abandonment","reason":"Added \"Summer Dress\" to cart but left without purchasing.","llmReasoning":"This visitor spent 4 minutes browsing 3 products before adding..."},"session":{"visitorId":"f8e7d6c5-...","email":"customer@example.com","eventCount":12,"durationSeconds":245,"productsViewed":3,"cartItems":["Summer Dress"]},"timestamp":"2025-01-15T14:32:00.000Z"}`,
		`{"type":"decision.made","session":{"eventCount":12.0,"durationSeconds":1e3}}`,
		`{"type":"decision.made","session":{"eventCount":1.5}}`,
		`{"type":"x","decision":null,"session":null}`,
		`{"type":""}`, `null`, `[]`, `"s"`, `{"type":1}`, "{\"type\":\"\xff\"}",
	} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, body []byte, svixID string) {
		d := &delivery{Source: "pique", ReceivedAt: time.UnixMilli(1700000000000).UTC(), SvixID: svixID, Body: body}
		m, err := mapPique(d, config.Topics{})
		checkMapped(t, d, m, err, schemas.KindDecisionMade)
	})
}

func FuzzMapProductAgents(f *testing.F) {
	g := sample.NewGenerator(12)
	for range 3 {
		b, _ := g.ProductAgents(time.Now())
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `{"event":{"id":""}}`, `{"primaryProducts":[{"price":"9.99"}]}`, `{"primaryProducts":[null,{}]}`,
		`{"customer":{"email":null},"otherProducts":[]}`, `{"event":{"timestamp":"not a time"}}`, `[1]`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := &delivery{Source: "product-agents", ReceivedAt: time.UnixMilli(1700000000000).UTC(), Body: body}
		m, err := mapProductAgents(d, config.Topics{})
		checkMapped(t, d, m, err, schemas.KindAgentMessage)
	})
}

// checkMapped asserts the mapping contract: a webhook either maps to an
// event that encodes, decodes back with the body intact and has an id, or
// is refused with a 400-class error.
func checkMapped(t *testing.T, d *delivery, m mapped, err error, kind schemas.Kind) {
	t.Helper()
	if err != nil {
		var bad *badRequest
		if !errors.As(err, &bad) {
			t.Fatalf("mapping failed with a non-400 error: %v", err)
		}
		return
	}
	if m.eventID == "" || m.key == "" {
		t.Fatalf("mapped without an event id or key: %+v", m)
	}
	if m.event == nil {
		return // unrouted: the raw body is the value
	}
	native := avroRoundTrip(t, kind, m.event)
	if native["raw_json"] != string(d.Body) || native["event_id"] != m.eventID {
		t.Fatalf("raw_json or event_id changed in the round trip")
	}
}

// avroRoundTrip encodes ev with its kind's embedded schema and decodes it
// back.
func avroRoundTrip(t *testing.T, kind schemas.Kind, ev schemas.Event) map[string]any {
	t.Helper()
	codec, err := kind.Codec()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := codec.BinaryFromNative(nil, ev.Native())
	if err != nil {
		t.Fatalf("mapped event does not encode: %v", err)
	}
	native, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatalf("encoded event does not decode: %v", err)
	}
	return native.(map[string]any)
}

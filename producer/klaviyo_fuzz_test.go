package producer

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/schemas"
)

// The seed corpora run as ordinary tests; `go test -fuzz FuzzMapKlaviyoSystem
// ./producer` explores further.

func FuzzMapKlaviyoSystem(f *testing.F) {
	g := sample.NewGenerator(5)
	for _, n := range []int{0, 1, 3} {
		b, _ := g.KlaviyoSystem(time.Now(), "wh", n)
		f.Add(b)
	}
	for _, s := range []string{
		`{"data":[{"external_id":"e","topic":"event:klaviyo.opened_email","payload":{"data":{"attributes":{"timestamp":1700000000}}}}],"meta":{}}`,
		`{"data":[{"external_id":""}]}`, `{"data":[1]}`, `{"data":null}`, `{"data":[{"external_id":"e","payload":[]}]}`,
		`{"data":[{"external_id":"e","payload":{"attributes":{"datetime":"x","timestamp":1e400}}}]}`, `{}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := &delivery{Source: "klaviyo-system", ReceivedAt: time.Now().UTC().Truncate(time.Millisecond), Body: body}
		ms, err := mapKlaviyoSystem(d, config.Topics{})
		if err != nil {
			var bad *badRequest
			if !errors.As(err, &bad) {
				t.Fatalf("mapping failed with a non-400 error: %v", err)
			}
			return
		}
		for _, m := range ms {
			raw := checkKlaviyoMapped(t, m)
			if !bytes.Contains(body, []byte(raw)) {
				t.Fatalf("raw_json %q is not bytes of the body", raw)
			}
		}
	})
}

func FuzzMapKlaviyoFlow(f *testing.F) {
	g := sample.NewGenerator(6)
	for range 3 {
		b, _ := g.KlaviyoFlow(time.Now())
		f.Add(b)
	}
	for _, s := range []string{
		`{"event_id":"","email":"","profile_id":"","type":""}`, `{"event_id":12,"occurred_at":1700000000000}`,
		`{"event_id":{"x":1}}`, `{}`, `null`, `[]`, `"s"`, "{\"email\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	mapFlow := mapKlaviyoFlow(config.KlaviyoFlowPaths{EventID: "event_id", Email: "email", ProfileID: "profile_id",
		Type: "type", MetricName: "metric_name", OccurredAt: "occurred_at"})
	f.Fuzz(func(t *testing.T, body []byte) {
		d := &delivery{Source: "klaviyo-flow", ReceivedAt: time.Now().UTC().Truncate(time.Millisecond), Body: body}
		ms, err := mapFlow(d, config.Topics{})
		if err != nil {
			var bad *badRequest
			if !errors.As(err, &bad) {
				t.Fatalf("mapping failed with a non-400 error: %v", err)
			}
			return
		}
		if len(ms) != 1 {
			t.Fatalf("%d records from one flow webhook", len(ms))
		}
		if raw := checkKlaviyoMapped(t, ms[0]); raw != string(body) {
			t.Fatal("raw_json is not the body")
		}
	})
}

// checkKlaviyoMapped asserts a record has an id and a key and survives
// Avro, and returns its raw_json.
func checkKlaviyoMapped(t *testing.T, m mapped) string {
	t.Helper()
	if m.eventID == "" || m.key == "" || m.event == nil {
		t.Fatalf("mapped without an event id, key or event: %+v", m)
	}
	nm := avroRoundTrip(t, schemas.KindKlaviyoWebhook, m.event)
	if nm["event_id"] != m.eventID {
		t.Fatal("event_id changed in the round trip")
	}
	return nm["raw_json"].(string)
}

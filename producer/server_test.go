package producer

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/schemas"
)

func TestPiqueWebhookBecomesRecord(t *testing.T) {
	checkPiqueWebhookBecomesRecord(t, newRig(t, rigOptions{}))
}

// checkPiqueWebhookBecomesRecord is the contract assertion, shared with the real-Kafka tier.
func checkPiqueWebhookBecomesRecord(t *testing.T, r *rig) {
	body := []byte(`{"type":"decision.made","decision":{"id":"dec-1","action":"cart_abandonment",` +
		`"reason":"Added \"Summer Dress\" to cart — <b>left</b> without purchasing.","llmReasoning":"Zoë spent 4 minutes 🛒"},` +
		`"session":{"visitorId":"vis-9","email":"zoe@example.com","eventCount":12,"durationSeconds":245,"productsViewed":3,"cartItems":["Summer Dress","Café Mug"]},` +
		`"timestamp":"2025-01-15T14:32:00.000Z"}`)
	before := time.Now().UTC().Truncate(time.Millisecond)
	resp := r.postPique(t, "msg_1", body)
	if resp.code != http.StatusOK || resp.body["event_id"] != "dec-1" {
		t.Fatalf("answer: %d %v", resp.code, resp.body)
	}

	recs := r.env.ReadAll(t, r.env.Config.Topics.Pique())
	if len(recs) != 1 {
		t.Fatalf("want 1 record, got %d", len(recs))
	}
	rec := recs[0]
	if string(rec.Key) != "vis-9" {
		t.Errorf("key = %q, want the visitor id", rec.Key)
	}
	for k, want := range map[string]string{schemas.HeaderEventID: "dec-1", schemas.HeaderSource: "pique", schemas.HeaderEventType: "decision.made", schemas.HeaderSvixID: "msg_1"} {
		if got := header(rec, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	ev, err := r.env.Schemas.DecodeEvent(context.Background(), rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	dm := ev.(*schemas.DecisionMade)
	if dm.RawJSON != string(body) {
		t.Errorf("raw_json changed:\n got %s\nwant %s", dm.RawJSON, body)
	}
	if header(rec, schemas.HeaderReceivedAt) != dm.ReceivedAt.Format(schemas.ReceivedAtLayout) || dm.ReceivedAt.Before(before) {
		t.Errorf("received_at %v / header %q: want the receive time", dm.ReceivedAt, header(rec, schemas.HeaderReceivedAt))
	}
	if dm.OccurredAt == nil || !dm.OccurredAt.Equal(time.Date(2025, 1, 15, 14, 32, 0, 0, time.UTC)) {
		t.Errorf("occurred_at = %v", dm.OccurredAt)
	}
	if *dm.Decision.Reason != `Added "Summer Dress" to cart — <b>left</b> without purchasing.` || *dm.Decision.LLMReasoning != "Zoë spent 4 minutes 🛒" {
		t.Errorf("text changed: %q / %q", *dm.Decision.Reason, *dm.Decision.LLMReasoning)
	}
	s := dm.Session
	if *s.Email != "zoe@example.com" || *s.EventCount != 12 || *s.DurationSeconds != 245 || *s.ProductsViewed != 3 ||
		strings.Join(s.CartItems, "|") != "Summer Dress|Café Mug" || *dm.SvixID != "msg_1" || dm.EventType != "decision.made" {
		t.Errorf("session or ids decoded wrong: %+v svix=%v", s, dm.SvixID)
	}
}

func TestPiqueAbsentFieldsAreNull(t *testing.T) {
	checkPiqueAbsentFieldsAreNull(t, newRig(t, rigOptions{}))
}

// checkPiqueAbsentFieldsAreNull is the contract assertion, shared with the real-Kafka tier.
func checkPiqueAbsentFieldsAreNull(t *testing.T, r *rig) {
	body := []byte(`{"type":"decision.made","decision":{"action":"gentle_nudge"}}`)
	if resp := r.postPique(t, "msg_only", body); resp.code != http.StatusOK {
		t.Fatalf("answer: %d %v", resp.code, resp.body)
	}
	rec := r.env.ReadAll(t, r.env.Config.Topics.Pique())[0]
	ev, err := r.env.Schemas.DecodeEvent(context.Background(), rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	dm := ev.(*schemas.DecisionMade)
	if dm.EventID != "msg_only" || string(rec.Key) != "msg_only" {
		t.Errorf("event id %q key %q: want the svix-id for both", dm.EventID, rec.Key)
	}
	s := dm.Session
	if dm.OccurredAt != nil || dm.Decision.ID != nil || dm.Decision.Reason != nil || s.VisitorID != nil || s.Email != nil ||
		s.EventCount != nil || s.DurationSeconds != nil || len(s.CartItems) != 0 {
		t.Errorf("absent fields must decode as null: %+v %+v", dm.Decision, s)
	}
}

func TestProductAgentsWebhookBecomesRecord(t *testing.T) {
	checkProductAgentsWebhookBecomesRecord(t, newRig(t, rigOptions{}))
}

// checkProductAgentsWebhookBecomesRecord is the contract assertion, shared with the real-Kafka tier.
func checkProductAgentsWebhookBecomesRecord(t *testing.T, r *rig) {
	body, id := sample.NewGenerator(7).ProductAgents(time.Now())
	if resp := r.postAgents(t, body); resp.code != http.StatusOK || resp.body["event_id"] != id {
		t.Fatalf("answer: %d %v", resp.code, resp.body)
	}
	// No event.id and no customer: the id is the body's hash, the key the id.
	bare := []byte(`{"content":{"body":"<p>Ça va? 日本語</p>"},"primaryProducts":[{"title":"Mug","price":null,"image":null}]}`)
	resp := r.postAgents(t, bare)
	if resp.code != http.StatusOK || resp.body["event_id"] != bodyHash(bare) {
		t.Fatalf("answer: %d %v", resp.code, resp.body)
	}
	recs := r.env.ReadAll(t, r.env.Config.Topics.ProductAgents())
	if len(recs) != 2 {
		t.Fatalf("want 2 records, got %d", len(recs))
	}
	for _, rec := range recs {
		ev, err := r.env.Schemas.DecodeEvent(context.Background(), rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		am := ev.(*schemas.AgentMessage)
		if header(rec, schemas.HeaderEventID) != am.EventID || header(rec, schemas.HeaderSource) != "product-agents" || header(rec, schemas.HeaderSvixID) != "" {
			t.Errorf("headers %v do not match event %s", rec.Headers, am.EventID)
		}
		switch am.EventID {
		case id:
			if am.RawJSON != string(body) || string(rec.Key) != *am.Customer.ID || len(am.PrimaryProducts) != 1 ||
				*am.PrimaryProducts[0].Description != "<p>Soft, breathable &amp; made to last.</p>" || am.PrimaryProducts[0].Image == nil {
				t.Errorf("sample message decoded wrong: key %q %+v", rec.Key, am)
			}
		case bodyHash(bare):
			p := am.PrimaryProducts[0]
			if am.RawJSON != string(bare) || string(rec.Key) != am.EventID || *am.Content.Body != "<p>Ça va? 日本語</p>" ||
				am.Customer.ID != nil || am.MessageType != nil || p.Price != nil || p.Image != nil || *p.Title != "Mug" || len(am.OtherProducts) != 0 {
				t.Errorf("bare message decoded wrong: key %q %+v %+v", rec.Key, am, p)
			}
		default:
			t.Errorf("unexpected event %s", am.EventID)
		}
	}
}

func TestUnknownPiqueTypeGoesToUnrouted(t *testing.T) {
	checkUnknownPiqueTypeGoesToUnrouted(t, newRig(t, rigOptions{}))
}

// checkUnknownPiqueTypeGoesToUnrouted is the contract assertion, shared with the real-Kafka tier.
func checkUnknownPiqueTypeGoesToUnrouted(t *testing.T, r *rig) {
	body := []byte(`{"type":"decision.revoked","decision":{"id":"dec-7"}}`)
	if resp := r.postPique(t, "msg_7", body); resp.code != http.StatusOK || resp.body["status"] != outcomeUnrouted {
		t.Fatalf("answer: %d %v", resp.code, resp.body)
	}
	recs := r.env.ReadAll(t, r.env.Config.Topics.Unrouted())
	if len(recs) != 1 || string(recs[0].Value) != string(body) || header(recs[0], schemas.HeaderEventType) != "decision.revoked" ||
		header(recs[0], schemas.HeaderEventID) != "dec-7" || header(recs[0], schemas.HeaderSvixID) != "msg_7" {
		t.Fatalf("unrouted records: %v", recs)
	}
	if n := len(r.env.ReadAll(t, r.env.Config.Topics.Pique())); n != 0 {
		t.Errorf("%d records reached the decisions topic", n)
	}
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.waitReady(t, http.StatusOK)
	body, _ := sample.NewGenerator(9).Pique(time.Now())
	r.postPique(t, "msg_m1", body)
	r.postPique(t, "msg_m1", []byte(`{"type":`))
	post(t, r.url+"/webhooks/product-agents", sample.TokenHeaders("wrong"), body)

	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`hookbridge_receiver_requests_total{outcome="accepted",source="pique"} 1`,
		`hookbridge_receiver_rejections_total{reason="malformed",source="pique"} 1`,
		`hookbridge_receiver_rejections_total{reason="unauthorized",source="product-agents"} 1`,
		`hookbridge_receiver_produce_seconds_count{source="pique"} 1`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	hz, err := http.Get(r.url + "/healthz")
	if err != nil || hz.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", hz, err)
	}
	hz.Body.Close()
}

// An unknown type is not read as a decision: whatever shape its other
// fields have, its raw body goes to the unrouted topic. It must still be
// one well-formed JSON object.
func TestUnknownPiqueTypeIsNotReadAsADecision(t *testing.T) {
	r := newRig(t, rigOptions{})
	for _, c := range []struct{ msgID, body, eventID string }{
		{"msg_se", `{"type":"session.ended","session":{"eventCount":"twelve"}}`, "msg_se"},
		{"msg_du", `{"type":"decision.updated","decision":"abc"}`, "msg_du"},
		{"msg_dn", `{"type":"decision.updated","decision":{"id":"dec-u","action":7}}`, "dec-u"},
	} {
		if a := r.postPique(t, c.msgID, []byte(c.body)); a.code != http.StatusOK || a.body["status"] != outcomeUnrouted || a.body["event_id"] != c.eventID {
			t.Errorf("%s: answer %d %v; want 200 unrouted with event id %s", c.body, a.code, a.body, c.eventID)
		}
	}
	for _, body := range []string{
		`{"type":"session.ended","type":"decision.made"}`,
		`{"type":"session.ended"} {}`,
		"{\"type\":\"session.ended\",\"x\":\"\xff\"}",
		`{"type":5}`,
	} {
		if a := r.postPique(t, "msg_bad", []byte(body)); a.code != http.StatusBadRequest {
			t.Errorf("%q: answer %d %v; want 400", body, a.code, a.body)
		}
	}
	recs := r.env.ReadAll(t, r.env.Config.Topics.Unrouted())
	if len(recs) != 3 {
		t.Fatalf("%d unrouted records; want 3", len(recs))
	}
	for _, rec := range recs {
		if id := header(rec, schemas.HeaderEventID); string(rec.Key) != id || !strings.Contains(string(rec.Value), `"type":"`+header(rec, schemas.HeaderEventType)+`"`) {
			t.Errorf("unrouted record key %q id %q type %q value %s", rec.Key, id, header(rec, schemas.HeaderEventType), rec.Value)
		}
	}
}

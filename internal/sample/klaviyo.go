package sample

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// klaviyoTopics are system webhook topics of varied metrics.
var klaviyoTopics = []struct{ topic, metric string }{
	{"event:klaviyo.received_email", "Received Email"},
	{"event:klaviyo.opened_email", "Opened Email"},
	{"event:klaviyo.clicked_email", "Clicked Email"},
	{"event:klaviyo.unsubscribed", "Unsubscribed"},
	{"event:klaviyo.sent_sms", "Sent SMS"},
}

// KlaviyoSystemItem is one data[] item of a system webhook.
type KlaviyoSystemItem struct {
	ExternalID, ProfileID, Email, Topic string
}

// KlaviyoSystem returns a system webhook body of n events of varied
// topics, signed for webhookID, and its items.
func (g *Generator) KlaviyoSystem(now time.Time, webhookID string, n int) (body []byte, items []KlaviyoSystemItem) {
	data := make([]any, n)
	items = make([]KlaviyoSystemItem, n)
	for i := range n {
		t := klaviyoTopics[g.rng.IntN(len(klaviyoTopics))]
		it := KlaviyoSystemItem{ExternalID: g.id("kevt"), ProfileID: g.id("01HPROF"), Topic: t.topic,
			Email: fmt.Sprintf("%s.%d@example.com", g.pick(firstName), g.rng.IntN(1000))}
		items[i] = it
		at := now.Add(-time.Duration(g.rng.IntN(300)) * time.Second).UTC()
		data[i] = map[string]any{
			"external_id": it.ExternalID,
			"topic":       it.Topic,
			"payload": map[string]any{
				"type": "event", "id": it.ExternalID,
				"attributes": map[string]any{
					"timestamp": at.Unix(), "datetime": at.Format(time.RFC3339),
					"uuid": g.id("uuid"),
					"event_properties": map[string]any{
						"$email": it.Email, "Subject": "Your cart misses you, " + g.pick(firstName) + " <b>☕</b>",
						"Campaign Name": "Café Crème <launch>", "$message": g.id("msg"),
					},
				},
				"relationships": map[string]any{
					"profile": map[string]any{"data": map[string]any{"type": "profile", "id": it.ProfileID}},
					"metric":  map[string]any{"data": map[string]any{"type": "metric", "id": "M" + strings.ToUpper(t.metric[:3])}},
				},
			},
		}
	}
	b := map[string]any{"data": data, "meta": map[string]any{
		"klaviyo_account_id": "AbC123", "klaviyo_webhook_id": webhookID, "timestamp": now.UTC().Format(time.RFC3339)}}
	body, _ = json.Marshal(b)
	return body, items
}

// KlaviyoFlow returns a flow webhook body as the README's template
// renders it, and its event id.
func (g *Generator) KlaviyoFlow(now time.Time) (body []byte, eventID string) {
	eventID = g.id("flow")
	b := map[string]any{
		"event_id":    eventID,
		"type":        "Placed Order",
		"metric_name": "Placed Order",
		"email":       fmt.Sprintf("%s.%d@example.com", g.pick(firstName), g.rng.IntN(1000)),
		"profile_id":  g.id("01HPROF"),
		"occurred_at": now.UTC().Format(time.RFC3339),
		"order_id":    g.id("ord"),
		"first_name":  g.pick(firstName),
		"product":     g.pick(products),
	}
	body, _ = json.Marshal(b)
	return body, eventID
}

// KlaviyoSystemHeaders signs body as Klaviyo signs system webhooks: hex
// HMAC-SHA256 of the body followed by the Klaviyo-Timestamp value (an HTTP
// date).
func KlaviyoSystemHeaders(secret, webhookID string, ts time.Time, body []byte) http.Header {
	stamp := ts.UTC().Format(http.TimeFormat)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	m.Write([]byte(stamp))
	h := http.Header{}
	h.Set("Klaviyo-Signature", hex.EncodeToString(m.Sum(nil)))
	h.Set("Klaviyo-Timestamp", stamp)
	h.Set("Klaviyo-Webhook-Id", webhookID)
	h.Set("Content-Type", "application/json")
	return h
}

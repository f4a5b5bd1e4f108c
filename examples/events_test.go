//go:build datakit

package examples

import (
	"fmt"
	"reflect"
	"testing"
)

// Topics the examples read: the deduplicated ones, written in transactions.
const (
	decisionsDeduped = "pique.decisions.v1.deduped"
	messagesDeduped  = "productagents.messages.v1.deduped"
)

// webhook is one body the example tests post.
type webhook struct {
	source, eventID, body string
}

// webhooks are what the example tests post (each twice: dedupe keeps one):
// HTML and non-ASCII text, nulls and missing fields, nested products.
var webhooks = []webhook{
	{"pique", "dec-dk-1", `{"type":"decision.made","timestamp":"2026-05-01T10:15:30.250Z",
		"decision":{"id":"dec-dk-1","action":"cart_abandonment","reason":"Added <b>\"Sommerkleid – Größe M\"</b> to cart 🛒","llmReasoning":null},
		"session":{"visitorId":"vis-ü-1","email":null,"eventCount":12,"durationSeconds":245.5,"productsViewed":3,"cartItems":["Sommerkleid","Café <i>crème</i>"]}}`},
	{"pique", "dec-dk-2", `{"type":"decision.made","decision":{"id":"dec-dk-2","action":"browse_abandonment"},"session":{}}`},
	{"product-agents", "evt-dk-1", `{"event":{"id":"evt-dk-1","timestamp":"2026-05-01T23:59:59.999Z","messageType":"PRICE_DROP_VIEWED_PRODUCT"},
		"customer":{"id":"cus-1","email":"zoë@example.com"},
		"content":{"subject":"Ça baisse ! 📉","previewText":null,"headline":"<h1>Prix en baisse</h1>","body":"<p>Bonjour <strong>Zoë</strong>,<br>l'article « Ørsted » est moins cher.</p>","callToAction":"Voir & acheter"},
		"primaryProducts":[{"title":"Ørsted <em>lamp</em>","description":"日本製のランプ","image":{"scalableUrl":"https://cdn.example.com/i/1?w={width}","url":null},"url":"https://shop.example.com/p/1","price":19.99,"oldPrice":null,"currency":"EUR","onSale":true},
		                   {"title":"Plain","image":null,"price":5}],
		"otherProducts":[{"title":"Extra","onSale":false}]}`},
	{"product-agents", "evt-dk-2", `{"event":{"id":"evt-dk-2"}}`},
}

// postWebhooks posts every webhook twice, as a sender's duplicate would.
func postWebhooks(t *testing.T, d *dev) {
	t.Helper()
	for _, w := range webhooks {
		for range 2 {
			d.post(t, w.source, "msg_"+w.eventID, []byte(w.body))
		}
	}
}

// expected returns the deduplicated topics as hookbridge decodes them,
// waiting until dedupe has written every event posted.
func expected(t *testing.T, d *dev) map[string]line {
	t.Helper()
	counts := map[string]int{}
	for _, w := range webhooks {
		counts[topicOf(w.source)]++
	}
	byID := map[string]line{}
	for topic, n := range counts {
		for _, l := range d.tail(t, topic, n) {
			byID[l.Headers["event-id"]] = l
		}
	}
	return byID
}

func topicOf(source string) string {
	if source == "pique" {
		return decisionsDeduped
	}
	return messagesDeduped
}

// checkPrinted compares what an example printed with what hookbridge
// decodes from the same records, and with what was posted.
func checkPrinted(t *testing.T, who string, printed []line, want map[string]line) {
	t.Helper()
	got := map[string]line{}
	for _, l := range printed {
		id, _ := l.Value["event_id"].(string)
		if _, dup := got[id]; dup {
			t.Errorf("%s printed %s twice", who, id)
		}
		got[id] = l
	}
	if len(got) != len(webhooks) {
		t.Errorf("%s printed %d events, want the %d posted", who, len(got), len(webhooks))
	}
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s did not print %s", who, id)
		case g.Key != w.Key || g.Topic != w.Topic || g.Headers["event-id"] != id:
			t.Errorf("%s: %s has key %q topic %s event-id %q; want key %q topic %s", who, id, g.Key, g.Topic, g.Headers["event-id"], w.Key, w.Topic)
		case !reflect.DeepEqual(g.Value, w.Value):
			t.Errorf("%s decoded %s differently from hookbridge:\n got %v\nwant %v", who, id, g.Value, w.Value)
		}
	}
	checkPosted(t, who, got)
}

// checkPosted checks the printed values against what was posted: the
// fields data teams trip over.
func checkPosted(t *testing.T, who string, got map[string]line) {
	t.Helper()
	for _, c := range []struct {
		id   string
		path []any
		want any
	}{
		{"dec-dk-1", []any{"decision", "reason"}, `Added <b>"Sommerkleid – Größe M"</b> to cart 🛒`},
		{"dec-dk-1", []any{"decision", "llm_reasoning"}, nil},
		{"dec-dk-1", []any{"session", "email"}, nil},
		{"dec-dk-1", []any{"session", "duration_seconds"}, 245.5},
		{"dec-dk-1", []any{"session", "cart_items", 1}, "Café <i>crème</i>"},
		{"dec-dk-1", []any{"occurred_at"}, "2026-05-01T10:15:30.250Z"},
		{"dec-dk-2", []any{"session", "cart_items"}, []any{}},
		{"evt-dk-1", []any{"content", "body"}, "<p>Bonjour <strong>Zoë</strong>,<br>l'article « Ørsted » est moins cher.</p>"},
		{"evt-dk-1", []any{"content", "preview_text"}, nil},
		{"evt-dk-1", []any{"customer", "email"}, "zoë@example.com"},
		{"evt-dk-1", []any{"primary_products", 0, "description"}, "日本製のランプ"},
		{"evt-dk-1", []any{"primary_products", 0, "image", "url"}, nil},
		{"evt-dk-1", []any{"primary_products", 0, "price"}, 19.99},
		{"evt-dk-1", []any{"primary_products", 0, "old_price"}, nil},
		{"evt-dk-1", []any{"primary_products", 1, "image"}, nil},
		{"evt-dk-1", []any{"other_products", 0, "on_sale"}, false},
		{"evt-dk-1", []any{"occurred_at"}, "2026-05-01T23:59:59.999Z"},
		{"evt-dk-2", []any{"message_type"}, nil},
		{"evt-dk-2", []any{"primary_products"}, []any{}},
	} {
		v, err := dig(got[c.id].Value, c.path)
		if err != nil || !reflect.DeepEqual(v, c.want) {
			t.Errorf("%s: %s %v = %#v (%v), want %#v as posted", who, c.id, c.path, v, err, c.want)
		}
	}
}

func dig(v any, path []any) (any, error) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("not a record at %v", k)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil, fmt.Errorf("no item %d", k)
			}
			v = a[k]
		}
	}
	return v, nil
}

// inTwoRuns runs an example twice in one consumer group, printing first
// the given number of events and then the rest: an example commits only
// what it printed, so the second run starts where the first stopped.
func inTwoRuns(t *testing.T, who string, first int, runExample func(max int) []byte) []line {
	t.Helper()
	lines := parseLines(t, who, runExample(first))
	if len(lines) != first {
		t.Fatalf("%s --max %d printed %d events", who, first, len(lines))
	}
	return append(lines, parseLines(t, who, runExample(len(webhooks)-first))...)
}

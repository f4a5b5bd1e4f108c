package klaviyo

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

func decision(id, email, action string) *schemas.DecisionMade {
	at := time.Date(2025, 1, 15, 14, 32, 0, 0, time.UTC)
	d := &schemas.DecisionMade{
		EventID: id, EventType: "decision.made", OccurredAt: &at, ReceivedAt: at.Add(time.Second),
		Decision: schemas.Decision{ID: new(id), Action: new(action), Reason: new(`Added "Summer Dress" to cart`), LLMReasoning: new("spent 4 minutes")},
		Session: schemas.Session{VisitorID: new("visitor-" + id), EventCount: new(int64(12)),
			DurationSeconds: new(245.0), ProductsViewed: new(int64(3)), CartItems: []string{"Summer Dress"}},
	}
	if email != "" {
		d.Session.Email = new(email)
	}
	return d
}

func message(id, email, messageType string) *schemas.AgentMessage {
	at := time.Date(2025, 2, 1, 9, 0, 0, 500e6, time.UTC)
	m := &schemas.AgentMessage{
		EventID: id, MessageType: new(messageType), OccurredAt: &at, ReceivedAt: at,
		Customer: schemas.Customer{ID: new("cust-" + id)},
		Content:  schemas.Content{Subject: new("Time to restock"), Headline: new("<b>Running low?</b>"), Body: new("<p>Hi</p>"), CallToAction: new("Shop")},
		PrimaryProducts: []schemas.Product{{Title: new("Shampoo"), Price: new(12.5), Currency: new("EUR"), OnSale: new(true),
			Image: &schemas.Image{URL: new("https://img/x.png")}}},
	}
	if email != "" {
		m.Customer.Email = new(email)
	}
	return m
}

func TestDecisionMetricNames(t *testing.T) {
	m := NewMapper(MappingOptions{})
	for action, want := range map[string]string{
		"cart_abandonment":   "Pique Cart Abandonment",
		"browse_abandonment": "Pique Browse Abandonment",
		"price_sensitive":    "Pique Price Sensitive",
		"gentle_nudge":       "Pique Gentle Nudge",
		"win_back":           "Pique win_back",
	} {
		ev, err := m.Map(decision("d1", "ada@example.com", action))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Metric != want {
			t.Errorf("action %q: metric %q, want %q", action, ev.Metric, want)
		}
	}
}

func TestMessageMetricNames(t *testing.T) {
	m := NewMapper(MappingOptions{})
	for mt, want := range map[string]string{
		"REPLENISHMENT_REMINDER":             "Product Agents Replenishment Reminder",
		"SIMILAR_PRODUCT_RECOMMENDATIONS":    "Product Agents Alternative Picks",
		"ACCESSORY_RELATED_PRODUCT_UPSELL":   "Product Agents Recommended Add-ons",
		"PRICE_DROP_VIEWED_PRODUCT":          "Product Agents Price Drop \u2013 Viewed Product",
		"PRICE_DROP_PURCHASED_REPLENISHMENT": "Product Agents Price Drop \u2013 Purchased Replenishment",
		"PRICE_DROP_ALTERNATIVE_PRODUCT":     "Product Agents Price Drop \u2013 Alternative Product",
		"NEW_AGENT":                          "Product Agents NEW_AGENT",
	} {
		ev, err := m.Map(message("m1", "ada@example.com", mt))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Metric != want {
			t.Errorf("messageType %q: metric %q, want %q", mt, ev.Metric, want)
		}
	}
}

func TestMappingOverrides(t *testing.T) {
	m := NewMapper(MappingOptions{
		DecisionMetrics: map[string]string{"cart_abandonment": "Cart Left", "vip": "VIP Visitor"},
		MessageMetrics:  map[string]string{"REPLENISHMENT_REMINDER": "Restock"},
	})
	if got := m.DecisionMetric("cart_abandonment"); got != "Cart Left" {
		t.Errorf("override: got %q", got)
	}
	if got := m.DecisionMetric("vip"); got != "VIP Visitor" {
		t.Errorf("added: got %q", got)
	}
	if got := m.DecisionMetric("gentle_nudge"); got != "Pique Gentle Nudge" {
		t.Errorf("default kept: got %q", got)
	}
	if got := m.MessageMetric("REPLENISHMENT_REMINDER"); got != "Restock" {
		t.Errorf("message override: got %q", got)
	}
}

func TestDecisionEvent(t *testing.T) {
	d := decision("evt-1", " ada@example.com ", "cart_abandonment")
	ev, err := NewMapper(MappingOptions{}).Map(d)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Profile != (Profile{Email: "ada@example.com"}) {
		t.Errorf("profile %+v: external ids are off by default", ev.Profile)
	}
	if ev.UniqueID != "evt-1" || !ev.Time.Equal(*d.OccurredAt) {
		t.Errorf("unique_id %q time %v", ev.UniqueID, ev.Time)
	}
	want := map[string]any{"action": "cart_abandonment", "reason": `Added "Summer Dress" to cart`, "llmReasoning": "spent 4 minutes",
		"productsViewed": int64(3), "durationSeconds": 245.0}
	for k, v := range want {
		if ev.Properties[k] != v {
			t.Errorf("property %s = %#v, want %#v", k, ev.Properties[k], v)
		}
	}
	if items, _ := ev.Properties["cartItems"].([]string); len(items) != 1 || items[0] != "Summer Dress" {
		t.Errorf("cartItems %#v", ev.Properties["cartItems"])
	}
}

func TestMessageEvent(t *testing.T) {
	ev, err := NewMapper(MappingOptions{ExternalID: true}).Map(message("m-1", "bo@example.com", "REPLENISHMENT_REMINDER"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Profile != (Profile{Email: "bo@example.com", ExternalID: "cust-m-1"}) {
		t.Errorf("profile %+v", ev.Profile)
	}
	if ev.Time != time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC) {
		t.Errorf("time %v: want truncated to the second", ev.Time)
	}
	if ev.Properties["headline"] != "<b>Running low?</b>" || ev.Properties["subject"] != "Time to restock" {
		t.Errorf("content properties %v", ev.Properties)
	}
	ps, _ := ev.Properties["primaryProducts"].([]product)
	if len(ps) != 1 || *ps[0].Title != "Shampoo" || *ps[0].Image.URL != "https://img/x.png" {
		t.Errorf("primaryProducts %#v", ev.Properties["primaryProducts"])
	}
	enc, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(enc.bulk); !strings.Contains(s, `"headline":"<b>Running low?</b>"`) {
		t.Errorf("HTML must not be escaped: %s", s)
	}
}

func TestSkipReasons(t *testing.T) {
	cases := []struct {
		name       string
		externalID bool
		ev         schemas.Event
		want       string
	}{
		{"no email", false, decision("a", "", "x"), SkipNoEmail},
		{"invalid email", false, decision("b", "not-an-email", "x"), SkipInvalidEmail},
		{"no email, no customer id", true, &schemas.AgentMessage{EventID: "c"}, SkipNoIdentifier},
	}
	for _, c := range cases {
		_, err := NewMapper(MappingOptions{ExternalID: c.externalID}).Map(c.ev)
		var skip *SkipError
		if !errors.As(err, &skip) || skip.Reason != c.want {
			t.Errorf("%s: err %v, want skip %q", c.name, err, c.want)
		}
	}
	// With external ids on, a visitor id alone is enough.
	ev, err := NewMapper(MappingOptions{ExternalID: true}).Map(decision("d", "", "x"))
	if err != nil || ev.Profile != (Profile{ExternalID: "visitor-d"}) {
		t.Errorf("external id only: %+v, %v", ev.Profile, err)
	}
}

func TestEventTimeOutOfRangeFallsBack(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := decision("t", "ada@example.com", "x")
	d.OccurredAt = new(now.AddDate(2, 0, 0))
	d.ReceivedAt = now
	ev, _ := NewMapper(MappingOptions{Now: func() time.Time { return now }}).Map(d)
	if !ev.Time.Equal(now) {
		t.Errorf("time %v, want the receive time %v", ev.Time, now)
	}
}

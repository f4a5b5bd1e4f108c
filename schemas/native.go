package schemas

import (
	"fmt"
	"time"
)

// Native implements Event.
func (e *DecisionMade) Native() map[string]any { return newDecisionNative().fill(e) }

// Native implements Event.
func (e *AgentMessage) Native() map[string]any { return newAgentNative().fill(e) }

// DecisionMadeFromNative converts goavro native data, decoded with any
// version of the DecisionMade schema, into a DecisionMade. Fields the
// writer's schema lacks are left nil.
func DecisionMadeFromNative(v any) (*DecisionMade, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: DecisionMade: want a record, got %T", v)
	}
	d, s := record(m, "decision"), record(m, "session")
	return &DecisionMade{
		EventID:    str(m["event_id"]),
		EventType:  str(m["event_type"]),
		OccurredAt: getTime(m, "occurred_at"),
		ReceivedAt: deref(getTime(m, "received_at")),
		SvixID:     getString(m, "svix_id"),
		Decision: Decision{
			ID:           getString(d, "id"),
			Action:       getString(d, "action"),
			Reason:       getString(d, "reason"),
			LLMReasoning: getString(d, "llm_reasoning"),
		},
		Session: Session{
			VisitorID:       getString(s, "visitor_id"),
			Email:           getString(s, "email"),
			EventCount:      getLong(s, "event_count"),
			DurationSeconds: getDouble(s, "duration_seconds"),
			ProductsViewed:  getLong(s, "products_viewed"),
			CartItems:       getStrings(s, "cart_items"),
		},
		RawJSON: str(m["raw_json"]),
	}, nil
}

// AgentMessageFromNative converts goavro native data, decoded with any
// version of the AgentMessage schema, into an AgentMessage.
func AgentMessageFromNative(v any) (*AgentMessage, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: AgentMessage: want a record, got %T", v)
	}
	c, ct := record(m, "customer"), record(m, "content")
	return &AgentMessage{
		EventID:     str(m["event_id"]),
		MessageType: getString(m, "message_type"),
		OccurredAt:  getTime(m, "occurred_at"),
		ReceivedAt:  deref(getTime(m, "received_at")),
		Customer:    Customer{ID: getString(c, "id"), Email: getString(c, "email")},
		Content: Content{
			Subject:      getString(ct, "subject"),
			PreviewText:  getString(ct, "preview_text"),
			Headline:     getString(ct, "headline"),
			Body:         getString(ct, "body"),
			CallToAction: getString(ct, "call_to_action"),
		},
		PrimaryProducts: getProducts(m, "primary_products"),
		OtherProducts:   getProducts(m, "other_products"),
		RawJSON:         str(m["raw_json"]),
	}, nil
}

func getProducts(m map[string]any, key string) []Product {
	arr, _ := m[key].([]any)
	if len(arr) == 0 {
		return nil
	}
	out := make([]Product, 0, len(arr))
	for _, v := range arr {
		pm, _ := v.(map[string]any)
		p := Product{
			Title:       getString(pm, "title"),
			Description: getString(pm, "description"),
			URL:         getString(pm, "url"),
			Price:       getDouble(pm, "price"),
			OldPrice:    getDouble(pm, "old_price"),
			Currency:    getString(pm, "currency"),
			OnSale:      getBool(pm, "on_sale"),
		}
		if im := unionRecord(pm["image"]); im != nil {
			p.Image = &Image{ScalableURL: getString(im, "scalable_url"), URL: getString(im, "url")}
		}
		out = append(out, p)
	}
	return out
}

// unwrap returns the value inside a goavro union (a one-entry map), or v.
func unwrap(v any) any {
	if u, ok := v.(map[string]any); ok && len(u) == 1 {
		for _, inner := range u {
			return inner
		}
	}
	return v
}

func record(m map[string]any, key string) map[string]any {
	r, _ := m[key].(map[string]any)
	return r
}

// unionRecord returns the record inside a ["null", record] union, or nil.
func unionRecord(v any) map[string]any {
	u, ok := v.(map[string]any)
	if !ok || len(u) != 1 {
		return nil
	}
	for _, inner := range u {
		r, _ := inner.(map[string]any)
		return r
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func getString(m map[string]any, key string) *string {
	if s, ok := unwrap(m[key]).(string); ok {
		return &s
	}
	return nil
}

func getLong(m map[string]any, key string) *int64 {
	if n, ok := unwrap(m[key]).(int64); ok {
		return &n
	}
	return nil
}

func getDouble(m map[string]any, key string) *float64 {
	if f, ok := unwrap(m[key]).(float64); ok {
		return &f
	}
	return nil
}

func getBool(m map[string]any, key string) *bool {
	if b, ok := unwrap(m[key]).(bool); ok {
		return &b
	}
	return nil
}

func getTime(m map[string]any, key string) *time.Time {
	if t, ok := unwrap(m[key]).(time.Time); ok {
		t = t.UTC()
		return &t
	}
	return nil
}

func getStrings(m map[string]any, key string) []string {
	arr, _ := m[key].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

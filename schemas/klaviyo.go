package schemas

import (
	"fmt"
	"time"
)

// Kinds of Klaviyo webhook event.
const (
	KlaviyoFlow   = "flow"
	KlaviyoSystem = "system"
)

// KlaviyoWebhook is one Klaviyo webhook event: a flow webhook, or one
// data[] item of a system webhook.
type KlaviyoWebhook struct {
	EventID     string
	WebhookKind string // flow or system (Kind is the Event method)
	Topic       *string
	MetricName  *string
	ProfileID   *string
	Email       *string
	OccurredAt  *time.Time
	ReceivedAt  time.Time
	WebhookID   *string
	AccountID   *string
	RawJSON     string
}

// Kind implements Event.
func (*KlaviyoWebhook) Kind() Kind { return KindKlaviyoWebhook }

// ID implements Event.
func (e *KlaviyoWebhook) ID() string { return e.EventID }

// Key is the profile id, else the email, else the event id.
func (e *KlaviyoWebhook) Key() string {
	if k := strOrEmpty(e.ProfileID); k != "" {
		return k
	}
	return orID(e.Email, e.EventID)
}

// Meta implements Event.
func (e *KlaviyoWebhook) Meta() Meta {
	src := SourceKlaviyoFlow
	if e.WebhookKind == KlaviyoSystem {
		src = SourceKlaviyoSystem
	}
	return Meta{EventID: e.EventID, Source: src, EventType: strOrEmpty(e.Topic), ReceivedAt: e.ReceivedAt}
}

// Native implements Event.
func (e *KlaviyoWebhook) Native() map[string]any {
	opt := func(p *string) any {
		if p == nil {
			return nil
		}
		return map[string]any{"string": *p}
	}
	var occurred any
	if e.OccurredAt != nil {
		occurred = map[string]any{"long.timestamp-millis": *e.OccurredAt}
	}
	return map[string]any{
		"event_id": e.EventID, "kind": e.WebhookKind, "topic": opt(e.Topic), "metric_name": opt(e.MetricName),
		"profile_id": opt(e.ProfileID), "email": opt(e.Email), "occurred_at": occurred,
		"received_at": e.ReceivedAt, "webhook_id": opt(e.WebhookID), "account_id": opt(e.AccountID),
		"raw_json": e.RawJSON,
	}
}

// KlaviyoWebhookFromNative converts goavro native data, decoded with any
// version of the KlaviyoWebhookEvent schema, into a KlaviyoWebhook.
func KlaviyoWebhookFromNative(v any) (*KlaviyoWebhook, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: KlaviyoWebhookEvent: want a record, got %T", v)
	}
	return &KlaviyoWebhook{
		EventID: str(m["event_id"]), WebhookKind: str(m["kind"]), Topic: getString(m, "topic"),
		MetricName: getString(m, "metric_name"), ProfileID: getString(m, "profile_id"), Email: getString(m, "email"),
		OccurredAt: getTime(m, "occurred_at"), ReceivedAt: deref(getTime(m, "received_at")),
		WebhookID: getString(m, "webhook_id"), AccountID: getString(m, "account_id"), RawJSON: str(m["raw_json"]),
	}, nil
}

package producer

import (
	"bytes"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
)

// klaviyoSystemBody is a Klaviyo system webhook: a batch of events.
type klaviyoSystemBody struct {
	Data *[]json.RawMessage `json:"data"`
	Meta struct {
		AccountID *string `json:"klaviyo_account_id"`
		WebhookID *string `json:"klaviyo_webhook_id"`
	} `json:"meta"`
}

// klaviyoItem is one data[] item; its payload has the shape of Klaviyo's
// Get Event answer, with or without its "data" wrapper.
type klaviyoItem struct {
	ExternalID *string          `json:"external_id"`
	Topic      *string          `json:"topic"`
	Payload    *klaviyoGetEvent `json:"payload"`
}

type klaviyoGetEvent struct {
	klaviyoEventObject
	Data     *klaviyoEventObject `json:"data"`
	Included []klaviyoIncluded   `json:"included"`
}

type klaviyoEventObject struct {
	Attributes *struct {
		Datetime        *string      `json:"datetime"`
		Timestamp       *json.Number `json:"timestamp"`
		EventProperties *struct {
			Email      *string `json:"$email"`
			MetricName *string `json:"metric_name"`
		} `json:"event_properties"`
	} `json:"attributes"`
	Relationships *struct {
		Profile *klaviyoRel `json:"profile"`
		Metric  *klaviyoRel `json:"metric"`
	} `json:"relationships"`
}

type klaviyoRel struct {
	Data *struct {
		ID *string `json:"id"`
	} `json:"data"`
}

type klaviyoIncluded struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Email *string `json:"email"`
		Name  *string `json:"name"`
	} `json:"attributes"`
}

// mapKlaviyoSystem maps a verified system webhook: one record per data[]
// item, its event id the item's external_id and its raw_json the item's
// bytes exactly as they appear in the body.
func mapKlaviyoSystem(d *delivery, t config.Topics) ([]mapped, error) {
	var b klaviyoSystemBody
	if err := decodeJSON(d.Body, &b); err != nil {
		return nil, err
	}
	if b.Data == nil {
		return nil, badf("data: missing")
	}
	ms := make([]mapped, 0, len(*b.Data))
	for i, raw := range *b.Data {
		var it klaviyoItem
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, badf("data[%d]: %v", i, err)
		}
		if nonEmpty(it.ExternalID) == "" {
			return nil, badf("data[%d].external_id: missing", i)
		}
		ev := &schemas.KlaviyoWebhook{EventID: *it.ExternalID, WebhookKind: schemas.KlaviyoSystem, Topic: it.Topic,
			ReceivedAt: d.ReceivedAt, WebhookID: b.Meta.WebhookID, AccountID: b.Meta.AccountID,
			RawJSON: string(bytes.Clone(raw))}
		if p := it.Payload; p != nil {
			obj, inc := &p.klaviyoEventObject, p.Included
			if p.Data != nil {
				obj = p.Data
			}
			fillKlaviyoEvent(ev, obj, inc)
		}
		ms = append(ms, klaviyoMapped(ev, t))
	}
	return ms, nil
}

func fillKlaviyoEvent(ev *schemas.KlaviyoWebhook, obj *klaviyoEventObject, inc []klaviyoIncluded) {
	var metricID string
	if a := obj.Attributes; a != nil {
		ev.OccurredAt = parseTime(a.Datetime, new(time.Time))
		if ev.OccurredAt == nil && a.Timestamp != nil {
			if at, err := parseKlaviyoTime(a.Timestamp.String()); err == nil {
				at = at.UTC()
				ev.OccurredAt = &at
			}
		}
		if p := a.EventProperties; p != nil {
			ev.Email, ev.MetricName = orNil(p.Email), orNil(p.MetricName)
		}
	}
	if r := obj.Relationships; r != nil {
		if r.Profile != nil && r.Profile.Data != nil {
			ev.ProfileID = orNil(r.Profile.Data.ID)
		}
		if r.Metric != nil && r.Metric.Data != nil {
			metricID = nonEmpty(r.Metric.Data.ID)
		}
	}
	for _, x := range inc {
		switch {
		case x.Type == "profile" && ev.Email == nil && (ev.ProfileID == nil || *ev.ProfileID == x.ID):
			ev.Email = orNil(x.Attributes.Email)
		case x.Type == "metric" && ev.MetricName == nil && (metricID == "" || metricID == x.ID):
			ev.MetricName = orNil(x.Attributes.Name)
		}
	}
	if ev.MetricName == nil && ev.Topic != nil {
		// event:klaviyo.opened_email names the metric too.
		if _, name, ok := strings.Cut(*ev.Topic, "."); ok && name != "" {
			ev.MetricName = orNil(&name)
		}
	}
}

// mapKlaviyoFlow returns the mapper of flow webhooks, reading the
// configured paths of the merchant's body; with no event id there, the id
// is the hex SHA-256 of the body.
func mapKlaviyoFlow(p config.KlaviyoFlowPaths) mapper {
	return func(d *delivery, t config.Topics) ([]mapped, error) {
		var root map[string]json.RawMessage
		if err := decodeJSON(d.Body, &root); err != nil {
			return nil, err
		}
		ev := &schemas.KlaviyoWebhook{WebhookKind: schemas.KlaviyoFlow, ReceivedAt: d.ReceivedAt, RawJSON: string(d.Body),
			Topic: jsonPath(root, p.Type), MetricName: jsonPath(root, p.MetricName),
			ProfileID: jsonPath(root, p.ProfileID), Email: jsonPath(root, p.Email)}
		ev.EventID = nonEmpty(jsonPath(root, p.EventID))
		if ev.EventID == "" {
			ev.EventID = bodyHash(d.Body)
		}
		if at := jsonPath(root, p.OccurredAt); at != nil {
			if ts, err := parseKlaviyoTime(*at); err == nil {
				ts = ts.UTC()
				ev.OccurredAt = &ts
			}
		}
		return []mapped{klaviyoMapped(ev, t)}, nil
	}
}

func klaviyoMapped(ev *schemas.KlaviyoWebhook, t config.Topics) mapped {
	return mapped{topic: t.Klaviyo(), key: ev.Key(), eventID: ev.EventID, eventType: nonEmpty(ev.Topic), event: ev}
}

// jsonPath reads a string (or a number, as its text) at a dotted path; a
// missing, empty (Klaviyo renders a missing tag as "") or other value is nil.
func jsonPath(root map[string]json.RawMessage, path string) *string {
	if path == "" {
		return nil
	}
	obj := root
	parts := strings.Split(path, ".")
	for i, name := range parts {
		raw, ok := obj[name]
		if !ok {
			return nil
		}
		if i < len(parts)-1 {
			obj = nil
			if json.Unmarshal(raw, &obj) != nil {
				return nil
			}
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return orNil(&s)
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			s = n.String()
			return &s
		}
	}
	return nil
}

// orNil is p, or nil when it is empty.
func orNil(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

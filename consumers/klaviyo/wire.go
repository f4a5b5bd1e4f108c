package klaviyo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The JSON:API documents of Klaviyo's two create endpoints (reference §2,
// §3). Bulk bodies are assembled from events encoded once, so a batch that
// is split or retried is not encoded again.

type resource[T any] struct {
	Data resourceData[T] `json:"data"`
}

type resourceData[T any] struct {
	Type       string `json:"type"`
	Attributes T      `json:"attributes"`
}

type metricAttrs struct {
	Name string `json:"name"`
}

type eventAttrs struct {
	Metric     resource[metricAttrs] `json:"metric"`
	Profile    *resource[Profile]    `json:"profile,omitempty"`
	Properties map[string]any        `json:"properties"`
	Time       string                `json:"time"`
	UniqueID   string                `json:"unique_id"`
}

// timeFormat is ISO 8601 to the second, as Klaviyo stores event times.
const timeFormat = "2006-01-02T15:04:05Z"

func (e *Event) attrs(withProfile bool) eventAttrs {
	a := eventAttrs{
		Metric:     resource[metricAttrs]{Data: resourceData[metricAttrs]{Type: "metric", Attributes: metricAttrs{Name: e.Metric}}},
		Properties: e.Properties,
		Time:       e.Time.UTC().Truncate(time.Second).Format(timeFormat),
		UniqueID:   e.UniqueID,
	}
	if a.Properties == nil {
		a.Properties = map[string]any{}
	}
	if withProfile {
		a.Profile = profileResource(e.Profile)
	}
	return a
}

func profileResource(p Profile) *resource[Profile] {
	return &resource[Profile]{Data: resourceData[Profile]{Type: "profile", Attributes: p}}
}

// marshal encodes without HTML escaping: properties may hold HTML, and
// "\u003c" for "<" would only make the body bigger.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// encodeSingle is the body of POST /api/events.
func encodeSingle(e *Event) ([]byte, error) {
	body, err := marshal(resource[eventAttrs]{Data: resourceData[eventAttrs]{Type: "event", Attributes: e.attrs(true)}})
	if err != nil {
		return nil, fmt.Errorf("klaviyo: encoding event %q: %w", e.UniqueID, err)
	}
	return body, nil
}

// encodeBulkEvent is one entry of a bulk job's events list (no profile:
// the profile is the entry's parent).
func encodeBulkEvent(e *Event) ([]byte, error) {
	body, err := marshal(resourceData[eventAttrs]{Type: "event", Attributes: e.attrs(false)})
	if err != nil {
		return nil, fmt.Errorf("klaviyo: encoding event %q: %w", e.UniqueID, err)
	}
	return body, nil
}

// bulkOverhead bounds the bytes a bulk body adds around its events: the
// envelope, and per event (counted as if each had a profile entry of its
// own) the entry around the profile and the events list.
const (
	bulkEnvelope      = 128
	bulkEntryOverhead = 160
)

// Encoded is an event encoded once for a bulk body.
type Encoded struct {
	Event   Event
	bulk    []byte // the entry in a profile's events list
	profile []byte // the profile's attributes
}

// Encode encodes e for the bulk endpoint.
func Encode(e Event) (*Encoded, error) {
	bulk, err := encodeBulkEvent(&e)
	if err != nil {
		return nil, err
	}
	prof, err := marshal(e.Profile)
	if err != nil {
		return nil, fmt.Errorf("klaviyo: encoding the profile of event %q: %w", e.UniqueID, err)
	}
	return &Encoded{Event: e, bulk: bulk, profile: prof}, nil
}

// Size is what the event adds to a bulk body at most.
func (e *Encoded) Size() int { return len(e.bulk) + len(e.profile) + bulkEntryOverhead }

// encodeBulk is the body of POST /api/event-bulk-create-jobs: events grouped
// by profile, in first-seen order.
func encodeBulk(items []*Encoded) []byte {
	type group struct {
		profile []byte
		events  [][]byte
	}
	var order []*group
	byKey := make(map[string]*group, len(items))
	size := bulkEnvelope
	for _, it := range items {
		k := it.Event.Profile.key()
		g := byKey[k]
		if g == nil {
			g = &group{profile: it.profile}
			byKey[k] = g
			order = append(order, g)
		}
		g.events = append(g.events, it.bulk)
		size += it.Size()
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteString(`{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[`)
	for i, g := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile","attributes":`)
		b.Write(g.profile)
		b.WriteString(`}},"events":{"data":[`)
		for j, ev := range g.events {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(ev)
		}
		b.WriteString(`]}}}`)
	}
	b.WriteString(`]}}}}`)
	return b.Bytes()
}

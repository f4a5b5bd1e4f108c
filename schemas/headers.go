package schemas

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names every hookbridge record carries (the record contract).
const (
	HeaderEventID    = "event-id"
	HeaderSource     = "source"
	HeaderEventType  = "event-type"
	HeaderReceivedAt = "received-at"
	HeaderSvixID     = "svix-id"
)

// Values of the source header: which sender a record came from.
const (
	SourcePique         = "pique"
	SourceProductAgents = "product-agents"
	SourceKlaviyoFlow   = "klaviyo-flow"
	SourceKlaviyoSystem = "klaviyo-system"
)

// ReceivedAtLayout is the received-at header's format: RFC 3339, UTC,
// milliseconds.
const ReceivedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// Meta is what a record's headers say about its event. The receiver builds
// it for every record, unrouted ones included; tests build it from an
// event with MetaOf, so both write the same headers.
type Meta struct {
	EventID    string
	Source     string
	EventType  string
	ReceivedAt time.Time
	SvixID     string // "" when the sender has none
}

// AppendHeaders appends m's record headers to dst.
func (m Meta) AppendHeaders(dst []kgo.RecordHeader) []kgo.RecordHeader {
	dst = append(dst,
		kgo.RecordHeader{Key: HeaderEventID, Value: []byte(m.EventID)},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(m.Source)},
		kgo.RecordHeader{Key: HeaderEventType, Value: []byte(m.EventType)},
		kgo.RecordHeader{Key: HeaderReceivedAt, Value: m.ReceivedAt.UTC().AppendFormat(nil, ReceivedAtLayout)},
	)
	if m.SvixID != "" {
		dst = append(dst, kgo.RecordHeader{Key: HeaderSvixID, Value: []byte(m.SvixID)})
	}
	return dst
}

// Headers returns m's record headers.
func (m Meta) Headers() []kgo.RecordHeader { return m.AppendHeaders(make([]kgo.RecordHeader, 0, 5)) }

// Header returns the value of r's header key, or "" when it has none.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

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

// AppendHeaders appends m's record headers to dst, their values sharing
// one new buffer.
func (m Meta) AppendHeaders(dst []kgo.RecordHeader) []kgo.RecordHeader {
	_, dst = m.AppendHeadersTo(nil, dst)
	return dst
}

// HeadersLen is how many bytes m's header values take.
func (m Meta) HeadersLen() int {
	return len(m.EventID) + len(m.Source) + len(m.EventType) + receivedAtLen + len(m.SvixID)
}

// AppendHeadersTo appends m's record headers to dst and their values to
// buf, returning both: a record's header values can share one allocation
// (the receiver makes one per record instead of one per header). Each
// value is capped at its length, so appending to one never overwrites
// the next; a buf without room for HeadersLen more bytes still works.
func (m Meta) AppendHeadersTo(buf []byte, dst []kgo.RecordHeader) ([]byte, []kgo.RecordHeader) {
	if buf == nil {
		buf = make([]byte, 0, m.HeadersLen()) // an empty value is empty, not null
	}
	var v []byte
	buf, v = appendValue(buf, m.EventID)
	dst = append(dst, kgo.RecordHeader{Key: HeaderEventID, Value: v})
	buf, v = appendValue(buf, m.Source)
	dst = append(dst, kgo.RecordHeader{Key: HeaderSource, Value: v})
	buf, v = appendValue(buf, m.EventType)
	dst = append(dst, kgo.RecordHeader{Key: HeaderEventType, Value: v})
	start := len(buf)
	buf = appendReceivedAt(buf, m.ReceivedAt)
	dst = append(dst, kgo.RecordHeader{Key: HeaderReceivedAt, Value: buf[start:len(buf):len(buf)]})
	if m.SvixID != "" {
		buf, v = appendValue(buf, m.SvixID)
		dst = append(dst, kgo.RecordHeader{Key: HeaderSvixID, Value: v})
	}
	return buf, dst
}

// appendValue appends s to buf and returns it as its own capped slice.
func appendValue(buf []byte, s string) ([]byte, []byte) {
	start := len(buf)
	buf = append(buf, s...)
	return buf, buf[start:len(buf):len(buf)]
}

// Headers returns m's record headers.
func (m Meta) Headers() []kgo.RecordHeader { return m.AppendHeaders(make([]kgo.RecordHeader, 0, 5)) }

// receivedAtLen is the length of a received-at value of a year 0–9999.
const receivedAtLen = len("2006-01-02T15:04:05.000Z")

// appendReceivedAt appends t, in UTC, as ReceivedAtLayout formats it. It
// writes the digits itself: time.Time.AppendFormat, which it matches byte
// for byte, was a tenth of the receiver's cost of building a record.
func appendReceivedAt(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, ReceivedAtLayout) // never for a real receive time
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends the n low decimal digits of v, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	var d [4]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// Header returns the value of r's header key, or "" when it has none.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

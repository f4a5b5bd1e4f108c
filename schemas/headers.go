package schemas

import "github.com/twmb/franz-go/pkg/kgo"

// Header names every hookbridge record carries (the record contract).
const (
	HeaderEventID    = "event-id"
	HeaderSource     = "source"
	HeaderEventType  = "event-type"
	HeaderReceivedAt = "received-at"
	HeaderSvixID     = "svix-id"
)

// Header returns the value of r's header key, or "" when it has none.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

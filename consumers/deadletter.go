package consumers

import (
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers a dead letter carries next to the original record's own headers.
const (
	HeaderError             = "error"
	HeaderErrorKind         = "error-kind"
	HeaderFailedAt          = "failed-at"
	HeaderConsumerGroup     = "consumer-group"
	HeaderOriginalTopic     = "original-topic"
	HeaderOriginalPartition = "original-partition"
	HeaderOriginalOffset    = "original-offset"
)

// WithKind gives cause the kind its dead letter carries in the error-kind
// header: the reason the failed-records metric counts (undecodable,
// rejected, ...), which `deadletters redrive --kind` matches exactly. The
// error's text stays cause's.
func WithKind(kind string, cause error) error { return &kindError{kind: kind, err: cause} }

// KindOf returns the kind WithKind gave err, or "" when it has none.
func KindOf(err error) string {
	if ke, ok := errors.AsType[*kindError](err); ok {
		return ke.kind
	}
	return ""
}

type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string {
	if e.err == nil {
		return "unknown error"
	}
	return e.err.Error()
}

func (e *kindError) Unwrap() error { return e.err }

// maxErrorHeader bounds the error header: a cause that quotes a whole
// payload must not make the dead letter larger than the broker accepts.
const maxErrorHeader = 4 << 10

// DeadLetterRecord returns the dead letter for rec: the original key, value
// and headers, plus the error headers, addressed to topic; error-kind only
// when cause has a kind (WithKind). The runner produces it synchronously;
// dedupe produces it inside its transaction.
func DeadLetterRecord(topic, group string, rec *kgo.Record, cause error, now time.Time) *kgo.Record {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader]
	}
	headers := make([]kgo.RecordHeader, 0, len(rec.Headers)+7)
	headers = append(headers, rec.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderFailedAt, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderConsumerGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: HeaderOriginalTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderOriginalPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOriginalOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
	)
	if kind := KindOf(cause); kind != "" {
		headers = append(headers, kgo.RecordHeader{Key: HeaderErrorKind, Value: []byte(kind)})
	}
	return &kgo.Record{
		Topic:     topic,
		Key:       rec.Key,
		Value:     rec.Value,
		Headers:   headers,
		Timestamp: rec.Timestamp,
	}
}

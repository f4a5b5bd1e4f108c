package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// Record header names every record carries, as schemas defines them.
const (
	HeaderEventID    = schemas.HeaderEventID
	HeaderSource     = schemas.HeaderSource
	HeaderEventType  = schemas.HeaderEventType
	HeaderReceivedAt = schemas.HeaderReceivedAt
	HeaderSvixID     = schemas.HeaderSvixID
)

// receivedAtLayout is the received-at header's format: RFC 3339, UTC, ms.
const receivedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// record encodes a mapped webhook into the Kafka record the contract
// describes: Avro in the Confluent wire format, or the raw body for an
// unrouted webhook.
func record(reg *schemas.Registry, d *delivery, m mapped) (*kgo.Record, error) {
	r := &kgo.Record{Topic: m.topic, Key: []byte(m.key)}
	if m.event == nil {
		r.Value = append([]byte(nil), d.Body...)
	} else {
		v, err := reg.AppendEncode(make([]byte, 0, len(d.Body)+len(d.Body)/2+64), m.event)
		if err != nil {
			return nil, err
		}
		r.Value = v
	}
	r.Headers = append(make([]kgo.RecordHeader, 0, 5),
		kgo.RecordHeader{Key: HeaderEventID, Value: []byte(m.eventID)},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(d.Source)},
		kgo.RecordHeader{Key: HeaderEventType, Value: []byte(m.eventType)},
		kgo.RecordHeader{Key: HeaderReceivedAt, Value: d.ReceivedAt.UTC().AppendFormat(nil, receivedAtLayout)},
	)
	if d.SvixID != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderSvixID, Value: []byte(d.SvixID)})
	}
	return r, nil
}

// Publisher writes records to Kafka and waits for their acknowledgement.
type Publisher interface {
	// Publish returns nil once the broker acknowledged rec with acks=all,
	// or an error when it did not before ctx ended. After an error the
	// record may still be acknowledged later: a duplicate, never a loss.
	Publish(ctx context.Context, rec *kgo.Record) error
}

// KafkaPublisher publishes through a franz-go client configured for
// idempotent, acks=all production.
type KafkaPublisher struct{ Client *kgo.Client }

// ErrNotAcked means Kafka did not acknowledge a record within the deadline.
var ErrNotAcked = errors.New("kafka did not acknowledge in time")

// Publish implements Publisher.
func (p KafkaPublisher) Publish(ctx context.Context, rec *kgo.Record) error {
	done := make(chan error, 1)
	// The record's context bounds only its time in the client's buffer;
	// once sent it is acked or failed by the broker, and we stop waiting
	// at ctx's deadline either way.
	p.Client.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return fmt.Errorf("%w: %v", ErrNotAcked, err)
			}
			return fmt.Errorf("producing to %s: %w", rec.Topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w (%v)", ErrNotAcked, context.Cause(ctx))
	}
}

// ProducerOpts are the franz-go options of the receiver's producer:
// idempotent with acks=all (franz-go's defaults, stated so they cannot
// silently change), unlimited retries within each record's deadline, a
// short linger so concurrent webhooks share batches, and keys hashed as
// the Java client does, so other producers agree on partitions.
// Batches are lz4-compressed unless Compression overrides it.
func ProducerOpts(linger time.Duration) []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger),
		Compression("lz4"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}
}

// Compression returns the batch compression option for a configured codec
// name (none, snappy, lz4, zstd, gzip); put it after ProducerOpts.
func Compression(name string) kgo.Opt {
	codec := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(),
		"zstd": kgo.ZstdCompression(), "gzip": kgo.GzipCompression(),
	}[name]
	return kgo.ProducerBatchCompression(codec, kgo.NoCompression())
}

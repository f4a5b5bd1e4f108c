package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
)

// recordBox is a record with room for its headers: one allocation
// instead of two.
type recordBox struct {
	rec  kgo.Record
	hdrs [5]kgo.RecordHeader
}

// fill encodes a mapped webhook into the Kafka record the contract
// describes: Avro in the Confluent wire format, or the raw body for an
// unrouted webhook. The key, the header values and the value share one
// buffer, each slice capped at its length, the value last.
func (b *recordBox) fill(reg *schemas.Registry, d *delivery, m mapped) error {
	meta := recordMeta(d, m)
	head := len(m.key) + meta.HeadersLen()
	size := len(d.Body)
	if m.event != nil {
		size += len(d.Body) + 64 // typed fields, at most the body again: no regrowing
	}
	buf := append(make([]byte, 0, head+size), m.key...)
	r := &b.rec
	r.Topic, r.Key = m.topic, buf[:len(buf):len(buf)]
	buf, r.Headers = meta.AppendHeadersTo(buf, b.hdrs[:0])
	if m.event == nil {
		r.Value = append(buf, d.Body...)[len(buf):]
		return nil
	}
	v, err := reg.AppendEncode(buf, m.event)
	if err != nil {
		return err
	}
	r.Value = v[len(buf):]
	return nil
}

// records encodes every record of a webhook, all or nothing.
func records(reg *schemas.Registry, d *delivery, ms []mapped) ([]*kgo.Record, error) {
	boxes := make([]recordBox, len(ms))
	recs := make([]*kgo.Record, len(ms))
	for i, m := range ms {
		if err := boxes[i].fill(reg, d, m); err != nil {
			return nil, err
		}
		recs[i] = &boxes[i].rec
	}
	return recs, nil
}

func recordMeta(d *delivery, m mapped) schemas.Meta {
	return schemas.Meta{EventID: m.eventID, Source: d.Source, EventType: m.eventType, ReceivedAt: d.ReceivedAt, SvixID: d.SvixID}
}

// recordBytes is rec's size as receiver.max_record_bytes counts it: key,
// value and headers, with room for the varints that frame them.
func recordBytes(rec *kgo.Record) int64 {
	n := int64(len(rec.Key) + len(rec.Value) + 32)
	for _, h := range rec.Headers {
		n += int64(len(h.Key) + len(h.Value) + 10)
	}
	return n
}

// tooLargeError is a webhook whose record can never be produced; topic
// is set when the limit is that topic's max.message.bytes.
type tooLargeError struct {
	size, limit int64
	topic       string
}

func (e *tooLargeError) Error() string {
	if e.topic != "" {
		return fmt.Sprintf("the webhook makes a %d-byte Kafka record (typed fields plus raw_json), over the %d-byte limit of topic %s (its max.message.bytes less batch framing)", e.size, e.limit, e.topic)
	}
	return fmt.Sprintf("the webhook makes a %d-byte Kafka record (typed fields plus raw_json), over the %d-byte limit (receiver.max_record_bytes)", e.size, e.limit)
}

// tooLarge reports whether err means a record can never fit: the limit
// the receiver checks, or the broker's MESSAGE_TOO_LARGE (a topic whose
// max.message.bytes is below receiver.max_record_bytes).
func tooLarge(err error) bool {
	if err == nil {
		return false // the usual case, without errors.As's allocation
	}
	var tl *tooLargeError
	return errors.As(err, &tl) || errors.Is(err, kerr.MessageTooLarge)
}

// Publisher writes records to Kafka.
type Publisher interface {
	// Publish hands rec to the producer before it returns, so records
	// published one after another keep their order per partition (and so
	// per key), and calls done once with the broker's answer: nil when it
	// acknowledged rec with acks=all. A record whose waiter gave up may
	// still be acknowledged later: a duplicate, never a loss.
	Publish(rec *kgo.Record, done func(error))
}

// KafkaPublisher publishes through a franz-go client configured with
// ProducerOpts.
type KafkaPublisher struct{ Client *kgo.Client }

// ErrNotAcked means Kafka did not acknowledge a record within the deadline.
var ErrNotAcked = errors.New("kafka did not acknowledge in time")

// Publish implements Publisher. Records are not bound to the request's
// deadline: franz-go fails every buffered record of a partition when one
// record's context ends, so a timed-out request would fail the requests
// queued behind it. A full buffer (Kafka away for long) fails at once.
func (p KafkaPublisher) Publish(rec *kgo.Record, done func(error)) {
	p.Client.TryProduce(context.Background(), rec, func(r *kgo.Record, err error) {
		if err != nil {
			err = fmt.Errorf("producing to %s: %w", r.Topic, err)
		}
		done(err)
	})
}

// acks are the broker's answers to records published together. The
// webhook path makes one per request, so they are reused: an acks goes
// back to ackPool only once its waiter got every answer, so an answer can
// never reach an acks serving another request. One whose waiter gave up
// first is never reused; its late answers land in it, and the garbage
// collector takes it.
type acks struct {
	left  atomic.Int64  // answers still to come
	mu    sync.Mutex    // guards first while answers come
	first error         // the first failure
	all   chan struct{} // receives once, after the last answer
	done  func(error)   // a.answer, bound once
	timer *time.Timer   // within's deadline, made on first use
}

var ackPool = sync.Pool{New: func() any {
	a := &acks{all: make(chan struct{}, 1)}
	a.done = a.answer
	return a
}}

// newAcks returns acks waiting for n answers.
func newAcks(n int) *acks {
	a := ackPool.Get().(*acks)
	a.left.Store(int64(n))
	if n == 0 {
		a.all <- struct{}{}
	}
	return a
}

// failedAcks are the answer err for a record that could not be published.
func failedAcks(err error) *acks {
	a := newAcks(1)
	a.answer(err)
	return a
}

// publishAll publishes recs in order (so they keep their order per key)
// without waiting; wait collects the acks.
func publishAll(p Publisher, recs []*kgo.Record) *acks {
	a := newAcks(len(recs))
	for _, rec := range recs {
		p.Publish(rec, a.done)
	}
	return a
}

// answer records one record's answer. The last one signals the waiter,
// and that send is its last use of a: once the waiter has it, a is free.
func (a *acks) answer(err error) {
	if err != nil {
		a.mu.Lock()
		if a.first == nil {
			a.first = err
		}
		a.mu.Unlock()
	}
	if a.left.Add(-1) == 0 {
		a.all <- struct{}{}
	}
}

// wait returns nil once every record is acknowledged, the first failure
// once every record has an answer, or ErrNotAcked when ctx ends first.
// a must not be used after wait.
func (a *acks) wait(ctx context.Context) error {
	select {
	case <-a.all:
		return a.reuse()
	case <-ctx.Done():
		return fmt.Errorf("%w (%v)", ErrNotAcked, context.Cause(ctx))
	}
}

// within is wait with a deadline of d from now, on a timer the acks keep:
// a webhook's wait without the context, timer and channel each request
// would otherwise build.
func (a *acks) within(d time.Duration) error {
	if a.timer == nil {
		a.timer = time.NewTimer(d)
	} else {
		a.timer.Reset(d) // stopped when a was last reused: nothing stale in C
	}
	select {
	case <-a.all:
		a.timer.Stop()
		return a.reuse()
	case <-a.timer.C:
		return fmt.Errorf("%w (%v)", ErrNotAcked, context.DeadlineExceeded)
	}
}

// reuse returns the outcome of a, whose every answer came, and pools it.
func (a *acks) reuse() error {
	err := a.first
	a.first = nil
	ackPool.Put(a)
	return err
}

// publishAndWait publishes rec and waits for its ack until ctx ends.
func publishAndWait(ctx context.Context, p Publisher, rec *kgo.Record) error {
	return publishAll(p, []*kgo.Record{rec}).wait(ctx)
}

// ProducerOpts are the franz-go options of the receiver's producer:
// idempotent with acks=all (franz-go's defaults, stated so they cannot
// silently change), unlimited retries within each record's deadline, a
// short linger so concurrent webhooks share batches, and keys hashed as
// the Java client does, so other producers agree on partitions.
// Batches are snappy-compressed unless Compression overrides it.
func ProducerOpts(linger time.Duration) []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger),
		Compression("snappy"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// Leader moves and NOT_ENOUGH_REPLICAS need fresh metadata well
		// within a webhook's deadline; franz-go's default waits 5s.
		kgo.MetadataMinAge(250 * time.Millisecond),
		// A record nobody waits for any more still goes out when Kafka
		// returns, until this; the buffer bound makes a long outage fail
		// new records at once instead of queueing them.
		kgo.RecordDeliveryTimeout(5 * time.Minute),
		kgo.MaxBufferedRecords(maxBufferedRecords),
	}
}

// maxBufferedRecords bounds the producer's buffer; the drainer keeps to
// half of it, so webhooks arriving while it drains still find room.
const (
	maxBufferedRecords = 20000
	drainRecordBudget  = maxBufferedRecords / 2
)

// MaxRecordBytes lets records of up to n bytes (as recordBytes counts
// them) through the producer; put it after ProducerOpts.
func MaxRecordBytes(n config.ByteSize) kgo.Opt {
	return kgo.ProducerBatchMaxBytes(int32(n + config.BatchOverhead))
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

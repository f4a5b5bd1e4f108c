package klaviyo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/schemas"
)

// Decoder decodes a record value; *schemas.Registry is one.
type Decoder interface {
	DecodeEvent(ctx context.Context, value []byte) (schemas.Event, error)
}

// Options are what every partition's processor shares.
type Options struct {
	Client  *Client
	Mapper  *Mapper
	Decoder Decoder
	Metrics *Metrics
	// BatchSize caps the events of one bulk request; default and maximum
	// MaxBulkEvents.
	BatchSize int
	// BatchBytes caps the encoded size of one bulk request; default and
	// maximum MaxBulkBytes.
	BatchBytes int
	// IsolateBelow is the batch size under which a rejected batch is sent
	// event by event rather than split in halves; default 8.
	IsolateBelow int
	// Backoff paces retries of a schema registry that is unreachable.
	Backoff Backoff
}

// NewProcessorFunc returns the consumers.Group.NewProcessor of the
// forwarder.
func NewProcessorFunc(o Options) func(consumers.PartitionContext) (consumers.Processor, error) {
	return func(pc consumers.PartitionContext) (consumers.Processor, error) {
		return NewProcessor(o, pc), nil
	}
}

func (o *Options) setDefaults() {
	if o.BatchSize <= 0 || o.BatchSize > MaxBulkEvents {
		o.BatchSize = MaxBulkEvents
	}
	if o.BatchBytes <= 0 || o.BatchBytes > MaxBulkBytes {
		o.BatchBytes = MaxBulkBytes
	}
	if o.IsolateBelow <= 0 {
		o.IsolateBelow = 8
	}
	if o.Metrics == nil {
		o.Metrics = o.Client.m
	}
}

// NewProcessor returns the processor of one partition.
func NewProcessor(o Options, pc consumers.PartitionContext) *Processor {
	o.setDefaults()
	log := pc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Processor{o: o, pc: pc, log: log, committed: -1}
}

// pending is a mapped record waiting for its batch.
type pending struct {
	rec *kgo.Record
	ev  *Encoded
}

// Processor forwards one partition: it buffers mapped events, sends them
// in bulk when a batch is full or at Flush, and reports an offset as
// committable only when every record before it was accepted by Klaviyo,
// skipped, or dead-lettered.
type Processor struct {
	o   Options
	pc  consumers.PartitionContext
	log *slog.Logger

	buf      []pending
	bufBytes int
	// next is the offset after the last record taken in; everything
	// before it that is not in buf is done.
	next      int64
	committed int64
}

// Process implements consumers.Processor.
func (p *Processor) Process(ctx context.Context, recs []*kgo.Record) (int64, error) {
	for _, rec := range recs {
		if p.committed < 0 {
			// Where the partition starts is committed already.
			p.committed = rec.Offset
		}
		if err := p.take(ctx, rec); err != nil {
			return -1, err
		}
		p.next = rec.Offset + 1
		for len(p.buf) >= p.o.BatchSize || p.bufBytes >= p.o.BatchBytes {
			if err := p.sendBatch(ctx); err != nil {
				return -1, err
			}
		}
	}
	return p.commit(), nil
}

// Flush implements consumers.Processor.
func (p *Processor) Flush(ctx context.Context) (int64, error) {
	for len(p.buf) > 0 {
		if err := p.sendBatch(ctx); err != nil {
			return -1, err
		}
	}
	return p.commit(), nil
}

// Close implements consumers.Processor: buffered events are abandoned and
// read again by the partition's next owner.
func (p *Processor) Close() { p.buf, p.bufBytes = nil, 0 }

// commit is the offset up to which everything is done, when it moved.
func (p *Processor) commit() int64 {
	if p.committed < 0 {
		return -1 // nothing taken in: nothing to commit
	}
	at := p.next
	if len(p.buf) > 0 {
		at = p.buf[0].rec.Offset
	}
	if at <= p.committed {
		return -1
	}
	p.committed = at
	return at
}

// take decodes and maps rec into the buffer, or skips or dead-letters it.
func (p *Processor) take(ctx context.Context, rec *kgo.Record) error {
	ev, err := p.decode(ctx, rec)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return p.deadLetter(ctx, rec, "undecodable", err)
	}
	kev, err := p.o.Mapper.Map(ev)
	var skip *SkipError
	switch {
	case errors.As(err, &skip):
		p.o.Metrics.Skipped.WithLabelValues(skip.Reason).Inc()
		p.log.Debug("klaviyo: skipping event", "event_id", ev.ID(), "reason", skip.Reason, "offset", rec.Offset)
		return nil
	case err != nil:
		return p.deadLetter(ctx, rec, "unmappable", err)
	}
	enc, err := Encode(kev)
	if err != nil {
		return p.deadLetter(ctx, rec, "unencodable", err)
	}
	p.buf = append(p.buf, pending{rec: rec, ev: enc})
	p.bufBytes += enc.Size()
	return nil
}

// decode retries a schema registry that cannot be reached: a record is
// only poison when its bytes are.
func (p *Processor) decode(ctx context.Context, rec *kgo.Record) (schemas.Event, error) {
	for attempt := 0; ; attempt++ {
		ev, err := p.o.Decoder.DecodeEvent(ctx, rec.Value)
		if err == nil || !transientDecode(err) {
			return ev, err
		}
		p.log.Warn("klaviyo: schema registry unavailable; retrying", "offset", rec.Offset, "err", err)
		if err := sleep(ctx, p.o.Backoff.delay(attempt)); err != nil {
			return nil, err
		}
	}
}

func transientDecode(err error) bool {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == 429
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// sendBatch sends the head of the buffer as one bulk request and drops it
// from the buffer once Klaviyo took it or its rejected events are
// dead-lettered.
func (p *Processor) sendBatch(ctx context.Context) error {
	n, size := 0, bulkEnvelope
	seen := make(map[string]struct{}, min(len(p.buf), p.o.BatchSize))
	var batch []pending
	for n < len(p.buf) && len(batch) < p.o.BatchSize {
		it := p.buf[n]
		if len(batch) > 0 && size+it.ev.Size() > p.o.BatchBytes {
			break
		}
		n++
		// A unique_id twice in one bulk request fails all of it, and
		// Klaviyo would keep only the first anyway.
		k := it.ev.Event.Profile.key() + "\x00" + it.ev.Event.Metric + "\x00" + it.ev.Event.UniqueID
		if _, dup := seen[k]; dup {
			p.o.Metrics.Skipped.WithLabelValues("duplicate_in_batch").Inc()
			continue
		}
		seen[k] = struct{}{}
		batch = append(batch, it)
		size += it.ev.Size()
	}
	var rejected []rejection
	if err := p.deliver(ctx, batch, &rejected); err != nil {
		return err
	}
	if len(rejected) == len(batch) && len(batch) >= systemicRejection {
		// Every event of a sizeable batch refused one by one is not bad
		// data but a bad setup (a revision Klaviyo no longer serves, a
		// proxy in the way): stop, uncommitted, rather than dead-letter
		// the stream.
		return fmt.Errorf("klaviyo: all %d events of a batch were rejected, which points at the configuration (klaviyo.revision, klaviyo.base_url) rather than the events; stopping without committing: %w",
			len(batch), rejected[0].cause)
	}
	for _, r := range rejected {
		if err := p.deadLetter(ctx, r.rec, "rejected", r.cause); err != nil {
			return err
		}
	}
	for i := range p.buf[:n] {
		p.bufBytes -= p.buf[i].ev.Size()
	}
	p.buf = append(p.buf[:0], p.buf[n:]...)
	return nil
}

// systemicRejection is the smallest batch whose complete rejection stops
// the group instead of filling the dead-letter topic.
const systemicRejection = 16

// rejection is an event Klaviyo refused, with its answer.
type rejection struct {
	rec   *kgo.Record
	cause error
}

// deliver sends batch, and when Klaviyo rejects it, splits it until the
// rejected events are found: those are added to rejected (for the
// dead-letter topic, with Klaviyo's error), the others still go to Klaviyo.
func (p *Processor) deliver(ctx context.Context, batch []pending, rejected *[]rejection) error {
	if len(batch) == 0 {
		return nil
	}
	var err error
	if len(batch) == 1 {
		err = p.o.Client.Send(ctx, batch[0].ev)
	} else {
		evs := make([]*Encoded, len(batch))
		for i := range batch {
			evs[i] = batch[i].ev
		}
		err = p.o.Client.SendBulk(ctx, evs)
	}
	var apiErr *APIError
	switch {
	case err == nil:
		counter := p.o.Metrics.Sent
		if p.o.Client.DryRun() {
			counter = p.o.Metrics.DryRun // logged, not sent
		}
		for _, it := range batch {
			counter.WithLabelValues(it.ev.Event.Kind).Inc()
		}
		return nil
	case !errors.As(err, &apiErr) || !apiErr.Rejected():
		return err
	case len(batch) == 1:
		*rejected = append(*rejected, rejection{batch[0].rec, err})
		return nil
	case len(batch) < p.o.IsolateBelow:
		p.log.Info("klaviyo rejected a batch; sending its events one by one", "events", len(batch), "err", err)
		for i := range batch {
			if err := p.deliver(ctx, batch[i:i+1], rejected); err != nil {
				return err
			}
		}
		return nil
	default:
		p.log.Info("klaviyo rejected a batch; splitting it", "events", len(batch), "err", err)
		half := len(batch) / 2
		if err := p.deliver(ctx, batch[:half], rejected); err != nil {
			return err
		}
		return p.deliver(ctx, batch[half:], rejected)
	}
}

func (p *Processor) deadLetter(ctx context.Context, rec *kgo.Record, reason string, cause error) error {
	// The runner logs the dead letter with its cause; Klaviyo's error
	// detail may quote an email, so it stays out of this line.
	p.log.Debug("klaviyo: dead-lettering record", "offset", rec.Offset, "reason", reason)
	if p.pc.DeadLetter == nil {
		return fmt.Errorf("klaviyo: no dead-letter topic for offset %d: %w", rec.Offset, cause)
	}
	if err := p.pc.DeadLetter(ctx, rec, cause); err != nil {
		return fmt.Errorf("klaviyo: dead-lettering offset %d (%v): %w", rec.Offset, cause, err)
	}
	p.o.Metrics.DeadLettered.WithLabelValues(reason).Inc()
	return nil
}

var _ consumers.Processor = (*Processor)(nil)

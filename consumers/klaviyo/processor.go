package klaviyo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

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

// DryRunSuffix is added to the group id of a dry run.
const DryRunSuffix = "-dry-run"

// GroupID is the consumer group the forwarder joins: group when it sends,
// group+DryRunSuffix in a dry run. A dry run marks what it logged as done,
// and under the live group that would commit past events Klaviyo never
// received; under a group of its own it never moves the live group's
// offsets nor takes its partitions, so going live starts where the live
// group left off.
func GroupID(group string, dryRun bool) string {
	if dryRun {
		return group + DryRunSuffix
	}
	return group
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
	return &Processor{o: o, pc: pc, log: log}
}

// pending is a mapped record waiting for its batch.
type pending struct {
	rec *kgo.Record
	ev  *Encoded
}

// Processor forwards one partition: it buffers mapped events and sends
// them in bulk when a batch is full or at Flush. A record is done once
// Klaviyo accepted it, it was skipped, or it was dead-lettered; the
// buffered ones are what it holds (Pending).
type Processor struct {
	o   Options
	pc  consumers.PartitionContext
	log *slog.Logger

	buf      []pending
	bufBytes int
}

// Process implements consumers.Processor.
func (p *Processor) Process(ctx context.Context, recs []*kgo.Record) error {
	for _, rec := range recs {
		if err := p.take(ctx, rec); err != nil {
			return err
		}
		for len(p.buf) >= p.o.BatchSize || p.bufBytes >= p.o.BatchBytes {
			if err := p.sendBatch(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush implements consumers.Processor.
func (p *Processor) Flush(ctx context.Context) error {
	for len(p.buf) > 0 {
		if err := p.sendBatch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Pending implements consumers.Processor: the oldest buffered record.
func (p *Processor) Pending() (int64, bool) {
	if len(p.buf) == 0 {
		return 0, false
	}
	return p.buf[0].rec.Offset, true
}

// Close implements consumers.Processor: buffered events are abandoned and
// read again by the partition's next owner.
func (p *Processor) Close() { p.buf, p.bufBytes = nil, 0 }

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
	if size := bulkEnvelope + enc.Size(); size > MaxBulkBytes {
		// Alone in a request and still over Klaviyo's payload limit.
		return p.deadLetter(ctx, rec, "unmappable", &LimitError{Field: "encoded size", Size: size, Limit: MaxBulkBytes, Unit: "bytes"})
	}
	p.buf = append(p.buf, pending{rec: rec, ev: enc})
	p.bufBytes += enc.Size()
	return nil
}

// decode retries a schema registry that cannot be reached: a record is
// only poison when its bytes are.
func (p *Processor) decode(ctx context.Context, rec *kgo.Record) (schemas.Event, error) {
	var ev schemas.Event
	err := consumers.Retry(ctx, p.log, fmt.Sprintf("klaviyo: decoding offset %d", rec.Offset), p.o.Backoff.delay, consumers.Transient,
		func() (err error) {
			ev, err = p.o.Decoder.DecodeEvent(ctx, rec.Value)
			return err
		})
	return ev, err
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
	if err := p.systemic(batch, rejected); err != nil {
		return err
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

// systemic stops the group, uncommitted, when every event of a sizeable
// batch was refused one by one and no refusal points into an event (a
// revision Klaviyo no longer serves, a proxy in the way): that is the
// setup, not the data, and dead-lettering would empty the stream. A
// refusal that points into an event is that event's (an email Klaviyo
// refuses, say): however many a sender makes, they are dead-lettered and
// the group goes on. The error is logged at error level, so it carries
// Klaviyo's status and codes; the detail, which may quote an email, goes
// to debug.
func (p *Processor) systemic(batch []pending, rejected []rejection) error {
	if len(rejected) != len(batch) || len(batch) < systemicRejection {
		return nil
	}
	for _, r := range rejected {
		if r.cause.PointsAtEvent() {
			return nil
		}
	}
	p.log.Debug("klaviyo rejection detail", "err", rejected[0].cause)
	return fmt.Errorf("klaviyo: all %d events of a batch were rejected without an error pointing into any of them (%s), which points at the configuration (klaviyo.revision, klaviyo.base_url, a proxy in between) rather than the events; stopping without committing",
		len(batch), rejected[0].cause.Summary())
}

// rejection is an event Klaviyo refused, with its answer.
type rejection struct {
	rec   *kgo.Record
	cause *APIError
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
	case !errors.As(err, &apiErr): // refused returns an *APIError for rejections only
		return err
	case len(batch) == 1:
		*rejected = append(*rejected, rejection{batch[0].rec, apiErr})
		return nil
	case len(batch) < p.o.IsolateBelow:
		p.logRejection("klaviyo rejected a batch; sending its events one by one", len(batch), apiErr)
		for i := range batch {
			if err := p.deliver(ctx, batch[i:i+1], rejected); err != nil {
				return err
			}
		}
		return nil
	default:
		p.logRejection("klaviyo rejected a batch; splitting it", len(batch), apiErr)
		half := len(batch) / 2
		if err := p.deliver(ctx, batch[:half], rejected); err != nil {
			return err
		}
		return p.deliver(ctx, batch[half:], rejected)
	}
}

// logRejection logs a rejected batch with Klaviyo's status and error codes
// at info, and the whole answer only at debug: its detail may quote an
// email, and info-level logs hold no personal data.
func (p *Processor) logRejection(msg string, events int, apiErr *APIError) {
	p.log.Info(msg, "events", events, "status", apiErr.Status, "codes", apiErr.Codes())
	p.log.Debug("klaviyo rejection detail", "err", apiErr)
}

// deadLetter hands rec to the runner's dead-letter path, which counts and
// logs it (Klaviyo's error detail may quote an email: cause stays out of
// this package's logs and errors).
func (p *Processor) deadLetter(ctx context.Context, rec *kgo.Record, reason string, cause error) error {
	if p.o.Client.DryRun() {
		// A dry run changes nothing the live run will see: the live
		// group dead-letters the record when it gets there.
		p.log.Info("klaviyo dry run: would dead-letter", "offset", rec.Offset, "reason", reason)
		p.log.Debug("klaviyo dry run: dead-letter cause", "offset", rec.Offset, "err", cause)
		return nil
	}
	if p.pc.DeadLetter == nil {
		return fmt.Errorf("klaviyo: offset %d cannot be sent (%s) and there is no dead-letter topic", rec.Offset, reason)
	}
	return p.pc.DeadLetter(ctx, rec, reason, cause)
}

var _ consumers.Processor = (*Processor)(nil)

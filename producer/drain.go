package producer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/schemas"
)

// drainBatchSize is how many spooled webhooks one drain round produces.
const drainBatchSize = 512

// drainLoop produces spooled webhooks once Kafka is back, oldest first,
// and deletes each only after its ack. It starts with the process, so a
// crash never strands what an earlier process spooled.
func (s *Server) drainLoop(ctx context.Context) {
	sp := s.opts.Spool
	backoff := time.Second
	for {
		if sp.Len() == 0 || !s.kafkaUp() {
			select {
			case <-ctx.Done():
				return
			case <-sp.notify:
			case <-time.After(time.Second):
			}
			continue
		}
		n, err := s.drainOnce(ctx)
		if err == nil {
			backoff = time.Second
			if n == 0 {
				// Nothing to read although the depth counter was not 0:
				// an append is between its commit and its count. Wait for
				// its wake-up rather than spinning.
				select {
				case <-ctx.Done():
					return
				case <-sp.notify:
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if n > 0 {
			// Progress: Kafka is back but slow (say, the client is still
			// backing off from the outage). Do not let the wait grow.
			backoff = time.Second
		}
		s.log.Warn("draining the spool failed; retrying", "drained", n, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// drainOnce produces one batch of spooled webhooks in spool order (so the
// idempotent producer keeps per-key order) and removes those acknowledged.
// An entry that can never be produced (it does not decode, its record is
// too large, the schema or Kafka refuses it) is quarantined instead, so it
// never holds back the entries behind it; transient failures stay in the
// spool, in order, for the next round.
func (s *Server) drainOnce(ctx context.Context) (int, error) {
	entries, err := s.opts.Spool.peek(drainBatchSize)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.Receiver.AckDeadline)
	defer cancel()
	results := s.publishEntries(entries)
	var done []uint64
	var failed int
	var firstErr error
	for i, ch := range results {
		var err error
		select {
		case err = <-ch:
		case <-pctx.Done():
			err = fmt.Errorf("%w (%v)", ErrNotAcked, context.Cause(pctx))
		}
		if reason := permanent(err); reason != "" {
			err = s.quarantine(pctx, entries[i], reason, err)
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		done = append(done, entries[i].seq)
	}
	if len(done) > 0 {
		if err := s.opts.Spool.remove(done); err != nil {
			return 0, err
		}
	}
	if failed > 0 {
		return len(done), fmt.Errorf("%d of %d spooled webhooks not acknowledged, first: %w", failed, len(entries), firstErr)
	}
	return len(done), nil
}

// publishEntries publishes the records of entries in spool order; each
// entry's channel gets its ack or why it has no record.
func (s *Server) publishEntries(entries []spoolEntry) []chan error {
	results := make([]chan error, len(entries))
	for i := range entries {
		results[i] = make(chan error, 1)
		rec, err := s.spooledRecord(&entries[i])
		if err != nil {
			results[i] <- err
			continue
		}
		ch := results[i]
		s.opts.Publisher.Publish(rec, func(err error) { ch <- err })
	}
	return results
}

// permanentError is a spooled entry that can never become a record.
type permanentError struct {
	reason string
	err    error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent returns the quarantine reason when err means the entry can
// never be produced, "" when a retry may succeed.
func permanent(err error) string {
	var pe *permanentError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return pe.reason
	case tooLarge(err), errors.Is(err, kerr.RecordListTooLarge):
		return quarantineTooLarge
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage):
		return quarantineRejected
	}
	return ""
}

// spooledRecord maps and encodes a spooled webhook. One that no longer maps
// (it did when it was accepted) goes to the unrouted topic with its raw
// body rather than being dropped.
func (s *Server) spooledRecord(e *spoolEntry) (*kgo.Record, error) {
	if e.err != nil {
		return nil, &permanentError{quarantineCorrupt, e.err}
	}
	d := &e.d
	src := s.source(d.Source)
	var m mapped
	var err error
	if src != nil {
		m, err = src.mapFn(d, s.opts.Topics)
	}
	if src == nil || err != nil {
		s.log.Error("spooled webhook no longer maps; sending it to the unrouted topic", "source", d.Source, "err", err)
		m = mapped{topic: s.opts.Topics.Unrouted(), eventID: bodyHash(d.Body), eventType: "unmappable"}
		m.key = m.eventID
	}
	rec, err := record(s.opts.Schemas, d, m)
	switch {
	case errors.Is(err, schemas.ErrNotRegistered):
		return nil, err
	case err != nil:
		return nil, &permanentError{quarantineEncoding, err}
	}
	if size, limit := recordBytes(rec), int64(s.opts.Receiver.MaxRecordBytes); size > limit {
		return nil, &permanentError{quarantineTooLarge, &tooLargeError{size: size, limit: limit}}
	}
	return rec, nil
}

// quarantine moves a spooled entry that can never be produced out of the
// way: to the dead-letter topic with its bytes and the reason, or, when
// that fails, to the quarantine file beside the spool. It is counted and
// shows on /readyz.
func (s *Server) quarantine(ctx context.Context, e spoolEntry, reason string, cause error) error {
	dl := s.deadLetter(e, reason, cause)
	where := s.opts.Topics.DeadLetter()
	if err := publishAndWait(ctx, s.opts.Publisher, dl); err != nil {
		where = s.quarantinePath
		if where == "" {
			where = filepath.Join(filepath.Dir(s.opts.Spool.path), QuarantineFile)
		}
		if ferr := appendQuarantine(where, e, reason, cause); ferr != nil {
			return fmt.Errorf("spool entry %d cannot be produced (%v) nor quarantined: dead-letter topic: %v; %w", e.seq, cause, err, ferr)
		}
	}
	if s.opts.Spool != nil {
		s.opts.Spool.noteQuarantine(reason, where)
	}
	s.log.Error("spooled webhook can never be produced; quarantined it", "seq", e.seq, "source", e.d.Source,
		"reason", reason, "to", where, "err", cause)
	return nil
}

// deadLetter is the dead letter of a spooled entry: its body (or, when it
// does not decode, the spooled bytes), with the consumers' error headers
// and, when known, the record headers it would have had.
func (s *Server) deadLetter(e spoolEntry, reason string, cause error) *kgo.Record {
	orig := &kgo.Record{Topic: "", Partition: -1, Offset: -1, Value: e.raw}
	if e.err == nil {
		orig.Value = e.d.Body
		orig.Key = []byte(bodyHash(e.d.Body))
		if m, err := s.remap(&e.d); err == nil {
			orig.Topic, orig.Key = m.topic, []byte(m.key)
			orig.Headers = recordMeta(&e.d, m).Headers()
		}
	}
	dl := consumers.DeadLetterRecord(s.opts.Topics.DeadLetter(), spoolGroup, orig, fmt.Errorf("spool %s: %w", reason, cause), time.Now())
	dl.Headers = append(dl.Headers, kgo.RecordHeader{Key: HeaderSpoolReason, Value: []byte(reason)})
	return dl
}

// spoolGroup is the consumer-group header of the receiver's dead letters,
// and HeaderSpoolReason says why a spooled webhook was quarantined.
const (
	spoolGroup        = "hookbridge-receiver-spool"
	HeaderSpoolReason = "spool-reason"
)

// remap maps a spooled delivery with its source's mapper.
func (s *Server) remap(d *delivery) (mapped, error) {
	src := s.source(d.Source)
	if src == nil {
		return mapped{}, fmt.Errorf("unknown source %q", d.Source)
	}
	return src.mapFn(d, s.opts.Topics)
}

func (s *Server) source(name string) *source {
	for _, src := range s.sources {
		if src.name == name {
			return src
		}
	}
	return nil
}

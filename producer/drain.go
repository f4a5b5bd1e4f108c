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

// drainBatchSize is how many spooled webhooks one drain round reads; it
// produces as many of them as fit drainRecordBudget records.
const drainBatchSize = 512

// drainLoop produces spooled webhooks once Kafka is back, oldest first,
// and deletes each only after its ack. It starts with the process, so a
// crash never strands what an earlier process spooled.
func (s *Server) drainLoop(ctx context.Context) {
	sp := s.opts.Spool
	backoff := time.Second
	for {
		if !s.kafkaUp() || !sp.pending() {
			if !sleep(ctx, sp.notify, time.Second) {
				return
			}
			continue
		}
		n, err := s.drainOnce(ctx)
		if err == nil {
			backoff = time.Second
			if n == 0 {
				// The counters said there was something, the file holds
				// nothing: count again rather than spin.
				if err := sp.recount(); err != nil {
					s.log.Error("spool: counting the entries failed", "err", err)
				}
				if !sleep(ctx, sp.notify, time.Second) {
					return
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
		if !sleep(ctx, nil, backoff) {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// sleep waits for d, a wake-up on wake (nil: none) or the end of ctx, and
// reports whether ctx is still live.
func sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

// drainOnce produces one batch of spooled webhooks in spool order (so the
// idempotent producer keeps per-key order) and removes those acknowledged.
// An entry that can never be produced (it does not decode, its record is
// too large, the schema or Kafka refuses it) is quarantined instead, so it
// never holds back the entries behind it; transient failures stay in the
// spool, in order, for the next round.
func (s *Server) drainOnce(ctx context.Context) (int, error) {
	if err := s.opts.Spool.remove(nil); err != nil {
		return 0, err // entries acknowledged before are not sent again
	}
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
	for i, a := range results {
		err := a.wait(pctx)
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
		return len(done), fmt.Errorf("%d of %d spooled webhooks not acknowledged (each is sent again whole), first: %w", failed, len(results), firstErr)
	}
	return len(done), nil
}

// publishEntries publishes the records of the oldest entries, in spool
// order, up to drainRecordBudget records (always the first entry's), and
// returns each published entry's acks: entries[i] for results[i]. An entry
// that makes no records gets why.
func (s *Server) publishEntries(entries []spoolEntry) []*acks {
	var out []*acks
	budget := drainRecordBudget
	for i := range entries {
		recs, err := s.spooledRecords(&entries[i])
		if err != nil {
			out = append(out, failedAcks(err))
			continue
		}
		if len(out) > 0 && len(recs) > budget {
			break
		}
		budget -= len(recs)
		out = append(out, publishAll(s.opts.Publisher, recs))
	}
	return out
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

// spooledRecords maps and encodes a spooled webhook. One that no longer
// maps (it did when it was accepted) goes to the unrouted topic with its
// raw body rather than being dropped.
func (s *Server) spooledRecords(e *spoolEntry) ([]*kgo.Record, error) {
	if e.err != nil {
		return nil, &permanentError{quarantineCorrupt, e.err}
	}
	d := &e.d
	ms, err := s.remap(d)
	if err != nil {
		s.log.Error("spooled webhook no longer maps; sending it to the unrouted topic", "source", d.Source, "err", err)
		m := mapped{topic: s.opts.Topics.Unrouted(), eventID: bodyHash(d.Body), eventType: "unmappable"}
		m.key = m.eventID
		ms = []mapped{m}
	}
	recs, err := records(s.opts.Schemas, d, ms)
	switch {
	case errors.Is(err, schemas.ErrNotRegistered):
		return nil, err
	case err != nil:
		return nil, &permanentError{quarantineEncoding, err}
	}
	if err := s.checkAllFit(recs); err != nil {
		return nil, &permanentError{quarantineTooLarge, err}
	}
	return recs, nil
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
		if ms, err := s.remap(&e.d); err == nil && len(ms) > 0 {
			m := ms[0]
			orig.Topic, orig.Key = m.topic, []byte(m.key)
			orig.Headers = recordMeta(&e.d, m).Headers()
		}
	}
	dl := consumers.DeadLetterRecord(s.opts.Topics.DeadLetter(), spoolGroup, orig, consumers.WithKind(reason, fmt.Errorf("spool %s: %w", reason, cause)), time.Now())
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
func (s *Server) remap(d *delivery) ([]mapped, error) {
	src := s.source(d.Source)
	if src == nil {
		return nil, fmt.Errorf("unknown source %q", d.Source)
	}
	return src.mapFn(d, s.opts.Topics)
}

// drainAtShutdown keeps draining the spool once a stopping receiver has
// finished its requests, while Kafka is reachable, until the spool is empty
// or receiver.spool.shutdown_drain_timeout passes: a pod removed on
// scale-in keeps its spool volume, and what it holds waits until that pod
// runs again. Whatever is left stays in the spool, in order.
func (s *Server) drainAtShutdown() {
	sp := s.opts.Spool
	if sp == nil || !sp.pending() {
		return
	}
	bound := s.opts.Receiver.Spool.ShutdownDrainTimeout
	if !s.kafkaUp() {
		s.log.Warn("spool not empty at shutdown and Kafka is away: its webhooks drain when a receiver runs on this spool again",
			"entries", sp.Len())
		return
	}
	start, before := time.Now(), sp.Len()
	s.log.Info("draining the spool before exiting", "entries", before, "timeout", bound.String())
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil && sp.pending() {
		n, err := s.drainOnce(ctx)
		if err != nil {
			lastErr = err
		}
		if n == 0 {
			select { // no progress (Kafka refuses or is gone): do not spin
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if left := sp.Len(); left > 0 {
		s.log.Warn("spool not empty at shutdown: its webhooks drain when a receiver runs on this spool again",
			"entries", left, "drained", before-left, "after", time.Since(start).Round(time.Millisecond).String(), "err", lastErr)
		return
	}
	s.log.Info("spool drained before exiting", "drained", before, "after", time.Since(start).Round(time.Millisecond).String())
}

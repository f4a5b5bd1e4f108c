package producer

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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
func (s *Server) drainOnce(ctx context.Context) (int, error) {
	entries, err := s.opts.Spool.peek(drainBatchSize)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.Receiver.AckDeadline)
	defer cancel()
	results := make([]chan error, len(entries))
	for i := range entries {
		results[i] = make(chan error, 1)
		rec, err := s.spooledRecord(&entries[i].d)
		if err != nil {
			results[i] <- err
			continue
		}
		ch := results[i]
		s.opts.Publisher.Publish(rec, func(err error) { ch <- err }) // in spool order
	}
	var acked []uint64
	var failed int
	var firstErr error
	for i, ch := range results {
		var err error
		select {
		case err = <-ch:
		case <-pctx.Done():
			err = fmt.Errorf("%w (%v)", ErrNotAcked, context.Cause(pctx))
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		acked = append(acked, entries[i].seq)
	}
	if len(acked) > 0 {
		if err := s.opts.Spool.remove(acked); err != nil {
			return 0, err
		}
	}
	if failed > 0 {
		return len(acked), fmt.Errorf("%d of %d spooled webhooks not acknowledged, first: %w", failed, len(entries), firstErr)
	}
	return len(acked), nil
}

// spooledRecord maps and encodes a spooled webhook. One that no longer maps
// (it did when it was accepted) goes to the unrouted topic with its raw
// body rather than being dropped.
func (s *Server) spooledRecord(d *delivery) (*kgo.Record, error) {
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
	return record(s.opts.Schemas, d, m)
}

func (s *Server) source(name string) *source {
	for _, src := range s.sources {
		if src.name == name {
			return src
		}
	}
	return nil
}

package dedupe

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
)

// kindUndecodable is the kind of dedupe's dead letters: a record without
// an event id it can read.
const kindUndecodable = "undecodable"

// batch is one partition's share of a poll.
type batch struct {
	t    tp
	st   *partState
	recs []*kgo.Record
	ids  []string // recs' event ids, or
	errs []error  // why a record has none (it is dead-lettered)
}

// transact deduplicates one poll in one transaction: outputs, changelog
// entries, dead letters and the input offsets commit together or not at
// all.
func (d *deduper) transact(ctx context.Context, sess *kgo.GroupTransactSession, fs kgo.Fetches) error {
	var (
		batches []batch
		revoked bool
		rerr    error
	)
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 || rerr != nil {
			return
		}
		t := tp{p.Topic, p.Partition}
		st, err := d.state(ctx, t)
		switch {
		case err != nil:
			rerr = err
		case st == nil:
			// Revoked since the poll: committing its offsets now could
			// step on its new owner, so this transaction only aborts.
			revoked = true
		default:
			b := batch{t: t, st: st, recs: p.Records}
			b.ids, b.errs, rerr = d.eventIDs(ctx, p.Records)
			batches = append(batches, b)
		}
	})
	if rerr != nil {
		return rerr
	}

	// The transaction in flight finishes even when ctx ends: ending it
	// now is what a graceful shutdown means, and an abandoned one would
	// hold back read_committed readers until the broker times it out.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.c.TransactionTimeout)
	defer cancel()
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("dedupe: beginning a transaction: %w", err)
	}
	var (
		perrMu sync.Mutex
		perr   error
	)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			perrMu.Lock()
			if perr == nil {
				perr = fmt.Errorf("dedupe: producing to %s/%d: %w", r.Topic, r.Partition, err)
			}
			perrMu.Unlock()
		}
	}
	now := time.Now()
	type counts struct{ in, dups, dead int }
	perTopic := make(map[string]*counts, 2)
	for _, b := range batches {
		c := perTopic[b.t.topic]
		if c == nil {
			c = &counts{}
			perTopic[b.t.topic] = c
		}
		out, changelog := d.c.Output(b.t.topic), d.c.Changelog(b.t.topic)
		for i, rec := range b.recs {
			c.in++
			id, err := b.ids[i], b.errs[i]
			if err != nil {
				dl := consumers.DeadLetterRecord(d.opts.DeadLetterTopic, d.c.Group, rec, consumers.WithKind(kindUndecodable, err), now)
				dl.Partition = rec.Partition
				sess.Produce(tctx, dl, promise)
				c.dead++
				continue
			}
			h, ts := hashID(id), rec.Timestamp.UnixMilli()
			if b.st.duplicate(h, ts) {
				c.dups++
				continue
			}
			b.st.pending[h] = ts
			sess.Produce(tctx, &kgo.Record{
				Topic: out, Partition: rec.Partition,
				Key: rec.Key, Value: rec.Value, Headers: rec.Headers, Timestamp: rec.Timestamp,
			}, promise)
			sess.Produce(tctx, changelogRecord(changelog, rec.Partition, h, ts), promise)
		}
	}
	ferr := sess.Client().Flush(tctx)
	perrMu.Lock()
	produceErr := perr
	perrMu.Unlock()
	if ferr != nil && produceErr == nil {
		produceErr = fmt.Errorf("dedupe: flushing the transaction: %w", ferr)
	}
	if d.c.beforeEnd != nil {
		if err := d.c.beforeEnd(); err != nil {
			return err
		}
	}

	commit := kgo.TryCommit
	if revoked || produceErr != nil {
		commit = kgo.TryAbort
	}
	committed, err := sess.End(tctx, commit)
	if err != nil || !committed {
		for _, b := range batches {
			clear(b.st.pending)
		}
	}
	switch {
	case err != nil:
		d.dm.txns.WithLabelValues("aborted").Inc()
		d.Metrics.Error("transaction")
		return fmt.Errorf("dedupe: ending the transaction: %w (restart the process: nothing of this transaction was emitted)", err)
	case produceErr != nil:
		d.dm.txns.WithLabelValues("aborted").Inc()
		d.Metrics.Error("transaction")
		return fmt.Errorf("%w (the transaction was aborted; check the output, changelog and dead-letter topics exist)", produceErr)
	case !committed:
		// A rebalance: the session rewound to the committed offsets, and
		// the records are read again by whoever owns them now.
		d.dm.txns.WithLabelValues("aborted").Inc()
		d.Log.Info("transaction aborted by a rebalance; its records will be read again")
		return nil
	}
	d.dm.txns.WithLabelValues("committed").Inc()

	d.mu.Lock()
	for _, b := range batches {
		if d.states[b.t] != b.st {
			continue // revoked after the commit: the next owner restores from the changelog
		}
		before := b.st.seen.forgotten
		for h, ts := range b.st.pending {
			b.st.seen.add(h, ts)
		}
		clear(b.st.pending)
		if n := b.st.seen.forgotten - before; n > 0 {
			d.dm.forgotten.WithLabelValues(b.t.topic).Add(float64(n))
		}
		d.dm.setRemembered(b.t.topic, b.t.partition, b.st.seen.len())
	}
	d.mu.Unlock()
	for topic, c := range perTopic {
		d.Metrics.Processed(topic, c.in)
		if c.dead > 0 {
			d.Metrics.Failed(topic, kindUndecodable, c.dead)
		}
		d.dm.duplicates.WithLabelValues(topic).Add(float64(c.dups))
	}
	return nil
}

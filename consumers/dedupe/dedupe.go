// Package dedupe is hookbridge's dedupe consumer group: it reads the raw
// topics and writes each event id once to the deduplicated topics, exactly
// once.
//
// Exactly once comes from a franz-go GroupTransactSession: the output
// records, the changelog entries that remember their ids, any dead letters,
// and the input offsets are committed in one Kafka transaction, and a
// rebalance aborts the transaction in flight. An id enters the in-memory
// seen set only after the transaction that emitted it committed, so an
// aborted transaction leaves no trace in memory either: its records are read
// again and judged again.
//
// The seen ids of each input partition live in memory (a 64-bit hash and a
// timestamp per id) and in a compacted changelog topic, from which they are
// restored when the partition is assigned, after a crash or a rebalance.
package dedupe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/schemas"
)

// Config is one dedupe group.
type Config struct {
	// Group is the consumer group id.
	Group string
	// Topics are the raw topics to deduplicate.
	Topics []string
	// Output names the deduplicated topic of a raw topic.
	Output func(raw string) string
	// Changelog names the compacted changelog topic of a raw topic.
	Changelog func(raw string) string
	// Window is how long, in record time, an id is remembered.
	Window time.Duration
	// MaxIDsPerPartition bounds memory; past it the oldest ids are
	// forgotten before their window ends.
	MaxIDsPerPartition int
	// TransactionalID must be unique among running instances; "" means
	// "<group>-<hostname>".
	TransactionalID string
	// TransactionTimeout is how long the broker keeps an abandoned
	// transaction open; 0 means one minute.
	TransactionTimeout time.Duration
	// MaxBatch bounds the input records of one transaction; 0 means 10000.
	MaxBatch int
	// Schemas decodes values of records without an event-id header; nil
	// sends such records to the dead letters.
	Schemas *schemas.Registry

	// beforeEnd, in tests, runs after a transaction's records are flushed
	// and before it ends; an error from it stops Run without ending the
	// transaction, as a crash would.
	beforeEnd func() error
}

func (c *Config) fill() error {
	switch {
	case c.Group == "":
		return errors.New("dedupe: Config.Group is empty")
	case len(c.Topics) == 0:
		return errors.New("dedupe: Config.Topics is empty")
	case c.Output == nil || c.Changelog == nil:
		return errors.New("dedupe: Config.Output and Config.Changelog must name the output and changelog topics")
	case c.Window <= 0:
		return fmt.Errorf("dedupe: window %s must be positive", c.Window)
	case c.MaxIDsPerPartition < 1:
		return fmt.Errorf("dedupe: max ids per partition %d must be at least 1", c.MaxIDsPerPartition)
	}
	if c.TransactionalID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return fmt.Errorf("dedupe: no hostname to derive the transactional id from (%v): set dedupe.transactional_id", err)
		}
		c.TransactionalID = c.Group + "-" + host
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = time.Minute
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 10_000
	}
	return nil
}

// Run deduplicates until ctx ends (nil) or a transaction fails in a way
// that needs a new producer (the error).
func Run(ctx context.Context, opts consumers.Options, c Config) error {
	if err := c.fill(); err != nil {
		return err
	}
	base, err := consumers.Setup(opts, c.Group, "dedupe "+c.Group)
	if err != nil {
		return err
	}
	dm, err := newMetrics(opts.Metrics)
	if err != nil {
		return err
	}
	log := base.Log
	d := &deduper{
		Base: base, c: c, opts: opts, dm: dm,
		assigned: make(map[tp]uint64),
		states:   make(map[tp]*partState),
	}
	if err := d.checkAllPartitions(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	sess, err := kgo.NewGroupTransactSession(append(opts.ClientOpts(),
		append(opts.GroupOpts(c.Group, c.Topics, base.Start),
			kgo.TransactionalID(c.TransactionalID),
			kgo.TransactionTimeout(c.TransactionTimeout),
			// Every record this group writes names its partition: the
			// input record's, so the output keeps the input's key
			// placement and the changelog entry lands where restore
			// looks for it.
			kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
				return func(r *kgo.Record, n int) int { return int(r.Partition) % n }
			})),
			kgo.OnPartitionsAssigned(d.onAssigned),
			kgo.OnPartitionsRevoked(d.onRevoked),
			kgo.OnPartitionsLost(d.onRevoked),
		)...)...)
	if err != nil {
		return fmt.Errorf("dedupe: creating the transactional session: %w", err)
	}
	d.adm = kadm.NewClient(sess.Client())
	log.Info("deduplicating", "group", c.Group, "topics", c.Topics, "transactional_id", c.TransactionalID,
		"window", c.Window, "start_from", opts.StartFrom)

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.Ready.WaitConnected(rctx, sess.Client()) }()
	err = d.loop(ctx, sess)
	cancel()
	wg.Wait()
	d.Ready.Set(errors.New("stopped"))
	if errors.Is(err, errCrash) {
		// A simulated crash: do not leave the group or end the
		// transaction cleanly beyond what closing the client does.
		sess.Client().Close()
		return err
	}
	sess.Close()
	if err != nil {
		return err
	}
	log.Info("stopped", "group", c.Group)
	return nil
}

// errCrash is returned by a test's beforeEnd hook.
var errCrash = errors.New("dedupe: simulated crash")

type tp struct {
	topic     string
	partition int32
}

// partState is one assigned input partition's dedupe state.
type partState struct {
	seen *seenSet
	// pending holds the ids emitted by the open transaction; they join
	// seen only if it commits.
	pending map[uint64]int64
}

func (s *partState) duplicate(h uint64, ts int64) bool {
	if at, ok := s.pending[h]; ok && ts-at <= s.seen.window {
		return true
	}
	return s.seen.duplicate(h, ts)
}

type deduper struct {
	*consumers.Base
	c    Config
	opts consumers.Options
	dm   *metrics
	adm  *kadm.Client // on the session's client, for the layout checks

	// mu guards assigned and states, which the rebalance callbacks change
	// while the loop runs.
	mu sync.Mutex
	// assigned holds the generation of each partition's assignment: it
	// changes on every assign, so state restored for an earlier
	// assignment is never installed for a later one.
	assigned map[tp]uint64
	gen      uint64
	states   map[tp]*partState
}

func (d *deduper) onAssigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			d.gen++
			d.assigned[tp{t, p}] = d.gen
		}
	}
	d.Log.Info("partitions assigned", "partitions", parts)
}

// onRevoked drops the state of partitions given up. It must not end the
// transaction (a franz-go deadlock); the session aborts it instead.
func (d *deduper) onRevoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(d.assigned, tp{t, p})
			delete(d.states, tp{t, p})
			d.dm.forget(t, p)
		}
	}
	d.Metrics.Forget(parts)
	d.Log.Info("partitions revoked", "partitions", parts)
}

// state returns the state of an assigned partition, restoring it from the
// changelog the first time; nil when the partition is no longer assigned.
func (d *deduper) state(ctx context.Context, t tp) (*partState, error) {
	d.mu.Lock()
	st := d.states[t]
	gen, ok := d.assigned[t]
	d.mu.Unlock()
	if st != nil || !ok {
		return st, nil
	}
	// Partitions added to raw while dedupe runs stop it here, before any
	// of their records is processed.
	if err := d.checkLayout(ctx, d.adm, t.topic); err != nil {
		return nil, err
	}
	seen := newSeenSet(d.c.Window.Milliseconds(), d.c.MaxIDsPerPartition)
	if err := restore(ctx, d.opts.Kafka, d.Log, d.c.Changelog(t.topic), t.partition, seen); err != nil {
		return nil, err
	}
	st = &partState{seen: seen, pending: make(map[uint64]int64)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.assigned[t] != gen {
		return nil, nil // revoked (and perhaps reassigned) while restoring
	}
	d.states[t] = st
	d.dm.setRemembered(t.topic, t.partition, seen.len())
	return st, nil
}

func (d *deduper) loop(ctx context.Context, sess *kgo.GroupTransactSession) error {
	for {
		fs := sess.PollRecords(ctx, d.c.MaxBatch)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		d.Fetched(fs)
		if fs.NumRecords() == 0 {
			continue
		}
		if err := d.transact(ctx, sess, fs); err != nil {
			if ctx.Err() != nil && !errors.Is(err, errCrash) {
				return nil // shutting down mid-transaction: it was aborted, nothing to report
			}
			return err
		}
	}
}

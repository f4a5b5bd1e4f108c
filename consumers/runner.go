package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookbridge/hookbridge/schemas"
)

// maxPollRecords bounds one poll, so the time rebalances are held back
// (BlockRebalanceOnPoll) is only the time to hand records to the workers.
const maxPollRecords = 10_000

// Run consumes g until ctx ends or a Processor returns an error.
//
// Each assigned partition gets its own Processor on its own goroutine.
// Offsets the processors report durable are committed every
// Options.CommitInterval, after a final Flush when a partition is revoked,
// and at shutdown; a lost partition is closed without a commit. Run returns
// nil after a graceful shutdown (ctx ended) and the processor's error when
// one stopped the group.
func Run(ctx context.Context, opts Options, g Group) error {
	if err := validate(g); err != nil {
		return err
	}
	base, err := Setup(opts, g.Name, "consumer-group "+g.Name)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &runner{
		ctx: rctx, cancel: cancel, opts: opts, g: g, Base: base,
		workers: make(map[topicPartition]*worker),
	}
	cl, err := kgo.NewClient(append(opts.ClientOpts(), r.clientOpts(base.Start)...)...)
	if err != nil {
		return fmt.Errorf("consumers: group %s: creating the Kafka client: %w", g.Name, err)
	}
	r.cl = cl
	return r.run()
}

func validate(g Group) error {
	switch {
	case g.Name == "":
		return errors.New("consumers: Group.Name is empty: name the consumer group")
	case len(g.Topics) == 0:
		return fmt.Errorf("consumers: group %s: Group.Topics is empty: name the topics to read", g.Name)
	case g.NewProcessor == nil:
		return fmt.Errorf("consumers: group %s: Group.NewProcessor is nil", g.Name)
	}
	return nil
}

// GroupOpts are the consumer options every hookbridge group shares: the
// group, its topics, its group protocol (cooperative-sticky balancing on
// the classic one), read_committed, manual commits, and where partitions
// without a commit start. Dedupe adds them to its transactional session.
func (o Options) GroupOpts(group string, topics []string, start kgo.Offset) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(start),
	}
	if o.GroupProtocol == ProtocolConsumer {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	return opts
}

type topicPartition struct {
	topic     string
	partition int32
}

type runner struct {
	*Base
	ctx    context.Context
	cancel context.CancelCauseFunc
	opts   Options
	g      Group
	cl     *kgo.Client

	mu      sync.Mutex
	workers map[topicPartition]*worker
	wg      sync.WaitGroup // worker goroutines

	// commitMu serialises commits, so a periodic commit can never land
	// after the revoke that gave its partition to another member.
	commitMu sync.Mutex
}

func (r *runner) clientOpts(start kgo.Offset) []kgo.Opt {
	return append(r.opts.GroupOpts(r.g.Name, r.g.Topics, start),
		// Callbacks run only between polls, so no fetched record is handed
		// to a worker after its partition was revoked.
		kgo.BlockRebalanceOnPoll(),
		// Transaction markers come back so lag is measured from past
		// them; they are never handed to a processor.
		kgo.KeepControlRecords(),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
	)
}

func (r *runner) run() error {
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); r.Ready.WaitConnected(r.ctx, r.cl) }()
	go func() { defer bg.Done(); r.commitLoop() }()
	r.Log.Info("consuming", "group", r.g.Name, "topics", r.g.Topics, "start_from", r.opts.StartFrom)

	r.pollLoop()

	// Shut down: finish or abandon what the workers hold, commit what is
	// durable, then leave the group.
	r.Ready.Set(errors.New("stopping"))
	ws := r.take(nil)
	for _, w := range ws {
		w.stop(stopFlush)
	}
	r.wait(ws)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.shutdownTimeout())
	r.commit(sctx, ws)
	scancel()
	r.cancel(nil)
	bg.Wait()
	r.cl.CloseAllowingRebalance()
	r.wg.Wait()

	err := context.Cause(r.ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		r.Log.Info("stopped", "group", r.g.Name)
		return nil
	}
	return err
}

func (r *runner) pollLoop() {
	for {
		fs := r.cl.PollRecords(r.ctx, maxPollRecords)
		if r.ctx.Err() != nil || fs.IsClientClosed() {
			r.cl.AllowRebalance()
			return
		}
		r.Fetched(fs)
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			r.mu.Lock()
			w := r.workers[topicPartition{p.Topic, p.Partition}]
			r.mu.Unlock()
			if w == nil {
				// Cannot happen while rebalances are blocked around polls;
				// the records stay uncommitted if it ever does.
				r.Log.Error("fetched records for a partition without a processor", "topic", p.Topic, "partition", p.Partition)
				return
			}
			w.push(p.Records)
		})
		r.cl.AllowRebalance()
	}
}

func (r *runner) shutdownTimeout() time.Duration {
	if r.opts.ShutdownTimeout > 0 {
		return r.opts.ShutdownTimeout
	}
	return 30 * time.Second
}

func (r *runner) fail(err error) {
	r.Log.Error("stopping the group", "group", r.g.Name, "err", err)
	r.cancel(err)
}

// assigned starts a worker for each new partition.
func (r *runner) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	for topic, parts := range assigned {
		for _, p := range parts {
			tp := topicPartition{topic, p}
			pc := PartitionContext{
				Group: r.g.Name, Topic: topic, Partition: p,
				Logger: r.Log.With("topic", topic, "partition", p),
			}
			pc.DeadLetter = r.deadLetter(cl, pc.Logger)
			proc, err := r.g.NewProcessor(pc)
			if err != nil {
				r.fail(fmt.Errorf("starting the processor of %s/%d: %w", topic, p, err))
				return
			}
			w := newWorker(r.ctx, cl, r.Metrics, pc, proc, r.g.FlushInterval, r.shutdownTimeout(), r.fail)
			r.mu.Lock()
			if old := r.workers[tp]; old != nil { // never expected; do not leak it
				old.stop(stopAbandon)
			}
			r.workers[tp] = w
			r.mu.Unlock()
			r.wg.Add(1)
			go func() { defer r.wg.Done(); w.run() }()
		}
	}
	r.Log.Info("partitions assigned", "partitions", assigned)
}

// revoked waits for the workers of the revoked partitions to finish the
// batch in hand and flush, then commits their offsets before the
// partitions move on.
func (r *runner) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ws := r.take(revoked)
	for _, w := range ws {
		w.stop(stopFlush)
	}
	r.wait(ws)
	r.commit(ctx, ws)
	r.Metrics.Forget(revoked)
	r.Log.Info("partitions revoked", "partitions", revoked)
}

// lost abandons the work of partitions the group took away without a
// clean revoke: their next owner reads from the last commit.
func (r *runner) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	ws := r.take(lost)
	for _, w := range ws {
		w.stop(stopAbandon)
	}
	r.wait(ws)
	r.Metrics.Forget(lost)
	r.Log.Warn("partitions lost; uncommitted work will be redone by their next owner", "partitions", lost)
}

// take removes and returns the workers of the given partitions (all of
// them when tps is nil).
func (r *runner) take(tps map[string][]int32) []*worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []*worker
	for tp, w := range r.workers {
		if tps == nil || slices.Contains(tps[tp.topic], tp.partition) {
			ws = append(ws, w)
			delete(r.workers, tp)
		}
	}
	return ws
}

func (r *runner) wait(ws []*worker) {
	for _, w := range ws {
		<-w.done
	}
}

func (r *runner) commitLoop() {
	every := r.opts.CommitInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			ws := make([]*worker, 0, len(r.workers))
			for _, w := range r.workers {
				ws = append(ws, w)
			}
			r.mu.Unlock()
			r.commit(r.ctx, ws)
		}
	}
}

// commit commits the durable offsets of ws that moved since their last
// commit. A failed commit is retried by the next one; nothing is lost, at
// worst a little is read twice.
func (r *runner) commit(ctx context.Context, ws []*worker) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	var moved []*worker
	for _, w := range ws {
		off := w.durable.Load()
		if off < 0 || off <= w.committed {
			continue
		}
		if offsets[w.pc.Topic] == nil {
			offsets[w.pc.Topic] = make(map[int32]kgo.EpochOffset)
		}
		offsets[w.pc.Topic][w.pc.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
		moved = append(moved, w)
	}
	if len(moved) == 0 {
		return
	}
	var cerr error
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = errors.Join(cerr, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err))
				}
			}
		}
	})
	if cerr != nil {
		r.Metrics.Error("commit")
		r.Log.Warn("committing offsets failed; the next commit retries", "offsets", offsets, "err", cerr)
		return
	}
	for _, w := range moved {
		w.committed = offsets[w.pc.Topic][w.pc.Partition].Offset
	}
}

// deadLetter returns the PartitionContext.DeadLetter of one partition:
// the one path every dead letter of a Run takes.
func (r *runner) deadLetter(cl *kgo.Client, log *slog.Logger) func(context.Context, *kgo.Record, string, error) error {
	return func(ctx context.Context, rec *kgo.Record, reason string, cause error) error {
		dl := DeadLetterRecord(r.opts.DeadLetterTopic, r.g.Name, rec, WithKind(reason, cause), time.Now())
		if err := cl.ProduceSync(ctx, dl).FirstErr(); err != nil {
			r.Metrics.Error("deadletter")
			return fmt.Errorf("writing %s/%d@%d (%s) to the dead-letter topic %s: %w; the record is not done and the group stops",
				rec.Topic, rec.Partition, rec.Offset, reason, r.opts.DeadLetterTopic, err)
		}
		r.Metrics.Failed(rec.Topic, reason, 1)
		// The cause may quote the event (an email in a Klaviyo error, say):
		// it is in the dead letter's error header, and in the log only at
		// debug level, so info-level logs hold no personal data.
		log.Warn("record sent to the dead-letter topic; its error header says why", "offset", rec.Offset,
			"reason", reason, "event_id", schemas.Header(rec, schemas.HeaderEventID))
		log.Debug("dead-letter cause", "offset", rec.Offset, "err", cause)
		return nil
	}
}

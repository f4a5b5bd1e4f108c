package consumers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxQueued is how many fetched batches may wait for a partition's
// Processor before the runner pauses fetching that partition. Pausing
// instead of blocking keeps the poll loop, and with it rebalances, moving
// while one partition's processor is slow.
const maxQueued = 4

// stopMode says how a worker gives its partition up.
type stopMode int32

const (
	// stopFlush finishes the batch in hand, flushes, and lets the caller
	// commit: a revoke or a graceful shutdown.
	stopFlush stopMode = iota + 1
	// stopAbandon cancels the work in hand and closes without flushing:
	// the partition was lost, and a commit would be refused anyway.
	stopAbandon
)

// worker runs one partition's Processor on its own goroutine.
type worker struct {
	pc   PartitionContext
	proc Processor
	cl   *kgo.Client
	m    *Metrics

	// ctx is what Process and Flush get; cancel abandons in-flight work.
	ctx    context.Context
	cancel context.CancelFunc
	// flushTimeout bounds the last Flush once ctx is cancelled at shutdown.
	flushTimeout time.Duration
	interval     time.Duration

	mu     sync.Mutex
	queue  []fetched
	paused bool
	wake   chan struct{} // capacity 1: something was queued or stop was called

	mode atomic.Int32 // a stopMode once stop was called
	done chan struct{}
	// first is the offset of the first record handed over in this
	// assignment (-1 before any): where the partition started, committed
	// already or the start position. next is the offset after the last
	// record handed over, transaction markers included. Both belong to
	// the worker's goroutine.
	first, next int64
	// durable is the offset everything before which is done, -1 for none
	// yet; committed is what the runner committed (commitMu).
	durable   atomic.Int64
	committed int64
	err       error // the processor's error, set before done closes
	// onFail is told a processor error that must stop the group.
	onFail func(error)
}

func newWorker(parent context.Context, cl *kgo.Client, m *Metrics, pc PartitionContext, proc Processor, interval, flushTimeout time.Duration, onFail func(error)) *worker {
	ctx, cancel := context.WithCancel(parent)
	w := &worker{
		pc: pc, proc: proc, cl: cl, m: m,
		ctx: ctx, cancel: cancel,
		flushTimeout: flushTimeout, interval: interval,
		wake: make(chan struct{}, 1), onFail: onFail,
		done: make(chan struct{}),
	}
	w.durable.Store(-1)
	w.committed, w.first, w.next = -1, -1, -1
	return w
}

// fetched is one fetch of the partition.
type fetched struct {
	recs        []*kgo.Record // without transaction markers
	first, next int64         // the fetch's first offset and the one after its last, markers included
}

// push queues the records of one fetch, transaction markers included,
// pausing the partition when the queue is full. It never blocks.
func (w *worker) push(recs []*kgo.Record) {
	f := fetched{recs: dataRecords(recs), first: recs[0].Offset, next: recs[len(recs)-1].Offset + 1}
	w.mu.Lock()
	w.queue = append(w.queue, f)
	if len(w.queue) >= maxQueued && !w.paused {
		w.paused = true
		w.cl.PauseFetchPartitions(w.tp())
	}
	w.mu.Unlock()
	w.signal()
}

// dataRecords returns recs without their transaction markers.
func dataRecords(recs []*kgo.Record) []*kgo.Record {
	isControl := func(r *kgo.Record) bool { return r.Attrs.IsControl() }
	if !slices.ContainsFunc(recs, isControl) {
		return recs
	}
	return slices.DeleteFunc(slices.Clone(recs), isControl)
}

func (w *worker) pop() (fetched, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return fetched{}, false
	}
	f := w.queue[0]
	w.queue[0] = fetched{}
	w.queue = w.queue[1:]
	if len(w.queue) == 0 && w.paused {
		w.paused = false
		w.cl.ResumeFetchPartitions(w.tp())
	}
	return f, true
}

func (w *worker) tp() map[string][]int32 {
	return map[string][]int32{w.pc.Topic: {w.pc.Partition}}
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop asks the worker to give the partition up; wait on done.
func (w *worker) stop(mode stopMode) {
	if w.mode.CompareAndSwap(0, int32(mode)) {
		if mode == stopAbandon {
			w.cancel()
		}
		w.signal()
	}
}

func (w *worker) run() {
	defer close(w.done)
	defer w.finish()
	var tick <-chan time.Time
	if w.interval > 0 {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		if w.mode.Load() != 0 {
			return
		}
		if f, ok := w.pop(); ok {
			if err := w.process(f); err != nil {
				return
			}
			continue
		}
		select {
		case <-w.wake:
		case <-w.ctx.Done():
			return
		case <-tick:
			if err := w.flush(w.ctx); err != nil {
				return
			}
		}
	}
}

// finish flushes (when giving the partition up cleanly) and closes the
// processor. A failed or abandoned processor is closed without a flush:
// what it buffered is read again by the partition's next owner.
func (w *worker) finish() {
	defer w.proc.Close()
	defer w.resume()
	if err := w.failure(); err != nil {
		w.m.Error("process")
		w.onFail(err)
		return
	}
	if w.err != nil || stopMode(w.mode.Load()) == stopAbandon {
		return
	}
	ctx := w.ctx
	if ctx.Err() != nil { // shutdown: the run's context is gone, the flush still deserves a chance
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), w.flushTimeout)
		defer cancel()
	}
	_ = w.flush(ctx)
}

// process hands the records of f the processor has not had yet over.
func (w *worker) process(f fetched) error {
	recs := f.recs
	if w.first < 0 {
		w.first = f.first
	} else {
		// Never twice within one assignment.
		for len(recs) > 0 && recs[0].Offset < w.next {
			recs = recs[1:]
		}
	}
	if len(recs) > 0 {
		if err := w.proc.Process(w.ctx, recs); err != nil {
			w.err = fmt.Errorf("processing %s/%d from offset %d: %w", w.pc.Topic, w.pc.Partition, recs[0].Offset, err)
			return err
		}
		w.m.Processed(w.pc.Topic, len(recs))
	}
	w.next = max(w.next, f.next)
	w.settle()
	return nil
}

func (w *worker) flush(ctx context.Context) error {
	if err := w.proc.Flush(ctx); err != nil {
		w.err = fmt.Errorf("flushing %s/%d: %w", w.pc.Topic, w.pc.Partition, err)
		return err
	}
	w.settle()
	return nil
}

// settle moves the durable offset to where everything before is done:
// past what was handed over, or to the oldest offset the processor still
// holds. It only moves forward, and never to or before where the
// partition started, so a processor that took nothing commits nothing.
func (w *worker) settle() {
	if w.first < 0 {
		return
	}
	at := w.next
	if off, ok := w.proc.Pending(); ok {
		at = min(at, off)
	}
	if at > w.first && at > w.durable.Load() {
		w.durable.Store(at)
	}
}

// resume unpauses the partition so a later assignment of it fetches.
func (w *worker) resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = nil
	if w.paused {
		w.paused = false
		w.cl.ResumeFetchPartitions(w.tp())
	}
}

// failure is the worker's error unless it only reflects a shutdown.
func (w *worker) failure() error {
	if w.err == nil || w.ctx.Err() != nil {
		return nil
	}
	return w.err
}

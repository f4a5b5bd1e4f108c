package dedupe

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/testkit"
)

// BenchmarkDedupe measures one dedupe instance end to end on an in-process
// kfake cluster: b.N input records (10% duplicates) produced first, then
// timed from start until the group committed them all, transactions,
// changelog writes and read_committed fetches included. The broker runs in
// the same process, so the figure is a lower bound for one core.
//
//	go test -run '^$' -bench BenchmarkDedupe$ -benchtime 200000x -cpu 1 ./consumers/dedupe/
func BenchmarkDedupe(b *testing.B) {
	env := testkit.Start(b)
	topic := env.Config.Topics.Pique()
	recs := make([]*kgo.Record, 0, b.N)
	for i := range b.N {
		id := i
		if i%10 == 9 {
			id = i - 5 // a duplicate of a recent id, on its partition
		}
		recs = append(recs, event(b, env, topic, fmt.Sprintf("ev-%09d", id), base.Add(time.Duration(i)*time.Millisecond)))
	}
	env.Produce(b, recs...)
	c := testConfig(env, "dedupe-bench")
	opts := testOptions(b, env)
	opts.Logger = nil
	b.ResetTimer()
	stop := testkit.Background("dedupe Run", func(ctx context.Context) error { return Run(ctx, opts, c) })
	waitCaughtUp(b, env, c.Group)
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSeenSetMemory reports the heap one remembered id costs and the
// time to check and add one.
//
//	go test -run '^$' -bench BenchmarkSeenSetMemory -benchtime 1000000x ./consumers/dedupe/
func BenchmarkSeenSetMemory(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newSeenSet(7*24*time.Hour.Milliseconds(), b.N+1)
	b.ResetTimer()
	for i := range b.N {
		h := hashID(fmt.Sprintf("01J%023d", i))
		if !s.duplicate(h, int64(i)) {
			s.add(h, int64(i))
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(s.len()), "bytes/id")
	runtime.KeepAlive(s)
}

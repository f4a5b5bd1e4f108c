package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// holdWrites keeps a bbolt write transaction open on sp, as a disk whose
// fsync takes longer than the receiver waits does: every spool write
// queues behind it until release is called.
func holdWrites(t *testing.T, sp *Spool) (release func()) {
	t.Helper()
	held, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- sp.db.Update(func(*bolt.Tx) error { close(held); <-hold; return nil })
	}()
	<-held
	release = sync.OnceFunc(func() {
		close(hold)
		if err := <-done; err != nil {
			t.Errorf("the held write transaction: %v", err)
		}
	})
	t.Cleanup(release)
	return release
}

// depthWatch reads a spool's depth and keeps the lowest it saw.
type depthWatch struct {
	sp     *Spool
	lowest atomic.Int64
}

func (w *depthWatch) len() int64 {
	n := w.sp.Len()
	if n < w.lowest.Load() {
		w.lowest.Store(n)
	}
	return n
}

// An Append that gives up before its write lands: the entry is counted
// (depth and bytes) once it is on disk, with no drainer to recount it.
func TestTimedOutAppendIsCounted(t *testing.T) {
	sp, err := OpenSpool(t.TempDir(), 1<<20, nil, testkit.NewLogBuffer(t).Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	d := &delivery{Source: "product-agents", ReceivedAt: time.Now().UTC(), Body: []byte(`{"event":{"id":"late"}}`)}
	v, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	release := holdWrites(t, sp)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sp.Append(ctx, d); err == nil {
		t.Fatal("Append returned nil while its write could not complete")
	}
	release()
	testkit.Eventually(t, 10*time.Second, "the entry that landed after Append gave up is counted", func() bool {
		es, err := sp.peek(2)
		return err == nil && len(es) == 1 && sp.Len() == 1 && sp.Bytes() == int64(len(v))
	})
}

// A spool write that outlasts receiver.write_timeout: the webhook is not
// answered 202 (the sender is told it was not stored), the write lands
// later all the same, is counted, and drains to Kafka with those spooled
// behind it; the depth returns to 0, never below. The receiver used to
// leave the late entry uncounted, so the drainer skipped the spool while
// the count read 0, and the drain of a later webhook took it to -1.
func TestTimedOutSpoolWriteIsCountedAndDrains(t *testing.T) {
	env := testkit.Start(t)
	fr := newRig(t, rigOptions{spool: true, env: env, tweak: func(o *Options) { o.Receiver.WriteTimeout = 300 * time.Millisecond }})
	fr.waitReady(t, http.StatusOK)
	refuse := refuseProduce(env.Cluster)
	g := sample.NewGenerator(31)

	release := holdWrites(t, fr.spool)
	late, lateID := g.ProductAgents(time.Now())
	if resp := fr.postAgents(t, late); resp.code != http.StatusServiceUnavailable {
		t.Fatalf("a webhook whose spool write timed out (Kafka refusing): %d %v, want 503", resp.code, resp.body)
	}
	release()
	w := &depthWatch{sp: fr.spool}
	testkit.Eventually(t, 10*time.Second, "the write that landed after its 503 is counted", func() bool { return w.len() == 1 })

	next, nextID := g.ProductAgents(time.Now())
	if resp := fr.postAgents(t, next); resp.code != http.StatusAccepted {
		t.Fatalf("the next webhook: %d %v, want 202 behind the spooled one", resp.code, resp.body)
	}
	refuse.Remove()
	testkit.Eventually(t, 30*time.Second, "both webhooks drain to Kafka and the spool is empty", func() bool {
		ids := eventIDs(t, env, env.Config.Topics.ProductAgents())
		return ids[lateID] > 0 && ids[nextID] > 0 && w.len() == 0
	})
	if m := w.lowest.Load(); m < 0 {
		t.Errorf("the spool depth read %d", m)
	}
	if d, b := metric(t, fr.url, "hookbridge_spool_depth"), metric(t, fr.url, "hookbridge_spool_bytes"); d != 0 || b != 0 {
		t.Errorf("hookbridge_spool_depth %v, hookbridge_spool_bytes %v after the drain, want 0 and 0", d, b)
	}
}

// A write whose failure was reported although it reached the disk (an
// fsync that fails after the commit) leaves an entry the counters do not
// know: the drainer reads the file rather than trust them, drains it, and
// the depth ends at 0, not -1.
func TestDrainerFindsAnEntryTheCountersMissed(t *testing.T) {
	env := testkit.Start(t)
	fr := newRig(t, rigOptions{spool: true, env: env})
	fr.waitReady(t, http.StatusOK)
	body, id := sample.NewGenerator(32).ProductAgents(time.Now())
	v, err := json.Marshal(&delivery{Source: "product-agents", ReceivedAt: time.Now().UTC(), Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if err := fr.spool.db.Update(func(tx *bolt.Tx) error { return putEntry(tx, v) }); err != nil { // past put, which counts
		t.Fatal(err)
	}
	w := &depthWatch{sp: fr.spool}
	testkit.Eventually(t, 30*time.Second, "the uncounted entry drains to Kafka", func() bool {
		w.len()
		return eventIDs(t, env, env.Config.Topics.ProductAgents())[id] > 0
	})
	// The counters follow the removal's commit: wait for both.
	testkit.Eventually(t, 10*time.Second, "the spool is empty and counted so", func() bool {
		es, err := fr.spool.peek(1)
		return err == nil && len(es) == 0 && w.len() == 0
	})
	if m, b := w.lowest.Load(), fr.spool.Bytes(); m < 0 || b != 0 {
		t.Errorf("after the drain: lowest depth seen %d, bytes %d; want 0 and 0", m, b)
	}
}

// When removing drained entries fails (a full disk), they are in Kafka
// already: the drainer retries the removal and does not produce them
// again every round.
func TestFailedRemovalIsRetriedNotResent(t *testing.T) {
	env := testkit.Start(t)
	dir := t.TempDir()
	spoolWith(t, dir, agentBodies(33, 3))
	r := newRig(t, rigOptions{spool: true, env: env, dir: dir, unserved: true})
	full := fmt.Errorf("write %s: %w", r.spool.path, syscall.ENOSPC)
	r.spool.writeFault.Store(&full)
	ctx := context.Background()
	inKafka := func() int { return len(env.ReadAll(t, env.Config.Topics.ProductAgents())) }
	for round := range 3 {
		if _, err := r.srv.drainOnce(ctx); err == nil {
			t.Fatalf("round %d: draining with a full disk succeeded", round)
		}
		if n := inKafka(); n != 3 {
			t.Fatalf("after round %d with a full disk: %d records in Kafka, want the 3 spooled once", round, n)
		}
	}
	if n := r.spool.Len(); n != 3 {
		t.Errorf("depth %d while the removal fails, want 3", n)
	}
	r.spool.writeFault.Store(nil)
	if n, err := r.srv.drainOnce(ctx); err != nil || n != 0 {
		t.Fatalf("draining with room again: %d, %v; want the removal only", n, err)
	}
	if es, err := r.spool.peek(10); err != nil || len(es) != 0 || r.spool.Len() != 0 || r.spool.Bytes() != 0 {
		t.Errorf("spool after the removal: %d entries (%v), depth %d, bytes %d", len(es), err, r.spool.Len(), r.spool.Bytes())
	}
	if n := inKafka(); n != 3 {
		t.Errorf("%d records in Kafka, want 3", n)
	}
}

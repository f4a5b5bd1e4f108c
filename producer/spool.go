package producer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	promreg "github.com/hookbridge/hookbridge/internal/metrics"
)

// ErrSpoolFull means the spool reached its size bound; the sender gets 503.
var ErrSpoolFull = errors.New("spool is full")

var spoolBucket = []byte("deliveries")

// Spool is a durable FIFO of verified webhooks, kept in a bbolt database:
// Append returns only after the transaction holding the webhook is fsynced,
// so a 202 survives a crash. Concurrent appends share one fsync (bbolt's
// Batch). Entries leave only when the drainer has Kafka's ack for them.
type Spool struct {
	db       *bolt.DB
	path     string
	maxBytes int64
	// writeFault, when set, fails every write as a full disk does (tests).
	writeFault atomic.Pointer[error]
	// writeErr is why the last write failed, nil after one succeeded.
	writeErr    atomic.Pointer[spoolFailure]
	quarantined *prometheus.CounterVec
	// lastQuarantine describes the latest entry moved out of the way.
	lastQuarantine atomic.Pointer[string]
	nQuarantined   atomic.Int64
	// bytes and depth count the file's entries. Each write holds counting
	// shared from before its commit until it is counted, remove and
	// recount hold it exclusively: they never see an entry on disk that
	// is not counted yet.
	counting sync.RWMutex
	// unremoved are entries in Kafka whose removal failed (under counting).
	unremoved []uint64
	bytes     atomic.Int64
	depth     atomic.Int64
	notify    chan struct{}
	log       *slog.Logger
	// drainedAt is when the spool last became empty and startedAt when it
	// last stopped being empty (unix nanoseconds). quiet is set while an
	// episode of spooling began so soon after the last one ended that its
	// start and a short end are logged at debug level only: webhooks that
	// queue behind the last drained ones would otherwise log a start and
	// an end each.
	drainedAt, startedAt atomic.Int64
	quiet                atomic.Bool
}

// spoolRelogAfter is how long the spool must have been empty before a new
// episode of spooling is logged as a warning again.
const spoolRelogAfter = 5 * time.Second

// spoolFailure is a failed spool operation and when it happened.
type spoolFailure struct {
	err error
	at  time.Time
}

// spoolEntry is one spooled webhook; err is set, and d empty, when its
// bytes (raw) no longer decode.
type spoolEntry struct {
	seq uint64
	d   delivery
	raw []byte
	err error
}

// OpenSpool opens (or creates) the spool in dir and counts what it holds.
// A damaged spool file is an error that says how to recover, never a
// panic: see openBolt.
func OpenSpool(dir string, maxBytes int64, reg prometheus.Registerer, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, SpoolFile)
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	s := &Spool{db: db, path: path, maxBytes: maxBytes, notify: make(chan struct{}, 1), log: log}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(spoolBucket)
		if err != nil {
			return err
		}
		n, size, err := countEntries(b)
		s.depth.Store(n)
		s.bytes.Store(size)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("spool: reading %s: %w", path, err)
	}
	if n := s.depth.Load(); n > 0 {
		log.Warn("spool holds webhooks from before the restart; draining them to Kafka", "entries", n, "bytes", s.bytes.Load())
		s.wake()
	}
	if err := s.registerMetrics(reg); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Append stores d durably. When ctx ends first, Append returns its cause;
// the write may still complete, and its webhook then drains as any other
// (a duplicate at worst, never a loss).
func (s *Spool) Append(ctx context.Context, d *delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("spool: encoding: %w", err)
	}
	written := make(chan error, 1)
	go func() { written <- s.put(v, d.Source) }()
	select {
	case err = <-written:
	case <-ctx.Done():
		return fmt.Errorf("spool: the write did not finish in time (if it still lands, the webhook drains to Kafka and a retry of it is a duplicate): %w", context.Cause(ctx))
	}
	if errors.Is(err, ErrSpoolFull) {
		return err
	}
	if err != nil {
		return fmt.Errorf("spool: writing %s: %w", s.path, err)
	}
	return nil
}

// put writes v as the newest entry and counts it by the write's outcome,
// whether or not Append still waits for it: the counters follow what the
// file holds, and a write that lands after its caller gave up is drained.
func (s *Spool) put(v []byte, source string) error {
	s.counting.RLock()
	defer s.counting.RUnlock()
	if s.bytes.Add(int64(len(v))) > s.maxBytes {
		s.bytes.Add(-int64(len(v)))
		return ErrSpoolFull
	}
	if err := s.write(func(tx *bolt.Tx) error { return putEntry(tx, v) }); err != nil {
		s.bytes.Add(-int64(len(v)))
		return err
	}
	if s.depth.Add(1) == 1 {
		s.startedAt.Store(time.Now().UnixNano())
		if since := time.Since(time.Unix(0, s.drainedAt.Load())); since < spoolRelogAfter {
			s.quiet.Store(true)
			s.log.Debug("spooling resumed behind the last drained webhooks", "source", source)
		} else {
			s.quiet.Store(false)
			s.log.Warn("spooling started: Kafka is unreachable or did not acknowledge in time", "source", source)
		}
	}
	s.wake()
	return nil
}

// putEntry adds v as the newest entry.
func putEntry(tx *bolt.Tx, v []byte) error {
	b := tx.Bucket(spoolBucket)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), v)
}

// write runs a write transaction and remembers whether the disk took it.
func (s *Spool) write(fn func(*bolt.Tx) error) error {
	var err error
	if fault := s.writeFault.Load(); fault != nil {
		err = *fault
	} else {
		err = s.db.Batch(fn)
	}
	if err != nil {
		s.writeErr.Store(&spoolFailure{err: err, at: time.Now()})
	} else if s.writeErr.Load() != nil {
		s.writeErr.Store(nil)
	}
	return err
}

// Len returns how many webhooks the spool holds.
func (s *Spool) Len() int64 { return s.depth.Load() }

// Bytes returns the spool's size in bytes.
func (s *Spool) Bytes() int64 { return s.bytes.Load() }

// Close closes the database; everything appended is already durable.
func (s *Spool) Close() error { return s.db.Close() }

func (s *Spool) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// peek returns up to n of the oldest entries, oldest first. An entry that
// does not decode comes back with its error, for the drainer to move out
// of the way.
func (s *Spool) peek(n int) ([]spoolEntry, error) {
	var out []spoolEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(spoolBucket).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			out = append(out, decodeEntry(k, v))
		}
		return nil
	})
	return out, err
}

// decodeEntry decodes one spooled value; k and v are only valid inside
// the transaction, so the entry keeps a copy of a corrupt value.
func decodeEntry(k, v []byte) spoolEntry {
	var e spoolEntry
	if len(k) == 8 {
		e.seq = binary.BigEndian.Uint64(k)
	}
	if len(k) != 8 {
		e.err = fmt.Errorf("spool key %x is not a sequence number", k)
	} else if err := json.Unmarshal(v, &e.d); err != nil {
		e.err = fmt.Errorf("spool entry %d does not decode: %w", e.seq, err)
	} else if e.d.Source == "" || e.d.Body == nil {
		e.err = fmt.Errorf("spool entry %d has no source or body", e.seq)
	}
	if e.err != nil {
		e.raw, e.d = bytes.Clone(v), delivery{}
	}
	return e
}

// remove deletes entries whose webhooks Kafka acknowledged and counts out
// those it found. When the write fails (a full disk) it keeps seqs, and
// removes them with the next call's: remove(nil) retries, and the drainer
// calls it before producing anything again, rather than send them again.
func (s *Spool) remove(seqs []uint64) error {
	s.counting.Lock()
	defer s.counting.Unlock()
	seqs = append(s.unremoved, seqs...)
	if len(seqs) == 0 {
		return nil
	}
	var n, freed int64
	err := s.write(func(tx *bolt.Tx) error {
		n, freed = 0, 0 // Batch may run fn again
		b := tx.Bucket(spoolBucket)
		for _, seq := range seqs {
			k := seqKey(seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			n, freed = n+1, freed+int64(len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.unremoved = seqs
		return fmt.Errorf("spool: removing %d drained entries (they are in Kafka; removing them is retried before anything more is sent): %w", len(seqs), err)
	}
	s.unremoved = nil
	s.bytes.Add(-freed)
	if s.depth.Add(-n) == 0 && n > 0 {
		now := time.Now()
		s.drainedAt.Store(now.UnixNano())
		if took := now.Sub(time.Unix(0, s.startedAt.Load())); s.quiet.Load() && took < spoolRelogAfter {
			s.log.Debug("spool drained again")
		} else {
			s.log.Info("spool drained: every spooled webhook is in Kafka", "spooling_for", took.Round(time.Millisecond))
		}
	}
	return nil
}

// pending reports whether the spool holds webhooks to drain. The counters
// are not trusted when they say it is empty: a write reported as failed
// may have reached the disk all the same (an fsync that failed after the
// commit), and such an entry must not sit undrained. So the file is read,
// and when it holds entries the counters are set from it again.
func (s *Spool) pending() bool {
	if s.Len() > 0 {
		return true
	}
	es, err := s.peek(1)
	if err != nil {
		return true // the drain round says what fails
	}
	if len(es) == 0 {
		return false
	}
	if err := s.recount(); err != nil {
		s.log.Error("spool: counting the entries failed", "err", err)
	}
	return true
}

// recount sets the counters from the file. Holding counting exclusively,
// it sees no write between its commit and its count.
func (s *Spool) recount() error {
	s.counting.Lock()
	defer s.counting.Unlock()
	var n, size int64
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		n, size, err = countEntries(tx.Bucket(spoolBucket))
		return err
	})
	if err != nil {
		return err
	}
	if was := s.depth.Swap(n); was != n {
		s.log.Warn("spool: the entry count did not match the file; counted again", "entries", n, "counted", was)
		if was == 0 {
			s.startedAt.Store(time.Now().UnixNano())
		}
	}
	s.bytes.Store(size)
	return nil
}

// countEntries counts b's entries and their bytes.
func countEntries(b *bolt.Bucket) (n, size int64, err error) {
	err = b.ForEach(func(_, v []byte) error {
		n, size = n+1, size+int64(len(v))
		return nil
	})
	return n, size, err
}

// oldest returns the receive time of the oldest entry, if any. An error
// means the oldest entry cannot be read (it waits to be quarantined) or
// the spool cannot be read at all.
func (s *Spool) oldest() (time.Time, bool, error) {
	es, err := s.peek(1)
	if err == nil && len(es) > 0 && es[0].err != nil {
		err = fmt.Errorf("%w; it is moved to the dead-letter topic once Kafka is reachable", es[0].err)
	}
	if err != nil {
		return time.Time{}, false, err
	}
	if len(es) == 0 {
		return time.Time{}, false, nil
	}
	return es[0].d.ReceivedAt, true, nil
}

// Spool quarantine reasons, the label of hookbridge_spool_quarantined_total.
const (
	quarantineCorrupt  = "corrupt"   // the entry does not decode
	quarantineTooLarge = "too_large" // its record can never be produced
	quarantineEncoding = "encoding"  // it does not encode with the registered schema
	quarantineRejected = "rejected"  // Kafka refuses the record for good
)

// QuarantineFile is where entries go, beside the spool, that must leave
// the spool while the dead-letter topic cannot take them: one JSON object a
// line.
const QuarantineFile = "quarantine.jsonl"

// quarantined is one line of the quarantine file.
type quarantined struct {
	Seq           uint64    `json:"seq"`
	Reason        string    `json:"reason"`
	Error         string    `json:"error"`
	QuarantinedAt time.Time `json:"quarantined_at"`
	// Entry is the spooled value as it was stored (JSON of source,
	// received_at, svix_id and the base64 body), when it decoded or not.
	Entry []byte `json:"entry"`
}

// appendQuarantine writes e as a line of the quarantine file at path and
// fsyncs it.
func appendQuarantine(path string, e spoolEntry, reason string, cause error) error {
	raw := e.raw
	if raw == nil {
		raw, _ = json.Marshal(&e.d)
	}
	line, err := json.Marshal(quarantined{Seq: e.seq, Reason: reason, Error: cause.Error(), QuarantinedAt: time.Now().UTC(), Entry: raw})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: quarantine file: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("spool: writing quarantine file %s: %w", path, err)
	}
	return nil
}

// noteQuarantine counts an entry moved out of the way and keeps a line
// about it for /readyz.
func (s *Spool) noteQuarantine(reason, where string) {
	s.quarantined.WithLabelValues(reason).Inc()
	n := s.nQuarantined.Add(1)
	msg := fmt.Sprintf("degraded: %d spooled webhook(s) quarantined since start, the last (%s) at %s to %s",
		n, reason, time.Now().UTC().Format(time.RFC3339), where)
	s.lastQuarantine.Store(&msg)
}

// check is the spool's readiness: a full or failing disk, or a spool that
// cannot be read, is not ready.
func (s *Spool) check() error {
	if f := s.writeErr.Load(); f != nil {
		if errors.Is(f.err, syscall.ENOSPC) {
			return fmt.Errorf("spool disk is full: writing %s failed at %s: %w", s.path, f.at.UTC().Format(time.RFC3339), f.err)
		}
		return fmt.Errorf("spool writes fail: %s at %s: %w", s.path, f.at.UTC().Format(time.RFC3339), f.err)
	}
	if _, _, err := s.oldest(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if s.Bytes() >= s.maxBytes*9/10 {
		return fmt.Errorf("spool nearly full: %d entries, %d of %d bytes", s.Len(), s.Bytes(), s.maxBytes)
	}
	return nil
}

// probe writes to the disk after a failed write, so a disk that has room
// again turns the spool ready even when nothing is being spooled.
func (s *Spool) probe() {
	if f := s.writeErr.Load(); f == nil || time.Since(f.at) < time.Second {
		return
	}
	_ = s.write(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(probeBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte("probe"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
}

var probeBucket = []byte("probe")

// spoolMetrics reads whichever spool opened last: dev restarts the
// receiver in one process, and the registry keeps the first collector.
type spoolMetrics struct {
	spool       atomic.Pointer[Spool]
	depth       *prometheus.Desc
	bytes       *prometheus.Desc
	oldest      *prometheus.Desc
	quarantined *prometheus.CounterVec
}

func newSpoolMetrics() *spoolMetrics {
	return &spoolMetrics{
		depth: prometheus.NewDesc("hookbridge_spool_depth", "Webhooks in the spool, waiting for Kafka.", nil, nil),
		bytes: prometheus.NewDesc("hookbridge_spool_bytes", "Bytes of webhooks in the spool.", nil, nil),
		oldest: prometheus.NewDesc("hookbridge_spool_oldest_age_seconds",
			"Age of the oldest spooled webhook; 0 when empty, -1 when the oldest entry or the spool cannot be read.", nil, nil),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_spool_quarantined_total",
			Help: "Spooled webhooks that could never be produced, moved to the dead-letter topic or the quarantine file, by reason.",
		}, []string{"reason"}),
	}
}

func (m *spoolMetrics) init() *spoolMetrics {
	for _, reason := range []string{quarantineCorrupt, quarantineTooLarge, quarantineEncoding, quarantineRejected} {
		m.quarantined.WithLabelValues(reason) // exported as 0 before the first, for alerts
	}
	return m
}

func (m *spoolMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.depth
	ch <- m.bytes
	ch <- m.oldest
	m.quarantined.Describe(ch)
}

func (m *spoolMetrics) Collect(ch chan<- prometheus.Metric) {
	m.quarantined.Collect(ch)
	s := m.spool.Load()
	if s == nil {
		return
	}
	age := 0.0
	if t, ok, err := s.oldest(); err != nil {
		age = -1
	} else if ok {
		age = time.Since(t).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, float64(s.Len()))
	ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.GaugeValue, float64(s.Bytes()))
	ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age)
}

func (s *Spool) registerMetrics(reg prometheus.Registerer) error {
	m := newSpoolMetrics().init()
	if reg != nil {
		var err error
		if m, err = promreg.Register(reg, m); err != nil {
			return fmt.Errorf("spool metrics: %w", err)
		}
	}
	m.spool.Store(s)
	s.quarantined = m.quarantined
	return nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

package producer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
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
	maxBytes int64
	bytes    atomic.Int64
	depth    atomic.Int64
	notify   chan struct{}
	log      *slog.Logger
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

type spoolEntry struct {
	seq uint64
	d   delivery
}

// OpenSpool opens (or creates) the spool in dir and counts what it holds.
func OpenSpool(dir string, maxBytes int64, reg prometheus.Registerer, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, "spool.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("spool: opening %s (is another receiver using this spool dir?): %w", path, err)
	}
	s := &Spool{db: db, maxBytes: maxBytes, notify: make(chan struct{}, 1), log: log}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(spoolBucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			s.depth.Add(1)
			s.bytes.Add(int64(len(v)))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("spool: reading %s: %w", path, err)
	}
	if n := s.depth.Load(); n > 0 {
		log.Warn("spool holds webhooks from before the restart; draining them to Kafka", "entries", n, "bytes", s.bytes.Load())
		s.wake()
	}
	s.registerMetrics(reg)
	return s, nil
}

// Append stores d durably.
func (s *Spool) Append(d *delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("spool: encoding: %w", err)
	}
	if s.bytes.Add(int64(len(v))) > s.maxBytes {
		s.bytes.Add(-int64(len(v)))
		return ErrSpoolFull
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(spoolBucket)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), v)
	})
	if err != nil {
		s.bytes.Add(-int64(len(v)))
		return fmt.Errorf("spool: writing: %w", err)
	}
	if s.depth.Add(1) == 1 {
		s.startedAt.Store(time.Now().UnixNano())
		if since := time.Since(time.Unix(0, s.drainedAt.Load())); since < spoolRelogAfter {
			s.quiet.Store(true)
			s.log.Debug("spooling resumed behind the last drained webhooks", "source", d.Source)
		} else {
			s.quiet.Store(false)
			s.log.Warn("spooling started: Kafka is unreachable or did not acknowledge in time", "source", d.Source)
		}
	}
	s.wake()
	return nil
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

// peek returns up to n of the oldest entries, oldest first.
func (s *Spool) peek(n int) ([]spoolEntry, error) {
	var out []spoolEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(spoolBucket).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			var e spoolEntry
			if err := json.Unmarshal(v, &e.d); err != nil {
				return fmt.Errorf("spool entry %d is corrupt: %w", binary.BigEndian.Uint64(k), err)
			}
			e.seq = binary.BigEndian.Uint64(k)
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// remove deletes entries whose webhooks Kafka acknowledged.
func (s *Spool) remove(seqs []uint64) error {
	var freed int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(spoolBucket)
		for _, seq := range seqs {
			k := seqKey(seq)
			freed += int64(len(b.Get(k)))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: removing drained entries: %w", err)
	}
	s.bytes.Add(-freed)
	if s.depth.Add(-int64(len(seqs))) == 0 {
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

// oldest returns the receive time of the oldest entry, if any.
func (s *Spool) oldest() (time.Time, bool) {
	es, err := s.peek(1)
	if err != nil || len(es) == 0 {
		return time.Time{}, false
	}
	return es[0].d.ReceivedAt, true
}

func (s *Spool) registerMetrics(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookbridge_spool_depth", Help: "Webhooks in the spool, waiting for Kafka."},
			func() float64 { return float64(s.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookbridge_spool_bytes", Help: "Bytes of webhooks in the spool."},
			func() float64 { return float64(s.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookbridge_spool_oldest_age_seconds", Help: "Age of the oldest spooled webhook; 0 when empty."},
			func() float64 {
				if t, ok := s.oldest(); ok {
					return time.Since(t).Seconds()
				}
				return 0
			}),
	)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

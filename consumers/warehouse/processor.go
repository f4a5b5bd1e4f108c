package warehouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
)

// The exactly-once argument, which the tests check.
//
// A flush ends an epoch: every record the processor read since the last
// flush, up to offset L, the epoch's horizon. Records of one (event hour,
// schema id) go to one file, named by the offset of the first of them, and
// a file holds every record of its (hour, schema) from its first offset to
// its horizon, which its footer and object metadata keep. The epoch is
// Pending until then, so the runner commits L+1 only after every file of
// the epoch is durable.
//
// Stores create files and never replace one. Before a processor opens a
// file it asks the store whether the name exists. If it does, an earlier
// writer (one that crashed after its upload and before its commit, or a
// zombie that lost the partition and still runs) already landed that
// file's records up to its horizon H: the processor skips those records of
// the (hour, schema) and will not end its own epoch before H, so it never
// commits an offset inside a stored file's range. Records after H go to a
// file named by the first of them, which is the name that earlier writer's
// next epoch used if it had one, and the probe repeats. So a replay after a
// crash or a rebalance rewrites nothing and adds nothing twice: exactly
// once.
//
// A replay to a time or an offset (or to earliest, after retention) can
// start a processor inside an earlier epoch, where the files holding its
// first records start before them and no name matches. There the probe
// lists the hour and finds the file of the (hour, schema) that holds the
// record, until the processor is past that epoch (probe.go); the rest is
// as above.
//
// When a flush comes (FlushRecords, FlushBytes, MaxOpenFiles, BufferBytes,
// the flush interval) is no part of this: a file's name follows from the
// records and the horizons of the files before it, and a file that waits
// in memory (file.go) is only created in the store when it opens or at the
// flush, under the name its first record gave it.
//
// A zombie cannot remove a record: it cannot replace a file, and whatever
// it creates holds complete (hour, schema) runs. If it creates a name
// between a successor's probe and upload, the successor's upload fails;
// when the zombie's file reaches as far as the successor's epoch the
// successor carries on, otherwise it stops without committing and the next
// owner resumes from the last commit. What a zombie can cause is a
// duplicate: files of epochs the successor cut elsewhere, with names the
// successor never probes.

// fileKey says which file of an epoch a record goes to.
type fileKey struct {
	hour   int64 // unix seconds of the event hour
	schema int
}

type processor struct {
	g   *group
	pc  consumers.PartitionContext
	log *slog.Logger

	// The epoch is what was read since the last flush: offsets from
	// through horizon (-1 while it is empty). The runner commits nothing
	// from from on (Pending) until a flush ends it; its files record
	// horizon.
	from, horizon int64
	files         map[fileKey]*file // the epoch's open files
	covered       map[fileKey]int64 // horizons of stored files met this epoch
	minEnd        int64             // the epoch may not end before this offset
	records       int               // records read this epoch
	bytes         int64             // record value bytes read this epoch
	held          int               // memory the slabs hold: rows added while their file did not stream
	writers       int               // files of the epoch that stream (file.streaming)

	// Up to offset scanUntil the processor looks for stored files by
	// listing their hour (probe.go); listed keeps those listings.
	scanUntil int64
	listed    map[string][]storedFile

	// spare keeps, per schema id, the writer of a published file for the
	// next file of that schema: a writer costs more to make than a small
	// file costs to write (docs/benchmarks.md).
	spare map[int]*parquet.GenericWriter[any]
	// slabs hold the rows of the epoch's files that do not stream.
	slabs slabs

	rb *rowBuilder
}

func newProcessor(g *group, pc consumers.PartitionContext) *processor {
	log := pc.Logger // the runner's names the topic and partition
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &processor{
		g: g, pc: pc, log: log,
		files: make(map[fileKey]*file), covered: make(map[fileKey]int64),
		spare: make(map[int]*parquet.GenericWriter[any]),
		from:  -1, horizon: -1, minEnd: -1, scanUntil: unscanned,
	}
}

// Process implements consumers.Processor: it adds records to the epoch's
// files and flushes when the epoch holds FlushRecords records or
// FlushBytes bytes, MaxOpenFiles files stream or the rows of the files
// that do not yet stream hold BufferBytes of memory.
func (p *processor) Process(ctx context.Context, recs []*kgo.Record) error {
	o := &p.g.opts
	for _, r := range recs {
		if err := p.add(ctx, r); err != nil {
			return err
		}
		if p.records >= o.FlushRecords || p.bytes >= o.FlushBytes || p.writers >= o.MaxOpenFiles || p.held >= int(o.BufferBytes) {
			if err := p.Flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pending implements consumers.Processor: the whole epoch is held until a
// flush ends it, records skipped or dead-lettered included, so no commit
// lands inside a stored file's range.
func (p *processor) Pending() (int64, bool) { return p.from, p.from >= 0 }

func (p *processor) add(ctx context.Context, r *kgo.Record) error {
	if p.from < 0 {
		p.from = r.Offset
	}
	p.horizon = r.Offset
	p.records++
	p.bytes += int64(len(r.Value))

	var d decoded
	err := retry(ctx, p.log, "decoding", func() error {
		var err error
		d, err = p.g.decode(ctx, r.Value, p.builder)
		return err
	})
	if err != nil {
		if !isPermanent(err) {
			return err // ctx ended
		}
		return p.deadLetter(ctx, r, "undecodable", err)
	}
	var (
		at time.Time
		ok bool
	)
	if d.built {
		at, ok = d.table.eventTimeOfRow(p.rb)
	} else {
		at, ok = d.table.eventTime(d.native)
	}
	if !ok {
		at = r.Timestamp
	}
	hour := at.UTC().Truncate(time.Hour)
	key := fileKey{hour: hour.Unix(), schema: d.table.id}
	if h, ok := p.covered[key]; ok && r.Offset <= h {
		p.g.metrics.skipped.Inc()
		return nil
	}
	f := p.files[key]
	if f == nil {
		name := p.g.layout.Key(p.pc.Topic, p.pc.Partition, hour, r.Offset)
		stored, h, err := p.probe(ctx, key, hour, name, r.Offset)
		if err != nil {
			return err
		}
		if stored != "" {
			// An earlier writer landed this record in stored: its records
			// are there up to h, and this epoch must reach h before it may
			// commit.
			p.log.Info("warehouse file exists already; skipping the records it holds", "file", stored, "from_offset", r.Offset, "horizon", h)
			p.covered[key] = h
			p.minEnd = max(p.minEnd, h)
			p.g.metrics.skipped.Inc()
			return nil
		}
		f = newFile(name, d.table, r.Offset, p.pc.Topic, p.pc.Partition, p.g.fileOpts)
		p.files[key] = f
	}
	row, size, err := p.row(d, r, f)
	if err != nil {
		// The record decoded but does not fit its own schema's columns: a
		// bug or a goavro surprise, never fixed by retrying.
		return p.deadLetter(ctx, r, "unconvertible", fmt.Errorf("converting to Parquet (schema id %d): %w", d.table.id, err))
	}
	if f.streaming() {
		f.add(row, size, r.Offset)
		return f.flushRows()
	}
	// The rows stay in the processor's slabs until the flush, after the
	// file streams too: they count as held until then.
	p.held += f.add(row, size, r.Offset)
	if !f.needsWriter() {
		return nil
	}
	return p.start(ctx, f)
}

// start opens f's store file and gives it a writer.
func (p *processor) start(ctx context.Context, f *file) error {
	staged, err := p.g.opts.Store.Create(ctx, f.key)
	if err != nil {
		return err
	}
	w := p.spare[f.table.id]
	if w != nil {
		delete(p.spare, f.table.id)
	} else {
		w = newWriter(f.table, p.g.fileOpts)
	}
	p.writers++
	return f.start(staged, w)
}

// builder returns the processor's row builder, emptied, for m.
func (p *processor) builder(m *mapping) *rowBuilder {
	if p.rb == nil || len(p.rb.cols) != m.columns {
		p.rb = newRowBuilder(m.columns)
	}
	p.rb.reset()
	return p.rb
}

// row shreds a decoded record (unless the decoder built it already) and
// the Kafka metadata into a Parquet row, in room f's slab gives when f
// streams, the processor's slabs otherwise (a new slice when f is nil).
func (p *processor) row(d decoded, r *kgo.Record, f *file) (parquet.Row, int, error) {
	m := d.table.mapping
	if !d.built {
		if err := m.root.shred(p.builder(m), d.native, 0, 0); err != nil {
			return nil, 0, err
		}
	}
	rb := p.rb
	topic, _, _ := convString(r.Topic)
	rb.add(m.meta, topic.Level(0, 0, m.meta), len(r.Topic))
	rb.add(m.meta+1, parquet.Int32Value(r.Partition).Level(0, 0, m.meta+1), 4)
	rb.add(m.meta+2, parquet.Int64Value(r.Offset).Level(0, 0, m.meta+2), 8)
	rb.add(m.meta+3, parquet.Int64Value(r.Timestamp.UnixMilli()).Level(0, 0, m.meta+3), 8)
	n := 0
	for _, c := range rb.cols {
		n += len(c)
	}
	switch {
	case f == nil:
		return rb.appendRow(make(parquet.Row, 0, n)), rb.bytes, nil
	case f.streaming():
		return rb.appendRow(f.values.room(n)), rb.bytes, nil
	default:
		return rb.appendRow(p.slabs.room(n)), rb.bytes, nil
	}
}

// deadLetter hands r to the runner's dead-letter path, which counts and
// logs it (the cause may quote the event: it stays out of info logs).
func (p *processor) deadLetter(ctx context.Context, r *kgo.Record, reason string, cause error) error {
	if p.pc.DeadLetter == nil {
		return fmt.Errorf("warehouse: offset %d cannot be written (%s) and there is no dead-letter topic", r.Offset, reason)
	}
	return p.pc.DeadLetter(ctx, r, reason, cause)
}

// Flush implements consumers.Processor: it publishes every file of the
// epoch and ends it, unless the epoch is empty or must still reach the
// horizon of a file an earlier writer left (then it stays Pending).
func (p *processor) Flush(ctx context.Context) error {
	if p.from < 0 {
		return nil
	}
	if p.horizon < p.minEnd {
		p.log.Debug("not flushing yet: an earlier writer's file reaches further", "last", p.horizon, "horizon", p.minEnd)
		return nil
	}
	start := time.Now()
	files := make([]*file, 0, len(p.files))
	for _, f := range p.files {
		files = append(files, f)
	}
	// Streaming files first, so that the files still to open never make
	// more than MaxOpenFiles open at once.
	slices.SortFunc(files, func(a, b *file) int {
		if a.streaming() != b.streaming() {
			if a.streaming() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.key, b.key)
	})
	for i, f := range files {
		var err error
		if !f.streaming() {
			err = p.start(ctx, f)
		}
		if err == nil {
			err = f.publish(ctx, p.horizon)
		}
		if errors.Is(err, ErrExists) {
			err = p.raced(ctx, f)
		}
		if err == nil {
			// Only a writer that closed its file cleanly is reused.
			p.spare[f.table.id] = f.release()
		}
		if err != nil {
			for _, rest := range files[i+1:] {
				rest.abort()
			}
			p.files = make(map[fileKey]*file)
			p.slabs.reset()
			p.held, p.writers = 0, 0
			return fmt.Errorf("warehouse: flushing %s/%d (nothing committed from offset %d on; the next owner re-reads from there): %w",
				p.pc.Topic, p.pc.Partition, p.from, err)
		}
		p.g.metrics.files.Inc()
		p.g.metrics.rows.Add(float64(f.rows))
	}
	p.g.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	if len(files) > 0 {
		p.log.Debug("flushed", "files", len(files), "through_offset", p.horizon, "took", time.Since(start))
	}
	clear(p.files)
	clear(p.covered)
	p.from, p.horizon, p.minEnd = -1, -1, -1
	p.slabs.reset()
	p.records, p.bytes, p.held, p.writers = 0, 0, 0, 0
	return nil
}

// raced handles a file name another writer created between this
// processor's probe and its upload. If that file reaches this epoch's
// horizon it holds everything this one would have; if not, committing
// could skip records, so the processor stops and leaves the partition to
// a fresh start that probes again.
func (p *processor) raced(ctx context.Context, f *file) error {
	st, exists, err := p.g.opts.Store.Stat(ctx, f.key)
	if err != nil {
		return fmt.Errorf("%s was created by another writer and cannot be read: %w", f.key, err)
	}
	h := st.Horizon
	if exists && h >= p.horizon {
		p.log.Warn("another writer created the same file first; it holds these records already", "file", f.key, "horizon", h)
		return nil
	}
	return fmt.Errorf("another writer (a consumer that lost this partition?) created %s holding offsets only up to %d, short of %d", f.key, h, p.horizon)
}

// Close implements consumers.Processor: unflushed files are dropped.
func (p *processor) Close() {
	for _, f := range p.files {
		f.abort()
	}
	clear(p.files)
	p.slabs = slabs{}
	p.held, p.writers = 0, 0
}

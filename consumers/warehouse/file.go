package warehouse

import (
	"context"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// writeBatch is how many rows a file hands parquet-go at once.
const writeBatch = 128

// fileOptions are the settings of every file.
type fileOptions struct {
	// rowGroupBytes caps the estimated uncompressed size of a row group,
	// the unit a file buffers in memory.
	rowGroupBytes int
	// streamBytes is how much a file holds in memory (held) before it gets
	// a store file and a Parquet writer of its own; a file that stays
	// smaller is written in one go when the epoch is flushed.
	streamBytes int
	codec       *zstd.Codec
}

// file is one Parquet file being written: rows of one schema id and one
// event hour, from offset first on. It starts as rows held in memory; once
// they reach opts.streamBytes it opens its store file and a writer and
// streams from then on. Most files of a replay spread over many hours never
// get that far, so they cost no open file and no writer until the flush.
type file struct {
	key       string
	table     *table
	topic     string
	partition int32
	first     int64
	last      int64
	rows      int64
	opts      fileOptions

	staged Staged                      // nil until the file streams or is published
	w      *parquet.GenericWriter[any] // nil until then

	batch   []parquet.Row
	values  slabs // what a streaming file's batch rows are cut from: reused once written
	held    int   // memory the batch holds (add)
	rgBytes int   // estimated bytes in the current row group
}

func newFile(key string, t *table, first int64, topic string, partition int32, opts fileOptions) *file {
	return &file{key: key, table: t, topic: topic, partition: partition, first: first, last: first, opts: opts}
}

// newWriter is a Parquet writer for t's files; a writer is reused from one
// file to the next (release, start).
func newWriter(t *table, opts fileOptions) *parquet.GenericWriter[any] {
	return parquet.NewGenericWriter[any](nil, t.mapping.schema,
		parquet.Compression(opts.codec),
		// Pages are flushed (compressed into the row group) at this size;
		// the 256KiB default per column adds up over many open files.
		parquet.PageBufferSize(64<<10),
		parquet.CreatedBy("hookbridge", "", ""),
		parquet.KeyValueMetadata(metaSchemaID, strconv.Itoa(t.id)),
	)
}

// add appends one row; row is kept until it is written, so the caller
// hands over a row it does not reuse. It returns how much more memory the
// file holds now (see held).
func (f *file) add(row parquet.Row, size int, offset int64) int {
	f.batch = append(f.batch, row)
	f.rows++
	f.last = offset
	f.rgBytes += size
	// The values, the row's slice header, and about size bytes of strings
	// the values point to.
	n := len(row)*int(unsafe.Sizeof(parquet.Value{})) + int(unsafe.Sizeof(row)) + size
	f.held += n
	return n
}

// slabValues is the most values a slab holds.
const slabValues = 1 << 14

// slabs are where the rows of a partition's files that wait in memory are
// cut from, kept from one epoch to the next. A replay spread over many
// hours fills them with up to BufferBytes of rows every epoch; allocating
// that anew each time was most of what such a replay allocated, and the
// garbage collector's work grows with it.
type slabs struct {
	all  [][]parquet.Value // each of cap slabValues
	used int               // all[:used] hold rows; all[used-1] has room
}

// room returns an empty row with room for n values.
func (s *slabs) room(n int) parquet.Row {
	if n > slabValues {
		return make(parquet.Row, 0, n)
	}
	if s.used == 0 || cap(s.all[s.used-1])-len(s.all[s.used-1]) < n {
		if s.used == len(s.all) {
			s.all = append(s.all, make([]parquet.Value, 0, slabValues))
		}
		s.used++
	}
	cur := &s.all[s.used-1]
	at := len(*cur)
	*cur = (*cur)[:at+n]
	return (*cur)[at : at : at+n]
}

// reset frees all room once every row cut from it is written or dropped.
// The slabs this epoch did not need are let go, so a partition keeps no
// more than its last epoch used.
func (s *slabs) reset() {
	for i := range s.used {
		clear(s.all[i]) // the values point to the rows' strings
		s.all[i] = s.all[i][:0]
	}
	clear(s.all[s.used:])
	s.all = s.all[:s.used]
	s.used = 0
}

// streaming reports whether the file has its store file and writer.
func (f *file) streaming() bool { return f.w != nil }

// needsWriter reports whether the file holds enough to stream.
func (f *file) needsWriter() bool { return f.w == nil && f.held >= f.opts.streamBytes }

// start gives the file its store file and writer w (a new one or one that
// a published file of the same table released) and writes what it holds.
func (f *file) start(staged Staged, w *parquet.GenericWriter[any]) error {
	w.Reset(staged)
	w.SetKeyValueMetadata(metaTopic, f.topic)
	w.SetKeyValueMetadata(metaPartition, strconv.Itoa(int(f.partition)))
	w.SetKeyValueMetadata(metaFirstOffset, strconv.FormatInt(f.first, 10))
	f.staged, f.w = staged, w
	return f.flushRows()
}

// flushRows hands the held rows of a streaming file to its writer once
// they make a batch.
func (f *file) flushRows() error {
	if f.w == nil || (len(f.batch) < writeBatch && f.rgBytes < f.opts.rowGroupBytes) {
		return nil
	}
	return f.writeBatch()
}

func (f *file) writeBatch() error {
	if len(f.batch) > 0 {
		if _, err := f.w.WriteRows(f.batch); err != nil {
			return fmt.Errorf("writing rows to %s: %w", f.key, err)
		}
		clear(f.batch)
		f.batch = f.batch[:0]
		// parquet-go copied the values: the slabs' room is free again.
		f.values.reset()
		f.held = 0
	}
	if f.rgBytes >= f.opts.rowGroupBytes {
		// Ends the row group: its column buffers are encoded, compressed
		// and written out, which bounds what the file holds in memory.
		if err := f.w.Flush(); err != nil {
			return fmt.Errorf("writing a row group of %s: %w", f.key, err)
		}
		f.rgBytes = 0
	}
	return nil
}

// publish finishes the file and makes it durable at its key; it returns
// ErrExists when another writer created the key first. The file must have
// started.
func (f *file) publish(ctx context.Context, horizon int64) error {
	if err := f.writeBatch(); err != nil {
		f.abort()
		return err
	}
	f.w.SetKeyValueMetadata(metaLastOffset, strconv.FormatInt(f.last, 10))
	f.w.SetKeyValueMetadata(metaHorizon, strconv.FormatInt(horizon, 10))
	if err := f.w.Close(); err != nil {
		f.abort()
		return fmt.Errorf("closing %s: %w", f.key, err)
	}
	return f.staged.Publish(ctx, Stored{Horizon: horizon, Schema: f.table.id})
}

// release hands back the writer of a published file, ready for the next
// file of the table.
//
// parquet-go's Reset (v0.32.0) clears, in place, the column paths of the
// column chunks of the file the writer wrote last; those share their
// backing arrays with the paths the writer's columns give every later
// chunk, so every file after the first would name no column, and Spark,
// Athena and parquet-mr refuse such a file. Dropping the closed file's
// references to the paths first leaves the columns' paths alone. What else
// a reused writer writes must be what a new one would:
// TestReusedWriterWritesWhatANewOneWrites compares the two byte for byte.
func (f *file) release() *parquet.GenericWriter[any] {
	w := f.w
	if view := w.File(); view != nil {
		md := view.Metadata()
		for i := range md.RowGroups {
			for j := range md.RowGroups[i].Columns {
				md.RowGroups[i].Columns[j].MetaData.PathInSchema = nil
			}
		}
	}
	// The writer no longer holds on to the published file's buffers.
	w.Reset(nil)
	f.w, f.staged = nil, nil
	return w
}

// abort drops the file.
func (f *file) abort() {
	if f.staged != nil {
		f.staged.Abort()
	}
}

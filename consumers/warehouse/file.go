package warehouse

import (
	"context"
	"fmt"
	"strconv"

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
	codec         *zstd.Codec
}

// file is one Parquet file being written: rows of one schema id and one
// event hour, from offset first on.
type file struct {
	key    string
	table  *table
	first  int64
	last   int64
	rows   int64
	staged Staged
	w      *parquet.GenericWriter[any]
	opts   fileOptions

	batch   []parquet.Row
	rgBytes int // estimated bytes in the current row group
}

func newFile(key string, t *table, first int64, topic string, partition int32, staged Staged, opts fileOptions) *file {
	w := parquet.NewGenericWriter[any](staged, t.mapping.schema,
		parquet.Compression(opts.codec),
		// Pages are flushed (compressed into the row group) at this size;
		// the 256KiB default per column adds up over many open files.
		parquet.PageBufferSize(64<<10),
		parquet.CreatedBy("hookbridge", "", ""),
		parquet.KeyValueMetadata(metaSchemaID, strconv.Itoa(t.id)),
		parquet.KeyValueMetadata(metaTopic, topic),
		parquet.KeyValueMetadata(metaPartition, strconv.Itoa(int(partition))),
		parquet.KeyValueMetadata(metaFirstOffset, strconv.FormatInt(first, 10)),
	)
	return &file{key: key, table: t, first: first, last: first, staged: staged, w: w, opts: opts}
}

// add appends one row; row is kept until the next write, so the caller
// hands over a row it does not reuse.
func (f *file) add(row parquet.Row, size int, offset int64) error {
	f.batch = append(f.batch, row)
	f.rows++
	f.last = offset
	f.rgBytes += size
	if len(f.batch) >= writeBatch || f.rgBytes >= f.opts.rowGroupBytes {
		return f.writeBatch()
	}
	return nil
}

func (f *file) writeBatch() error {
	if len(f.batch) > 0 {
		if _, err := f.w.WriteRows(f.batch); err != nil {
			return fmt.Errorf("writing rows to %s: %w", f.key, err)
		}
		clear(f.batch)
		f.batch = f.batch[:0]
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
// ErrExists when another writer created the key first.
func (f *file) publish(ctx context.Context, horizon int64) error {
	if err := f.writeBatch(); err != nil {
		f.staged.Abort()
		return err
	}
	f.w.SetKeyValueMetadata(metaLastOffset, strconv.FormatInt(f.last, 10))
	f.w.SetKeyValueMetadata(metaHorizon, strconv.FormatInt(horizon, 10))
	if err := f.w.Close(); err != nil {
		f.staged.Abort()
		return fmt.Errorf("closing %s: %w", f.key, err)
	}
	return f.staged.Publish(ctx, horizon)
}

// abort drops the file.
func (f *file) abort() { f.staged.Abort() }

package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// ErrExists is returned by Staged.Publish when a file with the key exists
// already: stores only ever create files, never replace one, so a writer
// that lost its partitions (a zombie) cannot take records away from a file
// its successor wrote.
var ErrExists = errors.New("a file with this name exists already")

// Store keeps finished Parquet files under keys of the Layout.
type Store interface {
	// Stat reports whether a file exists at key and, if so, its horizon:
	// the last offset of the flush that wrote it (see processor.go).
	Stat(ctx context.Context, key string) (horizon int64, exists bool, err error)
	// Create starts a file at key; nothing is visible at key until
	// Publish succeeds.
	Create(ctx context.Context, key string) (Staged, error)
	// String names the store in logs (no credentials).
	String() string
}

// Staged is a file being written.
type Staged interface {
	io.Writer
	// Publish makes the complete file durable at its key, or returns
	// ErrExists and leaves the existing file alone. horizon goes into the
	// store's metadata where it has any.
	Publish(ctx context.Context, horizon int64) error
	// Abort drops the file; calling it after Publish is a no-op.
	Abort()
}

// Keys of the Parquet footer's key/value metadata.
const (
	metaHorizon     = "hookbridge.horizon"
	metaFirstOffset = "hookbridge.first_offset"
	metaLastOffset  = "hookbridge.last_offset"
	metaSchemaID    = "hookbridge.schema_id"
	metaTopic       = "hookbridge.topic"
	metaPartition   = "hookbridge.partition"
)

// footerHorizon reads the horizon from a Parquet file's footer.
func footerHorizon(r io.ReaderAt, size int64) (int64, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return 0, fmt.Errorf("reading the Parquet footer: %w", err)
	}
	v, ok := f.Lookup(metaHorizon)
	if !ok {
		return 0, fmt.Errorf("the Parquet footer has no %s: the file was not written by hookbridge", metaHorizon)
	}
	h, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the Parquet footer's %s %q is not an offset", metaHorizon, v)
	}
	return h, nil
}

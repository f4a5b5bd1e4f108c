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
	// Stat reports whether a file exists at key and, if so, what it holds.
	Stat(ctx context.Context, key string) (stored Stored, exists bool, err error)
	// List returns the keys of the finished files in the directory dir (a
	// Layout.Dir), in any order; none when there is no such directory.
	List(ctx context.Context, dir string) ([]string, error)
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
	// ErrExists and leaves the existing file alone. stored (also in the
	// file's footer) goes into the store's metadata where it has any.
	Publish(ctx context.Context, stored Stored) error
	// Abort drops the file; calling it after Publish is a no-op.
	Abort()
}

// Stored is what Stat reads back of a finished file, from the store's
// metadata or the file's footer.
type Stored struct {
	// Horizon is the last offset of the flush that wrote the file (see
	// processor.go): the file holds every record of its hour and schema
	// from its first offset through Horizon.
	Horizon int64
	// Schema is the schema id of the file's records.
	Schema int
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

// footerStored reads what a Parquet file's footer says it holds.
func footerStored(r io.ReaderAt, size int64) (Stored, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return Stored{}, fmt.Errorf("reading the Parquet footer: %w", err)
	}
	h, err := footerInt(f, metaHorizon)
	if err != nil {
		return Stored{}, err
	}
	id, err := footerInt(f, metaSchemaID)
	if err != nil {
		return Stored{}, err
	}
	return Stored{Horizon: h, Schema: int(id)}, nil
}

// footerInt reads the integer under key from f's key/value metadata.
func footerInt(f *parquet.File, key string) (int64, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, fmt.Errorf("the Parquet footer has no %s: the file was not written by hookbridge", key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the Parquet footer's %s %q is not a number", key, v)
	}
	return n, nil
}

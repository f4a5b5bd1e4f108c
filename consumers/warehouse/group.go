package warehouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/consumers"
	promreg "github.com/hookbridge/hookbridge/internal/metrics"
	"github.com/hookbridge/hookbridge/schemas/avrobin"
)

// Options configure the warehouse consumer group.
type Options struct {
	// Group is the consumer group id.
	Group string
	// Topics are the topics to export (the .deduped topics).
	Topics []string
	// Decoder decodes record values (a *schemas.Registry).
	Decoder Decoder
	// Schemas gives the Avro text of a schema id, for the Parquet schema.
	Schemas SchemaSource
	// Store keeps the files (NewLocalStore or NewS3Store).
	Store Store
	// FlushInterval is how often a partition's files are closed and its
	// offsets committed, however few records it had.
	FlushInterval time.Duration
	// FlushRecords and FlushBytes (record value bytes) flush a partition
	// sooner when it is busy.
	FlushRecords int
	FlushBytes   int64
	// RowGroupBytes caps the estimated uncompressed size of a row group:
	// each open file holds at most about this much in memory.
	RowGroupBytes int64
	// MaxOpenFiles flushes a partition once it has this many files open
	// (each with a store file, a Parquet writer and up to RowGroupBytes of
	// rows); default 64. A file opens once it holds BufferBytes /
	// MaxOpenFiles of rows; before that its rows wait in memory.
	MaxOpenFiles int
	// BufferBytes flushes a partition once the rows its files held before
	// they opened (kept until the flush) take this much memory, which
	// bounds what late or replayed events spread over many hours (many
	// small files) cost; default 128 MiB.
	BufferBytes int64
	// CompressionLevel is the zstd level (1 fastest … 4 best); default 1.
	CompressionLevel int
	// Metrics, when set, gets the warehouse's own metrics.
	Metrics prometheus.Registerer
}

func (o *Options) defaults() error {
	if o.Group == "" || len(o.Topics) == 0 || o.Decoder == nil || o.Schemas == nil || o.Store == nil {
		return errors.New("warehouse: Options need Group, Topics, Decoder, Schemas and Store")
	}
	if o.FlushRecords <= 0 {
		o.FlushRecords = 500_000
	}
	if o.FlushBytes <= 0 {
		o.FlushBytes = 256 << 20
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = 64 << 20
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 64
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 128 << 20
	}
	if o.CompressionLevel <= 0 {
		o.CompressionLevel = 1
	}
	return nil
}

// group is what the processors of one consumer group share.
type group struct {
	opts     Options
	catalog  *catalog
	layout   Layout
	fileOpts fileOptions
	metrics  *metrics
}

// New returns the warehouse consumer group for consumers.Run.
func New(opts Options) (consumers.Group, error) {
	g, err := newGroup(opts)
	if err != nil {
		return consumers.Group{}, err
	}
	return consumers.Group{
		Name:   g.opts.Group,
		Topics: g.opts.Topics,
		NewProcessor: func(pc consumers.PartitionContext) (consumers.Processor, error) {
			return newProcessor(g, pc), nil
		},
		FlushInterval: g.opts.FlushInterval,
		Metrics:       g.opts.Metrics,
	}, nil
}

func newGroup(opts Options) (*group, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	return &group{
		opts:    opts,
		catalog: newCatalog(opts.Schemas),
		fileOpts: fileOptions{
			rowGroupBytes: int(opts.RowGroupBytes),
			streamBytes:   int(max(opts.BufferBytes/int64(opts.MaxOpenFiles), 64<<10)),
			codec:         &zstd.Codec{Level: zstd.Level(opts.CompressionLevel), Concurrency: 1},
		},
		metrics: m,
	}, nil
}

// decoded is one record value with its table: in goavro native form, or
// (built) already in the row builder.
type decoded struct {
	table  *table
	native map[string]any
	built  bool
}

// decode decodes value and finds its table. A table with a decoder reads
// the value straight into the row builder rb gives for its mapping;
// anything that decoder does not take, goavro decodes, so errors and dead
// letters are goavro's. Errors retrying can fix (the schema registry
// unreachable) are returned as they are; every other one is an
// errPermanent.
func (g *group) decode(ctx context.Context, value []byte, rb func(*mapping) *rowBuilder) (decoded, error) {
	var hdr sr.ConfluentHeader
	if id, body, err := hdr.DecodeID(value); err == nil {
		if t, err := g.catalog.table(ctx, id); err == nil && t.decoder != nil {
			// The rows keep slices of the value until they are written.
			r := avrobin.Reader{Buf: bytes.Clone(body)}
			if t.decoder.decode(rb(t.mapping), &r, 0, 0) == nil && r.Done() {
				return decoded{table: t, built: true}, nil
			}
		}
	}
	d, err := g.opts.Decoder.Decode(ctx, value)
	if err != nil {
		if consumers.Transient(err) {
			return decoded{}, err
		}
		return decoded{}, errPermanent{err}
	}
	native, ok := d.Native.(map[string]any)
	if !ok {
		return decoded{}, errPermanent{fmt.Errorf("schema id %d does not describe a record", d.SchemaID)}
	}
	t, err := g.catalog.table(ctx, d.SchemaID)
	if err != nil {
		if isPermanent(err) || consumers.Transient(err) {
			return decoded{}, err
		}
		return decoded{}, errPermanent{err}
	}
	return decoded{table: t, native: native}, nil
}

// retry calls fn until it succeeds, fails with an errPermanent or ctx
// ends, backing off from 100ms to 10s.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	backoff := func(n int) time.Duration { return min(100*time.Millisecond<<min(n, 7), 10*time.Second) }
	notPermanent := func(err error) bool { return !isPermanent(err) }
	return consumers.Retry(ctx, log, "warehouse: "+what, backoff, notPermanent, fn)
}

type metrics struct {
	files, rows, skipped prometheus.Counter
	flushSeconds         prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		files: prometheus.NewCounter(prometheus.CounterOpts{Name: "hookbridge_warehouse_files_written_total",
			Help: "Parquet files made durable in the warehouse store."}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "hookbridge_warehouse_rows_written_total",
			Help: "Rows in the Parquet files made durable."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "hookbridge_warehouse_records_already_stored_total",
			Help: "Records skipped because a file an earlier writer left holds them (replays after a crash, a rebalance or hookbridge replay)."}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hookbridge_warehouse_flush_seconds",
			Help: "Time to close and publish a partition's files.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, c := range []*prometheus.Counter{&m.files, &m.rows, &m.skipped} {
		if *c, err = promreg.Register(reg, *c); err != nil {
			return nil, err
		}
	}
	if m.flushSeconds, err = promreg.Register(reg, m.flushSeconds); err != nil {
		return nil, err
	}
	return m, nil
}

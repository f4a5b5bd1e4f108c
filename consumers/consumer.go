// Package consumers is the shared runner of hookbridge's consumer groups:
// one franz-go group client with cooperative-sticky balancing, a start
// position for new groups, one Processor per assigned partition, offsets
// committed only after the processor says the work is durable, a dead-letter
// path for poison records, graceful shutdown, and lag and throughput metrics.
//
// consumers/klaviyo and consumers/warehouse supply a Group and Run does the
// rest; a new consumer is added the same way. consumers/dedupe does not use
// Run: its exactly-once transaction spans every partition of a poll, so it
// keeps its own loop on a franz-go GroupTransactSession, and shares the
// runner's pieces instead (Setup, GroupOpts, FetchErrors, Metrics,
// Readiness, DeadLetterRecord).
package consumers

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/health"
)

// Processor does a consumer's work for one assigned partition. The runner
// calls it from one goroutine per partition, never concurrently for the
// same partition, with records in offset order, each record once per
// assignment.
//
// A processor keeps no offsets: it says what it still holds (Pending), the
// runner knows what it handed over, and commits the offset before which
// everything is done. So a processor that took nothing commits nothing, and
// a committed offset only ever moves forward.
type Processor interface {
	// Process takes the next records of the partition in: it finishes them
	// at once or holds them for later. A record that can never be
	// processed goes to PartitionContext.DeadLetter and counts as done.
	// An error stops the group without committing anything Process was
	// given; return one only for failures that retrying cannot fix (a
	// revoked API key, a dead letter that cannot be written), and retry
	// transient ones inside (Retry).
	Process(ctx context.Context, recs []*kgo.Record) error
	// Flush makes held work durable. The runner calls it every
	// Group.FlushInterval and before it gives the partition up; work it
	// cannot finish yet stays Pending.
	Flush(ctx context.Context) error
	// Pending reports the oldest offset taken in and not yet durable; ok
	// is false when everything taken in is done.
	Pending() (offset int64, ok bool)
	// Close releases the processor. Work not flushed is abandoned: it is
	// read again by whoever owns the partition next.
	Close()
}

// PartitionContext is what a Processor gets to know about its partition.
type PartitionContext struct {
	Group     string
	Topic     string
	Partition int32
	// Logger is the runner's logger with the topic and partition.
	Logger *slog.Logger
	// DeadLetter writes rec to the dead-letter topic with the error
	// headers, counts it (hookbridge_consumer_records_failed_total{reason})
	// and returns once the broker acknowledged it. reason is a short
	// label (undecodable, rejected, ...); cause may quote the event, so it
	// goes to the dead letter's error header and to debug logs only. An
	// error means the record is not done: return it from Process.
	DeadLetter func(ctx context.Context, rec *kgo.Record, reason string, cause error) error
}

// Group describes one consumer group to the runner.
type Group struct {
	// Name is the consumer group id.
	Name string
	// Topics are the topics the group reads.
	Topics []string
	// NewProcessor starts the work for a newly assigned partition.
	NewProcessor func(PartitionContext) (Processor, error)
	// FlushInterval is how often Flush is called; 0 means only on revoke
	// and shutdown.
	FlushInterval time.Duration
	// Metrics registers the consumer's own metrics next to the runner's.
	Metrics prometheus.Registerer
}

// Options are the process-level settings of a run.
type Options struct {
	// Kafka are the connection options (internal/connect.KafkaOpts); the
	// runner adds its own consumer options.
	Kafka []kgo.Opt
	// MaxBatchBytes is the largest record batch the group produces (dead
	// letters, dedupe's copies): at least the topics' max.message.bytes,
	// so every record the receiver could write can be copied. 0 leaves
	// franz-go's default (about 1 MB).
	MaxBatchBytes int32
	// StartFrom is where a group with no committed offsets starts:
	// "committed" (falls back to earliest), "earliest", "latest" or an
	// RFC3339 time.
	StartFrom string
	// DeadLetterTopic receives poison records.
	DeadLetterTopic string
	Logger          *slog.Logger
	// Metrics registers the runner's metrics (records processed and
	// failed, lag per partition).
	Metrics prometheus.Registerer
	// Health gets the group's readiness check.
	Health *health.Checks
	// CommitInterval is how often durable offsets are committed; 0 means
	// one second. Offsets are also committed before a partition is given
	// up and at shutdown.
	CommitInterval time.Duration
	// ShutdownTimeout bounds the final flush and commit once the run's
	// context ends; 0 means 30 seconds.
	ShutdownTimeout time.Duration
	// GroupProtocol is ProtocolClassic (also "") or ProtocolConsumer.
	GroupProtocol string
}

// The consumer group protocols a group can run.
const (
	// ProtocolClassic is JoinGroup and SyncGroup: the members agree on the
	// assignment (cooperative-sticky here). Every broker has it.
	ProtocolClassic = "classic"
	// ProtocolConsumer is KIP-848's: the broker assigns partitions and
	// members move them one at a time, without a group-wide barrier.
	// Kafka 4 or newer.
	ProtocolConsumer = "consumer"
)

// ClientOpts are the options every client of the group starts from: the
// connection options and the producer's batch bound.
func (o Options) ClientOpts() []kgo.Opt {
	opts := slices.Clip(o.Kafka)
	if o.MaxBatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(o.MaxBatchBytes))
	}
	return opts
}

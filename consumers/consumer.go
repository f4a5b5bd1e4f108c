// Package consumers is the shared runner of hookbridge's consumer groups:
// one franz-go group client with cooperative-sticky balancing, a start
// position for new groups, one Processor per assigned partition, offsets
// committed only after the processor says the work is durable, a dead-letter
// path for poison records, graceful shutdown, and lag and throughput metrics.
//
// Each consumer (consumers/dedupe, consumers/klaviyo, consumers/warehouse)
// supplies a Group; the runner does the rest.
package consumers

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/health"
)

// Processor does a consumer's work for one assigned partition. The runner
// calls it from one goroutine per partition, never concurrently for the
// same partition, with records in offset order.
type Processor interface {
	// Process handles the next records of the partition. It returns the
	// offset to commit (the offset of the next record to read, as Kafka
	// commits) once everything before it is durable, or -1 when the work is
	// buffered and nothing new may be committed yet. A record that can never
	// be processed goes to PartitionContext.DeadLetter and counts as done.
	// An error stops the group without committing past the last durable
	// offset; return one only for failures that retrying cannot fix (a
	// revoked API key, say), and retry transient ones inside.
	Process(ctx context.Context, recs []*kgo.Record) (commit int64, err error)
	// Flush makes buffered work durable and returns the offset to commit,
	// or -1 when there is nothing new. The runner calls it every
	// Group.FlushInterval and before it gives the partition up.
	Flush(ctx context.Context) (commit int64, err error)
	// Close releases the processor. Work not flushed is abandoned: it is
	// read again by whoever owns the partition next.
	Close()
}

// PartitionContext is what a Processor gets to know about its partition.
type PartitionContext struct {
	Group     string
	Topic     string
	Partition int32
	Logger    *slog.Logger
	// DeadLetter writes rec to the dead-letter topic with the error headers
	// and returns once the broker acknowledged it.
	DeadLetter func(ctx context.Context, rec *kgo.Record, cause error) error
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
}

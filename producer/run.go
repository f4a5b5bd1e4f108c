package producer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/schemas"
)

// RunOptions is what a receiver process gives Run.
type RunOptions struct {
	Config   *config.Config
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Health   *health.Checks
	Listener net.Listener
}

// Run is a receiver process, as `hookbridge serve` and `dev` run it: it
// connects to Kafka and the registry, opens the spool and serves webhooks
// on the listener until ctx ends, then finishes in-flight requests, drains
// the spool while Kafka is reachable (for up to
// receiver.spool.shutdown_drain_timeout), flushes the producer and closes
// the spool: everything acknowledged is in Kafka or fsynced in the spool
// when it returns.
func Run(ctx context.Context, ro RunOptions) error {
	cfg := ro.Config
	if err := cfg.Receiver.CheckRecordLimits(cfg.Topics); err != nil {
		return err
	}
	opts, cl, err := KafkaOptions(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	spool, err := OpenSpool(cfg.Receiver.Spool.Dir, int64(cfg.Receiver.Spool.MaxBytes), ro.Metrics, ro.Log)
	if err != nil {
		return err
	}
	defer spool.Close()
	opts.Spool, opts.Logger, opts.Metrics, opts.Gatherer, opts.Health = spool, ro.Log, ro.Metrics, ro.Metrics, ro.Health
	srv, err := New(opts)
	if err != nil {
		return err
	}
	ro.Log.Info("receiver listening", "addr", ro.Listener.Addr().String(), "brokers", cfg.Kafka.Brokers,
		"schema_registry", cfg.SchemaRegistry.URL, "product_agents_auth", cfg.Receiver.ProductAgents.Auth)
	serveErr := srv.Serve(ctx, ro.Listener)
	// Requests that timed out may still sit in the client's buffer; give
	// them a moment so late acks land (the spool already holds them).
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		ro.Log.Warn("producer flush at shutdown incomplete; unacknowledged records were answered 503 or spooled", "err", err)
	}
	ro.Log.Info("receiver stopped", "spooled", spool.Len())
	return serveErr
}

// KafkaOptions connects the receiver's producer and schema registry, as
// configured, and returns the options of a receiver that uses them.
func KafkaOptions(cfg *config.Config) (Options, *kgo.Client, error) {
	kopts, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return Options{}, nil, err
	}
	kopts = append(kopts, ProducerOpts(cfg.Receiver.Linger)...)
	kopts = append(kopts, Compression(cfg.Receiver.Compression), MaxRecordBytes(cfg.Receiver.MaxRecordBytes))
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return Options{}, nil, err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return Options{}, nil, fmt.Errorf("kafka client: %w", err)
	}
	return Options{Receiver: cfg.Receiver, Topics: cfg.Topics, Schemas: schemas.NewRegistry(src),
		Publisher: KafkaPublisher{Client: cl}, Kafka: cl, Admin: kadm.NewClient(cl)}, cl, nil
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/producer"
	"github.com/hookbridge/hookbridge/schemas"
)

// receiverEnv is what the receiver needs from the process it runs in.
type receiverEnv struct {
	Config   *config.Config
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Health   *health.Checks
	Listener net.Listener
}

// runReceiver serves webhooks until ctx ends, then finishes in-flight
// requests, flushes the producer and closes the spool: everything
// acknowledged is in Kafka or fsynced in the spool when it returns.
func runReceiver(ctx context.Context, env receiverEnv) error {
	cfg := env.Config
	if err := cfg.Receiver.CheckRecordLimits(cfg.Topics); err != nil {
		return err
	}
	opts, cl, err := receiverKafka(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	spool, err := producer.OpenSpool(cfg.Receiver.Spool.Dir, int64(cfg.Receiver.Spool.MaxBytes), env.Metrics, env.Log)
	if err != nil {
		return err
	}
	defer spool.Close()
	opts.Spool, opts.Logger, opts.Metrics, opts.Gatherer, opts.Health = spool, env.Log, env.Metrics, env.Metrics, env.Health
	srv, err := producer.New(opts)
	if err != nil {
		return err
	}
	env.Log.Info("receiver listening", "addr", env.Listener.Addr().String(), "brokers", cfg.Kafka.Brokers,
		"schema_registry", cfg.SchemaRegistry.URL, "product_agents_auth", cfg.Receiver.ProductAgents.Auth)
	serveErr := srv.Serve(ctx, env.Listener)
	// Requests that timed out may still sit in the client's buffer; give
	// them a moment so late acks land (the spool already holds them).
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		env.Log.Warn("producer flush at shutdown incomplete; unacknowledged records were answered 503 or spooled", "err", err)
	}
	env.Log.Info("receiver stopped", "spooled", spool.Len())
	return serveErr
}

// receiverKafka connects the receiver's producer and schema registry, as
// configured, and returns the options of a receiver that uses them.
func receiverKafka(cfg *config.Config) (producer.Options, *kgo.Client, error) {
	kopts, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return producer.Options{}, nil, err
	}
	kopts = append(kopts, producer.ProducerOpts(cfg.Receiver.Linger)...)
	kopts = append(kopts, producer.Compression(cfg.Receiver.Compression), producer.MaxRecordBytes(cfg.Receiver.MaxRecordBytes))
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return producer.Options{}, nil, err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return producer.Options{}, nil, fmt.Errorf("kafka client: %w", err)
	}
	return producer.Options{Receiver: cfg.Receiver, Topics: cfg.Topics, Schemas: schemas.NewRegistry(src),
		Publisher: producer.KafkaPublisher{Client: cl}, Kafka: cl}, cl, nil
}

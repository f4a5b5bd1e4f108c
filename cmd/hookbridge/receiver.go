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
	cl, err := receiverClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	spool, err := producer.OpenSpool(cfg.Receiver.Spool.Dir, int64(cfg.Receiver.Spool.MaxBytes), env.Metrics, env.Log)
	if err != nil {
		return err
	}
	defer spool.Close()
	srv, err := producer.New(producer.Options{
		Receiver: cfg.Receiver, Topics: cfg.Topics,
		Schemas: schemas.NewRegistry(src), Publisher: producer.KafkaPublisher{Client: cl}, Kafka: cl,
		Spool: spool, Logger: env.Log, Metrics: env.Metrics, Gatherer: env.Metrics, Health: env.Health,
	})
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

// receiverClient is the receiver's Kafka producer, as configured.
func receiverClient(cfg *config.Config) (*kgo.Client, error) {
	kopts, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	kopts = append(kopts, producer.ProducerOpts(cfg.Receiver.Linger)...)
	kopts = append(kopts, producer.Compression(cfg.Receiver.Compression), producer.MaxRecordBytes(cfg.Receiver.MaxRecordBytes))
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

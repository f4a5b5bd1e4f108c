package main

import (
	"context"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/consumers/warehouse"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

// runWarehouse runs the warehouse consumer group until ctx ends: it reads
// the .deduped topics and writes them as Parquet files to a local
// directory or an S3-compatible bucket.
func runWarehouse(ctx context.Context, env consumerEnv) error {
	cfg := env.Config
	opts, err := env.runnerOptions("warehouse")
	if err != nil {
		return err
	}
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	store, err := warehouseStore(ctx, cfg.Warehouse)
	if err != nil {
		return err
	}
	opts.Logger.Info("warehouse: writing Parquet files", "store", store.String())
	w := cfg.Warehouse
	topics := make([]string, 0, len(cfg.Topics.Raw()))
	for _, raw := range cfg.Topics.Raw() {
		topics = append(topics, cfg.Topics.Deduped(raw))
	}
	reg := schemas.NewRegistry(src)
	g, err := warehouse.New(warehouse.Options{
		Group:         w.Group,
		Topics:        topics,
		Decoder:       reg,
		Schemas:       reg.SchemaText,
		Store:         store,
		FlushInterval: w.FlushInterval,
		FlushRecords:  w.FlushRecords,
		FlushBytes:    int64(w.FlushBytes),
		RowGroupBytes: int64(w.RowGroupBytes),
		BufferBytes:   int64(w.BufferBytes),
		Metrics:       env.Metrics,
	})
	if err != nil {
		return err
	}
	return consumers.Run(ctx, opts, g)
}

// warehouseStore is the S3 store when a bucket is configured, else the
// local directory.
func warehouseStore(ctx context.Context, w config.Warehouse) (warehouse.Store, error) {
	if !w.S3.Enabled() {
		return warehouse.NewLocalStore(w.Dir)
	}
	s, err := warehouse.NewS3Store(warehouse.S3Options{
		Endpoint:  w.S3.Endpoint,
		Bucket:    w.S3.Bucket,
		Prefix:    w.S3.Prefix,
		Region:    w.S3.Region,
		PathStyle: w.S3.PathStyle,
		UseSSL:    w.S3.SSL(),
		SpoolDir:  w.SpoolDir,
	})
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

package main

import (
	"context"

	"github.com/hookbridge/hookbridge/consumers/dedupe"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/schemas"
)

// runDedupe runs the dedupe consumer group until ctx ends: it reads the raw
// topics and writes each event id once to the .deduped topics.
func runDedupe(ctx context.Context, env consumerEnv) error {
	cfg := env.Config
	opts, err := env.runnerOptions("dedupe")
	if err != nil {
		return err
	}
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	d := cfg.Dedupe
	return dedupe.Run(ctx, opts, dedupe.Config{
		Group:              d.Group,
		Topics:             cfg.Topics.Raw(),
		Output:             cfg.Topics.Deduped,
		Changelog:          topics.DedupeChangelog,
		Window:             d.Window,
		MaxIDsPerPartition: d.MaxIDsPerPartition,
		TransactionalID:    d.TransactionalID,
		TransactionTimeout: d.TransactionTimeout,
		MaxBatch:           d.MaxBatch,
		Schemas:            schemas.NewRegistry(src),
	})
}

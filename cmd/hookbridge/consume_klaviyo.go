package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/consumers/klaviyo"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

// runKlaviyo runs the klaviyo consumer group until ctx ends: it reads the
// .deduped topics and forwards every event to Klaviyo's Events API.
func runKlaviyo(ctx context.Context, env consumerEnv) error {
	cfg := env.Config
	k := cfg.Klaviyo
	dryRun := k.DryRun
	if env.Dev && k.APIKey == "" {
		// dev must run without a Klaviyo account: show what would be sent.
		dryRun = true
	}
	if !dryRun && k.APIKey == "" {
		return errors.New("klaviyo.api_key: not set: set HOOKBRIDGE_KLAVIYO_API_KEY (or HOOKBRIDGE_KLAVIYO_API_KEY_FILE) to a private key with events:write, or klaviyo.dry_run: true")
	}
	opts, err := env.runnerOptions("klaviyo")
	if err != nil {
		return err
	}
	log := opts.Logger
	group := klaviyo.GroupID(k.Group, dryRun)
	if dryRun {
		log.Info("klaviyo forwarder in dry-run mode: events are logged, not sent; offsets are kept under a group of its own, so the live group starts where it left off",
			"group", group, "live_group", k.Group)
	}
	metrics, err := klaviyo.NewMetrics(env.Metrics)
	if err != nil {
		return err
	}
	client, err := klaviyo.NewClient(klaviyoClientOptions(k, dryRun, log, metrics))
	if err != nil {
		return err
	}
	if env.Health != nil {
		// A refused key stops the group; readiness says why.
		env.Health.Add("klaviyo-api-key", client.Ready)
	}
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	proc := klaviyo.Options{
		Client:  client,
		Decoder: schemas.NewRegistry(src),
		Mapper: klaviyo.NewMapper(klaviyo.MappingOptions{
			DecisionMetrics: k.DecisionMetrics,
			MessageMetrics:  k.MessageMetrics,
			ExternalID:      k.ExternalID,
		}),
		Metrics:    metrics,
		BatchSize:  k.BatchSize,
		BatchBytes: int(k.BatchBytes),
		Backoff:    klaviyo.Backoff{Base: k.RetryBase, Cap: k.RetryCap},
	}
	return consumers.Run(ctx, opts, consumers.Group{
		Name:          group,
		Topics:        forwardedTopics(cfg.Topics),
		NewProcessor:  klaviyo.NewProcessorFunc(proc),
		FlushInterval: k.FlushInterval,
	})
}

// forwardedTopics are the topics the Klaviyo forwarder reads: Pique's and
// Product Agents' deduped topics, never Klaviyo's own webhooks (that would
// send Klaviyo's events back into Klaviyo).
func forwardedTopics(t config.Topics) []string {
	return []string{t.Deduped(t.Pique()), t.Deduped(t.ProductAgents())}
}

// klaviyoClientOptions turns the configuration into client options.
func klaviyoClientOptions(k config.Klaviyo, dryRun bool, log *slog.Logger, m *klaviyo.Metrics) klaviyo.ClientOptions {
	limit := func(l config.KlaviyoLimit) klaviyo.Limit {
		return klaviyo.Limit{Burst: l.Burst, BurstWindow: time.Second, Steady: l.Steady, SteadyWindow: time.Minute}
	}
	return klaviyo.ClientOptions{
		BaseURL:     k.BaseURL,
		APIKey:      k.APIKey.Reveal(),
		Revision:    k.Revision,
		Timeout:     k.Timeout,
		Bulk:        limit(k.RateLimits.Bulk),
		Single:      limit(k.RateLimits.Single),
		Headroom:    k.Headroom,
		Backoff:     klaviyo.Backoff{Base: k.RetryBase, Cap: k.RetryCap},
		MaxAttempts: k.MaxAttempts,
		DryRun:      dryRun,
		Logger:      log,
		Metrics:     m,
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/internal/metrics"
)

// consumerEnv is what a consumer group needs from the process it runs in:
// `consume` gives each group a process of its own, `dev` runs all in one.
type consumerEnv struct {
	Config  *config.Config
	Log     *slog.Logger
	Metrics prometheus.Registerer // already labelled with the group
	Health  *health.Checks
	// Dev is set by `dev`, where a new group starts at the earliest offset.
	Dev bool
}

// consumerGroups maps each `consume` argument to the group's runner.
func consumerGroups() map[string]func(context.Context, consumerEnv) error {
	return map[string]func(context.Context, consumerEnv) error{
		"dedupe":    runDedupe,
		"klaviyo":   runKlaviyo,
		"warehouse": runWarehouse,
	}
}

func cmdConsume(ctx context.Context, args []string, std stdio) error {
	groups := consumerGroups()
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	fs := newFlags("consume <"+strings.Join(names, "|")+"> [--config FILE]",
		"Runs one consumer group. Start as many processes as the topics have partitions;\n"+
			"each serves /healthz, /readyz and /metrics on consumers.listen.", std)
	cfgPath := configFlag(fs)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := fs.Parse(args); err != nil {
			return err // --help: usage printed, exit 0
		}
		fs.Usage()
		return fmt.Errorf("name a consumer group: %s", strings.Join(names, ", "))
	}
	runGroup, ok := groups[args[0]]
	if !ok {
		return fmt.Errorf("unknown consumer group %q: use one of %s", args[0], strings.Join(names, ", "))
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, std.err)
	reg := metrics.NewRegistry()
	checks := &health.Checks{}
	errc := make(chan error, 1)
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	go func() { errc <- health.Serve(hctx, cfg.Consumers.Listen, health.Handler(checks, reg), log) }()
	env := consumerEnv{Config: cfg, Log: log, Metrics: prometheus.WrapRegistererWith(prometheus.Labels{"group": args[0]}, reg), Health: checks}
	err = runGroup(ctx, env)
	stopHealth()
	if herr := <-errc; err == nil && herr != nil {
		err = fmt.Errorf("health endpoint on %s: %w", cfg.Consumers.Listen, herr)
	}
	return err
}

// runnerOptions are the consumers.Options every group runs with: the
// cluster, the start position (earliest for new groups in dev), the
// dead-letter topic, and the process's logger, metrics and readiness.
func (env consumerEnv) runnerOptions(consumer string) (consumers.Options, error) {
	cfg := env.Config
	kafka, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return consumers.Options{}, err
	}
	start := cfg.Consumers.StartFrom
	if env.Dev {
		start = consumers.StartEarliest
	}
	return consumers.Options{
		Kafka:           kafka,
		MaxBatchBytes:   int32(cfg.Topics.MaxMessageBytes),
		StartFrom:       start,
		DeadLetterTopic: cfg.Topics.DeadLetter(),
		Logger:          env.Log.With("consumer", consumer),
		Metrics:         env.Metrics,
		Health:          env.Health,
		CommitInterval:  cfg.Consumers.CommitInterval,
		ShutdownTimeout: cfg.Consumers.ShutdownTimeout,
		GroupProtocol:   cfg.Consumers.GroupProtocol,
	}, nil
}

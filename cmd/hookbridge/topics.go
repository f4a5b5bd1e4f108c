package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/hookbridge/hookbridge/internal/topics"
)

func cmdTopics(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("topics apply [--config FILE]", `
Creates hookbridge's topics with the configured partitions (topics.partitions,
default 6), replication (topics.replication_factor) and retention, compacted
where they are changelogs; sets the configs of topics that exist. Partition
counts of existing topics are never changed (keys would move). Idempotent.`, std)
	cfgPath := configFlag(fs)
	if len(args) == 0 || args[0] != "apply" {
		if err := fs.Parse(args); err != nil {
			return err // --help: usage printed, exit 0
		}
		fs.Usage()
		return fmt.Errorf("use 'hookbridge topics apply'")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cl, err := newKafkaClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	results, err := topics.Apply(actx, kadm.NewClient(cl), int16(cfg.Topics.ReplicationFactor), topics.Specs(cfg.Topics))
	for _, r := range results {
		what := "exists, configs set"
		if r.Created {
			what = "created"
		}
		fmt.Fprintf(std.out, "%-45s %-20s partitions=%d\n", r.Topic, what, r.Partitions)
	}
	return err
}

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/hookbridge/hookbridge/internal/topics"
)

func cmdTopics(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("topics apply [--dry-run] [--lower] [--config FILE]", `
Creates hookbridge's topics with the configured partitions (topics.partitions,
default 6), replication (topics.replication_factor) and retention, compacted
where they are changelogs. On topics that exist it sets the configs that
differ (retention.ms, cleanup.policy, max.message.bytes, min.insync.replicas)
and prints each change, old → new; it keeps a retention.ms,
max.message.bytes or min.insync.replicas the topic has above the
configuration (raised by hand, say) unless --lower. Partition counts of
existing topics are never changed (keys would move). Idempotent.`, std)
	cfgPath := configFlag(fs)
	dryRun := fs.Bool("dry-run", false, "print what would be created and changed, change nothing")
	lower := fs.Bool("lower", false, "also lower configs a topic has above the configuration")
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
	results, err := topics.ApplyWith(actx, kadm.NewClient(cl), int16(cfg.Topics.ReplicationFactor), topics.Specs(cfg.Topics),
		topics.Options{DryRun: *dryRun, Lower: *lower})
	printApplied(std.out, results, *dryRun)
	return err
}

// printApplied prints a line per topic and one per config set or kept.
func printApplied(w io.Writer, results []topics.Result, dryRun bool) {
	created, set := "created", "set"
	if dryRun {
		created, set = "would be created", "would set"
	}
	for _, r := range results {
		what := "exists, unchanged"
		switch {
		case r.Created:
			what = created
		case len(r.Set) > 0:
			what = "exists, configs changed"
			if dryRun {
				what = "exists, configs differ"
			}
		}
		fmt.Fprintf(w, "%-45s %-24s partitions=%d\n", r.Topic, what, r.Partitions)
		for _, c := range r.Set {
			fmt.Fprintf(w, "    %s %s: %s → %s\n", set, c.Config, orUnset(c.Old), c.New)
		}
		for _, c := range r.Kept {
			fmt.Fprintf(w, "    kept %s: %s (the configuration says %s; --lower sets it)\n", c.Config, c.Old, c.New)
		}
	}
	if dryRun {
		fmt.Fprintln(w, "dry run: nothing created or changed")
	}
}

func orUnset(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

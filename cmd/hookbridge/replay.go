package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/connect"
)

// cmdReplay moves a consumer group's committed offsets so the group reads
// history again the next time it starts.
func cmdReplay(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("replay --group G --to earliest|latest|RFC3339|OFFSET [--topic T] [--config FILE]",
		"Resets a consumer group's committed offsets, so the group reads from there when it\n"+
			"next starts. The group must be stopped: replay refuses while it has active members.\n"+
			"Without --topic, every topic the group has offsets for is reset; a numeric offset\n"+
			"needs --topic and applies to each of its partitions.\n\n"+
			"A replayed dedupe group emits again only the ids it no longer remembers (older than\n"+
			"dedupe.window); downstream groups are replayed from their .deduped topics.", std)
	cfgPath := configFlag(fs)
	group := fs.String("group", "", "consumer group `id` to reset, e.g. hookbridge-klaviyo (required)")
	to := fs.String("to", "", "`position`: earliest, latest, an RFC3339 time, or an offset (required)")
	topic := fs.String("topic", "", "reset only this `topic`")
	dryRun := fs.Bool("dry-run", false, "print the new offsets without committing them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *group == "" || *to == "" {
		fs.Usage()
		return errors.New("--group and --to are required")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	kopts, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("creating the Kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	if err := refuseActive(ctx, adm, *group); err != nil {
		return err
	}
	current, err := adm.FetchOffsets(ctx, *group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		current, err = kadm.OffsetResponses{}, nil // a group that never committed
	}
	if err != nil {
		return fmt.Errorf("fetching the offsets of group %s: %w", *group, err)
	}
	topics := []string{*topic}
	if *topic == "" {
		topics = current.Offsets().TopicsSet().Topics()
		sort.Strings(topics)
		if len(topics) == 0 {
			return fmt.Errorf("group %s has no committed offsets: name the topic with --topic", *group)
		}
	}
	target, err := replayTargets(ctx, adm, *to, *topic, topics)
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tFROM\tTO")
	var rows []kadm.Offset
	target.Each(func(o kadm.Offset) { rows = append(rows, o) })
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	for _, o := range rows {
		from := "-"
		if c, ok := current.Lookup(o.Topic, o.Partition); ok && c.Err == nil {
			from = strconv.FormatInt(c.At, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", o.Topic, o.Partition, from, o.At)
	}
	_ = tw.Flush()
	if *dryRun {
		fmt.Fprintln(std.out, "dry run: nothing committed")
		return nil
	}
	// Check again right before committing: a member that joined meanwhile
	// would overwrite the reset with its own commits.
	if err := refuseActive(ctx, adm, *group); err != nil {
		return err
	}
	resps, err := adm.CommitOffsets(ctx, *group, target)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("committing the new offsets of group %s: %w", *group, err)
	}
	fmt.Fprintf(std.out, "group %s reset; start it to replay\n", *group)
	return nil
}

// refuseActive fails when the group has members: they would keep
// committing their own positions over the reset.
func refuseActive(ctx context.Context, adm *kadm.Client, group string) error {
	// A KIP-848 group (group.protocol=consumer) is described whole only by
	// ConsumerGroupDescribe.
	if err := refuseActiveConsumerGroup(ctx, adm, group); err != nil {
		return err
	}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describing group %s: %w", group, err)
	}
	g, ok := described[group]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil // no classic group (Kafka 4 and kfake say so rather than describing it as Dead)
	}
	if g.Err != nil {
		return fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	if len(g.Members) > 0 {
		return fmt.Errorf("group %s has %d active members (state %s): stop its consumers first (e.g. scale its Deployment to 0), then replay", group, len(g.Members), g.State)
	}
	return nil
}

// refuseActiveConsumerGroup refuses a KIP-848 group with members. A broker
// without the API (kfake, Kafka before 4) has no such groups.
func refuseActiveConsumerGroup(ctx context.Context, adm *kadm.Client, group string) error {
	described, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return nil
	}
	if g, ok := described[group]; ok && g.Err == nil && len(g.Members) > 0 {
		return fmt.Errorf("group %s has %d active members (consumer protocol, state %s): stop its consumers first (e.g. scale its Deployment to 0), then replay", group, len(g.Members), g.State)
	}
	return nil
}

// replayTargets resolves --to into the offsets to commit for topics.
func replayTargets(ctx context.Context, adm *kadm.Client, to, topic string, topics []string) (kadm.Offsets, error) {
	var listed kadm.ListedOffsets
	var err error
	switch strings.ToLower(to) {
	case "earliest":
		listed, err = adm.ListStartOffsets(ctx, topics...)
	case "latest":
		listed, err = adm.ListEndOffsets(ctx, topics...)
	default:
		if at, perr := time.Parse(time.RFC3339, to); perr == nil {
			// Partitions with nothing at or after the time get their end
			// offset: there is nothing to replay there.
			listed, err = adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topics...)
			break
		}
		off, perr := strconv.ParseInt(to, 10, 64)
		if perr != nil || off < 0 {
			return nil, fmt.Errorf("--to %q: use earliest, latest, an RFC3339 time such as 2024-05-01T00:00:00Z, or an offset", to)
		}
		if topic == "" {
			return nil, errors.New("--to with an offset needs --topic: offsets differ between topics")
		}
		return offsetTargets(ctx, adm, topic, off)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", strings.Join(topics, ", "), err)
	}
	return listed.Offsets(), nil
}

// offsetTargets sets every partition of topic to off, refusing an offset
// outside a partition's log.
func offsetTargets(ctx context.Context, adm *kadm.Client, topic string, off int64) (kadm.Offsets, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	out := make(kadm.Offsets)
	var bad []string
	starts.Each(func(s kadm.ListedOffset) {
		e, _ := ends.Lookup(s.Topic, s.Partition)
		if off < s.Offset || off > e.Offset {
			bad = append(bad, fmt.Sprintf("partition %d holds %d..%d", s.Partition, s.Offset, e.Offset))
			return
		}
		out.Add(kadm.Offset{Topic: s.Topic, Partition: s.Partition, At: off, LeaderEpoch: -1})
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("offset %d is outside %s: %s", off, topic, strings.Join(bad, "; "))
	}
	return out, nil
}

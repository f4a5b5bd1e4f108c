package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

func cmdTail(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("tail --topic T [--from earliest|latest|RFC3339] [-n N] [--until-end]", `
Prints a topic's records as JSON lines (topic, partition, offset, timestamp,
key, headers, value), reading committed records only. Avro values are decoded
through the schema registry; other values print as JSON when they are JSON,
else as text. Without -n or --until-end it follows the topic until
interrupted, and says on stderr once it has caught up.`, std)
	cfgPath := configFlag(fs)
	topic := fs.String("topic", "", "topic to read (required)")
	from := fs.String("from", "earliest", "earliest, latest, or an RFC3339 time")
	n := fs.Int("n", 0, "stop after N records (0: no limit)")
	untilEnd := fs.Bool("until-end", false, "stop at the end of the topic (its last committed record when tail started)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		fs.Usage()
		return errors.New("--topic is required")
	}
	if _, err := consumers.StartOffset(*from); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	admin, err := newKafkaClient(cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	span, err := tailSpan(ctx, kadm.NewClient(admin), *topic, *from)
	if err != nil {
		return err
	}
	cl, err := newKafkaClient(cfg, kgo.ConsumePartitions(span.start), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	reg := schemas.NewRegistry(src)
	enc := json.NewEncoder(std.out)
	enc.SetEscapeHTML(false)
	left, announced := span.left(), false
	for printed := 0; *n == 0 || printed < *n; {
		if len(left) == 0 {
			if *untilEnd {
				return nil
			}
			if !announced {
				fmt.Fprintf(std.err, "caught up with %s; waiting for new records, Ctrl-C to stop\n", *topic)
				announced = true
			}
		}
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, e := range fetches.Errors() {
			return fmt.Errorf("reading %s partition %d: %w", e.Topic, e.Partition, e.Err)
		}
		for _, r := range fetches.Records() {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() || (*n > 0 && printed >= *n) || (*untilEnd && r.Offset >= span.end[r.Partition]) {
				continue
			}
			if err := enc.Encode(tailLine(ctx, reg, r)); err != nil {
				return err
			}
			printed++
		}
	}
	return nil
}

// tailRange is where tail starts in each partition and where the topic
// ended (its last stable offsets) when tail started.
type tailRange struct {
	start map[string]map[int32]kgo.Offset
	from  map[int32]int64
	end   map[int32]int64
}

// left returns the partitions with records to read before tail has caught
// up, each with the offset that ends it.
func (s tailRange) left() map[int32]int64 {
	left := map[int32]int64{}
	for p, end := range s.end {
		if s.from[p] < end {
			left[p] = end
		}
	}
	return left
}

// tailSpan checks that topic exists (listing the topics there are when it
// does not) and resolves --from to an offset per partition.
func tailSpan(ctx context.Context, adm *kadm.Client, topic, from string) (tailRange, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return tailRange{}, fmt.Errorf("listing topics: %w", err)
	}
	if !topics.Has(topic) {
		names := topics.Names()
		sort.Strings(names)
		return tailRange{}, fmt.Errorf("topic %s does not exist; the topics there are: %s", topic, strings.Join(names, ", "))
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return tailRange{}, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	var starts kadm.ListedOffsets
	switch strings.ToLower(strings.TrimSpace(from)) {
	case "latest":
		starts = ends
	case "", "committed", "earliest":
		starts, err = adm.ListStartOffsets(ctx, topic)
	default:
		t, _ := time.Parse(time.RFC3339, from) // checked by consumers.StartOffset
		starts, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	}
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return tailRange{}, fmt.Errorf("listing the start offsets of %s: %w", topic, err)
	}
	r := tailRange{start: map[string]map[int32]kgo.Offset{topic: {}}, from: map[int32]int64{}, end: map[int32]int64{}}
	ends.Each(func(o kadm.ListedOffset) { r.end[o.Partition] = o.Offset })
	starts.Each(func(o kadm.ListedOffset) {
		off := o.Offset
		if off < 0 || off > r.end[o.Partition] {
			off = r.end[o.Partition]
		}
		r.from[o.Partition] = off
		r.start[topic][o.Partition] = kgo.NewOffset().At(off)
	})
	return r, nil
}

func tailLine(ctx context.Context, reg *schemas.Registry, r *kgo.Record) map[string]any {
	headers := make(map[string]string, len(r.Headers))
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	line := map[string]any{
		"topic": r.Topic, "partition": r.Partition, "offset": r.Offset,
		"timestamp": r.Timestamp.UTC().Format(time.RFC3339Nano), "key": string(r.Key), "headers": headers,
	}
	if len(r.Value) > 5 && r.Value[0] == 0 {
		if d, err := reg.Decode(ctx, r.Value); err == nil {
			line["schema_id"], line["value"] = d.SchemaID, schemas.Plain(d.Native)
			return line
		} else {
			line["decode_error"] = err.Error()
		}
	}
	switch {
	case json.Valid(r.Value):
		line["value"] = json.RawMessage(r.Value)
	case utf8.Valid(r.Value):
		line["value"] = string(r.Value)
	default:
		line["value_hex"] = strings.ToUpper(fmt.Sprintf("%x", r.Value))
	}
	return line
}

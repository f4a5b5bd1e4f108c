package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

func cmdTail(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("tail --topic T [--from earliest|latest|RFC3339] [-n N]", `
Prints a topic's records as JSON lines (topic, partition, offset, timestamp,
key, headers, value), reading committed records only. Avro values are decoded
through the schema registry; other values print as JSON when they are JSON,
else as text. Without -n it follows the topic until interrupted.`, std)
	cfgPath := configFlag(fs)
	topic := fs.String("topic", "", "topic to read (required)")
	from := fs.String("from", "earliest", "earliest, latest, or an RFC3339 time")
	n := fs.Int("n", 0, "stop after N records (0: follow)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		fs.Usage()
		return errors.New("--topic is required")
	}
	start, err := consumers.StartOffset(*from)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cl, err := newKafkaClient(cfg, kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(start), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
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
	for printed := 0; *n == 0 || printed < *n; {
		fs := cl.PollRecords(ctx, *n-printed)
		if ctx.Err() != nil {
			return nil
		}
		for _, e := range fs.Errors() {
			return fmt.Errorf("reading %s partition %d: %w", e.Topic, e.Partition, e.Err)
		}
		for _, r := range fs.Records() {
			if err := enc.Encode(tailLine(ctx, reg, r)); err != nil {
				return err
			}
			printed++
		}
	}
	return nil
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

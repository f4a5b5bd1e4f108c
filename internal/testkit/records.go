package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// Record returns ev as the receiver writes it to topic: the entity key,
// the Avro value in the Confluent wire format, the record headers, and the
// event's receive time as the record timestamp.
func (e *Env) Record(t testing.TB, topic string, ev schemas.Event) *kgo.Record {
	t.Helper()
	val, err := e.Schemas.AppendEncode(nil, ev)
	if err != nil {
		t.Fatalf("encoding %s %q: %v", ev.Kind(), ev.ID(), err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(ev.Key()), Value: val,
		Headers: ev.Meta().Headers(), Timestamp: ev.Meta().ReceivedAt}
}

// Produce writes recs and waits for every ack.
func (e *Env) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl := e.Client(t, kgo.MaxBufferedRecords(max(len(recs), 10_000)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing %d records: %v", len(recs), err)
	}
}

// Committed returns a group's committed offsets, by topic and partition.
func (e *Env) Committed(t testing.TB, group string) map[string]map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(e.Client(t)).FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		// kfake's answer for a group that never committed; Kafka answers
		// with no offsets.
		return map[string]map[int32]int64{}
	}
	if err != nil {
		t.Fatalf("fetching the committed offsets of group %s: %v", group, err)
	}
	out := make(map[string]map[int32]int64)
	offs.Each(func(o kadm.OffsetResponse) {
		if out[o.Topic] == nil {
			out[o.Topic] = make(map[int32]int64)
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out
}

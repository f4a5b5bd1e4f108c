package testkit

import (
	"context"
	"errors"
	"fmt"
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
	out, err := e.FetchCommitted(t, group)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FetchCommitted is Committed for a poll that outlasts a broker outage: an
// error (a coordinator that is down, say) is returned, not fatal.
func (e *Env) FetchCommitted(t testing.TB, group string) (map[string]map[int32]int64, error) {
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
		return map[string]map[int32]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching the committed offsets of group %s: %w", group, err)
	}
	out := make(map[string]map[int32]int64)
	offs.Each(func(o kadm.OffsetResponse) {
		if out[o.Topic] == nil {
			out[o.Topic] = make(map[int32]int64)
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out, nil
}

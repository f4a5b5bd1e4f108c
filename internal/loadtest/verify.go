package loadtest

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EndOffsets returns topic's end offsets: where the run's records will start.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]kgo.Offset, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	out := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = kgo.NewOffset().At(o.Offset) })
	return out, nil
}

// Missing reads topic from the given offsets until every id in want has
// been seen in a record's event-id header, or ctx ends; it returns the ids
// it did not see.
func Missing(ctx context.Context, kafka []kgo.Opt, topic string, from map[int32]kgo.Offset, want []string) ([]string, error) {
	left := make(map[string]struct{}, len(want))
	for _, id := range want {
		left[id] = struct{}{}
	}
	opts := append(append([]kgo.Opt{}, kafka...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(left) > 0 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "event-id" {
					delete(left, string(h.Value))
				}
			}
		})
	}
	missing := make([]string, 0, len(left))
	for id := range left {
		missing = append(missing, id)
	}
	return missing, nil
}

// Loopback reports whether url's host is a loopback address; bench sends
// load nowhere else unless told to.
func Loopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// VerifyTimeout bounds the wait for acknowledged events to show up.
const VerifyTimeout = 2 * time.Minute

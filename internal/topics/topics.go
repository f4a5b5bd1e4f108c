// Package topics defines hookbridge's topics (partitions, retention,
// compaction) and creates them idempotently; `hookbridge topics apply` and
// `dev` use it.
package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/hookbridge/hookbridge/internal/config"
)

// Spec is one topic as hookbridge wants it.
type Spec struct {
	Name       string
	Partitions int32
	Configs    map[string]*string
}

// Specs returns every topic hookbridge writes, as configured.
func Specs(t config.Topics) []Spec {
	maxMessage := strconv.FormatInt(int64(t.MaxMessageBytes), 10)
	spec := func(name, cleanup string) Spec {
		c := map[string]*string{
			"cleanup.policy":    kadm.StringPtr(cleanup),
			"retention.ms":      kadm.StringPtr(strconv.FormatInt(t.Retention.Milliseconds(), 10)),
			"max.message.bytes": kadm.StringPtr(maxMessage),
		}
		if t.MinInsyncReplicas > 0 {
			c["min.insync.replicas"] = kadm.StringPtr(strconv.Itoa(t.MinInsyncReplicas))
		}
		return Spec{Name: name, Partitions: int32(t.Partitions), Configs: c}
	}
	// A changelog is compacted (the latest entry of each id wins) and also
	// deleted past the retention: ids older than the dedupe window are
	// useless, so keep topics.retention at least dedupe.window.
	var specs []Spec
	for _, raw := range t.Raw() {
		specs = append(specs, spec(raw, "delete"), spec(t.Deduped(raw), "delete"), spec(DedupeChangelog(raw), "compact,delete"))
	}
	return append(specs, spec(t.Unrouted(), "delete"), spec(t.DeadLetter(), "delete"))
}

// DedupeChangelog is the topic where dedupe keeps the seen ids of a raw
// topic: partition p of the changelog holds the ids of partition p of raw,
// so it needs the raw topic's partition count.
func DedupeChangelog(raw string) string { return raw + ".dedupe-changelog" }

// Result says what Apply did with one topic.
type Result struct {
	Topic   string
	Created bool
	// Partitions is the topic's partition count when it already existed;
	// Apply never changes it, since that would move keys between partitions.
	Partitions int32
}

// Apply creates the topics that do not exist yet and sets the configs of
// those that do. It is safe to run any number of times.
func Apply(ctx context.Context, adm *kadm.Client, replication int16, specs []Spec) ([]Result, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := Partitions(ctx, adm, names...)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, s := range specs {
		if n, ok := existing[s.Name]; ok {
			if err := alter(ctx, adm, s); err != nil {
				return results, err
			}
			results = append(results, Result{Topic: s.Name, Partitions: n})
			continue
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, replication, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return results, fmt.Errorf("topics: creating %s: %w", s.Name, err)
		}
		results = append(results, Result{Topic: s.Name, Created: err == nil, Partitions: s.Partitions})
	}
	return results, nil
}

// Partitions returns the partition count of each topic of names that
// exists; a name the map lacks has no topic.
func Partitions(ctx context.Context, adm *kadm.Client, names ...string) (map[string]int32, error) {
	described, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("topics: describing %v: %w", names, err)
	}
	out := make(map[string]int32, len(described))
	for name, d := range described {
		if d.Err == nil {
			out[name] = int32(len(d.Partitions))
		}
	}
	return out, nil
}

func alter(ctx context.Context, adm *kadm.Client, s Spec) error {
	var alters []kadm.AlterConfig
	for k, v := range s.Configs {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
	}
	resps, err := adm.AlterTopicConfigs(ctx, alters, s.Name)
	if err == nil {
		for _, r := range resps {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		return fmt.Errorf("topics: setting configs of %s: %w", s.Name, err)
	}
	return nil
}

// MaxMessageBytes reads the max.message.bytes each topic has on the broker
// (set by Apply, by hand, or the broker's default): the largest record
// batch the topic takes, whatever hookbridge's configuration says. Topics
// the broker did not describe (unknown, not authorized) are missing from
// the map, and the error says why.
func MaxMessageBytes(ctx context.Context, adm *kadm.Client, names ...string) (map[string]int64, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("topics: describing configs: %w", err)
	}
	out := make(map[string]int64, len(rcs))
	var errs []error
	for _, rc := range rcs {
		if rc.Err != nil {
			errs = append(errs, fmt.Errorf("topics: describing %s: %w", rc.Name, rc.Err))
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" {
				continue
			}
			n, err := strconv.ParseInt(c.MaybeValue(), 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("topics: max.message.bytes of %s: %w", rc.Name, err))
				break
			}
			out[rc.Name] = n
		}
	}
	return out, errors.Join(errs...)
}

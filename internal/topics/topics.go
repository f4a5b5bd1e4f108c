// Package topics defines hookbridge's topics (partitions, retention,
// compaction) and creates them idempotently, reporting each config it
// changes on a topic that exists and never lowering one raised there
// unless asked; `hookbridge topics apply` and `dev` use it.
package topics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// Set are the configs of an existing topic that Apply changed (in a
	// dry run: would change).
	Set []Change
	// Kept are the configs an existing topic has above the spec (raised by
	// hand, say) that Apply left as they are; Options.Lower sets them.
	Kept []Change
}

// Change is one config of a topic: what the broker has and what the spec
// asks for.
type Change struct {
	Config, Old, New string
}

// Options say how Apply treats the topics that exist.
type Options struct {
	// DryRun makes Apply report what it would create and set, and change
	// nothing.
	DryRun bool
	// Lower lets Apply lower a retention.ms, max.message.bytes or
	// min.insync.replicas that a topic has above the spec.
	Lower bool
}

// Apply is ApplyWith with the zero Options.
func Apply(ctx context.Context, adm *kadm.Client, replication int16, specs []Spec) ([]Result, error) {
	return ApplyWith(ctx, adm, replication, specs, Options{})
}

// ApplyWith creates the topics that do not exist yet and sets the configs
// of those that do where they differ from the spec, except that it never
// lowers one the topic has higher unless o.Lower. It is safe to run any
// number of times.
func ApplyWith(ctx context.Context, adm *kadm.Client, replication int16, specs []Spec, o Options) ([]Result, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := Partitions(ctx, adm, names...)
	if err != nil {
		return nil, err
	}
	current, err := describeExisting(ctx, adm, slices.Collect(maps.Keys(existing))...)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, s := range specs {
		if n, ok := existing[s.Name]; ok {
			r := Result{Topic: s.Name, Partitions: n}
			if r.Set, r.Kept, err = reconcile(ctx, adm, s, current.of(s.Name), o); err != nil {
				return results, err
			}
			results = append(results, r)
			continue
		}
		if o.DryRun {
			results = append(results, Result{Topic: s.Name, Created: true, Partitions: s.Partitions})
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

// reconcile sets the configs of s's existing topic that differ from s
// (unless o.DryRun), leaving those it has higher unless o.Lower, and
// returns what it set and what it kept.
func reconcile(ctx context.Context, adm *kadm.Client, s Spec, described topicConfigs, o Options) (set, kept []Change, err error) {
	current, err := described.configs, described.err
	if err != nil {
		return nil, nil, err
	}
	keys := slices.Sorted(maps.Keys(s.Configs))
	for _, k := range keys {
		c := Change{Config: k, Old: current[k], New: *s.Configs[k]}
		switch {
		case same(k, c.Old, c.New):
			continue
		case !o.Lower && higher(k, c.Old, c.New):
			kept = append(kept, c)
			continue
		}
		set = append(set, c)
	}
	if len(set) == 0 || o.DryRun {
		return set, kept, nil
	}
	alters := make([]kadm.AlterConfig, len(set))
	for i, c := range set {
		alters[i] = kadm.AlterConfig{Op: kadm.SetConfig, Name: c.Config, Value: kadm.StringPtr(c.New)}
	}
	resps, err := adm.AlterTopicConfigs(ctx, alters, s.Name)
	if err == nil {
		for _, r := range resps {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("topics: setting configs of %s: %w", s.Name, err)
	}
	return set, kept, nil
}

// topicConfigs are the configs the broker has for a topic (set on it or
// defaults), or why it could not describe them.
type topicConfigs struct {
	configs map[string]string
	err     error
}

// describedConfigs are topics' configs by name.
type describedConfigs map[string]topicConfigs

// of returns topic's configs; a topic the broker left out is an error.
func (d describedConfigs) of(topic string) topicConfigs {
	if tc, ok := d[topic]; ok {
		return tc
	}
	return topicConfigs{err: fmt.Errorf("topics: describing the configs of %s: the broker did not describe it", topic)}
}

// describeExisting is describeConfigs for topics known to exist: one the
// broker asked does not know yet (made a moment ago, before that broker's
// metadata caught up) is asked about again, for a few seconds at most.
func describeExisting(ctx context.Context, adm *kadm.Client, names ...string) (describedConfigs, error) {
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		d, err := describeConfigs(ctx, adm, names...)
		if err != nil || wait > 3*time.Second || !d.anyUnknown() {
			return d, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topics: describing the configs of %v: %w", names, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

func (d describedConfigs) anyUnknown() bool {
	for _, tc := range d {
		if errors.Is(tc.err, kerr.UnknownTopicOrPartition) {
			return true
		}
	}
	return false
}

// describeConfigs describes the configs of every topic of names in one
// request.
func describeConfigs(ctx context.Context, adm *kadm.Client, names ...string) (describedConfigs, error) {
	if len(names) == 0 {
		return nil, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("topics: describing the configs of %v: %w", names, err)
	}
	out := make(describedConfigs, len(rcs))
	for _, rc := range rcs {
		if rc.Err != nil {
			out[rc.Name] = topicConfigs{err: fmt.Errorf("topics: describing the configs of %s: %w", rc.Name, rc.Err)}
			continue
		}
		cs := make(map[string]string, len(rc.Configs))
		for _, c := range rc.Configs {
			cs[c.Key] = c.MaybeValue()
		}
		out[rc.Name] = topicConfigs{configs: cs}
	}
	return out, nil
}

// same reports whether a config's two values mean the same; a list
// (cleanup.policy) is the same in any order.
func same(key, a, b string) bool {
	if key != "cleanup.policy" {
		return a == b
	}
	split := func(v string) []string {
		parts := strings.Split(strings.ReplaceAll(v, " ", ""), ",")
		slices.Sort(parts)
		return parts
	}
	return slices.Equal(split(a), split(b))
}

// higher reports whether cur is above want for a config whose higher value
// an operator may have chosen on purpose: lowering retention.ms deletes
// records, lowering min.insync.replicas weakens what an ack means, and
// lowering max.message.bytes refuses records the topic took before.
// retention.ms -1 is forever, above every other value.
func higher(key, cur, want string) bool {
	if key != "retention.ms" && key != "max.message.bytes" && key != "min.insync.replicas" {
		return false
	}
	c, err := strconv.ParseInt(cur, 10, 64)
	if err != nil {
		return false
	}
	w, err := strconv.ParseInt(want, 10, 64)
	if err != nil {
		return false
	}
	if key == "retention.ms" {
		c, w = forever(c), forever(w)
	}
	return c > w
}

// forever makes a negative retention.ms (no limit) the highest value.
func forever(ms int64) int64 {
	if ms < 0 {
		return math.MaxInt64
	}
	return ms
}

// MaxMessageBytes reads the max.message.bytes each topic has on the broker
// (set by Apply, by hand, or the broker's default): the largest record
// batch the topic takes, whatever hookbridge's configuration says. Topics
// the broker did not describe (unknown, not authorized) are missing from
// the map, and the error says why.
func MaxMessageBytes(ctx context.Context, adm *kadm.Client, names ...string) (map[string]int64, error) {
	described, err := describeConfigs(ctx, adm, names...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(described))
	var errs []error
	for name, tc := range described {
		v, ok := tc.configs["max.message.bytes"]
		if tc.err != nil || !ok {
			errs = append(errs, tc.err)
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("topics: max.message.bytes of %s: %w", name, err))
			continue
		}
		out[name] = n
	}
	return out, errors.Join(errs...)
}

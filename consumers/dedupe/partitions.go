package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/topics"
)

// retryDelay is dedupe's wait before retry attempt n: from 1s, doubling,
// up to 30s.
func retryDelay(attempt int) time.Duration { return min(time.Second<<min(attempt, 5), 30*time.Second) }

// errLayout marks a changelog or deduped topic with fewer partitions than
// its raw topic: retrying cannot fix it, an operator must.
var errLayout = errors.New("dedupe: partition counts do not match")

// checkAllPartitions checks every raw topic's layout before the group
// consumes anything, on a client of its own: the session is not there yet.
func (d *deduper) checkAllPartitions(ctx context.Context) error {
	cl, err := kgo.NewClient(d.opts.Kafka...)
	if err != nil {
		return fmt.Errorf("dedupe: checking partition counts: %w", err)
	}
	defer cl.Close()
	return d.checkLayout(ctx, kadm.NewClient(cl), d.c.Topics...)
}

// checkLayout checks the raw topics' layouts, retrying while Kafka cannot
// be asked or a changelog or deduped topic is not there (yet: a broker's
// metadata may lag `topics apply` for a moment); only a layout an operator
// must fix is returned at once.
func (d *deduper) checkLayout(ctx context.Context, adm *kadm.Client, raws ...string) error {
	return consumers.Retry(ctx, d.Log, "dedupe: checking partition counts", retryDelay,
		func(err error) bool { return !errors.Is(err, errLayout) },
		func() error {
			for _, raw := range raws {
				if err := d.checkPartitions(ctx, adm, raw); err != nil {
					return err
				}
			}
			return nil
		})
}

// checkPartitions refuses raw unless its changelog and deduped topics have
// at least its partitions. Partition p of the changelog must hold raw
// partition p's ids: were they written to changelog partition p mod a
// smaller count, adding changelog partitions later would make a restore
// look for them elsewhere and emit their copies again. A raw topic that
// does not exist yet has nothing to check.
func (d *deduper) checkPartitions(ctx context.Context, adm *kadm.Client, raw string) error {
	changelog, output := d.c.Changelog(raw), d.c.Output(raw)
	have, err := topics.Partitions(ctx, adm, raw, changelog, output)
	if err != nil {
		return fmt.Errorf("dedupe: checking partition counts: %w", err)
	}
	want, ok := have[raw]
	if !ok {
		return nil
	}
	var short []string
	for _, name := range []string{changelog, output} {
		n, ok := have[name]
		switch {
		case !ok:
			return fmt.Errorf("dedupe: raw topic %s exists but %s does not (yet): create it with `hookbridge topics apply`", raw, name)
		case n < want:
			short = append(short, fmt.Sprintf("%s has %d", name, n))
		}
	}
	if short == nil {
		return nil
	}
	return fmt.Errorf("%w: raw topic %s has %d partitions but %s; dedupe keeps partition p's ids in changelog partition p, "+
		"so add partitions to the changelog and then to the deduped topic, up to %d each "+
		"(`kafka-topics.sh --alter --topic %s --partitions %d`, then the same for %s; `topics apply` never changes partition counts), and start dedupe again",
		errLayout, raw, want, strings.Join(short, " and "), want, changelog, want, output)
}

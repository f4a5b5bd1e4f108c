package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Base is what every group's run starts from, Run's and dedupe's alike.
type Base struct {
	// Start is where partitions without a commit start.
	Start kgo.Offset
	// Metrics are the runner's metrics, registered.
	Metrics *Metrics
	// Log is Options.Logger, or a logger that discards.
	Log *slog.Logger
	// Ready is the group's readiness, registered with Options.Health.
	Ready *Readiness
}

// Setup checks opts for group and returns its Base; check names the
// group's readiness check on /readyz.
func Setup(opts Options, group, check string) (*Base, error) {
	if opts.DeadLetterTopic == "" {
		return nil, fmt.Errorf("consumers: group %s: Options.DeadLetterTopic is empty", group)
	}
	start, err := StartOffset(opts.StartFrom)
	if err != nil {
		return nil, fmt.Errorf("consumers: group %s: %w", group, err)
	}
	if p := opts.GroupProtocol; p != "" && p != ProtocolClassic && p != ProtocolConsumer {
		return nil, fmt.Errorf("consumers: group %s: group protocol %q is neither %s nor %s", group, p, ProtocolClassic, ProtocolConsumer)
	}
	m, err := NewMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Base{Start: start, Metrics: m, Log: log, Ready: NewReadiness()}
	if opts.Health != nil {
		opts.Health.Add(check, b.Ready.Check)
	}
	return b, nil
}

// Fetched accounts for one poll: fetch errors are counted, logged and make
// the group unready (the client retries them); a clean poll with records
// makes it ready again; the lag of every fetched partition is updated.
func (b *Base) Fetched(fs kgo.Fetches) {
	fetchErr := false
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) {
			return
		}
		fetchErr = true
		b.Metrics.Error("fetch")
		b.Ready.Set(fmt.Errorf("fetching %s/%d: %w", t, p, err))
		b.Log.Warn("fetch failed; the client retries", "topic", t, "partition", p, "err", err)
	})
	if !fetchErr && !fs.Empty() {
		b.Ready.Set(nil)
	}
	b.Metrics.ObserveFetch(fs)
}

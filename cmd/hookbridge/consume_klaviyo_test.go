package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers/klaviyo"
	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// Trying the forwarder in dry run first, as the setup guide suggests,
// loses nothing: the dry run keeps its offsets under a group of its own,
// so the live run that follows sends every event, the ones the dry run
// logged included.
func TestKlaviyoDryRunThenLiveSendsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	env := testkit.Start(t)
	const key = "pk_test_dry_then_live"
	fake := klaviyofake.New(klaviyofake.Options{APIKey: key})
	t.Cleanup(fake.Close)
	cfg := *env.Config
	cfg.Klaviyo.BaseURL, cfg.Klaviyo.APIKey = fake.URL(), key
	cfg.Klaviyo.FlushInterval, cfg.Consumers.CommitInterval, cfg.Consumers.ShutdownTimeout = 20*time.Millisecond, 20*time.Millisecond, 5*time.Second

	const n = 30
	topic := cfg.Topics.Deduped(cfg.Topics.Pique())
	recs := make([]*kgo.Record, n)
	for i := range recs {
		at := time.Now().UTC().Truncate(time.Second)
		recs[i] = env.Record(t, topic, &schemas.DecisionMade{
			EventID: fmt.Sprintf("dry-then-live-%d", i), EventType: "decision.made", OccurredAt: &at, ReceivedAt: at,
			Decision: schemas.Decision{ID: new(fmt.Sprint(i)), Action: new("cart_abandonment")},
			Session:  schemas.Session{Email: new(fmt.Sprintf("user%d@example.com", i))},
		})
	}
	env.Produce(t, recs...)
	committed := func(group string) int64 {
		var sum int64
		for _, parts := range env.Committed(t, group) {
			for _, at := range parts {
				sum += at
			}
		}
		return sum
	}

	cfg.Klaviyo.DryRun = true
	dry := runKlaviyoFor(t, cfg)
	testkit.Eventually(t, 20*time.Second, "the dry run commits every record under its own group", func() bool {
		return committed(klaviyo.GroupID(cfg.Klaviyo.Group, true)) == n
	})
	if err := dry(); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got := fake.Stored(); got != 0 {
		t.Fatalf("the dry run sent %d events", got)
	}
	if got := committed(cfg.Klaviyo.Group); got != 0 {
		t.Fatalf("the dry run moved the live group %s by %d offsets", cfg.Klaviyo.Group, got)
	}

	cfg.Klaviyo.DryRun = false
	live := runKlaviyoFor(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := fake.WaitStored(ctx, n); err != nil {
		t.Fatalf("the live run stored %d of %d events: %v", fake.Stored(), n, err)
	}
	if err := live(); err != nil {
		t.Fatalf("live run: %v", err)
	}
}

// runKlaviyoFor starts `consume klaviyo` with cfg and returns what stops
// it and reports how it ended.
func runKlaviyoFor(t *testing.T, cfg config.Config) func() error {
	t.Helper()
	env := consumerEnv{Config: &cfg, Log: testkit.NewLogBuffer(t).Logger(), Metrics: prometheus.NewRegistry()}
	stop := sync.OnceValue(testkit.Background("consume klaviyo", func(ctx context.Context) error {
		if err := runKlaviyo(ctx, env); !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}))
	t.Cleanup(func() { _ = stop() })
	return stop
}

package testkit

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/health"
)

// ConsumerOptions are the consumers.Options of a consumer group in a test:
// this cluster with fast heartbeats (rebalances settle in a few hundred
// milliseconds), the committed start position, the dead-letter topic, a
// readiness registry, commits every 50ms, and logs printed when t fails.
func (e *Env) ConsumerOptions(t testing.TB) consumers.Options {
	t.Helper()
	kopts, err := connect.KafkaOpts(e.Config.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	return consumers.Options{
		Kafka:           append(kopts, kgo.HeartbeatInterval(100*time.Millisecond)),
		MaxBatchBytes:   int32(e.Config.Topics.MaxMessageBytes),
		StartFrom:       consumers.StartCommitted,
		DeadLetterTopic: e.Config.Topics.DeadLetter(),
		Logger:          NewLogBuffer(t).Logger(),
		Health:          &health.Checks{},
		CommitInterval:  50 * time.Millisecond,
	}
}

package producer

import (
	"context"
	"maps"
	"sync/atomic"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/topics"
)

// topicLimits is what the receiver knows of its topics' real
// max.message.bytes: a topic created by hand, or by a Kafka whose default
// is 1 MiB, may take less than receiver.max_record_bytes, and a webhook
// spooled while Kafka is away must still be one that can drain.
type topicLimits struct {
	// known maps a topic to its largest record as recordBytes counts it
	// (the smaller of max_record_bytes and max.message.bytes less the
	// batch framing); nil until Kafka answered once. It outlives outages.
	known atomic.Pointer[map[string]int64]
	// Owned by watchKafka's goroutine.
	checkedAt  time.Time
	warned     map[string]int64 // a topic's max.message.bytes last warned of
	failWarned bool
}

// topicLimitsEvery is how often, while Kafka is reachable, the receiver
// reads its topics' max.message.bytes again (and at once when Kafka comes
// back), so a `topics apply` or an operator's change is seen.
const topicLimitsEvery = time.Minute

// recordLimitsDue reports whether the topics' limits should be read after
// a successful ping; wasDown is the previous check's failure.
func (s *Server) recordLimitsDue(wasDown bool) bool {
	return s.opts.Admin != nil && (wasDown || time.Since(s.limits.checkedAt) >= topicLimitsEvery)
}

// refreshRecordLimits reads the max.message.bytes of every topic the
// receiver writes. Topics Kafka does not describe keep what was known
// (the configured limit at first).
func (s *Server) refreshRecordLimits(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	real, err := topics.MaxMessageBytes(dctx, s.opts.Admin, append(s.opts.Topics.Raw(), s.opts.Topics.Unrouted())...)
	cancel()
	s.limits.checkedAt = time.Now()
	if err != nil && ctx.Err() == nil {
		level := s.log.Debug
		if !s.limits.failWarned {
			level, s.limits.failWarned = s.log.Warn, true
		}
		level("reading the topics' max.message.bytes failed; records are measured against receiver.max_record_bytes where it is unknown", "err", err)
	}
	if len(real) == 0 {
		return
	}
	known := map[string]int64{}
	if p := s.limits.known.Load(); p != nil {
		maps.Copy(known, *p)
	}
	configured := int64(s.opts.Receiver.MaxRecordBytes)
	for topic, mmb := range real {
		known[topic] = min(configured, mmb-config.BatchOverhead)
		s.noteTopicLimit(topic, mmb)
	}
	s.limits.known.Store(&known)
}

// noteTopicLimit warns once (per value) of a topic that takes less than
// the receiver is configured for, and says when it fits again.
func (s *Server) noteTopicLimit(topic string, mmb int64) {
	rc := s.opts.Receiver
	below := mmb-config.BatchOverhead < int64(rc.MaxRecordBytes)
	if s.limits.warned == nil {
		s.limits.warned = map[string]int64{}
	}
	last, warned := s.limits.warned[topic]
	switch {
	case below && (!warned || last != mmb):
		s.limits.warned[topic] = mmb
		s.log.Warn("a topic's max.message.bytes is below what the receiver is configured for: webhooks whose records exceed it get 413; "+
			"run `hookbridge topics apply` to set it to topics.max_message_bytes",
			"topic", topic, "max_message_bytes", mmb, "record_limit", mmb-config.BatchOverhead,
			"receiver_max_record_bytes", int64(rc.MaxRecordBytes), "topics_max_message_bytes", int64(s.opts.Topics.MaxMessageBytes))
	case !below && warned:
		delete(s.limits.warned, topic)
		s.log.Info("a topic's max.message.bytes fits receiver.max_record_bytes again", "topic", topic, "max_message_bytes", mmb)
	}
}

// checkFits refuses a size-byte record (as recordBytes counts it) that
// topic can never take: over receiver.max_record_bytes, or over the
// topic's real max.message.bytes once that is known.
func (s *Server) checkFits(topic string, size int64) error {
	limit, from := int64(s.opts.Receiver.MaxRecordBytes), ""
	if p := s.limits.known.Load(); p != nil {
		if l, ok := (*p)[topic]; ok && l < limit {
			limit, from = l, topic
		}
	}
	if size <= limit {
		return nil
	}
	return &tooLargeError{size: size, limit: limit, topic: from}
}

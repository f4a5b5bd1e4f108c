package producer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// Pinger checks that Kafka answers; *kgo.Client is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// watchInterval is how often the receiver checks Kafka and retries the
// schema registration while either is away.
const watchInterval = time.Second

// background runs the receiver's loops until ctx ends: Kafka reachability,
// schema registration (retried until the registry answers, so the receiver
// starts without it), and the spool drainer.
func (s *Server) background(ctx context.Context) (wait func()) {
	done := make(chan struct{}, 3)
	n := 0
	run := func(f func(context.Context)) {
		n++
		go func() { f(ctx); done <- struct{}{} }()
	}
	run(s.watchKafka)
	run(s.registerSchemas)
	if s.opts.Spool != nil {
		run(s.drainLoop)
	}
	return func() {
		for range n {
			<-done
		}
	}
}

func (s *Server) watchKafka(ctx context.Context) {
	if s.opts.Kafka == nil {
		s.kafkaErr.Store(nil)
		return
	}
	for first := true; ; {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := s.opts.Kafka.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		was := s.kafkaErr.Load()
		if err != nil {
			err = fmt.Errorf("kafka unreachable: %w", err)
			s.kafkaErr.Store(&err)
			if was == nil || first {
				s.log.Warn("kafka is unreachable", "err", err)
			}
		} else {
			if s.recordLimitsDue(was != nil) {
				// Before Kafka counts as reachable, so a ready receiver
				// measures records against the topics' real limits.
				s.refreshRecordLimits(ctx)
			}
			s.kafkaErr.Store(nil)
			if was != nil && !first {
				s.log.Info("kafka is reachable again")
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchInterval):
		}
	}
}

// registerSchemas registers the schemas, retrying with backoff (1s
// doubling to 10s) while the registry is away. The first failure is a
// warning; later ones say for how long and are warnings only every few
// minutes, so a registry that is down for an hour does not flood the log.
func (s *Server) registerSchemas(ctx context.Context) {
	if s.opts.Schemas.Registered() {
		return
	}
	subjects := s.subjects()
	var since, lastWarn time.Time
	backoff := watchInterval
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.opts.Schemas.Register(rctx, subjects)
		cancel()
		if err == nil {
			if attempt > 1 {
				s.log.Info("schemas registered", "attempts", attempt, "after", time.Since(since).Round(time.Second).String())
			} else {
				s.log.Info("schemas registered")
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		level := slog.LevelDebug
		if now.Sub(lastWarn) >= schemaWarnEvery {
			level, lastWarn = slog.LevelWarn, now
		}
		s.log.Log(ctx, level, "registering schemas with the schema registry failed; retrying (webhooks are spooled or answered 503 until then)",
			"subjects", len(subjects), "attempt", attempt, "failing_since", since.UTC().Format(time.RFC3339),
			"retry_in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// schemaWarnEvery is how often a registry that stays away is logged at
// warning level; the attempts between are logged at debug level.
const schemaWarnEvery = 5 * time.Minute

// subjects are the schema subjects the receiver writes.
func (s *Server) subjects() map[schemas.Kind]string {
	return schemas.Subjects(s.opts.Topics.Prefix)
}

// kafkaUp reports whether the last check reached Kafka and the schemas are
// registered: only then can a webhook become a record.
func (s *Server) kafkaUp() bool {
	return s.kafkaErr.Load() == nil && s.opts.Schemas.Registered()
}

func (s *Server) addReadiness() {
	s.opts.Health.Add("kafka", func() error {
		if p := s.kafkaErr.Load(); p != nil {
			return *p
		}
		return nil
	})
	s.opts.Health.Add("schemas", func() error {
		if !s.opts.Schemas.Registered() {
			return schemas.ErrNotRegistered
		}
		return nil
	})
	if sp := s.opts.Spool; sp != nil {
		s.opts.Health.Add("spool", func() error {
			sp.probe()
			return sp.check()
		})
		s.opts.Health.AddInfo("spool", func() any {
			info := map[string]any{"entries": sp.Len(), "bytes": sp.Bytes(), "max_bytes": sp.maxBytes, "oldest_age_seconds": 0.0,
				"quarantined": sp.nQuarantined.Load(), "status": "ok"}
			if t, ok, err := sp.oldest(); err != nil {
				info["oldest_age_seconds"] = -1.0
			} else if ok {
				info["oldest_age_seconds"] = time.Since(t).Seconds()
			}
			if q := sp.lastQuarantine.Load(); q != nil {
				info["status"] = *q
			}
			return info
		})
	}
}

// Package producer is hookbridge's webhook receiver: a Fiber app that
// verifies each webhook (verify.go), maps its JSON to n events (one file per
// source; a Klaviyo system batch makes one per item), encodes them as Avro,
// produces them to Kafka with acks=all (publish.go), and acknowledges only
// once every one is acknowledged. Senders that never retry get a durable
// on-disk spool instead when Kafka is slow or away (spool.go).
//
// A webhook's way: route (server.go) → verify → map → encode → produce → ack.
// The table of sources (sources.go) is the one place a source is added.
package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	fiberrecover "github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/schemas"
)

// Options configures a Server.
type Options struct {
	Receiver config.Receiver
	Topics   config.Topics
	// Schemas encodes events; until it is registered, events cannot be
	// encoded and go to the spool (or get 503).
	Schemas   *schemas.Registry
	Publisher Publisher
	// Spool, when set, takes webhooks of spooling sources that Kafka did
	// not acknowledge in time.
	Spool *Spool
	// Kafka is pinged for readiness and to spool at once while it is away;
	// nil means always reachable.
	Kafka Pinger
	// Admin reads the topics' real max.message.bytes (on the Kafka
	// client's own connections) when Kafka is reached; nil means only
	// receiver.max_record_bytes bounds a record.
	Admin  *kadm.Client
	Logger *slog.Logger
	// Metrics registers the receiver's metrics; Gatherer serves /metrics.
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Health holds the readiness checks /readyz runs.
	Health *health.Checks
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the webhook receiver.
type Server struct {
	opts    Options
	app     *fiber.App
	log     *slog.Logger
	metrics *metrics
	sources []*source
	// quarantinePath is the quarantine file when there is no spool (a
	// spool file being drained); "" means the one beside the spool.
	quarantinePath string
	// kafkaErr is why Kafka was unreachable at the last check, nil if it was
	// reachable.
	kafkaErr atomic.Pointer[error]
	limits   topicLimits
}

// source is one webhook route and how to handle what arrives on it; the
// table of sources is built in sources.go.
type source struct {
	name     string
	path     string
	verifier Verifier
	limiter  *rate.Limiter
	mapFn    mapper
	// deadline bounds the wait for Kafka's ack before spooling or 503.
	deadline time.Duration
	spool    bool
	// bodyLimit is the largest body the source takes; Fiber's app-wide
	// limit is the largest of them.
	bodyLimit config.ByteSize
	// anyContentType: the body is JSON whatever Content-Type says.
	anyContentType bool
}

// mapper turns a verified webhook into the records it makes: one for most
// sources, one per item for batched ones.
type mapper func(*delivery, config.Topics) ([]mapped, error)

// one adapts a mapper of one-event webhooks.
func one(f func(*delivery, config.Topics) (mapped, error)) mapper {
	return func(d *delivery, t config.Topics) ([]mapped, error) {
		m, err := f(d, t)
		if err != nil {
			return nil, err
		}
		return []mapped{m}, nil
	}
}

// New builds the receiver; Serve runs it.
func New(opts Options) (*Server, error) { return newServer(opts, true) }

// newServer builds the receiver; without verifiers (DrainFile, which takes
// webhooks verified long ago) it needs no secrets, and serves nothing.
func newServer(opts Options, verifiers bool) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Health == nil {
		opts.Health = &health.Checks{}
	}
	if err := opts.Receiver.CheckRecordLimits(opts.Topics); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("receiver metrics: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: m}
	if err := s.buildSources(verifiers); err != nil {
		return nil, err
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "hookbridge",
		BodyLimit:             int(s.maxBodyLimit()),
		ReadTimeout:           opts.Receiver.ReadTimeout,
		WriteTimeout:          opts.Receiver.WriteTimeout,
		IdleTimeout:           opts.Receiver.IdleTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		JSONEncoder:           json.Marshal, // goccy/go-json: answers are on the hot path too
	})
	// Each source's own limit, known from the headers: a declared length
	// above it gets 413 before the body is read.
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		return fasthttp.RequestConfig{MaxRequestBodySize: int(s.bodyLimitFor(string(h.RequestURI())))}
	}
	notYet := errors.New("kafka not checked yet")
	s.kafkaErr.Store(&notYet)
	s.addReadiness()
	// A bug in a handler costs its request a 500 (errorHandler), never the
	// process and every webhook in flight with it.
	s.app.Use(fiberrecover.New(fiberrecover.Config{EnableStackTrace: true, StackTraceHandler: s.panicked}))
	s.routes()
	return s, nil
}

// panicked logs a handler's panic with its stack, and counts it.
func (s *Server) panicked(c *fiber.Ctx, v any) {
	path, label := string(c.Request().URI().Path()), "other"
	if src := s.sourceAt(path); src != nil {
		label = src.name
	}
	s.metrics.panics.WithLabelValues(label).Inc()
	s.log.Error("request handler panicked; answering 500", "path", path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}

func limiter(rl config.RateLimit) *rate.Limiter {
	if rl.PerSecond <= 0 {
		return nil
	}
	burst := rl.Burst
	if burst == 0 {
		// At least one: a bucket of none refuses every request, however
		// slow the rate (int(0.0005+0.999) was 0).
		burst = max(int(math.Ceil(rl.PerSecond)), 1)
	}
	return rate.NewLimiter(rate.Limit(rl.PerSecond), burst)
}

func (s *Server) routes() {
	for _, src := range s.sources {
		s.app.Post(src.path, s.handler(src))
	}
	s.app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.app.Get("/readyz", func(c *fiber.Ctx) error {
		code, body := s.opts.Health.ReadyJSON()
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(code).Send(body)
	})
	if s.opts.Gatherer != nil {
		s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{})))
	}
}

// App returns the Fiber app, for tests that drive it with app.Test.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until ctx ends, then stops accepting, lets in-flight
// requests finish (each is acknowledged, spooled or refused), drains the
// spool while Kafka is reachable (drainAtShutdown), and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	bctx, stopBackground := context.WithCancel(ctx)
	wait := sync.OnceFunc(s.background(bctx))
	defer func() { stopBackground(); wait() }()
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("receiver shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.Receiver.AckDeadline+5*time.Second)
	defer cancel()
	if err := s.app.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("receiver shutdown: %w", err)
	}
	err := <-errc
	wait() // the drainer has stopped: the spool is the shutdown drain's alone
	s.drainAtShutdown()
	return err
}

// handler runs route → verify → map → encode → produce → ack for src.
func (s *Server) handler(src *source) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if enc, ok := identityEncoding(&c.Request().Header); !ok {
			return s.reject(c, src, fiber.StatusUnsupportedMediaType, "encoding",
				"Content-Encoding "+strconv.Quote(enc)+" is not accepted: send the body uncompressed")
		}
		if !src.anyContentType && !isJSON(c.Get(fiber.HeaderContentType)) {
			return s.reject(c, src, fiber.StatusUnsupportedMediaType, "content_type", "Content-Type must be application/json")
		}
		// The raw bytes, as they came: Fiber's c.Body() would decompress
		// per Content-Encoding without a bound before anything is verified.
		body := c.Request().Body()
		if err := src.verifier.Verify(body, fiberHeaders{c}); err != nil {
			return s.reject(c, src, fiber.StatusUnauthorized, rejectReason(err), err.Error())
		}
		// After verifying: forged requests must not use up the real sender's
		// bucket (an unauthenticated request costs the verification only).
		if src.limiter != nil && !src.limiter.Allow() {
			s.setRetryAfter(c)
			return s.reject(c, src, fiber.StatusTooManyRequests, "rate_limited", "rate limit reached; retry later")
		}
		if limit := src.bodyLimit; limit > 0 && int64(len(body)) > int64(limit) {
			return s.reject(c, src, fiber.StatusRequestEntityTooLarge, "too_large",
				"body larger than "+strconv.FormatInt(int64(limit), 10)+" bytes")
		}
		d := &delivery{
			Source:     src.name,
			ReceivedAt: s.opts.Now().UTC().Truncate(time.Millisecond),
			SvixID:     svixID(c),
			Body:       bytes.Clone(body), // Fiber reuses the request buffer once we return
		}
		ms, err := src.mapFn(d, s.opts.Topics)
		if err != nil {
			return s.reject(c, src, fiber.StatusBadRequest, "malformed", err.Error())
		}
		recs, err := s.fitRecords(d, ms)
		if tooLarge(err) {
			return s.reject(c, src, fiber.StatusRequestEntityTooLarge, "record_too_large", err.Error())
		}
		return s.deliver(c, src, d, ms, recs)
	}
}

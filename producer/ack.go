package producer

import (
	"context"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/hookbridge/hookbridge/schemas"
)

// deliver produces a mapped webhook and answers only once it is durable:
// 200 when Kafka acknowledged it, 202 when it was fsynced to the spool,
// 503 with Retry-After otherwise (the sender must retry; nothing was kept).
//
// rec is m's record when it could be encoded already (nil while the
// schemas are not registered); either way it is known to fit.
func (s *Server) deliver(c *fiber.Ctx, src *source, d *delivery, m mapped, rec *kgo.Record) error {
	spool := src.spool && s.opts.Spool != nil
	var err error
	switch {
	case spool && (s.opts.Spool.Len() > 0 || !s.kafkaUp()):
		// Kafka is away, or older webhooks wait in the spool: queue behind
		// them so per-key order holds, and answer without waiting.
		err = errSpoolFirst
	default:
		err = s.publishWithin(src, d, m, rec)
	}
	if tooLarge(err) {
		return s.reject(c, src, fiber.StatusRequestEntityTooLarge, "record_too_large", err.Error())
	}
	if err != nil && spool {
		// Not the request's context: fasthttp ends it when shutdown
		// begins, and in-flight webhooks must still be spooled then.
		actx, cancel := context.WithTimeout(context.Background(), s.opts.Receiver.WriteTimeout)
		err = s.opts.Spool.Append(actx, d)
		cancel()
		if err == nil {
			s.metrics.requests.WithLabelValues(src.name, outcomeSpooled).Inc()
			return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": outcomeSpooled, "event_id": m.eventID})
		}
		if s.kafkaUp() {
			// The sender never retries: rather than refuse it while a full
			// spool drains (or its disk fails), try Kafka directly (it may
			// overtake older webhooks of the same key; losing it would be
			// worse).
			err = s.publishWithin(src, d, m, nil)
		}
	}
	if err == nil {
		outcome := outcomeAccepted
		if m.event == nil {
			outcome = outcomeUnrouted
		}
		s.metrics.requests.WithLabelValues(src.name, outcome).Inc()
		return c.Status(fiber.StatusOK).JSON(fiber.Map{"status": outcome, "event_id": m.eventID})
	}
	s.log.Warn("webhook not stored; answering 503", "source", src.name, "event_id", m.eventID, "err", err)
	s.metrics.requests.WithLabelValues(src.name, outcomeUnavailable).Inc()
	s.setRetryAfter(c)
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "not stored, retry later: " + err.Error()})
}

// publishWithin publishes and waits for the ack up to the source's
// deadline. rec, when not nil, is m's record, not yet published.
func (s *Server) publishWithin(src *source, d *delivery, m mapped, rec *kgo.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), src.deadline)
	defer cancel()
	if rec == nil {
		var err error
		if rec, err = record(s.opts.Schemas, d, m); err != nil {
			return err
		}
	}
	start := time.Now()
	err := publishAndWait(ctx, s.opts.Publisher, rec)
	if err == nil {
		s.metrics.produce.WithLabelValues(src.name).Observe(time.Since(start).Seconds())
	}
	return err
}

// fitRecord encodes m and refuses it when its record can never be
// produced. While the schemas are not registered it measures the Avro
// encoding without them and returns no record.
func (s *Server) fitRecord(d *delivery, m mapped) (*kgo.Record, error) {
	limit := int64(s.opts.Receiver.MaxRecordBytes)
	rec, err := record(s.opts.Schemas, d, m)
	if errors.Is(err, schemas.ErrNotRegistered) {
		size, err := unregisteredSize(d, m)
		if err != nil {
			return nil, err
		}
		if size > limit {
			return nil, &tooLargeError{size: size, limit: limit}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if size := recordBytes(rec); size > limit {
		return nil, &tooLargeError{size: size, limit: limit}
	}
	return rec, nil
}

// unregisteredSize is the size m's record will have, measured with the
// embedded schema: the registry only adds the 5-byte wire-format prefix.
func unregisteredSize(d *delivery, m mapped) (int64, error) {
	codec, err := m.event.Kind().Codec()
	if err != nil {
		return 0, err
	}
	bin, err := codec.BinaryFromNative(nil, m.event.Native())
	if err != nil {
		return 0, err
	}
	rec := &kgo.Record{Key: []byte(m.key), Value: bin, Headers: recordMeta(d, m).Headers()}
	return recordBytes(rec) + 5, nil
}

// errSpoolFirst routes a webhook straight to the spool.
var errSpoolFirst = errors.New("spooling while kafka is away or the spool drains")

// reject answers a request hookbridge will not take, with a JSON error.
func (s *Server) reject(c *fiber.Ctx, src *source, code int, reason, msg string) error {
	s.metrics.requests.WithLabelValues(src.name, outcomeRejected).Inc()
	s.metrics.rejections.WithLabelValues(src.name, reason).Inc()
	s.log.Debug("webhook rejected", "source", src.name, "status", code, "reason", reason, "detail", msg)
	return c.Status(code).JSON(fiber.Map{"error": msg})
}

// errorHandler answers errors Fiber raises before a handler runs (body too
// large, slow body, unknown route) as JSON, and counts them.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	code, msg := fiber.StatusInternalServerError, "internal error"
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg = fe.Code, fe.Message
	}
	reason := map[int]string{fiber.StatusRequestEntityTooLarge: "too_large", fiber.StatusRequestTimeout: "timeout"}[code]
	if reason != "" {
		name := strings.TrimPrefix(string(c.Request().URI().Path()), "/webhooks/")
		s.metrics.rejections.WithLabelValues(sourceLabel(name), reason).Inc()
	}
	if code == fiber.StatusRequestEntityTooLarge {
		msg = "body larger than " + strconv.FormatInt(int64(s.opts.Receiver.BodyLimit), 10) + " bytes"
	}
	if code >= 500 {
		s.log.Error("request failed", "path", c.Path(), "err", err)
	}
	return c.Status(code).JSON(fiber.Map{"error": msg})
}

// sourceLabel keeps metric labels to the known sources.
func sourceLabel(name string) string {
	if name == "pique" || name == "product-agents" {
		return name
	}
	return "other"
}

func (s *Server) setRetryAfter(c *fiber.Ctx) {
	secs := int(s.opts.Receiver.RetryAfter.Round(time.Second) / time.Second)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
}

// isJSON accepts application/json with any parameters (charset).
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true // the usual case, without parsing
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// identityEncoding reports whether every Content-Encoding the request
// names is identity, and otherwise the first one that is not. Senders do
// not compress webhooks, and a compressed body could expand far beyond
// body_limit, so the receiver never decompresses.
func identityEncoding(h *fasthttp.RequestHeader) (string, bool) {
	bad, ok := "", true
	h.VisitAll(func(k, v []byte) {
		if !ok || !strings.EqualFold(string(k), fiber.HeaderContentEncoding) {
			return
		}
		for enc := range strings.SplitSeq(string(v), ",") {
			if enc = strings.TrimSpace(enc); enc != "" && !strings.EqualFold(enc, "identity") {
				bad, ok = enc, false
				return
			}
		}
	})
	return bad, ok
}

// svixID is the Svix message id, from either header spelling.
func svixID(c *fiber.Ctx) string {
	id := c.Get("svix-id")
	if id == "" {
		id = c.Get("webhook-id")
	}
	return strings.Clone(id) // c.Get aliases the request buffer
}

// fiberHeaders lets verifiers read Fiber's request headers.
type fiberHeaders struct{ c *fiber.Ctx }

func (h fiberHeaders) Get(name string) string { return h.c.Get(name) }

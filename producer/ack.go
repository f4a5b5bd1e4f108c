package producer

import (
	"context"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/hookbridge/hookbridge/schemas"
)

// deliver produces a mapped webhook's records and answers only once every
// one is durable: 200 when Kafka acknowledged them all, 202 when the
// webhook was fsynced to the spool, 503 with Retry-After otherwise (the
// sender must retry; records already acknowledged come again and dedupe
// removes them).
//
// recs are ms's records when they could be encoded already (nil while the
// schemas are not registered); either way they are known to fit.
func (s *Server) deliver(c *fiber.Ctx, src *source, d *delivery, ms []mapped, recs []*kgo.Record) error {
	if len(ms) == 0 {
		// A batch with no items (Klaviyo's data: []): nothing to store, so
		// nothing to lose, whether or not Kafka or the spool could take it.
		s.metrics.requests.WithLabelValues(src.name, outcomeAccepted).Inc()
		return writeAck(c, fiber.StatusOK, outcomeAccepted, ms)
	}
	spool := src.spool && s.opts.Spool != nil
	var err error
	switch {
	case spool && (s.opts.Spool.Len() > 0 || !s.kafkaUp()):
		// Kafka is away, or older webhooks wait in the spool: queue behind
		// them so per-key order holds, and answer without waiting.
		err = errSpoolFirst
	default:
		err = s.publishWithin(src, d, ms, recs)
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
			return writeAck(c, fiber.StatusAccepted, outcomeSpooled, ms)
		}
		if s.kafkaUp() {
			// The sender never retries: rather than refuse it while a full
			// spool drains (or its disk fails), try Kafka directly (it may
			// overtake older webhooks of the same key; losing it would be
			// worse).
			err = s.publishWithin(src, d, ms, nil)
		}
	}
	if err == nil {
		outcome := outcomeAccepted
		if len(ms) == 1 && ms[0].event == nil {
			outcome = outcomeUnrouted
		}
		s.metrics.requests.WithLabelValues(src.name, outcome).Inc()
		return writeAck(c, fiber.StatusOK, outcome, ms)
	}
	s.log.Warn("webhook not stored; answering 503", "source", src.name, "events", len(ms), "first_event_id", ms[0].eventID, "err", err)
	s.metrics.requests.WithLabelValues(src.name, outcomeUnavailable).Inc()
	s.setRetryAfter(c)
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "not stored, retry later: " + err.Error()})
}

// writeAck answers a 2xx: how many events the webhook made, and the event
// id when it made one, as {"event_id":…,"events":n,"status":…}. The body is
// appended to a buffer rather than encoded from a map: every webhook is
// answered, and c.JSON of a map cost ~5 % of the receiver's CPU.
func writeAck(c *fiber.Ctx, code int, outcome string, ms []mapped) error {
	var arr [128]byte
	b := append(arr[:0], '{')
	if len(ms) == 1 {
		b = append(b, `"event_id":`...)
		b = appendJSONString(b, ms[0].eventID)
		b = append(b, ',')
	}
	b = append(b, `"events":`...)
	b = strconv.AppendInt(b, int64(len(ms)), 10)
	b = append(b, `,"status":"`...)
	b = append(b, outcome...)
	b = append(b, `"}`...)
	c.Status(code)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBody(b)
	return nil
}

// appendJSONString appends s as a JSON string, escaped as go-json (and
// encoding/json) escape it; most event ids need no escaping at all.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// publishWithin publishes a webhook's records and waits for every ack up
// to the source's deadline. recs, when not nil, are ms's records, not yet
// published.
func (s *Server) publishWithin(src *source, d *delivery, ms []mapped, recs []*kgo.Record) error {
	if recs == nil {
		var err error
		if recs, err = records(s.opts.Schemas, d, ms); err != nil {
			return err
		}
	}
	start := time.Now()
	err := publishAll(s.opts.Publisher, recs).within(src.deadline)
	if err == nil {
		s.metrics.produce.WithLabelValues(src.name).Observe(time.Since(start).Seconds())
	}
	return err
}

// fitRecords encodes every record of a webhook, all or nothing, and
// refuses the webhook when one of them can never be produced (checkFits).
// While the schemas are not registered it measures the Avro encodings
// without them and returns no records.
func (s *Server) fitRecords(d *delivery, ms []mapped) ([]*kgo.Record, error) {
	recs, err := records(s.opts.Schemas, d, ms)
	if errors.Is(err, schemas.ErrNotRegistered) {
		return nil, s.fitUnregistered(d, ms)
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkAllFit(recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// checkAllFit is checkFits for every one of a webhook's records.
func (s *Server) checkAllFit(recs []*kgo.Record) error {
	for _, rec := range recs {
		if err := s.checkFits(rec.Topic, recordBytes(rec)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) fitUnregistered(d *delivery, ms []mapped) error {
	for _, m := range ms {
		size, err := unregisteredSize(d, m)
		if err != nil {
			return err
		}
		if err := s.checkFits(m.topic, size); err != nil {
			return err
		}
	}
	return nil
}

// unregisteredSize is the size m's record will have, measured with the
// embedded schema: the registry only adds the 5-byte wire-format prefix.
func unregisteredSize(d *delivery, m mapped) (int64, error) {
	if m.event == nil {
		return recordBytes(&kgo.Record{Key: []byte(m.key), Value: d.Body, Headers: recordMeta(d, m).Headers()}), nil
	}
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
		msg = "body larger than " + strconv.FormatInt(int64(s.bodyLimitFor(string(c.Request().URI().Path()))), 10) + " bytes"
	}
	if code >= 500 {
		s.log.Error("request failed", "path", c.Path(), "err", err)
	}
	return c.Status(code).JSON(fiber.Map{"error": msg})
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

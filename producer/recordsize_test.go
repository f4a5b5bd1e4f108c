package producer

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// manyEmptyProducts is a Product Agents body of about size bytes whose
// record is far larger than the body: each `{}` becomes a typed product.
func manyEmptyProducts(size int) []byte {
	return []byte(`{"event":{"id":"big"},"primaryProducts":[` + strings.Repeat(`{},`, size/3) + `{}]}`)
}

// A webhook whose record can never be produced must be refused before any
// 2xx: otherwise Product Agents' copy sits in the spool forever and holds
// back everything behind it.
func TestRecordThatCannotFitGets413(t *testing.T) {
	for _, kafkaUp := range []bool{true, false} {
		name := map[bool]string{true: "kafka up", false: "kafka away"}[kafkaUp]
		t.Run(name, func(t *testing.T) {
			fr := newRig(t, rigOptions{spool: true, tweak: func(o *Options) {
				o.Receiver.BodyLimit, o.Receiver.MaxRecordBytes = 400<<10, 900_000
			}})
			fr.waitReady(t, http.StatusOK)
			if !kafkaUp {
				outage(fr.env.Cluster)
				testkit.Eventually(t, 20*time.Second, "/readyz reports Kafka unreachable", func() bool { return readyCode(fr.url) == http.StatusServiceUnavailable })
			}
			body := manyEmptyProducts(390 << 10)
			resp := fr.postAgents(t, body)
			if msg, _ := resp.body["error"].(string); resp.code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "receiver.max_record_bytes") {
				t.Fatalf("status %d %v, want 413 naming receiver.max_record_bytes", resp.code, resp.body)
			}
			if fr.spool.Len() != 0 {
				t.Fatalf("spool holds %d entries, want none", fr.spool.Len())
			}
			if got := metric(t, fr.url, `hookbridge_receiver_rejections_total{reason="record_too_large",source="product-agents"}`); got != 1 {
				t.Errorf("record_too_large rejections %v, want 1", got)
			}
			if kafkaUp {
				// The next webhook goes straight to Kafka: nothing waits in front of it.
				next, _ := sample.NewGenerator(9).ProductAgents(time.Now())
				if resp := fr.postAgents(t, next); resp.code != http.StatusOK {
					t.Fatalf("next webhook: status %d %v, want 200", resp.code, resp.body)
				}
			}
		})
	}
}

// A topic whose max.message.bytes is below receiver.max_record_bytes (say,
// lowered by hand after the receiver last read it) answers
// MESSAGE_TOO_LARGE: that is a 413 too, for a source that retries (a 503
// would be retried forever) and for one that spools.
func TestBrokerMessageTooLargeGets413(t *testing.T) {
	env := testkit.Start(t)
	const topicLimit = 200 << 10
	fr := newRig(t, rigOptions{spool: true, env: env})
	fr.waitReady(t, http.StatusOK) // the receiver has read the topics' limits
	env.SetMaxMessageBytes(t, topicLimit, env.Config.Topics.Pique(), env.Config.Topics.ProductAgents())
	// The body is in the record twice, and a codec may find the second
	// copy; the first alone is over the topic's limit at any codec's best.
	big := incompressible(2 * topicLimit)
	pique := []byte(`{"type":"decision.made","decision":{"id":"d1","reason":"` + big + `"}}`)
	if resp := fr.postPique(t, "msg_big", pique); resp.code != http.StatusRequestEntityTooLarge {
		t.Errorf("pique: status %d %v, want 413", resp.code, resp.body)
	}
	agents := []byte(`{"event":{"id":"a1"},"content":{"body":"` + big + `"}}`)
	if resp := fr.postAgents(t, agents); resp.code != http.StatusRequestEntityTooLarge {
		t.Errorf("product-agents: status %d %v, want 413", resp.code, resp.body)
	}
	if fr.spool.Len() != 0 {
		t.Errorf("spool holds %d entries, want none", fr.spool.Len())
	}
}

// incompressible returns n base64 characters of random bytes, which no
// codec shrinks below three quarters.
func incompressible(n int) string {
	b := make([]byte, n*3/4)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// Limits that cannot hold each other stop the receiver at start, naming
// both settings.
func TestRecordLimitsAreCheckedAtStart(t *testing.T) {
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Receiver.CheckRecordLimits(cfg.Topics); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	rc := cfg.Receiver
	rc.MaxRecordBytes = 1 << 20
	_, err = New(Options{Receiver: rc, Topics: cfg.Topics})
	if err == nil || !strings.Contains(err.Error(), "receiver.body_limit") || !strings.Contains(err.Error(), "receiver.max_record_bytes") {
		t.Errorf("body_limit 1MiB with max_record_bytes 1MiB: %v", err)
	}
	tc := cfg.Topics
	tc.MaxMessageBytes = 1 << 20
	err = cfg.Receiver.CheckRecordLimits(tc)
	if err == nil || !strings.Contains(err.Error(), "topics.max_message_bytes") || !strings.Contains(err.Error(), "receiver.max_record_bytes") {
		t.Errorf("max_record_bytes 2.5MiB with max_message_bytes 1MiB: %v", err)
	}
}

// While the registry is away the record cannot be encoded yet, but its size
// is known from the embedded schema: too large is still refused before the
// webhook could be spooled.
func TestRecordSizeIsKnownWithoutTheRegistry(t *testing.T) {
	src, err := connect.SchemaRegistry(config.SchemaRegistry{URL: "http://" + freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.Receiver
	rc.BodyLimit, rc.MaxRecordBytes = 400<<10, 900_000
	s := &Server{opts: Options{Receiver: rc, Topics: cfg.Topics, Schemas: schemas.NewRegistry(src)}}
	for body, fits := range map[string]bool{string(manyEmptyProducts(390 << 10)): false, `{"event":{"id":"small"}}`: true} {
		d := &delivery{Source: "product-agents", ReceivedAt: time.Now(), Body: []byte(body)}
		m, err := mapProductAgents(d, cfg.Topics)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.fitRecords(d, []mapped{m})
		if recs != nil || tooLarge(err) == fits || (fits && err != nil) {
			t.Errorf("%d-byte body: record %v, error %v; want fits=%v and no record yet", len(body), recs != nil, err, fits)
		}
	}
}

// A topic whose max.message.bytes is below what the receiver is configured
// for (created by hand with Kafka's 1 MiB default, say) is known to the
// receiver once it reached Kafka: while Kafka is away a webhook over the
// topic's real limit is 413, not a 202 the drainer could only quarantine.
func TestRecordOverTopicsRealLimitGets413WhileKafkaIsAway(t *testing.T) {
	env := testkit.Start(t)
	const topicLimit = 200 << 10
	topic := env.Config.Topics.ProductAgents()
	env.SetMaxMessageBytes(t, topicLimit, topic)
	fr := newRig(t, rigOptions{spool: true, env: env})
	fr.waitReady(t, http.StatusOK)
	end := outage(fr.env.Cluster)
	testkit.Eventually(t, 20*time.Second, "/readyz reports Kafka unreachable", func() bool { return readyCode(fr.url) == http.StatusServiceUnavailable })

	big := []byte(`{"event":{"id":"over-topic-limit"},"content":{"body":"` + strings.Repeat("x", topicLimit) + `"}}`)
	resp := fr.postAgents(t, big)
	if msg, _ := resp.body["error"].(string); resp.code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "max.message.bytes") || !strings.Contains(msg, topic) {
		t.Errorf("over the topic's limit: status %d %v, want 413 naming %s's max.message.bytes", resp.code, resp.body, topic)
	}
	if fr.spool.Len() != 0 {
		t.Errorf("spool holds %d entries, want none", fr.spool.Len())
	}
	small, _ := sample.NewGenerator(3).ProductAgents(time.Now())
	if resp := fr.postAgents(t, small); resp.code != http.StatusAccepted {
		t.Errorf("a webhook within the topic's limit: status %d %v, want 202", resp.code, resp.body)
	}
	end() // the limits are read again when Kafka is back: still one warning
	fr.waitDrained(t)
	var warnings []string
	for line := range strings.Lines(fr.logs.String()) {
		if strings.Contains(line, "below what the receiver is configured for") && strings.Contains(line, "topic="+topic+" ") {
			warnings = append(warnings, line)
		}
	}
	want := []string{"topics apply", "max_message_bytes=" + strconv.Itoa(topicLimit), "receiver_max_record_bytes=" + strconv.Itoa(int(env.Config.Receiver.MaxRecordBytes))}
	if len(warnings) != 1 {
		t.Fatalf("want one warning naming %s, got %q", topic, warnings)
	}
	for _, w := range want {
		if !strings.Contains(warnings[0], w) {
			t.Errorf("the warning does not say %q: %s", w, warnings[0])
		}
	}
}

package producer

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// TestBrokerOutageUnderLoadLosesNothing takes the broker away for a few
// seconds while both sources post concurrently, then brings it back. Every
// webhook answered 2xx must be in Kafka afterwards; during the outage Pique
// (Svix retries) gets 503 with Retry-After and Product Agents (never
// retries) gets 202 from the spool, which drains once the broker is back.
func TestBrokerOutageUnderLoadLosesNothing(t *testing.T) {
	fr := newRig(t, rigOptions{spool: true})
	fr.waitReady(t, http.StatusOK)
	l := newLoader(fr.url, fr.secret, fr.token)
	l.run(100, 3, 400)
	defer l.halt()
	is := func(source string, code int, after time.Time) func(answer) bool {
		return func(a answer) bool { return a.source == source && a.code == code && !a.start.Before(after) }
	}

	// Healthy: both sources are acknowledged from Kafka.
	testkit.Eventually(t, 20*time.Second, "both sources got 200s", func() bool {
		return l.count(is("pique", 200, time.Time{})) >= 10 && l.count(is("product-agents", 200, time.Time{})) >= 10
	})

	// Outage, under the same load.
	end := outage(fr.env.Cluster)
	down := time.Now()
	testkit.Eventually(t, 20*time.Second, "/readyz reports Kafka unreachable", func() bool { return readyCode(fr.url) == http.StatusServiceUnavailable })
	testkit.Eventually(t, 30*time.Second, "Pique got 503s and Product Agents 202s during the outage", func() bool {
		return l.count(is("pique", 503, down)) >= 6 && l.count(is("product-agents", 202, down)) >= 50
	})
	code, body := readyz(t, fr.url)
	checks, _ := body["checks"].(map[string]any)
	spool, _ := body["spool"].(map[string]any)
	if code != http.StatusServiceUnavailable || !strings.Contains(checks["kafka"].(string), "unreachable") ||
		spool["entries"].(float64) == 0 || spool["oldest_age_seconds"].(float64) == 0 {
		t.Errorf("/readyz during the outage: %d %v", code, body)
	}
	if d := metric(t, fr.url, "hookbridge_spool_depth"); d == 0 {
		t.Error("hookbridge_spool_depth is 0 during the outage")
	}
	if b := metric(t, fr.url, "hookbridge_spool_bytes"); b == 0 {
		t.Error("hookbridge_spool_bytes is 0 during the outage")
	}
	if age := metric(t, fr.url, "hookbridge_spool_oldest_age_seconds"); age == 0 {
		t.Error("hookbridge_spool_oldest_age_seconds is 0 during the outage")
	}
	up := time.Now()
	end()

	// Recovery, still under load: ready again and the spool drains with
	// no restart.
	testkit.Eventually(t, 30*time.Second, "/readyz answers 200 again", func() bool { return readyCode(fr.url) == http.StatusOK })
	back := time.Now()
	testkit.Eventually(t, 30*time.Second, "both sources got 200s after the outage", func() bool {
		return l.count(is("pique", 200, back)) >= 5 && l.count(is("product-agents", 200, back)) >= 5
	})
	answers := l.halt()
	fr.waitDrained(t)
	if age := metric(t, fr.url, "hookbridge_spool_oldest_age_seconds"); age != 0 {
		t.Errorf("hookbridge_spool_oldest_age_seconds = %v with an empty spool", age)
	}

	inOutage := func(a answer) bool { return !a.start.Before(down) && a.end.Before(up) }
	for _, a := range answers {
		switch {
		case a.code == 0:
			t.Errorf("%s %s: no answer", a.source, a.eventID)
		case a.source == "pique" && a.code == 202:
			t.Errorf("pique %s answered 202: Pique must not be spooled", a.eventID)
		case a.source == "pique" && a.code == 503 && a.retryAfter == "":
			t.Errorf("pique %s: 503 without Retry-After", a.eventID)
		case a.source == "product-agents" && a.code == 503:
			t.Errorf("product-agents %s answered 503 with room in the spool", a.eventID)
		case inOutage(a) && a.source == "pique" && a.code != 503:
			t.Errorf("pique %s answered %d during the outage, want 503", a.eventID, a.code)
		case inOutage(a) && a.source == "product-agents" && a.code != 202:
			t.Errorf("product-agents %s answered %d during the outage, want 202", a.eventID, a.code)
		}
	}
	acked := checkAcknowledgedInKafka(t, fr.env, answers)
	logs := fr.logs.String()
	for _, want := range []string{"spooling started", "spool drained", "kafka is unreachable", "kafka is reachable again"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not say %q", want)
		}
	}
	t.Logf("%d requests, %d acknowledged, all in Kafka: %v", len(answers), acked, tally(answers))
}

// TestSpoolDrainKeepsPerKeyOrder spools webhooks of one customer while the
// broker is away; once it is back the drainer must produce them in the
// order they were acknowledged, so their records keep per-key order.
func TestSpoolDrainKeepsPerKeyOrder(t *testing.T) {
	fr := newRig(t, rigOptions{spool: true})
	fr.waitReady(t, http.StatusOK)
	end := outage(fr.env.Cluster)
	const n = 150
	for i := range n {
		body := []byte(fmt.Sprintf(`{"event":{"id":"ord-%04d","messageType":"REPLENISHMENT_REMINDER"},"customer":{"id":"cust-order"}}`, i))
		if resp := fr.postAgents(t, body); resp.code != http.StatusAccepted {
			t.Fatalf("webhook %d: %d %v, want 202 while the broker is away", i, resp.code, resp.body)
		}
	}
	end()
	fr.waitDrained(t)
	var got []string
	for _, r := range fr.env.ReadAll(t, fr.env.Config.Topics.ProductAgents()) {
		if string(r.Key) == "cust-order" {
			got = append(got, schemas.Header(r, schemas.HeaderEventID))
		}
	}
	// A retried batch may repeat a webhook (a duplicate, fine); the order
	// of first appearances must be the order of acknowledgement.
	seen := map[string]bool{}
	var first []string
	for _, id := range got {
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	if len(first) != n {
		t.Fatalf("%d distinct webhooks in Kafka, want %d", len(first), n)
	}
	for i, id := range first {
		if want := fmt.Sprintf("ord-%04d", i); id != want {
			t.Fatalf("record %d of the customer is %s, want %s: the drain reordered a key (first records: %v)", i, id, want, first[:min(len(first), i+5)])
		}
	}
}

// TestSpoolFullAnswers503 fills a small spool while the broker is away:
// Product Agents gets 202 while there is room, then 503 with Retry-After
// (nothing kept, nothing promised), /readyz says the spool is nearly full,
// and once the broker is back everything accepted drains and there is
// room again.
func TestSpoolFullAnswers503(t *testing.T) {
	const maxBytes = 24 << 10
	fr := newRig(t, rigOptions{spool: true, maxBytes: maxBytes})
	fr.waitReady(t, http.StatusOK)
	end := outage(fr.env.Cluster)
	fr.waitReady(t, http.StatusServiceUnavailable)

	g := sample.NewGenerator(31)
	var answers []answer
	for full := 0; full < 3; {
		if len(answers) > 200 {
			t.Fatalf("a %d-byte spool took %d webhooks (%d bytes) without refusing one", maxBytes, len(answers), fr.spool.Bytes())
		}
		body, id := g.ProductAgents(time.Now())
		resp := fr.postAgents(t, body)
		answers = append(answers, answer{source: "product-agents", eventID: id, code: resp.code})
		switch {
		case resp.code == http.StatusAccepted && full == 0:
		case resp.code == http.StatusServiceUnavailable:
			full++
			if msg, _ := resp.body["error"].(string); resp.header.Get("Retry-After") == "" || !strings.Contains(msg, "spool is full") {
				t.Errorf("503 from a full spool: Retry-After %q, body %v", resp.header.Get("Retry-After"), resp.body)
			}
		default:
			t.Fatalf("webhook %d: %d %v (spool %d of %d bytes)", len(answers), resp.code, resp.body, fr.spool.Bytes(), maxBytes)
		}
	}
	if n := fr.spool.Len(); n < 5 || int(n) != len(answers)-3 {
		t.Errorf("spool holds %d webhooks after %d answers 202", n, len(answers)-3)
	}
	if b := fr.spool.Bytes(); b > maxBytes {
		t.Errorf("spool holds %d bytes, bound %d", b, maxBytes)
	}
	_, body := readyz(t, fr.url)
	if msg, _ := body["checks"].(map[string]any)["spool"].(string); !strings.Contains(msg, "nearly full") {
		t.Errorf("/readyz spool check %q, want nearly full", msg)
	}

	end()
	fr.waitDrained(t)
	body2, id := g.ProductAgents(time.Now())
	resp := fr.postAgents(t, body2)
	if resp.code/100 != 2 {
		t.Fatalf("after draining: %d %v", resp.code, resp.body)
	}
	answers = append(answers, answer{source: "product-agents", eventID: id, code: resp.code})
	checkAcknowledgedInKafka(t, fr.env, answers)
}

// TestBrokerErrorsAreRetriedWithinDeadline makes the broker answer produce
// requests with NOT_ENOUGH_REPLICAS and NOT_LEADER_FOR_PARTITION and moves
// partition leaders between brokers under load, with the default
// deadlines: the producer retries, every answer is true (2xx only when
// stored), Product Agents is never refused, and nothing acknowledged is
// lost.
//
// Whether the retries fit in Pique's deadline depends on the client's
// metadata min age: these errors make franz-go refresh metadata before it
// retries, and it refreshes at most once per MetadataMinAge (5s unless set),
// so two of them would cost Pique its 10s deadline. ProducerOpts keep the
// min age short, so every Pique request must get 200.
func TestBrokerErrorsAreRetriedWithinDeadline(t *testing.T) {
	env := testkit.Start(t, kfake.NumBrokers(3))
	def, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := env.Client(t, ProducerOpts(def.Receiver.Linger)...)
	if minAge, _ := cl.OptValue(kgo.MetadataMinAge).(time.Duration); minAge > time.Second {
		t.Fatalf("ProducerOpts leave MetadataMinAge at %v: retries after NOT_ENOUGH_REPLICAS or a leader move would not fit Pique's deadline", minAge)
	}
	ackDeadline, spoolDeadline := def.Receiver.AckDeadline, def.Receiver.Spool.Deadline
	fr := newRig(t, rigOptions{spool: true, env: env, client: cl, ackDeadline: ackDeadline, spoolDeadline: spoolDeadline})
	fr.waitReady(t, http.StatusOK)
	faults := env.Cluster.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: 2},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: 2},
	)
	l := newLoader(fr.url, fr.secret, fr.token)
	l.run(300, 2, 20)
	defer l.halt()
	testkit.Eventually(t, 30*time.Second, "the faults were hit", func() bool { return faults.Hits() == 4 })
	// Leader changes in the middle of the load.
	for _, topic := range []string{env.Config.Topics.Pique(), env.Config.Topics.ProductAgents()} {
		for p := range int32(testkit.Partitions) {
			if err := env.Cluster.MoveTopicPartition(topic, p, (env.Cluster.LeaderFor(topic, p)+1)%3); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.wg.Wait()
	answers := l.halt()
	for _, a := range answers {
		switch {
		case a.code == 0 || a.code/100 != 2 && a.code != http.StatusServiceUnavailable:
			t.Errorf("%s %s answered %d", a.source, a.eventID, a.code)
		case a.source == "product-agents" && a.code == http.StatusServiceUnavailable:
			t.Errorf("product-agents %s answered 503 with room in the spool", a.eventID)
		case a.source == "pique" && a.code == http.StatusServiceUnavailable:
			t.Errorf("pique %s answered 503 (Retry-After %q); its deadline allowed the retries", a.eventID, a.retryAfter)
		case a.source == "pique" && a.code == http.StatusAccepted:
			t.Errorf("pique %s answered 202", a.eventID)
		}
	}
	fr.waitDrained(t)
	acked := checkAcknowledgedInKafka(t, env, answers)
	t.Logf("%d acknowledged through 4 produce errors and %d leader moves: %v", acked, 2*testkit.Partitions, tally(answers))
}

// TestStartsWithoutKafkaOrRegistry starts the receiver while neither the
// broker nor the schema registry listens: it serves at once (/healthz 200,
// /readyz 503), Product Agents goes to the spool (202), Pique gets 503.
// When both come up, /readyz turns 200 and the spool drains, with no
// restart.
func TestStartsWithoutKafkaOrRegistry(t *testing.T) {
	kafkaAddr, registryAddr := freeAddr(t), freeAddr(t)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(kafkaAddr)}, ProducerOpts(time.Millisecond)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	src, err := connect.SchemaRegistry(config.SchemaRegistry{URL: "http://" + registryAddr})
	if err != nil {
		t.Fatal(err)
	}
	fr := newRig(t, rigOptions{spool: true, client: cl, schemas: schemas.NewRegistry(src)})

	resp, err := http.Get(fr.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz without Kafka: %d", resp.StatusCode)
	}
	testkit.Eventually(t, 20*time.Second, "/readyz names Kafka and the registry as not ready", func() bool {
		code, body := readyz(t, fr.url)
		checks, _ := body["checks"].(map[string]any)
		return code == http.StatusServiceUnavailable && checks["kafka"] != "ok" && checks["schemas"] != "ok"
	})
	g := sample.NewGenerator(41)
	var answers []answer
	for range 5 {
		body, id := g.ProductAgents(time.Now())
		resp := fr.postAgents(t, body)
		if resp.code != http.StatusAccepted {
			t.Fatalf("product-agents without Kafka: %d %v, want 202", resp.code, resp.body)
		}
		answers = append(answers, answer{source: "product-agents", eventID: id, code: resp.code})
		body, id = g.Pique(time.Now())
		if resp := fr.postPique(t, "msg_"+id, body); resp.code != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
			t.Fatalf("pique without Kafka: %d %v Retry-After %q, want 503 with Retry-After", resp.code, resp.body, resp.header.Get("Retry-After"))
		}
	}

	// Kafka and the registry come up where the receiver looks for them.
	_, port, _ := net.SplitHostPort(kafkaAddr)
	kport, _ := strconv.Atoi(port)
	env := testkit.Start(t, kfake.Ports(kport))
	fr.env = env
	ln, err := net.Listen("tcp", registryAddr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: env.Registry.Handler()}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })

	fr.waitDrained(t)
	body, id := g.Pique(time.Now())
	if resp := fr.postPique(t, "msg_"+id, body); resp.code != http.StatusOK {
		t.Fatalf("pique once Kafka is up: %d %v", resp.code, resp.body)
	}
	answers = append(answers, answer{source: "pique", eventID: id, code: http.StatusOK})
	checkAcknowledgedInKafka(t, env, answers)
	if logs := fr.logs.String(); !strings.Contains(logs, "schemas registered") || !strings.Contains(logs, "kafka is reachable again") {
		t.Errorf("logs do not say that the registry and Kafka came back:\n%s", logs)
	}
}

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestGracefulShutdownAnswersTruthfully stops the receiver (as SIGTERM
// does) while webhooks of both sources wait for Kafka's ack. It stops
// accepting at once; each request in flight still gets a true answer —
// Pique 200 once the broker acks, Product Agents 202 from the spool when
// its deadline passes first — and Serve returns only then. Afterwards
// every 202 is in Kafka (the broker is back, so the shutdown drain sent it)
// or still in the spool, and a restart on the same spool dir drains those.
func TestGracefulShutdownAnswersTruthfully(t *testing.T) {
	env := testkit.Start(t)
	watch := &watchedPublisher{entered: map[string]bool{}}
	fr := newRig(t, rigOptions{spool: true, env: env, ackDeadline: 8 * time.Second, spoolDeadline: time.Second, tweak: func(o *Options) {
		watch.Publisher, o.Publisher = o.Publisher, watch
	}})
	fr.waitReady(t, http.StatusOK)

	// The broker holds every produce request until released.
	release := make(chan struct{})
	var released atomic.Bool
	env.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if released.Load() {
			env.Cluster.DropControl()
			return nil, nil, false
		}
		env.Cluster.SleepControl(func() { <-release })
		return nil, nil, false
	})
	defer func() {
		if released.CompareAndSwap(false, true) {
			close(release)
		}
	}()

	const perSource = 6
	l := newLoader(fr.url, fr.secret, fr.token)
	l.run(500, perSource, 1)
	defer l.halt()
	testkit.Eventually(t, 30*time.Second, "every webhook waits for Kafka's ack", func() bool {
		// One that came so late that spooling had begun went to the spool
		// without waiting: it counts as answered.
		n := watch.count()
		for _, a := range l.snapshot() {
			if !watch.saw(a.eventID) {
				n++
			}
		}
		return n == 2*perSource
	})

	fr.stop() // SIGTERM
	addr := strings.TrimPrefix(fr.url, "http://")
	testkit.Eventually(t, 10*time.Second, "the receiver stops accepting connections", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// Product Agents' deadline passes first: spooled.
	testkit.Eventually(t, 30*time.Second, "Product Agents got 202s", func() bool {
		return l.count(func(a answer) bool { return a.source == "product-agents" && a.code == http.StatusAccepted }) == perSource
	})
	// Then the broker acks what it holds: Pique's requests finish.
	released.Store(true)
	close(release)
	l.wg.Wait()
	answers := l.halt()
	if err := fr.waitServed(t); err != nil {
		t.Errorf("Serve after shutdown: %v", err)
	}
	var spooled []string
	for _, a := range answers {
		switch {
		case a.source == "pique" && a.code != http.StatusOK:
			t.Errorf("pique %s answered %d during shutdown, want 200 once the broker acked", a.eventID, a.code)
		case a.source == "product-agents" && a.code != http.StatusAccepted:
			t.Errorf("product-agents %s answered %d during shutdown, want 202", a.eventID, a.code)
		case a.code == http.StatusAccepted:
			spooled = append(spooled, a.eventID)
		}
	}
	// After Serve returned, every 202 is in Kafka or in the spool.
	inSpool := spoolContents(t, fr.spool)
	inKafka := eventIDs(t, env, env.Config.Topics.ProductAgents())
	for _, id := range spooled {
		if !inSpool[id] && inKafka[id] == 0 {
			t.Errorf("%s was answered 202 but is neither in Kafka nor in the spool after shutdown", id)
		}
	}
	// A restart on the same spool dir drains it.
	if err := fr.spool.Close(); err != nil {
		t.Fatal(err)
	}
	next := newRig(t, rigOptions{spool: true, env: env, dir: fr.dir})
	next.waitDrained(t)
	checkAcknowledgedInKafka(t, env, answers)
	if logs := fr.logs.String(); !strings.Contains(logs, "receiver shutting down") {
		t.Error("the receiver did not log its shutdown")
	}
}

// watchedPublisher notes which webhooks reached Publish.
type watchedPublisher struct {
	Publisher
	mu      sync.Mutex
	entered map[string]bool
}

func (p *watchedPublisher) Publish(rec *kgo.Record, done func(error)) {
	p.mu.Lock()
	p.entered[schemas.Header(rec, schemas.HeaderEventID)] = true
	p.mu.Unlock()
	p.Publisher.Publish(rec, done)
}

func (p *watchedPublisher) saw(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.entered[id]
}

func (p *watchedPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entered)
}

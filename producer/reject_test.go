package producer

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/sample"
)

func TestBadRequestsAreRejectedAndNothingReachesKafka(t *testing.T) {
	r := newRig(t, rigOptions{})
	good, _ := sample.NewGenerator(1).Pique(time.Now())
	signed := func(body []byte, ts time.Time, secret string) http.Header {
		h, err := sample.SvixHeaders(secret, "msg_x", ts, body)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	pique := r.url + "/webhooks/pique"
	agents := r.url + "/webhooks/product-agents"
	forged := signed(good, time.Now(), r.secret)
	forged.Set("svix-signature", "v1,"+strings.Repeat("A", 43)+"=")
	noHeaders := http.Header{"Content-Type": {"application/json"}}
	wrongType := signed(good, time.Now(), r.secret)
	wrongType.Set("Content-Type", "text/plain")
	malformed := []byte(`{"type":"decision.made",`)
	notObject := []byte(`["decision.made"]`)
	badField := []byte(`{"type":"decision.made","session":{"eventCount":"twelve"}}`)
	wrongToken := sample.TokenHeaders("not-the-token")
	twoDecisions := []byte(`{"type":"decision.made","decision":{"id":"a"},"decision":{"id":"b"}}`)
	trailing := append(bytes.Clone(good), "\x00<script>"...)

	cases := []struct {
		name   string
		url    string
		h      http.Header
		body   []byte
		status int
	}{
		{"forged signature", pique, forged, good, http.StatusUnauthorized},
		{"wrong secret", pique, signed(good, time.Now(), sample.NewSvixSecret()), good, http.StatusUnauthorized},
		{"timestamp older than 5 minutes", pique, signed(good, time.Now().Add(-6*time.Minute), r.secret), good, http.StatusUnauthorized},
		{"missing signature headers", pique, noHeaders, good, http.StatusUnauthorized},
		{"body changed after signing", pique, signed(good, time.Now(), r.secret), append(bytes.Clone(good[:len(good)-1]), ' ', '}'), http.StatusUnauthorized},
		{"malformed JSON", pique, signed(malformed, time.Now(), r.secret), malformed, http.StatusBadRequest},
		{"not an object", pique, signed(notObject, time.Now(), r.secret), notObject, http.StatusBadRequest},
		{"wrong field type", pique, signed(badField, time.Now(), r.secret), badField, http.StatusBadRequest},
		{"duplicate key", pique, signed(twoDecisions, time.Now(), r.secret), twoDecisions, http.StatusBadRequest},
		{"bytes after a NUL", pique, signed(trailing, time.Now(), r.secret), trailing, http.StatusBadRequest},
		{"missing type", pique, signed([]byte(`{}`), time.Now(), r.secret), []byte(`{}`), http.StatusBadRequest},
		{"wrong content type", pique, wrongType, good, http.StatusUnsupportedMediaType},
		{"agents: wrong token", agents, wrongToken, good, http.StatusUnauthorized},
		{"agents: no token", agents, noHeaders, good, http.StatusUnauthorized},
		{"agents: malformed JSON", agents, sample.TokenHeaders(r.token), malformed, http.StatusBadRequest},
		{"agents: invalid UTF-8", agents, sample.TokenHeaders(r.token), []byte("{\"content\":{\"body\":\"\xff\"}}"), http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, c.url, c.h, c.body)
			if resp.code != c.status {
				t.Fatalf("status %d, want %d (%v)", resp.code, c.status, resp.body)
			}
			if msg, _ := resp.body["error"].(string); msg == "" {
				t.Fatalf("no error message in %v", resp.body)
			} else if strings.Contains(msg, r.secret) || strings.Contains(msg, r.token) {
				t.Fatalf("error reveals a secret: %q", msg)
			}
		})
	}
	for _, topic := range []string{r.env.Config.Topics.Pique(), r.env.Config.Topics.ProductAgents(), r.env.Config.Topics.Unrouted()} {
		if n := len(r.env.ReadAll(t, topic)); n != 0 {
			t.Errorf("%d records reached %s", n, topic)
		}
	}
}

func TestOversizedBodyGets413(t *testing.T) {
	r := newRig(t, rigOptions{})
	limit := int(r.env.Config.Receiver.BodyLimit)
	// The sender learns at once from Content-Length, before sending the body.
	head := "POST /webhooks/pique HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(limit+1) + "\r\n\r\n"
	if got := rawExchange(t, r.url, head); !strings.HasPrefix(got, "HTTP/1.1 413") || !strings.Contains(got, `"error"`) {
		t.Fatalf("answer to an oversized body: %q", got)
	}
	// A chunked body declares no length: it is cut off at the limit.
	huge := bytes.Repeat([]byte("x"), limit+1)
	h, _ := sample.SvixHeaders(r.secret, "msg_big", time.Now(), huge)
	req, _ := http.NewRequest(http.MethodPost, r.url+"/webhooks/pique", struct{ io.Reader }{bytes.NewReader(huge)})
	req.Header = h
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked oversized body: status %d", resp.StatusCode)
		}
	}
	if n := len(r.env.ReadAll(t, r.env.Config.Topics.Pique())); n != 0 {
		t.Errorf("%d records reached Kafka", n)
	}
}

// rawExchange writes raw to the server and returns what it answers first.
func rawExchange(t *testing.T, url, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(raw))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n, _ := io.ReadAtLeast(conn, buf, 12)
	return string(buf[:n])
}

func TestSlowBodyGets408(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.ReadTimeout = 200 * time.Millisecond }})
	// Promise 100 bytes, send 2, and stall: the read deadline must answer.
	got := rawExchange(t, r.url, "POST /webhooks/pique HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}")
	if !strings.HasPrefix(got, "HTTP/1.1 408") {
		t.Fatalf("answer to a stalled body: %q", got)
	}
}

func TestProductAgentsAuthModes(t *testing.T) {
	body, _ := sample.NewGenerator(3).ProductAgents(time.Now())
	t.Run("hmac", func(t *testing.T) {
		r := newRig(t, rigOptions{tweak: func(o *Options) {
			o.Receiver.ProductAgents.Auth = "hmac"
			o.Receiver.ProductAgents.Secrets = []config.Secret{"old-key", "new-key"}
		}})
		for key, want := range map[string]int{"new-key": 200, "old-key": 200, "other-key": 401} {
			if resp := post(t, r.url+"/webhooks/product-agents", sample.HMACHeaders("X-Signature", key, body), body); resp.code != want {
				t.Errorf("key %s: status %d, want %d", key, resp.code, want)
			}
		}
	})
	t.Run("token in a header of its own", func(t *testing.T) {
		r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.ProductAgents.TokenHeader = "X-Agents-Token" }})
		for _, c := range []struct {
			name string
			h    http.Header
			want int
		}{
			{"the token", sample.TokenInHeader("X-Agents-Token", r.token), 200},
			{"another token", sample.TokenInHeader("X-Agents-Token", "not-the-token"), 401},
			{"the token as a bearer", sample.TokenHeaders(r.token), 401},
		} {
			if resp := post(t, r.url+"/webhooks/product-agents", c.h, body); resp.code != c.want {
				t.Errorf("%s: status %d %v, want %d", c.name, resp.code, resp.body, c.want)
			}
		}
	})
	t.Run("svix", func(t *testing.T) {
		secret := sample.NewSvixSecret()
		r := newRig(t, rigOptions{tweak: func(o *Options) {
			o.Receiver.ProductAgents.Auth = "svix"
			o.Receiver.ProductAgents.Secrets = []config.Secret{config.Secret(secret)}
		}})
		h, _ := sample.SvixHeaders(secret, "msg_pa", time.Now(), body)
		// Standard Webhooks names the same headers webhook-*.
		for _, name := range []string{"id", "timestamp", "signature"} {
			h.Set("webhook-"+name, h.Get("svix-"+name))
			h.Del("svix-" + name)
		}
		if resp := post(t, r.url+"/webhooks/product-agents", h, body); resp.code != 200 {
			t.Errorf("webhook-* headers: status %d %v", resp.code, resp.body)
		}
	})
}

func TestPiqueSecretRotation(t *testing.T) {
	old := sample.NewSvixSecret()
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.Pique.Secrets = append(o.Receiver.Pique.Secrets, config.Secret(old)) }})
	body, _ := sample.NewGenerator(4).Pique(time.Now())
	h, _ := sample.SvixHeaders(old, "msg_old", time.Now(), body)
	if resp := post(t, r.url+"/webhooks/pique", h, body); resp.code != 200 {
		t.Fatalf("webhook signed with the previous secret: %d %v", resp.code, resp.body)
	}
}

func TestRateLimitGets429(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.Pique.RateLimit = config.RateLimit{PerSecond: 0.001, Burst: 2} }})
	g := sample.NewGenerator(5)
	var codes []int
	for i := range 3 {
		body, _ := g.Pique(time.Now())
		resp := r.postPique(t, "msg_rl"+strconv.Itoa(i), body)
		codes = append(codes, resp.code)
		if resp.code == http.StatusTooManyRequests && resp.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("statuses %v, want 200 200 429", codes)
	}
}

// A rate under one per second with no burst set still lets a request
// through: the default burst is the rate rounded up, and at least one.
func TestSlowRateLimitDefaultBurstAdmitsOne(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.Pique.RateLimit = config.RateLimit{PerSecond: 0.0005} }})
	g := sample.NewGenerator(6)
	var codes []int
	for i := range 2 {
		body, _ := g.Pique(time.Now())
		codes = append(codes, r.postPique(t, "msg_slow"+strconv.Itoa(i), body).code)
	}
	if codes[0] != 200 || codes[1] != 429 {
		t.Fatalf("statuses %v, want 200 429", codes)
	}
}

// Only authenticated requests use up a source's rate limit: a flood of
// forged ones gets 401 and leaves the real sender's bucket alone (Product
// Agents never retries, so a 429 would lose its webhook).
func TestForgedRequestsDoNotUseUpTheRateLimit(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.ProductAgents.RateLimit = config.RateLimit{PerSecond: 0.001, Burst: 1} }})
	g := sample.NewGenerator(8)
	body, _ := g.ProductAgents(time.Now())
	for range 20 {
		if a := post(t, r.url+"/webhooks/product-agents", sample.TokenHeaders("forged"), body); a.code != http.StatusUnauthorized {
			t.Fatalf("forged request: %d %v; want 401", a.code, a.body)
		}
	}
	if a := r.postAgents(t, body); a.code != http.StatusOK {
		t.Fatalf("signed webhook after the flood: %d %v; want 200", a.code, a.body)
	}
	next, _ := g.ProductAgents(time.Now())
	if a := r.postAgents(t, next); a.code != http.StatusTooManyRequests {
		t.Fatalf("second signed webhook: %d %v; want 429 (the limit still holds)", a.code, a.body)
	}
}

func TestBrokerUnreachablePiqueGets503(t *testing.T) {
	// A port nothing listens on: the producer can never reach a broker.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	deadline := 300 * time.Millisecond
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(dead)}, ProducerOpts(time.Millisecond)...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		o.Publisher, o.Kafka = KafkaPublisher{Client: cl}, cl
		o.Receiver.AckDeadline = deadline
	}})
	body, _ := sample.NewGenerator(6).Pique(time.Now())
	start := time.Now()
	resp := r.postPique(t, "msg_down", body)
	if resp.code != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("answer: %d %v Retry-After=%q", resp.code, resp.body, resp.header.Get("Retry-After"))
	}
	// Svix abandons a request after 15s; the answer must come well before.
	if waited := time.Since(start); waited > deadline+5*time.Second {
		t.Errorf("503 took %v with a %v deadline", waited, deadline)
	}
	r.waitReady(t, http.StatusServiceUnavailable)
}

package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// rig is a receiver on a loopback port in front of an in-process Kafka and
// schema registry.
type rig struct {
	env     *testkit.Env
	url     string
	srv     *Server
	health  *health.Checks
	secret  string // Pique's whsec_ secret
	token   string // Product Agents' bearer token
	flow    string // Klaviyo flow token
	system  string // Klaviyo system secret
	metrics *prometheus.Registry
}

// newRig starts a receiver; tweak may change its options before it starts.
func newRig(t *testing.T, tweak func(*Options)) *rig {
	t.Helper()
	return newRigOn(t, testkit.Start(t), tweak)
}

// newRigOn is newRig in front of env's Kafka (in-process or real).
func newRigOn(t *testing.T, env *testkit.Env, tweak func(*Options)) *rig {
	t.Helper()
	r := &rig{env: env, secret: sample.NewSvixSecret(), token: sample.NewToken(), health: &health.Checks{}, metrics: prometheus.NewRegistry()}
	rc := env.Config.Receiver
	rc.Pique.Secrets = []config.Secret{config.Secret(r.secret)}
	rc.ProductAgents.Token = config.Secret(r.token)
	r.flow, r.system = sample.NewToken(), sample.NewToken()
	rc.Klaviyo.Flow.Tokens = []config.Secret{config.Secret(r.flow)}
	rc.Klaviyo.System.Secrets = []config.Secret{config.Secret(r.system)}
	cl := env.Client(t, ProducerOpts(time.Millisecond)...)
	opts := Options{
		Receiver: rc, Topics: env.Config.Topics, Schemas: env.Schemas,
		Publisher: KafkaPublisher{Client: cl}, Kafka: cl,
		Metrics: r.metrics, Gatherer: r.metrics, Health: r.health,
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.url = serve(t, srv)
	return r
}

// serve runs srv on a free loopback port until the test ends.
func serve(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// response is a receiver's answer.
type response struct {
	code   int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, url string, h http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{code: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return out
}

// postPique signs body with the rig's secret and posts it.
func (r *rig) postPique(t *testing.T, msgID string, body []byte) response {
	t.Helper()
	h, err := sample.SvixHeaders(r.secret, msgID, time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	return post(t, r.url+"/webhooks/pique", h, body)
}

func (r *rig) postAgents(t *testing.T, body []byte) response {
	t.Helper()
	return post(t, r.url+"/webhooks/product-agents", sample.TokenHeaders(r.token), body)
}

// waitReady polls /readyz until it answers want; a bounded guard, not a
// timing assumption.
func (r *rig) waitReady(t *testing.T, want int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("/readyz answers %d", want), func() bool { return readyCode(r.url) == want })
}

func header(r *kgo.Record, key string) string { return schemas.Header(r, key) }

package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// rig is a receiver on a loopback port in front of a Kafka and schema
// registry (in-process unless rigOptions.env says otherwise), optionally
// with a spool, whose serving the test controls.
type rig struct {
	env     *testkit.Env
	url     string // "" when rigOptions.unserved
	srv     *Server
	health  *health.Checks
	secret  string // Pique's whsec_ secret
	token   string // Product Agents' bearer token
	flow    string // Klaviyo flow token
	system  string // Klaviyo system secret
	metrics *prometheus.Registry
	logs    *testkit.LogBuffer
	spool   *Spool // nil unless rigOptions.spool
	dir     string // the spool's dir
	// stop ends Serve (as SIGTERM does in the binary); served is closed
	// with Serve's result once it returned.
	stop   context.CancelFunc
	served chan error
}

// rigOptions says how to build a rig; zero values take defaults.
type rigOptions struct {
	env *testkit.Env // nil: a fresh one, unless client and schemas are set
	// client and schemas replace env's Kafka client and schema registry.
	client  *kgo.Client
	schemas *schemas.Registry
	// spool opens a spool in dir ("" = a fresh temp dir) bounded by
	// maxBytes (0 = 64 MiB).
	spool    bool
	dir      string
	maxBytes int64
	// ackDeadline and spoolDeadline replace the configuration's; with a
	// spool they default to short values that keep outage tests quick.
	ackDeadline, spoolDeadline time.Duration
	// unserved builds the Server without serving it: no listener and no
	// background loops (Kafka checks, schema registration, spool drainer),
	// so the test sets what they would.
	unserved bool
	tweak    func(*Options) // changes the options before New
}

// newRig builds a receiver and, unless ro.unserved, serves it until the
// test ends.
func newRig(t *testing.T, ro rigOptions) *rig {
	t.Helper()
	if ro.env == nil && (ro.client == nil || ro.schemas == nil) {
		ro.env = testkit.Start(t)
	}
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	if ro.env != nil {
		cfg = ro.env.Config
		if ro.client == nil {
			ro.client = ro.env.Client(t, ProducerOpts(time.Millisecond)...)
		}
		if ro.schemas == nil {
			ro.schemas = ro.env.Schemas
		}
	}
	r := &rig{env: ro.env, secret: sample.NewSvixSecret(), token: sample.NewToken(), flow: sample.NewToken(), system: sample.NewToken(),
		health: &health.Checks{}, metrics: prometheus.NewRegistry(), logs: testkit.NewLogBuffer(t)}
	log := r.logs.Logger()
	rc := cfg.Receiver
	rc.Pique.Secrets = []config.Secret{config.Secret(r.secret)}
	rc.ProductAgents.Token = config.Secret(r.token)
	rc.Klaviyo.Flow.Tokens = []config.Secret{config.Secret(r.flow)}
	rc.Klaviyo.System.Secrets = []config.Secret{config.Secret(r.system)}
	opts := Options{
		Receiver: rc, Topics: cfg.Topics, Schemas: ro.schemas,
		Publisher: KafkaPublisher{Client: ro.client}, Kafka: ro.client, Admin: kadm.NewClient(ro.client), Logger: log,
		Metrics: r.metrics, Gatherer: r.metrics, Health: r.health,
	}
	if ro.spool {
		r.openSpool(t, &ro, &opts, log)
	}
	if ro.ackDeadline != 0 {
		opts.Receiver.AckDeadline = ro.ackDeadline
	}
	if ro.spoolDeadline != 0 {
		opts.Receiver.Spool.Deadline = ro.spoolDeadline
	}
	if ro.tweak != nil {
		ro.tweak(&opts)
	}
	if r.srv, err = New(opts); err != nil {
		t.Fatal(err)
	}
	if !ro.unserved {
		r.serve(t)
	}
	return r
}

// openSpool gives the rig its spool, and the short deadlines and
// Retry-After of the outage tests.
func (r *rig) openSpool(t *testing.T, ro *rigOptions, opts *Options, log *slog.Logger) {
	t.Helper()
	if ro.dir == "" {
		ro.dir = t.TempDir()
	}
	if ro.maxBytes == 0 {
		ro.maxBytes = 64 << 20
	}
	sp, err := OpenSpool(ro.dir, ro.maxBytes, r.metrics, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	r.spool, r.dir, opts.Spool = sp, ro.dir, sp
	opts.Receiver.AckDeadline, opts.Receiver.Spool.Deadline = 1500*time.Millisecond, 500*time.Millisecond
	opts.Receiver.RetryAfter = 2 * time.Second
}

// serve runs the rig's Server on a free loopback port until the test ends
// or stop is called.
func (r *rig) serve(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.served = cancel, make(chan error, 1)
	go func() { r.served <- r.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err, ok := <-r.served:
			if ok && err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30s of its context ending")
		}
	})
}

// waitServed waits for Serve to return after stop and returns its error.
func (r *rig) waitServed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.served:
		close(r.served)
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30s of its context ending")
		return nil
	}
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

// waitDrained waits until the spool is empty and /readyz answers 200.
func (r *rig) waitDrained(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "the spool drains and /readyz answers 200", func() bool {
		return r.spool.Len() == 0 && readyCode(r.url) == http.StatusOK
	})
}

func header(r *kgo.Record, key string) string { return schemas.Header(r, key) }

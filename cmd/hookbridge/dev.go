package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/devstack"
	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/producer"
)

const devUsage = `
Runs everything in one process: an embedded Kafka (franz-go kfake, persisted
under --data-dir) and schema registry (srfake; schema ids survive restarts),
the receiver, and the dedupe, Klaviyo (dry-run unless HOOKBRIDGE_KLAVIYO_API_KEY
is set) and warehouse consumers. Where HOOKBRIDGE_PIQUE_SECRETS or
HOOKBRIDGE_PRODUCT_AGENTS_TOKEN are unset it makes dev secrets, keeps them in
<data-dir>/dev-secrets.json, and prints them. Stop it with Ctrl-C. Only one
dev runs on a data dir: it holds <data-dir>/dev.pid locked, and a second one
fails at once naming the PID. For development only.`

func cmdDev(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("dev [flags]", devUsage, std)
	cfgPath := configFlag(fs)
	dataDir := fs.String("data-dir", ".hookbridge", "where Kafka, the schema registry, the spool, the warehouse and the dev secrets live")
	listen := fs.String("listen", "127.0.0.1:8080", "receiver address")
	kafkaListen := fs.String("kafka-listen", "127.0.0.1:9092", "embedded Kafka address")
	registryListen := fs.String("registry-listen", "127.0.0.1:8081", "embedded schema registry address")
	withReceiver := fs.Bool("receiver", true, "run the receiver (false: run it yourself with 'serve', e.g. to measure it alone)")
	withConsumers := fs.Bool("consumers", true, "run the consumer groups")
	if err := fs.Parse(args); err != nil {
		return err
	}
	unlock, err := devstack.Lock(*dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	env := devEnv(os.LookupEnv)
	cfg, err := config.Load(*cfgPath, env)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, std.err)
	stack, err := devstack.Start(devstack.Options{DataDir: *dataDir, KafkaAddr: *kafkaListen, RegistryAddr: *registryListen, Logger: log})
	if err != nil {
		return err
	}
	defer stack.Close()
	secrets, err := devConfig(cfg, env, stack, *dataDir)
	if err != nil {
		return err
	}
	if err := applyTopics(ctx, cfg, 1); err != nil {
		return err
	}
	var ln net.Listener
	if *withReceiver {
		if ln, err = net.Listen("tcp", *listen); err != nil {
			return fmt.Errorf("--listen %s: %w", *listen, err)
		}
	}
	addr := *listen
	if ln != nil {
		addr = ln.Addr().String() // the port the OS picked for :0
	}
	return runDev(ctx, cfg, log, ln, *withConsumers, func() {
		printDevBanner(std.out, cfg, stack, *dataDir, addr, secrets)
	})
}

// devEnv is the environment as dev reads it: text logs unless
// HOOKBRIDGE_LOG_FORMAT says otherwise.
func devEnv(env config.Env) config.Env {
	return func(name string) (string, bool) {
		v, ok := env(name)
		if !ok && name == "HOOKBRIDGE_LOG_FORMAT" {
			return "text", true
		}
		return v, ok
	}
}

// devConfig points cfg at the embedded stack and fills in what dev
// defaults: dev secrets, and spool and warehouse folders under the data dir.
// It returns the secrets it made up, to print.
func devConfig(cfg *config.Config, env config.Env, stack *devstack.Stack, dataDir string) (*devstack.Secrets, error) {
	cfg.Kafka = config.Kafka{Brokers: stack.Brokers(), ClientID: "hookbridge-dev"}
	cfg.SchemaRegistry = config.SchemaRegistry{URL: stack.RegistryURL()}
	cfg.Topics.ReplicationFactor = 1
	if _, set := env("HOOKBRIDGE_SPOOL_DIR"); !set {
		cfg.Receiver.Spool.Dir = filepath.Join(dataDir, "spool")
	}
	if _, set := env("HOOKBRIDGE_WAREHOUSE_DIR"); !set {
		cfg.Warehouse.Dir = filepath.Join(dataDir, "warehouse")
	}
	if _, set := env("HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL"); !set {
		cfg.Warehouse.FlushInterval = 5 * time.Second
	}
	rc := &cfg.Receiver
	var made *devstack.Secrets
	if len(rc.Pique.Secrets) == 0 || (rc.ProductAgents.Auth == "token" && rc.ProductAgents.Token == "") ||
		len(rc.Klaviyo.Flow.Tokens) == 0 || len(rc.Klaviyo.System.Secrets) == 0 {
		s, err := devstack.LoadOrCreateSecrets(dataDir)
		if err != nil {
			return nil, fmt.Errorf("dev secrets: %w", err)
		}
		made = &s
		if len(rc.Pique.Secrets) == 0 {
			rc.Pique.Secrets = []config.Secret{config.Secret(s.PiqueSecret)}
		}
		if rc.ProductAgents.Auth == "token" && rc.ProductAgents.Token == "" {
			rc.ProductAgents.Token = config.Secret(s.ProductAgentsToken)
		}
		if len(rc.Klaviyo.Flow.Tokens) == 0 {
			rc.Klaviyo.Flow.Tokens = []config.Secret{config.Secret(s.KlaviyoFlowToken)}
		}
		if len(rc.Klaviyo.System.Secrets) == 0 {
			rc.Klaviyo.System.Secrets = []config.Secret{config.Secret(s.KlaviyoSystemSecret)}
		}
	}
	return made, cfg.Validate()
}

// applyTopics creates hookbridge's topics (idempotent).
func applyTopics(ctx context.Context, cfg *config.Config, replication int16) error {
	cl, err := newKafkaClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = topics.Apply(actx, kadm.NewClient(cl), replication, topics.Specs(cfg.Topics))
	return err
}

// runDev runs the receiver and every consumer group until ctx ends. A
// consumer that stops with an error is logged and the rest keep running;
// the receiver stopping ends dev. It calls banner once the receiver can
// store webhooks (Kafka reached, schemas registered), so what the banner
// suggests works at once rather than answering 503.
func runDev(ctx context.Context, cfg *config.Config, log *slog.Logger, ln net.Listener, withConsumers bool, banner func()) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	checks := &health.Checks{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	groups := consumerGroups()
	if !withConsumers {
		groups = nil
	}
	for name, runGroup := range groups {
		env := consumerEnv{Config: cfg, Log: log, Health: checks, Dev: true,
			Metrics: prometheus.WrapRegistererWith(prometheus.Labels{"group": name}, reg)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runGroup(ctx, env); err != nil && !errors.Is(err, context.Canceled) {
				env.Log.Error("consumer group stopped; the others keep running", "consumer", name, "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if ln == nil || receiverReady(ctx, checks, 15*time.Second) {
			banner()
		}
	}()
	var err error
	if ln != nil {
		err = producer.Run(ctx, producer.RunOptions{Config: cfg, Log: log, Metrics: reg, Health: checks, Listener: ln})
	} else {
		<-ctx.Done()
	}
	cancel()
	wg.Wait()
	return err
}

// receiverReady waits until the receiver's "kafka" and "schemas" checks
// pass, or at most max (its log then says what is missing); false when ctx
// ends first.
func receiverReady(ctx context.Context, checks *health.Checks, max time.Duration) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(max)
	for {
		if _, status := checks.Status(); status["kafka"] == "ok" && status["schemas"] == "ok" {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline:
			return true
		case <-tick.C:
		}
	}
}

func printDevBanner(w io.Writer, cfg *config.Config, stack *devstack.Stack, dataDir, addr string, made *devstack.Secrets) {
	url := "http://" + addr
	klaviyo := "dry-run (set HOOKBRIDGE_KLAVIYO_API_KEY to send)"
	if cfg.Klaviyo.APIKey != "" {
		klaviyo = "sending to " + cfg.Klaviyo.BaseURL
	}
	fmt.Fprintf(w, `
hookbridge dev is running
  receiver         %[1]s  (POST /webhooks/pique, /webhooks/product-agents, /webhooks/klaviyo/flow, /webhooks/klaviyo/system; GET /healthz /readyz /metrics)
  kafka            %[2]s
  schema registry  %[3]s
  data             %[4]s
  consumers        dedupe, klaviyo: %[5]s, warehouse → %[6]s
`, url, stack.Brokers()[0], stack.RegistryURL(), dataDir, klaviyo, cfg.Warehouse.Dir)
	if made != nil {
		fmt.Fprintf(w, `
dev secrets (kept in %s; send-sample finds them there):
  HOOKBRIDGE_PIQUE_SECRETS=%s
  HOOKBRIDGE_PRODUCT_AGENTS_TOKEN=%s
  HOOKBRIDGE_KLAVIYO_FLOW_TOKEN=%s
  HOOKBRIDGE_KLAVIYO_SYSTEM_SECRETS=%s
`, devstack.SecretsFile(dataDir), made.PiqueSecret, made.ProductAgentsToken, made.KlaviyoFlowToken, made.KlaviyoSystemSecret)
	}
	fmt.Fprintf(w, "\nTry next, in another terminal:\n")
	for _, c := range devTryNext(cfg, stack, dataDir, url) {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "\nStop with Ctrl-C.\n\n")
}

// devTryNext returns the commands the banner suggests, with the flags and
// environment they need to reach this dev: its --data-dir (for the dev
// secrets), its receiver, and its Kafka and registry where a plain command
// would look elsewhere.
func devTryNext(cfg *config.Config, stack *devstack.Stack, dataDir, url string) []string {
	const run = "go run ./cmd/hookbridge"
	send := run + " send-sample --url " + url
	if filepath.Clean(dataDir) != ".hookbridge" {
		send += " --data-dir " + shellQuote(dataDir)
	}
	tailCmd := run + " tail"
	if plain, err := config.Load("", os.LookupEnv); err != nil || !sameAddrs(plain.Kafka.Brokers, stack.Brokers()) || !sameAddrs([]string{plain.SchemaRegistry.URL}, []string{stack.RegistryURL()}) {
		tailCmd = "HOOKBRIDGE_KAFKA_BROKERS=" + strings.Join(stack.Brokers(), ",") + " HOOKBRIDGE_SCHEMA_REGISTRY_URL=" + stack.RegistryURL() + " " + tailCmd
	}
	return []string{
		send + " --source pique --count 20 --duplicates 0.3",
		send + " --source product-agents --count 20",
		send + " --source klaviyo-system --count 2 --batch 500",
		tailCmd + " --topic " + cfg.Topics.Klaviyo() + ".deduped --from earliest",
		tailCmd + " --topic " + cfg.Topics.Pique() + " --from earliest --until-end",
		tailCmd + " --topic " + cfg.Topics.Pique() + ".deduped --from earliest",
	}
}

// sameAddrs reports whether two address lists name the same places,
// localhost and 127.0.0.1 alike.
func sameAddrs(a, b []string) bool {
	norm := func(s string) string { return strings.Replace(s, "localhost", "127.0.0.1", 1) }
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if norm(a[i]) != norm(b[i]) {
			return false
		}
	}
	return true
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// newKafkaClient returns a plain client for cfg's cluster.
func newKafkaClient(cfg *config.Config, opts ...kgo.Opt) (*kgo.Client, error) {
	base, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(base, opts...)...)
}

package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAndEnvironment(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Default(envOf(map[string]string{
		"HOOKBRIDGE_KAFKA_BROKERS":             "a:9092, b:9093",
		"HOOKBRIDGE_SCHEMA_REGISTRY_URL":       "https://reg:8081",
		"HOOKBRIDGE_LISTEN":                    "127.0.0.1:9999",
		"HOOKBRIDGE_PIQUE_SECRETS":             "whsec_AAAA, whsec_BBBB",
		"HOOKBRIDGE_PRODUCT_AGENTS_TOKEN_FILE": secretFile,
		"HOOKBRIDGE_BODY_LIMIT":                "2MiB",
		"HOOKBRIDGE_ACK_DEADLINE":              "5s",
		"HOOKBRIDGE_TOPIC_PREFIX":              "acme.",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Receiver
	if strings.Join(c.Kafka.Brokers, "|") != "a:9092|b:9093" || c.SchemaRegistry.URL != "https://reg:8081" || r.Listen != "127.0.0.1:9999" ||
		len(r.Pique.Secrets) != 2 || r.Pique.Secrets[1].Reveal() != "whsec_BBBB" || r.ProductAgents.Token.Reveal() != "file-token" ||
		r.BodyLimit != 2<<20 || r.AckDeadline != 5*time.Second || c.Topics.Pique() != "acme.pique.decisions.v1" {
		t.Fatalf("environment not applied: %+v %+v", c.Kafka, r)
	}
	if r.ProductAgents.Auth != "token" || r.ProductAgents.TokenHeader != "Authorization" || !r.ProductAgents.SpoolEnabled() || r.Pique.Spool || r.Spool.Deadline != 2*time.Second ||
		r.Spool.ShutdownDrainTimeout != 5*time.Second || r.Compression != "snappy" || c.Topics.Partitions != 6 || c.Log.Format != "json" {
		t.Fatalf("defaults: %+v", r)
	}
	if err := r.CheckSecrets(); err != nil {
		t.Fatal(err)
	}
}

func TestProductAgentsTokenHeader(t *testing.T) {
	c, err := Default(envOf(map[string]string{"HOOKBRIDGE_PRODUCT_AGENTS_TOKEN_HEADER": "X-Agents-Token"}))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Receiver.ProductAgents.TokenHeader; h != "X-Agents-Token" {
		t.Fatalf("token_header = %q, want the environment's X-Agents-Token", h)
	}
	c, err = Load(writeYAML(t, "receiver:\n  product_agents: {token_header: X-From-Yaml}\n"), envOf(nil))
	if err != nil || c.Receiver.ProductAgents.TokenHeader != "X-From-Yaml" {
		t.Fatalf("token_header from YAML: %v %+v", err, c)
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	cases := map[string]struct {
		yaml string
		env  map[string]string
		want string
	}{
		"unknown key":     {yaml: "receiver:\n  listne: x\n", want: "listne"},
		"bad log level":   {env: map[string]string{"HOOKBRIDGE_LOG_LEVEL": "loud"}, want: "log.level"},
		"broker port":     {env: map[string]string{"HOOKBRIDGE_KAFKA_BROKERS": "kafka"}, want: "kafka.brokers"},
		"sasl":            {env: map[string]string{"HOOKBRIDGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}, want: "kafka.sasl"},
		"sasl mechanism":  {env: map[string]string{"HOOKBRIDGE_KAFKA_SASL_MECHANISM": "KERBEROS"}, want: "kafka.sasl.mechanism"},
		"ack deadline":    {env: map[string]string{"HOOKBRIDGE_ACK_DEADLINE": "20s"}, want: "receiver.ack_deadline"},
		"duration":        {env: map[string]string{"HOOKBRIDGE_ACK_DEADLINE": "soon"}, want: "HOOKBRIDGE_ACK_DEADLINE"},
		"size":            {env: map[string]string{"HOOKBRIDGE_BODY_LIMIT": "big"}, want: "HOOKBRIDGE_BODY_LIMIT"},
		"pique secret":    {env: map[string]string{"HOOKBRIDGE_PIQUE_SECRETS": "not-whsec"}, want: "receiver.pique.secrets[0]"},
		"auth mode":       {env: map[string]string{"HOOKBRIDGE_PRODUCT_AGENTS_AUTH": "magic"}, want: "receiver.product_agents.auth"},
		"token header":    {env: map[string]string{"HOOKBRIDGE_PRODUCT_AGENTS_TOKEN_HEADER": "X Token:"}, want: "receiver.product_agents.token_header"},
		"compression":     {env: map[string]string{"HOOKBRIDGE_PRODUCER_COMPRESSION": "brotli"}, want: "receiver.compression"},
		"registry scheme": {env: map[string]string{"HOOKBRIDGE_SCHEMA_REGISTRY_URL": "reg:8081"}, want: "schema_registry.url"},
		"spool deadline":  {env: map[string]string{"HOOKBRIDGE_SPOOL_DEADLINE": "12s"}, want: "receiver.spool.deadline"},
		"shutdown drain":  {env: map[string]string{"HOOKBRIDGE_SPOOL_SHUTDOWN_DRAIN_TIMEOUT": "-1s"}, want: "receiver.spool.shutdown_drain_timeout"},
		"missing file":    {env: map[string]string{"HOOKBRIDGE_PIQUE_SECRETS_FILE": "/nonexistent"}, want: "HOOKBRIDGE_PIQUE_SECRETS_FILE"},
		"yaml type":       {yaml: "topics:\n  partitions: many\n", want: "line 2 (topics.partitions)"},
		"partitions":      {yaml: "topics:\n  partitions: -1\n", want: "topics.partitions"},
		"group protocol":  {env: map[string]string{"HOOKBRIDGE_CONSUMER_GROUP_PROTOCOL": "kip848"}, want: "consumers.group_protocol"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writeYAML(t, c.yaml), envOf(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

func TestMissingSecretsAreReported(t *testing.T) {
	c, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Receiver.CheckSecrets()
	if err == nil || !strings.Contains(err.Error(), "HOOKBRIDGE_PIQUE_SECRETS") || !strings.Contains(err.Error(), "HOOKBRIDGE_PRODUCT_AGENTS_TOKEN") {
		t.Fatalf("CheckSecrets = %v", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	s := Secret("whsec_topsecret")
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s, "cfg", Receiver{ProductAgents: ProductAgentsSource{Token: s}})
	raw, _ := json.Marshal(struct{ S Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), buf.String(), string(raw)} {
		if strings.Contains(out, "topsecret") {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "whsec_topsecret" {
		t.Fatal("Reveal must return the value")
	}
}

func TestYAMLErrorsNameTheField(t *testing.T) {
	_, err := Load(writeYAML(t, "kafka:\n  brokers: [a:9092]\nreceiver:\n  pique:\n    secrets:\n      - whsec_AAAA\n      - [nested]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "receiver.pique.secrets[1]") {
		t.Fatalf("error %v, want one naming receiver.pique.secrets[1]", err)
	}
}

// TestConfigErrorsSayWhatToDo: each mistake a newcomer makes gets a message
// that points at the real line and says what is wanted.
func TestConfigErrorsSayWhatToDo(t *testing.T) {
	cases := map[string]struct {
		yaml string
		env  map[string]string
		want []string
	}{
		"typo in a key":     {yaml: "kafka:\n  broker: a:9092\n", want: []string{"line 2: unknown key kafka.broker; did you mean kafka.brokers?"}},
		"swapped letters":   {yaml: "receiver:\n  spool:\n    dri: x\n", want: []string{"line 3: unknown key receiver.spool.dri; did you mean receiver.spool.dir?"}},
		"no key near":       {yaml: "receiver:\n  spool:\n    zzzzzz: x\n", want: []string{"unknown key receiver.spool.zzzzzz (valid keys here: deadline, dir, max_bytes, shutdown_drain_timeout)"}},
		"top-level typo":    {yaml: "recevier:\n  listen: x\n", want: []string{"line 1: unknown key recevier; did you mean receiver?"}},
		"unclosed bracket":  {yaml: "log:\n  level: info\nkafka:\n  brokers: [a:9092, b:9092\nreceiver:\n  listen: x\n", want: []string{"line 4: a [ or { opened here is not closed before line 5"}},
		"unclosed at end":   {yaml: "kafka:\n  brokers: [a:9092,\n    b:9092\n", want: []string{"line 2: a [ or { opened here is not closed before the end of the file"}},
		"tab":               {yaml: "kafka:\n  brokers: [a:9092]\n\tclient_id: x\n", want: []string{"line 3: tabs are not allowed for indentation"}},
		"tab first":         {yaml: "kafka:\n\tbrokers: [a:9092]\n", want: []string{"line 2: tabs are not allowed for indentation"}},
		"yaml duration":     {yaml: "dedupe:\n  window: ten\n", want: []string{`line 2 (dedupe.window): "ten" is not a duration`, "30s"}},
		"env duration":      {env: map[string]string{"HOOKBRIDGE_ACK_DEADLINE": "ten"}, want: []string{`HOOKBRIDGE_ACK_DEADLINE: "ten" is not a duration`, "30s"}},
		"env compression":   {env: map[string]string{"HOOKBRIDGE_PRODUCER_COMPRESSION": "brotli"}, want: []string{"receiver.compression", "(set by HOOKBRIDGE_PRODUCER_COMPRESSION)"}},
		"env beside others": {env: map[string]string{"HOOKBRIDGE_PRODUCER_COMPRESSION": "brotli", "HOOKBRIDGE_LOG_LEVEL": "loud"}, want: []string{`log.level: "loud" is not one of debug, info, warn, error (set by HOOKBRIDGE_LOG_LEVEL)` + "\n", "brotli\" is not one of none, snappy, lz4, zstd, gzip (set by HOOKBRIDGE_PRODUCER_COMPRESSION)"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writeYAML(t, c.yaml), envOf(c.env))
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v\nwant one containing %q", err, w)
				}
			}
		})
	}
	t.Run("yaml value not blamed on env", func(t *testing.T) {
		_, err := Load(writeYAML(t, "receiver:\n  compression: brotli\n"), envOf(map[string]string{"HOOKBRIDGE_LOG_LEVEL": "debug"}))
		if err == nil || strings.Contains(err.Error(), "set by") {
			t.Fatalf("error %v: the YAML file set compression, not the environment", err)
		}
	})
}

func TestBrokersAsString(t *testing.T) {
	for yml, want := range map[string]string{
		"kafka:\n  brokers: localhost:9092\n":   "localhost:9092",
		"kafka:\n  brokers: a:9092, b:9092\n":   "a:9092|b:9092",
		"kafka:\n  brokers: [a:9092, b:9092]\n": "a:9092|b:9092",
		"kafka:\n  brokers:\n    - a:9092\n":    "a:9092",
	} {
		c, err := Load(writeYAML(t, yml), nil)
		if err != nil {
			t.Fatalf("%q: %v", yml, err)
		}
		if got := strings.Join(c.Kafka.Brokers, "|"); got != want {
			t.Fatalf("%q: brokers %q, want %q", yml, got, want)
		}
	}
}

// writeYAML writes yml to a file for Load; "" means no file.
func writeYAML(t *testing.T, yml string) string {
	if yml == "" {
		return ""
	}
	path := filepath.Join(t.TempDir(), "hookbridge.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

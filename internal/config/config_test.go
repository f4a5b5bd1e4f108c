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
	if r.ProductAgents.Auth != "token" || !r.ProductAgents.SpoolEnabled() || r.Pique.Spool || r.Spool.Deadline != 2*time.Second ||
		r.Compression != "lz4" || c.Topics.Partitions != 6 || c.Log.Format != "json" {
		t.Fatalf("defaults: %+v", r)
	}
	if err := r.CheckSecrets(); err != nil {
		t.Fatal(err)
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
		"compression":     {env: map[string]string{"HOOKBRIDGE_PRODUCER_COMPRESSION": "brotli"}, want: "receiver.compression"},
		"registry scheme": {env: map[string]string{"HOOKBRIDGE_SCHEMA_REGISTRY_URL": "reg:8081"}, want: "schema_registry.url"},
		"spool deadline":  {env: map[string]string{"HOOKBRIDGE_SPOOL_DEADLINE": "12s"}, want: "receiver.spool.deadline"},
		"missing file":    {env: map[string]string{"HOOKBRIDGE_PIQUE_SECRETS_FILE": "/nonexistent"}, want: "HOOKBRIDGE_PIQUE_SECRETS_FILE"},
		"yaml type":       {yaml: "topics:\n  partitions: many\n", want: "line 2 (topics.partitions)"},
		"partitions":      {yaml: "topics:\n  partitions: -1\n", want: "topics.partitions"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := ""
			if c.yaml != "" {
				path = filepath.Join(t.TempDir(), "hookbridge.yaml")
				if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, envOf(c.env))
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
	path := filepath.Join(t.TempDir(), "hookbridge.yaml")
	yml := "kafka:\n  brokers: [a:9092]\nreceiver:\n  pique:\n    secrets:\n      - whsec_AAAA\n      - [nested]\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "receiver.pique.secrets[1]") {
		t.Fatalf("error %v, want one naming receiver.pique.secrets[1]", err)
	}
}

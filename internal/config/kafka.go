package config

import (
	"errors"
	"fmt"
	"strings"
)

// Kafka is how every hookbridge process reaches the cluster.
type Kafka struct {
	Brokers  StringList `yaml:"brokers"`   // HOOKBRIDGE_KAFKA_BROKERS, comma-separated; a list or a comma-separated string; default localhost:9092
	ClientID string     `yaml:"client_id"` // default hookbridge
	TLS      TLS        `yaml:"tls"`
	SASL     SASL       `yaml:"sasl"`
}

// TLS turns on TLS to the brokers.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`   // HOOKBRIDGE_KAFKA_TLS
	CAFile             string `yaml:"ca_file"`   // HOOKBRIDGE_KAFKA_TLS_CA_FILE; system roots when empty
	CertFile           string `yaml:"cert_file"` // client certificate for mTLS
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL authenticates to the brokers.
type SASL struct {
	Mechanism string `yaml:"mechanism"` // HOOKBRIDGE_KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
	Username  string `yaml:"username"`  // HOOKBRIDGE_KAFKA_SASL_USERNAME
	Password  Secret `yaml:"password"`  // HOOKBRIDGE_KAFKA_SASL_PASSWORD (or _FILE)
	Token     Secret `yaml:"token"`     // HOOKBRIDGE_KAFKA_SASL_TOKEN (or _FILE), for OAUTHBEARER
}

func (k *Kafka) setDefaults() {
	if len(k.Brokers) == 0 {
		k.Brokers = []string{"localhost:9092"}
	}
	orDefault(&k.ClientID, "hookbridge")
}

func (k *Kafka) applyEnv(env Env) error {
	envList(env, "HOOKBRIDGE_KAFKA_BROKERS", (*[]string)(&k.Brokers))
	envString(env, "HOOKBRIDGE_KAFKA_CLIENT_ID", &k.ClientID)
	envString(env, "HOOKBRIDGE_KAFKA_TLS_CA_FILE", &k.TLS.CAFile)
	envString(env, "HOOKBRIDGE_KAFKA_SASL_MECHANISM", &k.SASL.Mechanism)
	envString(env, "HOOKBRIDGE_KAFKA_SASL_USERNAME", &k.SASL.Username)
	return errors.Join(
		envBool(env, "HOOKBRIDGE_KAFKA_TLS", &k.TLS.Enabled),
		envSecret(env, "HOOKBRIDGE_KAFKA_SASL_PASSWORD", &k.SASL.Password),
		envSecret(env, "HOOKBRIDGE_KAFKA_SASL_TOKEN", &k.SASL.Token),
	)
}

func (k *Kafka) validate() error {
	for _, b := range k.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("kafka.brokers: %q needs a port, as in host:9092", b)
		}
	}
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		return errors.New("kafka.tls: cert_file and key_file go together")
	}
	s := &k.SASL
	switch strings.ToUpper(s.Mechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if s.Username == "" || s.Password == "" {
			return fmt.Errorf("kafka.sasl: mechanism %s needs username and password (HOOKBRIDGE_KAFKA_SASL_USERNAME, HOOKBRIDGE_KAFKA_SASL_PASSWORD)", s.Mechanism)
		}
	case "OAUTHBEARER":
		if s.Token == "" {
			return errors.New("kafka.sasl: mechanism OAUTHBEARER needs a token (HOOKBRIDGE_KAFKA_SASL_TOKEN or HOOKBRIDGE_KAFKA_SASL_TOKEN_FILE)")
		}
	default:
		return fmt.Errorf("kafka.sasl.mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER", s.Mechanism)
	}
	return nil
}

// SchemaRegistry is where the Avro schemas are registered and looked up.
type SchemaRegistry struct {
	URL      string `yaml:"url"`      // HOOKBRIDGE_SCHEMA_REGISTRY_URL; default http://localhost:8081
	Username string `yaml:"username"` // HOOKBRIDGE_SCHEMA_REGISTRY_USERNAME, for basic auth
	Password Secret `yaml:"password"` // HOOKBRIDGE_SCHEMA_REGISTRY_PASSWORD (or _FILE)
}

func (s *SchemaRegistry) setDefaults() { orDefault(&s.URL, "http://localhost:8081") }

func (s *SchemaRegistry) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_SCHEMA_REGISTRY_URL", &s.URL)
	envString(env, "HOOKBRIDGE_SCHEMA_REGISTRY_USERNAME", &s.Username)
	return envSecret(env, "HOOKBRIDGE_SCHEMA_REGISTRY_PASSWORD", &s.Password)
}

func (s *SchemaRegistry) validate() error {
	if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		return fmt.Errorf("schema_registry.url: %q must start with http:// or https://", s.URL)
	}
	return nil
}

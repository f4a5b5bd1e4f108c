package config

import (
	"fmt"
	"strings"
	"time"
)

// Consumers configures what every consumer group process shares: its
// health and metrics endpoint, where a new group starts reading, and how
// often offsets are committed.
type Consumers struct {
	Listen string `yaml:"listen"` // HOOKBRIDGE_CONSUMER_LISTEN: /healthz, /readyz, /metrics; default :9090
	// StartFrom is where a group with no committed offset starts:
	// committed (the default: fall back to earliest), earliest, latest, or an RFC3339 time.
	// It applies only to partitions the group never committed; use
	// `hookbridge replay` to move a group that has commits.
	StartFrom string `yaml:"start_from"` // HOOKBRIDGE_CONSUMER_START_FROM
	// CommitInterval is how often offsets of finished work are committed.
	CommitInterval time.Duration `yaml:"commit_interval"` // HOOKBRIDGE_CONSUMER_COMMIT_INTERVAL; default 1s
	// ShutdownTimeout bounds the last flush and commit on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // HOOKBRIDGE_CONSUMER_SHUTDOWN_TIMEOUT; default 30s
	// GroupProtocol is the consumer group protocol: classic (JoinGroup,
	// the members assign, any broker) or consumer (KIP-848, the broker
	// assigns: Kafka 4 or newer).
	GroupProtocol string `yaml:"group_protocol"` // HOOKBRIDGE_CONSUMER_GROUP_PROTOCOL; default classic
}

func (c *Consumers) setDefaults() {
	orDefault(&c.Listen, ":9090")
	orDefault(&c.StartFrom, "committed")
	orDefault(&c.CommitInterval, time.Second)
	orDefault(&c.ShutdownTimeout, 30*time.Second)
	orDefault(&c.GroupProtocol, "classic")
}

func (c *Consumers) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_CONSUMER_LISTEN", &c.Listen)
	envString(env, "HOOKBRIDGE_CONSUMER_START_FROM", &c.StartFrom)
	envString(env, "HOOKBRIDGE_CONSUMER_GROUP_PROTOCOL", &c.GroupProtocol)
	if err := envDuration(env, "HOOKBRIDGE_CONSUMER_COMMIT_INTERVAL", &c.CommitInterval); err != nil {
		return err
	}
	return envDuration(env, "HOOKBRIDGE_CONSUMER_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
}

func (c *Consumers) validate() error {
	if err := validStartFrom(c.StartFrom); err != nil {
		return fmt.Errorf("consumers.start_from: %w", err)
	}
	if c.GroupProtocol != "classic" && c.GroupProtocol != "consumer" {
		return fmt.Errorf("consumers.group_protocol: %q is neither classic nor consumer (KIP-848, Kafka 4 or newer)", c.GroupProtocol)
	}
	if c.CommitInterval < 0 {
		return fmt.Errorf("consumers.commit_interval: %s is negative", c.CommitInterval)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("consumers.shutdown_timeout: %s is negative", c.ShutdownTimeout)
	}
	return nil
}

// validStartFrom accepts what consumers.StartOffset accepts.
func validStartFrom(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return fmt.Errorf("must not be empty: use committed, earliest, latest or an RFC3339 time")
	case "committed", "earliest", "latest":
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fmt.Errorf("%q is not committed, earliest, latest or an RFC3339 time such as 2024-05-01T00:00:00Z", s)
	}
	return nil
}

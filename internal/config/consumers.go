package config

import "fmt"

// Consumers configures what every consumer group process shares: its
// health and metrics endpoint and where a new group starts reading.
type Consumers struct {
	Listen string `yaml:"listen"` // HOOKBRIDGE_CONSUMER_LISTEN: /healthz, /readyz, /metrics; default :9090
	// StartFrom is where a group with no committed offset starts:
	// committed (the default: fall back to earliest), earliest, latest, or an RFC3339 time.
	StartFrom string `yaml:"start_from"` // HOOKBRIDGE_CONSUMER_START_FROM
}

func (c *Consumers) setDefaults() {
	orDefault(&c.Listen, ":9090")
	orDefault(&c.StartFrom, "committed")
}

func (c *Consumers) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_CONSUMER_LISTEN", &c.Listen)
	envString(env, "HOOKBRIDGE_CONSUMER_START_FROM", &c.StartFrom)
	return nil
}

func (c *Consumers) validate() error {
	if c.StartFrom == "" {
		return fmt.Errorf("consumers.start_from: must not be empty")
	}
	return nil
}

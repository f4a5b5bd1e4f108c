package config

import "time"

// Dedupe configures `hookbridge consume dedupe`.
type Dedupe struct {
	Group  string        `yaml:"group"`  // consumer group id; default hookbridge-dedupe
	Window time.Duration `yaml:"window"` // default 168h (7 days)
}

func (d *Dedupe) setDefaults() {
	orDefault(&d.Group, "hookbridge-dedupe")
	orDefault(&d.Window, 7*24*time.Hour)
}

func (d *Dedupe) applyEnv(env Env) error {
	return envDuration(env, "HOOKBRIDGE_DEDUPE_WINDOW", &d.Window)
}

func (d *Dedupe) validate() error { return nil }

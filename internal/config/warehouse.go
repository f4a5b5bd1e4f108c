package config

import "time"

// Warehouse configures `hookbridge consume warehouse`.
type Warehouse struct {
	Group         string        `yaml:"group"`          // consumer group id; default hookbridge-warehouse
	Dir           string        `yaml:"dir"`            // HOOKBRIDGE_WAREHOUSE_DIR; local root; default ./warehouse
	FlushInterval time.Duration `yaml:"flush_interval"` // HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL; default 5m
}

func (w *Warehouse) setDefaults() {
	orDefault(&w.Group, "hookbridge-warehouse")
	orDefault(&w.Dir, "warehouse")
	orDefault(&w.FlushInterval, 5*time.Minute)
}

func (w *Warehouse) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_WAREHOUSE_DIR", &w.Dir)
	return envDuration(env, "HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL", &w.FlushInterval)
}

func (w *Warehouse) validate() error { return nil }

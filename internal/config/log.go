package config

import "fmt"

// Log configures the structured logs.
type Log struct {
	Level  string `yaml:"level"`  // HOOKBRIDGE_LOG_LEVEL: debug, info, warn, error; default info
	Format string `yaml:"format"` // HOOKBRIDGE_LOG_FORMAT: json or text; default json (dev: text)
}

func (l *Log) setDefaults() {
	orDefault(&l.Level, "info")
	orDefault(&l.Format, "json")
}

func (l *Log) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_LOG_LEVEL", &l.Level)
	envString(env, "HOOKBRIDGE_LOG_FORMAT", &l.Format)
	return nil
}

func (l *Log) validate() error {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", l.Level)
	}
	if l.Format != "json" && l.Format != "text" {
		return fmt.Errorf("log.format: %q is not json or text", l.Format)
	}
	return nil
}

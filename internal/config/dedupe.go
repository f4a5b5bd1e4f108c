package config

import (
	"fmt"
	"time"
)

// Dedupe configures `hookbridge consume dedupe`.
type Dedupe struct {
	Group string `yaml:"group"` // HOOKBRIDGE_DEDUPE_GROUP; consumer group id; default hookbridge-dedupe
	// Window is how long, in record time, an event id is remembered.
	Window time.Duration `yaml:"window"` // HOOKBRIDGE_DEDUPE_WINDOW; default 168h (7 days)
	// MaxIDsPerPartition bounds the memory of one input partition's seen
	// ids; past it the oldest ids are forgotten before the window ends.
	MaxIDsPerPartition int `yaml:"max_ids_per_partition"` // HOOKBRIDGE_DEDUPE_MAX_IDS_PER_PARTITION; default 2000000
	// TransactionalID must be unique per running instance; default
	// "<group>-<hostname>", unique per pod.
	TransactionalID string `yaml:"transactional_id"` // HOOKBRIDGE_DEDUPE_TRANSACTIONAL_ID
	// TransactionTimeout is how long the broker lets a transaction stay
	// open before aborting it (a crashed instance's open transaction is
	// aborted after at most this long).
	TransactionTimeout time.Duration `yaml:"transaction_timeout"` // HOOKBRIDGE_DEDUPE_TRANSACTION_TIMEOUT; default 60s
	// MaxBatch bounds the records of one transaction.
	MaxBatch int `yaml:"max_batch"` // HOOKBRIDGE_DEDUPE_MAX_BATCH; default 10000
}

func (d *Dedupe) setDefaults() {
	orDefault(&d.Group, "hookbridge-dedupe")
	orDefault(&d.Window, 7*24*time.Hour)
	orDefault(&d.MaxIDsPerPartition, 2_000_000)
	orDefault(&d.TransactionTimeout, time.Minute)
	orDefault(&d.MaxBatch, 10_000)
}

func (d *Dedupe) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_DEDUPE_GROUP", &d.Group)
	envString(env, "HOOKBRIDGE_DEDUPE_TRANSACTIONAL_ID", &d.TransactionalID)
	for _, e := range []error{
		envDuration(env, "HOOKBRIDGE_DEDUPE_WINDOW", &d.Window),
		envInt(env, "HOOKBRIDGE_DEDUPE_MAX_IDS_PER_PARTITION", &d.MaxIDsPerPartition),
		envDuration(env, "HOOKBRIDGE_DEDUPE_TRANSACTION_TIMEOUT", &d.TransactionTimeout),
		envInt(env, "HOOKBRIDGE_DEDUPE_MAX_BATCH", &d.MaxBatch),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

func (d *Dedupe) validate() error {
	switch {
	case d.Window < time.Second:
		return fmt.Errorf("dedupe.window: %s is too short; use at least 1s (default 168h)", d.Window)
	case d.MaxIDsPerPartition < 1:
		return fmt.Errorf("dedupe.max_ids_per_partition: %d must be at least 1", d.MaxIDsPerPartition)
	case d.TransactionTimeout < time.Second:
		return fmt.Errorf("dedupe.transaction_timeout: %s is too short; use at least 1s (default 60s)", d.TransactionTimeout)
	case d.MaxBatch < 1:
		return fmt.Errorf("dedupe.max_batch: %d must be at least 1", d.MaxBatch)
	}
	return nil
}

package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Klaviyo configures `hookbridge consume klaviyo`, the forwarder to
// Klaviyo's Events API.
type Klaviyo struct {
	Group   string `yaml:"group"`    // HOOKBRIDGE_KLAVIYO_GROUP; consumer group id; default hookbridge-klaviyo
	APIKey  Secret `yaml:"api_key"`  // HOOKBRIDGE_KLAVIYO_API_KEY (or _FILE): a private key with events:write
	BaseURL string `yaml:"base_url"` // HOOKBRIDGE_KLAVIYO_BASE_URL; default https://a.klaviyo.com (the forwarder appends /api/...)
	// Revision is the pinned API revision header; upgrade it deliberately.
	Revision string `yaml:"revision"` // HOOKBRIDGE_KLAVIYO_REVISION; default 2026-07-15
	DryRun   bool   `yaml:"dry_run"`  // HOOKBRIDGE_KLAVIYO_DRY_RUN: log what would be sent, send nothing

	// ExternalID sends the Pique visitor id / Product Agents customer id as
	// the profile's external_id (and lets events without an email through).
	ExternalID bool `yaml:"external_id"` // HOOKBRIDGE_KLAVIYO_EXTERNAL_ID; default false
	// DecisionMetrics maps a Pique action to a metric name, over the
	// defaults of seed 000 (cart_abandonment: Pique Cart Abandonment, ...).
	DecisionMetrics map[string]string `yaml:"decision_metrics"`
	// MessageMetrics maps a Product Agents messageType to a metric name,
	// over the defaults of seed 001 (REPLENISHMENT_REMINDER: Product Agents
	// Replenishment Reminder, ...).
	MessageMetrics map[string]string `yaml:"message_metrics"`

	BatchSize     int           `yaml:"batch_size"`     // HOOKBRIDGE_KLAVIYO_BATCH_SIZE: events per bulk request; default and maximum 1000
	BatchBytes    ByteSize      `yaml:"batch_bytes"`    // HOOKBRIDGE_KLAVIYO_BATCH_BYTES: bytes per bulk request; default and maximum 5MiB
	FlushInterval time.Duration `yaml:"flush_interval"` // HOOKBRIDGE_KLAVIYO_FLUSH_INTERVAL: longest wait of a partial batch; default 1s
	Timeout       time.Duration `yaml:"timeout"`        // HOOKBRIDGE_KLAVIYO_TIMEOUT: one HTTP attempt; default 30s
	RetryBase     time.Duration `yaml:"retry_base"`     // HOOKBRIDGE_KLAVIYO_RETRY_BASE: first backoff; default 500ms
	RetryCap      time.Duration `yaml:"retry_cap"`      // HOOKBRIDGE_KLAVIYO_RETRY_CAP: longest backoff; default 30s
	// MaxAttempts gives a request up after that many attempts and stops
	// the group (uncommitted, so nothing is lost); 0 retries until shutdown.
	MaxAttempts int `yaml:"max_attempts"` // HOOKBRIDGE_KLAVIYO_MAX_ATTEMPTS; default 0

	// RateLimits are this process's share of the account's quota.
	RateLimits KlaviyoRateLimits `yaml:"rate_limits"`
	// Headroom is the fraction of each limit left unused, so latency
	// jitter never tips a window over; a pointer so that 0 (use the whole
	// limit) can be set.
	Headroom *float64 `yaml:"headroom"` // HOOKBRIDGE_KLAVIYO_HEADROOM; default 0.02
}

// KlaviyoRateLimits are the per-endpoint limits. Klaviyo's quota is per
// account and shared by every private-key integration: when N forwarder
// processes (or other tools) share an account, give each its share.
type KlaviyoRateLimits struct {
	Bulk   KlaviyoLimit `yaml:"bulk"`   // POST /api/event-bulk-create-jobs; default 10/s, 150/min
	Single KlaviyoLimit `yaml:"single"` // POST /api/events; default 350/s, 3500/min
}

// KlaviyoLimit is one endpoint's limit.
type KlaviyoLimit struct {
	Burst  int `yaml:"burst"`  // requests per second
	Steady int `yaml:"steady"` // requests per minute
}

func (k *Klaviyo) setDefaults() {
	orDefault(&k.Group, "hookbridge-klaviyo")
	orDefault(&k.BaseURL, "https://a.klaviyo.com")
	orDefault(&k.Revision, "2026-07-15")
	orDefault(&k.BatchSize, 1000)
	orDefault(&k.BatchBytes, 5<<20)
	orDefault(&k.FlushInterval, time.Second)
	orDefault(&k.Timeout, 30*time.Second)
	orDefault(&k.RetryBase, 500*time.Millisecond)
	orDefault(&k.RetryCap, 30*time.Second)
	orDefault(&k.RateLimits.Bulk.Burst, 10)
	orDefault(&k.RateLimits.Bulk.Steady, 150)
	orDefault(&k.RateLimits.Single.Burst, 350)
	orDefault(&k.RateLimits.Single.Steady, 3500)
	if k.Headroom == nil {
		k.Headroom = new(0.02)
	}
}

func (k *Klaviyo) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_KLAVIYO_GROUP", &k.Group)
	envString(env, "HOOKBRIDGE_KLAVIYO_BASE_URL", &k.BaseURL)
	envString(env, "HOOKBRIDGE_KLAVIYO_REVISION", &k.Revision)
	var errs []error
	for name, dst := range map[string]*bool{
		"HOOKBRIDGE_KLAVIYO_DRY_RUN":     &k.DryRun,
		"HOOKBRIDGE_KLAVIYO_EXTERNAL_ID": &k.ExternalID,
	} {
		errs = append(errs, envBool(env, name, dst))
	}
	for name, dst := range map[string]*int{
		"HOOKBRIDGE_KLAVIYO_BATCH_SIZE":    &k.BatchSize,
		"HOOKBRIDGE_KLAVIYO_MAX_ATTEMPTS":  &k.MaxAttempts,
		"HOOKBRIDGE_KLAVIYO_BULK_BURST":    &k.RateLimits.Bulk.Burst,
		"HOOKBRIDGE_KLAVIYO_BULK_STEADY":   &k.RateLimits.Bulk.Steady,
		"HOOKBRIDGE_KLAVIYO_SINGLE_BURST":  &k.RateLimits.Single.Burst,
		"HOOKBRIDGE_KLAVIYO_SINGLE_STEADY": &k.RateLimits.Single.Steady,
	} {
		errs = append(errs, envInt(env, name, dst))
	}
	for name, dst := range map[string]*time.Duration{
		"HOOKBRIDGE_KLAVIYO_FLUSH_INTERVAL": &k.FlushInterval,
		"HOOKBRIDGE_KLAVIYO_TIMEOUT":        &k.Timeout,
		"HOOKBRIDGE_KLAVIYO_RETRY_BASE":     &k.RetryBase,
		"HOOKBRIDGE_KLAVIYO_RETRY_CAP":      &k.RetryCap,
	} {
		errs = append(errs, envDuration(env, name, dst))
	}
	errs = append(errs, envByteSize(env, "HOOKBRIDGE_KLAVIYO_BATCH_BYTES", &k.BatchBytes))
	if v, ok := env("HOOKBRIDGE_KLAVIYO_HEADROOM"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("HOOKBRIDGE_KLAVIYO_HEADROOM: %q is not a fraction such as 0.02", v))
		}
		k.Headroom = &f
	}
	errs = append(errs, envSecret(env, "HOOKBRIDGE_KLAVIYO_API_KEY", &k.APIKey))
	return errors.Join(errs...)
}

var revisionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$`)

// validate checks formats and ranges. A missing API key is checked by
// `consume klaviyo` itself: other commands load this section too.
func (k *Klaviyo) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("klaviyo.%s: "+format, append([]any{field}, args...)...))
	}
	if u, err := url.Parse(k.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("base_url", "%q is not an http(s) URL such as https://a.klaviyo.com", k.BaseURL)
	} else if u.User != nil {
		bad("base_url", "must not carry credentials; the key goes in klaviyo.api_key")
	}
	if !revisionRE.MatchString(k.Revision) {
		bad("revision", "%q is not a Klaviyo revision such as 2026-07-15", k.Revision)
	}
	if k.BatchSize < 1 || k.BatchSize > 1000 {
		bad("batch_size", "%d is outside 1..1000 (Klaviyo's bulk limit)", k.BatchSize)
	}
	if k.BatchBytes < 1<<10 || k.BatchBytes > 5<<20 {
		bad("batch_bytes", "%d is outside 1KiB..5MiB (Klaviyo's payload limit)", k.BatchBytes)
	}
	for field, d := range map[string]time.Duration{"flush_interval": k.FlushInterval, "timeout": k.Timeout,
		"retry_base": k.RetryBase, "retry_cap": k.RetryCap} {
		if d <= 0 {
			bad(field, "%s must be positive", d)
		}
	}
	if k.RetryCap < k.RetryBase {
		bad("retry_cap", "%s is shorter than klaviyo.retry_base %s", k.RetryCap, k.RetryBase)
	}
	if k.MaxAttempts < 0 {
		bad("max_attempts", "%d is negative (0 retries until shutdown)", k.MaxAttempts)
	}
	for field, n := range map[string]int{"rate_limits.bulk.burst": k.RateLimits.Bulk.Burst, "rate_limits.bulk.steady": k.RateLimits.Bulk.Steady,
		"rate_limits.single.burst": k.RateLimits.Single.Burst, "rate_limits.single.steady": k.RateLimits.Single.Steady} {
		if n < 1 {
			bad(field, "%d must be at least 1", n)
		}
	}
	if h := *k.Headroom; h < 0 || h >= 0.5 || math.IsNaN(h) {
		bad("headroom", "%v is outside 0..0.5", h)
	}
	for field, m := range map[string]map[string]string{"decision_metrics": k.DecisionMetrics, "message_metrics": k.MessageMetrics} {
		for key, name := range m {
			if name == "" || utf8.RuneCountInString(name) >= 128 {
				bad(field+"."+key, "metric name %q must be 1 to 127 characters", name)
			}
		}
	}
	return errors.Join(errs...)
}

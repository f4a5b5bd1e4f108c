package config

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// KlaviyoSources are the two Klaviyo routes. A route whose secrets are not
// set is not served (404).
type KlaviyoSources struct {
	Flow   KlaviyoFlowSource   `yaml:"flow"`
	System KlaviyoSystemSource `yaml:"system"`
}

// KlaviyoFlowSource is POST /webhooks/klaviyo/flow: the "Webhook" action
// of a flow, body and headers built by the merchant, unsigned.
type KlaviyoFlowSource struct {
	// Tokens are static secrets; any one is enough, so a token can be
	// rotated without dropping webhooks.
	Tokens []Secret `yaml:"tokens"` // HOOKBRIDGE_KLAVIYO_FLOW_TOKEN (or _FILE), comma-separated
	// Header carries the token: Authorization means "Authorization: Bearer
	// <token>"; any other header holds the token as its whole value.
	Header    string           `yaml:"header"` // HOOKBRIDGE_KLAVIYO_FLOW_HEADER; default Authorization
	Paths     KlaviyoFlowPaths `yaml:"paths"`
	RateLimit RateLimit        `yaml:"rate_limit"`
	// Spool: Klaviyo retries flow webhooks on 503, so by default they get
	// 503 rather than the spool.
	Spool bool `yaml:"spool"` // default false
}

// KlaviyoFlowPaths are dotted JSON paths into the merchant's body.
type KlaviyoFlowPaths struct {
	EventID    string `yaml:"event_id"`    // default event_id; missing or empty: the hex SHA-256 of the body
	Email      string `yaml:"email"`       // default email
	ProfileID  string `yaml:"profile_id"`  // default profile_id
	Type       string `yaml:"type"`        // default type
	MetricName string `yaml:"metric_name"` // default metric_name
	OccurredAt string `yaml:"occurred_at"` // default occurred_at
}

// KlaviyoSystemSource is POST /webhooks/klaviyo/system: Klaviyo's signed,
// batched system (CDP / Advanced KDP) webhooks.
type KlaviyoSystemSource struct {
	// Secrets are the webhooks' secret_key values; any one verifying is enough.
	Secrets []Secret `yaml:"secrets"` // HOOKBRIDGE_KLAVIYO_SYSTEM_SECRETS (or _FILE), comma-separated
	// Tolerance bounds how far Klaviyo-Timestamp may be from now; 0 turns
	// the check off.
	Tolerance *time.Duration `yaml:"tolerance"` // HOOKBRIDGE_KLAVIYO_SYSTEM_TOLERANCE; default 5m
	// BodyLimit is this route's own: a batch of up to 1,000 events.
	BodyLimit ByteSize  `yaml:"body_limit"` // HOOKBRIDGE_KLAVIYO_SYSTEM_BODY_LIMIT; default 8MiB
	RateLimit RateLimit `yaml:"rate_limit"`
	// Spool: Klaviyo documents no retries for system webhooks, so by
	// default they are spooled when Kafka does not acknowledge in time.
	Spool *bool `yaml:"spool"` // default true
}

// SpoolEnabled reports whether system webhooks may be spooled.
func (s KlaviyoSystemSource) SpoolEnabled() bool { return s.Spool == nil || *s.Spool }

func (k *KlaviyoSources) setDefaults() {
	f := &k.Flow
	orDefault(&f.Header, "Authorization")
	orDefault(&f.Paths.EventID, "event_id")
	orDefault(&f.Paths.Email, "email")
	orDefault(&f.Paths.ProfileID, "profile_id")
	orDefault(&f.Paths.Type, "type")
	orDefault(&f.Paths.MetricName, "metric_name")
	orDefault(&f.Paths.OccurredAt, "occurred_at")
	if k.System.Tolerance == nil {
		k.System.Tolerance = new(5 * time.Minute)
	}
	orDefault(&k.System.BodyLimit, 8<<20)
}

func (k *KlaviyoSources) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_KLAVIYO_FLOW_HEADER", &k.Flow.Header)
	var errs []error
	if _, ok := env("HOOKBRIDGE_KLAVIYO_SYSTEM_TOLERANCE"); ok {
		var d time.Duration
		errs = append(errs, envDuration(env, "HOOKBRIDGE_KLAVIYO_SYSTEM_TOLERANCE", &d))
		k.System.Tolerance = &d
	}
	return errors.Join(append(errs,
		envSecrets(env, "HOOKBRIDGE_KLAVIYO_FLOW_TOKEN", &k.Flow.Tokens),
		envSecrets(env, "HOOKBRIDGE_KLAVIYO_SYSTEM_SECRETS", &k.System.Secrets),
		envByteSize(env, "HOOKBRIDGE_KLAVIYO_SYSTEM_BODY_LIMIT", &k.System.BodyLimit),
	)...)
}

// checkHeaderName refuses a configured header name a request could not carry.
func checkHeaderName(field, h string) error {
	if strings.ContainsAny(h, " :\r\n") || http.CanonicalHeaderKey(h) == "" {
		return fmt.Errorf("%s: %q is not a header name", field, h)
	}
	return nil
}

func (k *KlaviyoSources) validate() error {
	var errs []error
	errs = append(errs, checkHeaderName("receiver.klaviyo.flow.header", k.Flow.Header))
	if t := k.System.Tolerance; t != nil && *t < 0 {
		errs = append(errs, errors.New("receiver.klaviyo.system.tolerance: must not be negative (0 turns the check off)"))
	}
	if k.System.BodyLimit < 1024 {
		errs = append(errs, errors.New("receiver.klaviyo.system.body_limit: must be at least 1KiB"))
	}
	for name, rl := range map[string]RateLimit{"flow": k.Flow.RateLimit, "system": k.System.RateLimit} {
		if rl.PerSecond < 0 || rl.Burst < 0 {
			errs = append(errs, fmt.Errorf("receiver.klaviyo.%s.rate_limit: must not be negative", name))
		}
	}
	return errors.Join(errs...)
}

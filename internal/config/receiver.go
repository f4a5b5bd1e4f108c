package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Receiver configures `hookbridge serve`, the webhook receiver.
type Receiver struct {
	Listen       string        `yaml:"listen"`        // HOOKBRIDGE_LISTEN; default :8080
	BodyLimit    ByteSize      `yaml:"body_limit"`    // HOOKBRIDGE_BODY_LIMIT; default 1MiB; larger bodies get 413
	ReadTimeout  time.Duration `yaml:"read_timeout"`  // default 10s; a slower request gets 408
	WriteTimeout time.Duration `yaml:"write_timeout"` // default 15s
	IdleTimeout  time.Duration `yaml:"idle_timeout"`  // default 60s
	// AckDeadline bounds the wait for Kafka's ack before a retrying source
	// (Pique) gets 503; Svix gives up on a request after 15s.
	AckDeadline time.Duration `yaml:"ack_deadline"` // HOOKBRIDGE_ACK_DEADLINE; default 10s
	// Linger is how long the producer waits to fill a batch; concurrent
	// webhooks share batches and requests to the broker.
	Linger time.Duration `yaml:"linger"` // HOOKBRIDGE_PRODUCER_LINGER; default 1ms
	// Compression of produced batches: none, snappy, lz4, zstd or gzip.
	// snappy compresses the receiver's small batches (a few records each
	// at 1ms linger) as well as lz4 at a third of the CPU.
	Compression string `yaml:"compression"` // HOOKBRIDGE_PRODUCER_COMPRESSION; default snappy
	// MaxRecordBytes bounds one Kafka record (value, key and headers); a
	// webhook whose record would be larger gets 413. A mapped field is
	// stored twice (typed and in raw_json), so it must hold twice
	// BodyLimit; see CheckRecordLimits.
	MaxRecordBytes ByteSize `yaml:"max_record_bytes"` // HOOKBRIDGE_MAX_RECORD_BYTES; default 2.5MiB
	// RetryAfter is the Retry-After sent with 503 and 429.
	RetryAfter time.Duration `yaml:"retry_after"` // default 5s
	// PprofListen serves Go's pprof profiles when set (keep it private).
	PprofListen   string              `yaml:"pprof_listen"` // HOOKBRIDGE_PPROF_LISTEN; default off
	Spool         Spool               `yaml:"spool"`
	Pique         PiqueSource         `yaml:"pique"`
	ProductAgents ProductAgentsSource `yaml:"product_agents"`
	Klaviyo       KlaviyoSources      `yaml:"klaviyo"`
}

// RateLimit caps a source's authenticated requests (forged ones get 401 and
// count for nothing); beyond it the source gets 429.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"` // 0 = no limit (default)
	Burst     int     `yaml:"burst"`      // default: PerSecond rounded up
}

// PiqueSource is the Pique route: Svix-signed, retried by Svix.
type PiqueSource struct {
	// Secrets are whsec_ signing secrets; any one verifying is enough, so a
	// rotated secret keeps working next to the new one.
	Secrets   []Secret  `yaml:"secrets"` // HOOKBRIDGE_PIQUE_SECRETS (or _FILE), comma-separated
	RateLimit RateLimit `yaml:"rate_limit"`
	// Spool: Svix retries, so by default Pique gets 503 rather than the spool.
	Spool bool `yaml:"spool"` // default false
}

// ProductAgentsSource is the Product Agents route: never retried by the sender.
type ProductAgentsSource struct {
	// Auth is token (a static token in TokenHeader), svix (Svix / Standard
	// Webhooks signature) or hmac (hex HMAC-SHA256 of the body in HMACHeader).
	Auth  string `yaml:"auth"`  // HOOKBRIDGE_PRODUCT_AGENTS_AUTH; default token (svix when only secrets are set)
	Token Secret `yaml:"token"` // HOOKBRIDGE_PRODUCT_AGENTS_TOKEN (or _FILE)
	// TokenHeader carries the token, as for Klaviyo flow webhooks:
	// Authorization means "Authorization: Bearer <token>"; any other header
	// holds the token as its whole value.
	TokenHeader string    `yaml:"token_header"` // HOOKBRIDGE_PRODUCT_AGENTS_TOKEN_HEADER; default Authorization
	Secrets     []Secret  `yaml:"secrets"`      // HOOKBRIDGE_PRODUCT_AGENTS_SECRETS (or _FILE): whsec_ secrets for auth svix, or HMAC keys for auth hmac
	HMACHeader  string    `yaml:"hmac_header"`  // HOOKBRIDGE_PRODUCT_AGENTS_HMAC_HEADER; default X-Signature
	RateLimit   RateLimit `yaml:"rate_limit"`
	// Spool: Product Agents never retries, so by default its webhooks go
	// to the spool when Kafka does not acknowledge in time.
	Spool *bool `yaml:"spool"` // default true
}

// SpoolEnabled reports whether Product Agents webhooks may be spooled.
func (p ProductAgentsSource) SpoolEnabled() bool { return p.Spool == nil || *p.Spool }

// Spool is the on-disk spool that holds webhooks of sources that never
// retry while Kafka is slow or away, and drains them to Kafka.
type Spool struct {
	Dir string `yaml:"dir"` // HOOKBRIDGE_SPOOL_DIR; default ./spool (dev: <data dir>/spool)
	// MaxBytes bounds the spool; when full, spooling sources get 503.
	MaxBytes ByteSize `yaml:"max_bytes"` // HOOKBRIDGE_SPOOL_MAX_BYTES; default 1GiB
	// Deadline is how long a spooling source waits for Kafka's ack before
	// its webhook is spooled instead.
	Deadline time.Duration `yaml:"deadline"` // HOOKBRIDGE_SPOOL_DEADLINE; default 2s
	// ShutdownDrainTimeout bounds how long a stopping receiver keeps
	// draining its spool to a reachable Kafka once in-flight requests are
	// done: a pod removed on scale-in may not run again for long. With
	// ack_deadline + 5s for in-flight requests and 5s for the producer's
	// flush, the default fits Kubernetes' default 30s grace period.
	ShutdownDrainTimeout time.Duration `yaml:"shutdown_drain_timeout"` // HOOKBRIDGE_SPOOL_SHUTDOWN_DRAIN_TIMEOUT; default 5s
}

func (r *Receiver) setDefaults() {
	orDefault(&r.Listen, ":8080")
	orDefault(&r.BodyLimit, 1<<20)
	orDefault(&r.MaxRecordBytes, 5<<19)
	orDefault(&r.ReadTimeout, 10*time.Second)
	orDefault(&r.WriteTimeout, 15*time.Second)
	orDefault(&r.IdleTimeout, 60*time.Second)
	orDefault(&r.AckDeadline, 10*time.Second)
	orDefault(&r.RetryAfter, 5*time.Second)
	orDefault(&r.Linger, time.Millisecond)
	orDefault(&r.Compression, "snappy")
	orDefault(&r.Spool.Dir, "spool")
	orDefault(&r.Spool.MaxBytes, 1<<30)
	orDefault(&r.Spool.Deadline, 2*time.Second)
	orDefault(&r.Spool.ShutdownDrainTimeout, 5*time.Second)
	if r.ProductAgents.Auth == "" && r.ProductAgents.Token == "" && len(r.ProductAgents.Secrets) > 0 {
		r.ProductAgents.Auth = "svix"
	}
	orDefault(&r.ProductAgents.Auth, "token")
	orDefault(&r.ProductAgents.TokenHeader, "Authorization")
	orDefault(&r.ProductAgents.HMACHeader, "X-Signature")
	r.Klaviyo.setDefaults()
}

func (r *Receiver) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_LISTEN", &r.Listen)
	envString(env, "HOOKBRIDGE_SPOOL_DIR", &r.Spool.Dir)
	envString(env, "HOOKBRIDGE_PPROF_LISTEN", &r.PprofListen)
	envString(env, "HOOKBRIDGE_PRODUCER_COMPRESSION", &r.Compression)
	envString(env, "HOOKBRIDGE_PRODUCT_AGENTS_AUTH", &r.ProductAgents.Auth)
	envString(env, "HOOKBRIDGE_PRODUCT_AGENTS_TOKEN_HEADER", &r.ProductAgents.TokenHeader)
	envString(env, "HOOKBRIDGE_PRODUCT_AGENTS_HMAC_HEADER", &r.ProductAgents.HMACHeader)
	return errors.Join(
		envByteSize(env, "HOOKBRIDGE_BODY_LIMIT", &r.BodyLimit),
		envByteSize(env, "HOOKBRIDGE_MAX_RECORD_BYTES", &r.MaxRecordBytes),
		envDuration(env, "HOOKBRIDGE_ACK_DEADLINE", &r.AckDeadline),
		envDuration(env, "HOOKBRIDGE_PRODUCER_LINGER", &r.Linger),
		envByteSize(env, "HOOKBRIDGE_SPOOL_MAX_BYTES", &r.Spool.MaxBytes),
		envDuration(env, "HOOKBRIDGE_SPOOL_DEADLINE", &r.Spool.Deadline),
		envDuration(env, "HOOKBRIDGE_SPOOL_SHUTDOWN_DRAIN_TIMEOUT", &r.Spool.ShutdownDrainTimeout),
		envSecrets(env, "HOOKBRIDGE_PIQUE_SECRETS", &r.Pique.Secrets),
		envSecret(env, "HOOKBRIDGE_PRODUCT_AGENTS_TOKEN", &r.ProductAgents.Token),
		envSecrets(env, "HOOKBRIDGE_PRODUCT_AGENTS_SECRETS", &r.ProductAgents.Secrets),
		r.Klaviyo.applyEnv(env),
	)
}

func (r *Receiver) validate() error {
	var errs []error
	if r.BodyLimit < 1024 {
		errs = append(errs, errors.New("receiver.body_limit: must be at least 1KiB"))
	}
	if r.AckDeadline <= 0 || r.AckDeadline >= 15*time.Second {
		errs = append(errs, fmt.Errorf("receiver.ack_deadline: %s must be above 0 and below Svix's 15s timeout", r.AckDeadline))
	}
	if r.Spool.Deadline <= 0 || r.Spool.Deadline > r.AckDeadline {
		errs = append(errs, fmt.Errorf("receiver.spool.deadline: %s must be above 0 and at most receiver.ack_deadline (%s)", r.Spool.Deadline, r.AckDeadline))
	}
	switch r.Compression {
	case "none", "snappy", "lz4", "zstd", "gzip":
	default:
		errs = append(errs, fmt.Errorf("receiver.compression: %q is not one of none, snappy, lz4, zstd, gzip", r.Compression))
	}
	if r.Spool.ShutdownDrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("receiver.spool.shutdown_drain_timeout: %s must not be negative", r.Spool.ShutdownDrainTimeout))
	}
	if r.Spool.MaxBytes < 1<<20 {
		errs = append(errs, errors.New("receiver.spool.max_bytes: must be at least 1MiB"))
	}
	for i, s := range r.Pique.Secrets {
		if !strings.HasPrefix(s.Reveal(), "whsec_") {
			errs = append(errs, fmt.Errorf("receiver.pique.secrets[%d]: a Svix secret starts with whsec_", i))
		}
	}
	pa := &r.ProductAgents
	errs = append(errs, checkHeaderName("receiver.product_agents.token_header", pa.TokenHeader))
	switch pa.Auth {
	case "token", "hmac":
	case "svix":
		for i, s := range pa.Secrets {
			if !strings.HasPrefix(s.Reveal(), "whsec_") {
				errs = append(errs, fmt.Errorf("receiver.product_agents.secrets[%d]: with auth svix a secret starts with whsec_", i))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("receiver.product_agents.auth: %q is not token, svix or hmac", pa.Auth))
	}
	for name, rl := range map[string]RateLimit{"pique": r.Pique.RateLimit, "product_agents": pa.RateLimit} {
		if rl.PerSecond < 0 || rl.Burst < 0 {
			errs = append(errs, fmt.Errorf("receiver.%s.rate_limit: must not be negative", name))
		}
	}
	errs = append(errs, r.Klaviyo.validate())
	return errors.Join(errs...)
}

// RecordOverhead is what a record holds besides twice the body: headers,
// key, typed fields that are not in the body, Avro and Kafka framing. A
// batch of one record adds BatchOverhead on top.
const (
	RecordOverhead = 64 << 10
	BatchOverhead  = 1 << 10
)

// CheckRecordLimits reports limits that cannot hold each other: a body of
// body_limit must become a record within max_record_bytes (twice the body,
// as a mapped field is stored typed and in raw_json, plus RecordOverhead),
// and such a record must fit a topic's max.message.bytes.
func (r *Receiver) CheckRecordLimits(t Topics) error {
	var errs []error
	if need := 2*r.BodyLimit + RecordOverhead; r.MaxRecordBytes < need {
		errs = append(errs, fmt.Errorf("receiver.body_limit (%d bytes) does not fit receiver.max_record_bytes (%d): "+
			"a record holds a mapped field twice, typed and in raw_json, so it needs up to %d bytes; "+
			"raise receiver.max_record_bytes (and topics.max_message_bytes with it) or lower receiver.body_limit",
			r.BodyLimit, r.MaxRecordBytes, need))
	}
	if r.MaxRecordBytes+BatchOverhead > t.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("receiver.max_record_bytes (%d bytes) does not fit topics.max_message_bytes (%d): "+
			"a record needs up to %d bytes in its batch; raise topics.max_message_bytes (then run `hookbridge topics apply`) "+
			"or lower receiver.max_record_bytes", r.MaxRecordBytes, t.MaxMessageBytes, r.MaxRecordBytes+BatchOverhead))
	}
	return errors.Join(errs...)
}

// CheckSecrets reports a source that cannot verify anything; `serve` calls
// it, `dev` fills in dev secrets first.
func (r *Receiver) CheckSecrets() error {
	var errs []error
	if len(r.Pique.Secrets) == 0 {
		errs = append(errs, errors.New("receiver.pique.secrets: none set (HOOKBRIDGE_PIQUE_SECRETS)"))
	}
	pa := &r.ProductAgents
	if pa.Auth == "token" && pa.Token == "" {
		errs = append(errs, errors.New("receiver.product_agents.token: none set (HOOKBRIDGE_PRODUCT_AGENTS_TOKEN)"))
	}
	if pa.Auth != "token" && len(pa.Secrets) == 0 {
		errs = append(errs, fmt.Errorf("receiver.product_agents.secrets: none set for auth %s (HOOKBRIDGE_PRODUCT_AGENTS_SECRETS)", pa.Auth))
	}
	return errors.Join(errs...)
}

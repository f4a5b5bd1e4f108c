package config

import (
	"errors"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// Topics names hookbridge's topics and says how `topics apply` creates them.
type Topics struct {
	Prefix            string        `yaml:"prefix"`             // HOOKBRIDGE_TOPIC_PREFIX, put before every default name
	Partitions        int           `yaml:"partitions"`         // default 6
	ReplicationFactor int           `yaml:"replication_factor"` // default -1: the broker's default
	Retention         time.Duration `yaml:"retention"`          // default 168h (7 days)
	// MaxMessageBytes is the max.message.bytes `topics apply` sets: the
	// largest record batch a topic takes (receiver.max_record_bytes must fit).
	MaxMessageBytes ByteSize `yaml:"max_message_bytes"` // HOOKBRIDGE_TOPIC_MAX_MESSAGE_BYTES; default 3MiB
	// MinInsyncReplicas is every topic's min.insync.replicas: how many
	// replicas must have a record before an acks=all write (and so a 2xx)
	// succeeds.
	MinInsyncReplicas int `yaml:"min_insync_replicas"` // default 0: the broker's default
}

func (t *Topics) setDefaults() {
	orDefault(&t.Partitions, 6)
	orDefault(&t.ReplicationFactor, -1)
	orDefault(&t.Retention, 7*24*time.Hour)
	orDefault(&t.MaxMessageBytes, 3<<20)
}

func (t *Topics) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_TOPIC_PREFIX", &t.Prefix)
	return errors.Join(envInt(env, "HOOKBRIDGE_TOPIC_PARTITIONS", &t.Partitions),
		envByteSize(env, "HOOKBRIDGE_TOPIC_MAX_MESSAGE_BYTES", &t.MaxMessageBytes))
}

func (t *Topics) validate() error {
	if t.Partitions < 1 {
		return errors.New("topics.partitions: must be at least 1")
	}
	if t.ReplicationFactor == 0 || t.ReplicationFactor < -1 {
		return errors.New("topics.replication_factor: must be -1 (broker default) or at least 1")
	}
	if t.MaxMessageBytes < 1<<20 {
		return errors.New("topics.max_message_bytes: must be at least 1MiB")
	}
	if t.MinInsyncReplicas < 0 || (t.ReplicationFactor > 0 && t.MinInsyncReplicas > t.ReplicationFactor) {
		return errors.New("topics.min_insync_replicas: must be 0 (broker default) or between 1 and topics.replication_factor")
	}
	return nil
}

// Pique is the topic of Pique decisions.
func (t Topics) Pique() string { return t.Prefix + schemas.KindDecisionMade.Topic() }

// ProductAgents is the topic of Product Agents messages.
func (t Topics) ProductAgents() string { return t.Prefix + schemas.KindAgentMessage.Topic() }

// Klaviyo is the topic of Klaviyo flow and system webhook events.
func (t Topics) Klaviyo() string { return t.Prefix + schemas.KindKlaviyoWebhook.Topic() }

// Unrouted holds webhooks of types hookbridge does not map, as raw bodies.
func (t Topics) Unrouted() string { return t.Prefix + "hookbridge.unrouted.v1" }

// DeadLetter holds records consumers could not process.
func (t Topics) DeadLetter() string { return t.Prefix + "hookbridge.deadletter.v1" }

// Deduped is the deduplicated topic written from a raw topic.
func (Topics) Deduped(raw string) string { return raw + ".deduped" }

// Raw lists the topics the receiver writes events to: one per kind in
// the schemas' table.
func (t Topics) Raw() []string {
	var out []string
	for _, k := range schemas.AllKinds() {
		out = append(out, t.Prefix+k.Topic())
	}
	return out
}

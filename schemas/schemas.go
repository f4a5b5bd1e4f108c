// Package schemas owns every byte format hookbridge writes to Kafka: the Avro
// schemas (embedded .avsc files), the Go types of the events they describe,
// their goavro codecs, the Confluent Schema Registry wire format, and the
// registration of the schemas under TopicNameStrategy subjects.
//
// Producers build a [DecisionMade], [AgentMessage] or [KlaviyoWebhook] (the
// table of kinds in this file lists them), and encode it with a
// [Registry] into magic byte 0, a 4-byte schema id and the Avro binary. Any
// stock Confluent deserializer can read the result; so can [Registry.Decode],
// which fetches (and caches) writer schemas it has not seen yet, so consumers
// keep decoding records written by older or newer schema versions.
package schemas

import (
	_ "embed"
	"fmt"

	"github.com/linkedin/goavro/v2"
)

//go:embed decision_made.avsc
var decisionMadeAVSC string

//go:embed agent_message.avsc
var agentMessageAVSC string

//go:embed klaviyo_webhook.avsc
var klaviyoWebhookAVSC string

// Kind names one event schema.
type Kind int

const (
	// KindDecisionMade is a Pique decision.made webhook.
	KindDecisionMade Kind = iota
	// KindAgentMessage is a Product Agents message webhook.
	KindAgentMessage
	// KindKlaviyoWebhook is a Klaviyo flow webhook or one item of a system webhook.
	KindKlaviyoWebhook
)

// kindInfo is one entry of the table of kinds. Adding a kind is adding an
// entry here, its .avsc file, its Go type (events.go) and its natives.
type kindInfo struct {
	name   string // the Avro record name
	avsc   string
	topic  string // the raw topic's name before the prefix
	decode func(native any) (Event, error)
}

var kinds = []kindInfo{
	KindDecisionMade: {"DecisionMade", decisionMadeAVSC, "pique.decisions.v1",
		func(v any) (Event, error) { return DecisionMadeFromNative(v) }},
	KindAgentMessage: {"AgentMessage", agentMessageAVSC, "productagents.messages.v1",
		func(v any) (Event, error) { return AgentMessageFromNative(v) }},
	KindKlaviyoWebhook: {"KlaviyoWebhookEvent", klaviyoWebhookAVSC, "klaviyo.webhooks.v1",
		func(v any) (Event, error) { return KlaviyoWebhookFromNative(v) }},
}

// AllKinds lists every event schema, in registration order.
func AllKinds() []Kind {
	out := make([]Kind, len(kinds))
	for i := range kinds {
		out[i] = Kind(i)
	}
	return out
}

func (k Kind) info() (kindInfo, bool) {
	if k < 0 || int(k) >= len(kinds) {
		return kindInfo{}, false
	}
	return kinds[k], true
}

// String returns the Avro record name of the kind.
func (k Kind) String() string {
	if ki, ok := k.info(); ok {
		return ki.name
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Source returns the Avro schema text of the kind, as embedded in the binary.
func (k Kind) Source() string {
	ki, _ := k.info()
	return ki.avsc
}

// Topic returns the name of the raw topic the kind is written to, before
// the configured prefix.
func (k Kind) Topic() string {
	ki, _ := k.info()
	return ki.topic
}

// Subjects maps every kind to the TopicNameStrategy subject of its topic
// under prefix.
func Subjects(prefix string) map[Kind]string {
	out := make(map[Kind]string, len(kinds))
	for _, k := range AllKinds() {
		out[k] = Subject(prefix + k.Topic())
	}
	return out
}

// Codec returns a fresh goavro codec for the kind's embedded schema.
func (k Kind) Codec() (*goavro.Codec, error) {
	c, err := goavro.NewCodec(k.Source())
	if err != nil {
		return nil, fmt.Errorf("schemas: embedded %s schema does not compile: %w", k, err)
	}
	return c, nil
}

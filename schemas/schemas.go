// Package schemas owns every byte format hookbridge writes to Kafka: the Avro
// schemas (embedded .avsc files), the Go types of the events they describe,
// their goavro codecs, the Confluent Schema Registry wire format, and the
// registration of the schemas under TopicNameStrategy subjects.
//
// Producers build a [DecisionMade] or [AgentMessage], and encode it with a
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

// Kind names one event schema.
type Kind int

const (
	// KindDecisionMade is a Pique decision.made webhook.
	KindDecisionMade Kind = iota
	// KindAgentMessage is a Product Agents message webhook.
	KindAgentMessage
)

// AllKinds lists every event schema, in registration order.
func AllKinds() []Kind { return []Kind{KindDecisionMade, KindAgentMessage} }

// String returns the Avro record name of the kind.
func (k Kind) String() string {
	switch k {
	case KindDecisionMade:
		return "DecisionMade"
	case KindAgentMessage:
		return "AgentMessage"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Source returns the Avro schema text of the kind, as embedded in the binary.
func (k Kind) Source() string {
	switch k {
	case KindDecisionMade:
		return decisionMadeAVSC
	case KindAgentMessage:
		return agentMessageAVSC
	}
	return ""
}

// Codec returns a fresh goavro codec for the kind's embedded schema.
func (k Kind) Codec() (*goavro.Codec, error) {
	c, err := goavro.NewCodec(k.Source())
	if err != nil {
		return nil, fmt.Errorf("schemas: embedded %s schema does not compile: %w", k, err)
	}
	return c, nil
}

package schemas

import "time"

// DecisionMade is a Pique decision.made webhook (schema decision_made.avsc).
// Nil pointers are Avro nulls.
type DecisionMade struct {
	EventID    string
	EventType  string
	OccurredAt *time.Time
	ReceivedAt time.Time
	SvixID     *string
	Decision   Decision
	Session    Session
	RawJSON    string
}

// Decision is what Pique decided about a session.
type Decision struct {
	ID           *string
	Action       *string
	Reason       *string
	LLMReasoning *string
}

// Session is the visitor session a decision is about.
type Session struct {
	VisitorID       *string
	Email           *string
	EventCount      *int64
	DurationSeconds *float64
	ProductsViewed  *int64
	CartItems       []string
}

// AgentMessage is a Product Agents message webhook (schema
// agent_message.avsc). Every payload field is optional; nil pointers are
// Avro nulls.
type AgentMessage struct {
	EventID         string
	MessageType     *string
	OccurredAt      *time.Time
	ReceivedAt      time.Time
	Customer        Customer
	Content         Content
	PrimaryProducts []Product
	OtherProducts   []Product
	RawJSON         string
}

// Customer is the recipient of a Product Agents message.
type Customer struct {
	ID    *string
	Email *string
}

// Content is the rendered copy of a Product Agents message; it may hold HTML.
type Content struct {
	Subject      *string
	PreviewText  *string
	Headline     *string
	Body         *string
	CallToAction *string
}

// Product is one product shown in a Product Agents message.
type Product struct {
	Title       *string
	Description *string
	Image       *Image
	URL         *string
	Price       *float64
	OldPrice    *float64
	Currency    *string
	OnSale      *bool
}

// Image is a product image; ScalableURL takes size parameters.
type Image struct {
	ScalableURL *string
	URL         *string
}

// Event is implemented by every event type that has an Avro schema.
type Event interface {
	// Kind names the event's schema.
	Kind() Kind
	// ID is the event id, the deduplication key.
	ID() string
	// Key is the record key: the entity the event is about (visitor,
	// customer), else the event id, so an entity's events keep their order
	// on one partition and copies of one event meet on one partition.
	Key() string
	// Meta is what the record's headers say about the event.
	Meta() Meta
	// Native returns the event as goavro native data for its schema.
	Native() map[string]any
}

// Kind implements Event.
func (*DecisionMade) Kind() Kind { return KindDecisionMade }

// ID implements Event.
func (e *DecisionMade) ID() string { return e.EventID }

// Kind implements Event.
func (*AgentMessage) Kind() Kind { return KindAgentMessage }

// ID implements Event.
func (e *AgentMessage) ID() string { return e.EventID }

// Key implements Event: session.visitorId, else the event id.
func (e *DecisionMade) Key() string { return orID(e.Session.VisitorID, e.EventID) }

// Meta implements Event.
func (e *DecisionMade) Meta() Meta {
	return Meta{EventID: e.EventID, Source: SourcePique, EventType: e.EventType, ReceivedAt: e.ReceivedAt, SvixID: strOrEmpty(e.SvixID)}
}

// Key implements Event: customer.id, else the event id.
func (e *AgentMessage) Key() string { return orID(e.Customer.ID, e.EventID) }

// Meta implements Event.
func (e *AgentMessage) Meta() Meta {
	return Meta{EventID: e.EventID, Source: SourceProductAgents, EventType: strOrEmpty(e.MessageType), ReceivedAt: e.ReceivedAt}
}

func orID(key *string, id string) string {
	if k := strOrEmpty(key); k != "" {
		return k
	}
	return id
}

func strOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

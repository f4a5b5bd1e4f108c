package producer

import (
	"errors"
	"time"

	json "github.com/goccy/go-json"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
)

// piqueDecisionMade is the one Pique event type hookbridge maps; others go
// to the unrouted topic.
const piqueDecisionMade = "decision.made"

// piqueBody is a Pique webhook as documented (seed 000).
type piqueBody struct {
	Type      *string        `json:"type"`
	Decision  *piqueDecision `json:"decision"`
	Session   *piqueSession  `json:"session"`
	Timestamp *string        `json:"timestamp"`
}

type piqueDecision struct {
	ID           *string `json:"id"`
	Action       *string `json:"action"`
	Reason       *string `json:"reason"`
	LLMReasoning *string `json:"llmReasoning"`
}

type piqueSession struct {
	VisitorID       *string      `json:"visitorId"`
	Email           *string      `json:"email"`
	EventCount      *json.Number `json:"eventCount"`
	DurationSeconds *json.Number `json:"durationSeconds"`
	ProductsViewed  *json.Number `json:"productsViewed"`
	CartItems       []string     `json:"cartItems"`
}

// piqueParts are a body's decision and session, allocated together.
type piqueParts struct {
	decision piqueDecision
	session  piqueSession
}

// readPique is piqueBody's fast reader (see decodeJSONFast): the
// documented shape, every field of its type or null.
func readPique(sc *jsonScanner, b *piqueBody) bool {
	var parts *piqueParts
	room := func() *piqueParts {
		if parts == nil {
			parts = new(piqueParts)
		}
		return parts
	}
	return sc.fields([]string{"type", "decision", "session", "timestamp"}, func(i int) bool {
		switch i {
		case 0:
			return sc.strValue(&b.Type)
		case 1:
			return objectInto(sc, &b.Decision, func() *piqueDecision { return &room().decision }, readPiqueDecision)
		case 2:
			return objectInto(sc, &b.Session, func() *piqueSession { return &room().session }, readPiqueSession)
		}
		return sc.strValue(&b.Timestamp)
	})
}

func readPiqueDecision(sc *jsonScanner, d *piqueDecision) bool {
	return sc.strFields([]string{"id", "action", "reason", "llmReasoning"}, &d.ID, &d.Action, &d.Reason, &d.LLMReasoning)
}

func readPiqueSession(sc *jsonScanner, s *piqueSession) bool {
	return sc.fields([]string{"visitorId", "email", "eventCount", "durationSeconds", "productsViewed", "cartItems"}, func(i int) bool {
		switch i {
		case 0, 1:
			return sc.strValue([...]**string{&s.VisitorID, &s.Email}[i])
		case 2, 3, 4:
			return sc.numberValue([...]**json.Number{&s.EventCount, &s.DurationSeconds, &s.ProductsViewed}[i-2])
		}
		return sc.stringsValue(&s.CartItems)
	})
}

// mapPique maps a verified Pique webhook. The event id is decision.id,
// else the svix-id; the key is session.visitorId, else the event id. A type
// other than decision.made goes to the unrouted topic as it came.
func mapPique(d *delivery, t config.Topics) (mapped, error) {
	var b piqueBody
	raw, err := decodePique(d.Body, &b) // raw_json, and the fields read share it
	if err != nil {
		return mapped{}, err
	}
	if b.Type == nil || *b.Type == "" {
		return mapped{}, badf("type: missing")
	}
	var id string
	if b.Decision != nil {
		id = nonEmpty(b.Decision.ID)
	}
	if id == "" {
		id = d.SvixID
	}
	if id == "" {
		return mapped{}, badf("no event id: decision.id and svix-id are both missing")
	}
	if *b.Type != piqueDecisionMade {
		return mapped{topic: t.Unrouted(), key: id, eventID: id, eventType: *b.Type}, nil
	}
	w := &decisionMadeValues{DecisionMade: schemas.DecisionMade{
		EventID:    id,
		EventType:  *b.Type,
		ReceivedAt: d.ReceivedAt,
		RawJSON:    raw,
	}}
	ev := &w.DecisionMade
	ev.OccurredAt = parseTime(b.Timestamp, &w.occurredAt)
	if d.SvixID != "" {
		ev.SvixID = &d.SvixID
	}
	if b.Decision != nil {
		ev.Decision = schemas.Decision{ID: b.Decision.ID, Action: b.Decision.Action, Reason: b.Decision.Reason, LLMReasoning: b.Decision.LLMReasoning}
	}
	if err := mapPiqueSession(&b, w); err != nil {
		return mapped{}, err
	}
	m := mapped{topic: t.Pique(), key: nonEmpty(ev.Session.VisitorID), eventID: ev.EventID, eventType: ev.EventType, event: ev}
	if m.key == "" {
		m.key = ev.EventID
	}
	return m, nil
}

// piqueEnvelope is what is read of a Pique body the fast reader did not
// take, before its shape is judged: the type, and the decision as it is.
type piqueEnvelope struct {
	Type     *string         `json:"type"`
	Decision json.RawMessage `json:"decision"`
}

// decodePique reads a Pique body into b. Only a decision.made must have
// the documented shape; of any other type (its shape is not hookbridge's
// to judge: it is stored raw) only the type and, if it is there as a
// string, decision.id are read. Either way the body must pass checkBody.
// raw is string(body), as decodeJSONFast's text.
func decodePique(body []byte, b *piqueBody) (raw string, err error) {
	raw, ok, err := checkRead(body, b, readPique)
	switch {
	case err != nil:
		return "", err
	case ok:
		return raw, nil // the usual body, of any type
	}
	var env piqueEnvelope
	if err := unmarshal(body, &env); err != nil {
		return "", err
	}
	if env.Type != nil && *env.Type == piqueDecisionMade {
		return raw, unmarshal(body, b)
	}
	b.Type = env.Type
	var dec struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(env.Decision, &dec) == nil {
		b.Decision = &piqueDecision{ID: dec.ID}
	}
	return raw, nil
}

// decisionMadeValues is a DecisionMade with room for what its optional
// fields point to, so an event is one allocation, not five.
type decisionMadeValues struct {
	schemas.DecisionMade
	occurredAt                 time.Time
	eventCount, productsViewed int64
	durationSeconds            float64
}

func mapPiqueSession(b *piqueBody, w *decisionMadeValues) error {
	ev := &w.DecisionMade
	ev.Session.CartItems = []string{}
	s := b.Session
	if s == nil {
		return nil
	}
	var errs [3]error
	ev.Session.VisitorID, ev.Session.Email = s.VisitorID, s.Email
	ev.Session.EventCount, errs[0] = toLong("session.eventCount", s.EventCount, &w.eventCount)
	ev.Session.DurationSeconds, errs[1] = toDouble("session.durationSeconds", s.DurationSeconds, &w.durationSeconds)
	ev.Session.ProductsViewed, errs[2] = toLong("session.productsViewed", s.ProductsViewed, &w.productsViewed)
	if s.CartItems != nil {
		ev.Session.CartItems = s.CartItems
	}
	return errors.Join(errs[:]...)
}

// Package klaviyo is hookbridge's Klaviyo forwarder: a consumer group that
// reads the .deduped topics and sends every Pique decision and Product Agents
// message to Klaviyo's Events API once.
//
// The work is split so each file has one job:
//   - mapping.go turns a decoded event into a Klaviyo event (metric name,
//     profile, properties, time, unique_id);
//   - limits.go checks the mapped event against Klaviyo's content limits,
//     so what Klaviyo would refuse is dead-lettered without being sent;
//   - wire.go encodes Klaviyo events as the JSON:API bodies of the create
//     endpoints;
//   - pacer.go paces requests to each endpoint's burst and steady limits and
//     follows Retry-After and the RateLimit-* headers;
//   - client.go sends requests, retries what is transient and classifies
//     what is not;
//   - processor.go is the consumers.Processor: it batches a partition's
//     events into bulk jobs, isolates rejected events, dead-letters them and
//     tells the runner which offsets are safe to commit.
package klaviyo

import (
	"errors"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// DefaultDecisionMetrics are the metric names of seed 000's relay, by Pique
// action. Other actions become "Pique <action>".
func DefaultDecisionMetrics() map[string]string {
	return map[string]string{
		"cart_abandonment":   "Pique Cart Abandonment",
		"browse_abandonment": "Pique Browse Abandonment",
		"price_sensitive":    "Pique Price Sensitive",
		"gentle_nudge":       "Pique Gentle Nudge",
	}
}

// DefaultMessageMetrics are "Product Agents " and the meaning of each
// messageType exactly as seed 001's table writes it (en dashes included).
// Other types become "Product Agents <messageType>".
func DefaultMessageMetrics() map[string]string {
	return map[string]string{
		"REPLENISHMENT_REMINDER":             "Product Agents Replenishment Reminder",
		"SIMILAR_PRODUCT_RECOMMENDATIONS":    "Product Agents Alternative Picks",
		"ACCESSORY_RELATED_PRODUCT_UPSELL":   "Product Agents Recommended Add-ons",
		"PRICE_DROP_VIEWED_PRODUCT":          "Product Agents Price Drop – Viewed Product",
		"PRICE_DROP_PURCHASED_REPLENISHMENT": "Product Agents Price Drop – Purchased Replenishment",
		"PRICE_DROP_ALTERNATIVE_PRODUCT":     "Product Agents Price Drop – Alternative Product",
	}
}

// Event is one event as Klaviyo's create endpoints take it.
type Event struct {
	// Kind is kindDecision or kindMessage, for metrics and logs.
	Kind       string
	Profile    Profile
	Metric     string
	Properties map[string]any
	Time       time.Time
	// UniqueID is the hookbridge event id: Klaviyo keeps the first event
	// with a given unique_id per profile and metric, so a resend after a
	// timeout or a crash is dropped by Klaviyo itself.
	UniqueID string
}

// Profile identifies whom an event is about.
type Profile struct {
	Email      string `json:"email,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// key identifies the profile within one bulk request.
func (p Profile) key() string { return p.Email + "\x00" + p.ExternalID }

// SkipError says why an event is not sent; Reason is the metric label.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "klaviyo: event skipped: " + e.Reason }

// Skip reasons.
const (
	SkipNoEmail      = "no_email"      // no email, and external ids are off
	SkipNoIdentifier = "no_identifier" // neither an email nor an external id
	SkipInvalidEmail = "invalid_email" // an email Klaviyo cannot use, and no external id
)

// MappingOptions configure a Mapper.
type MappingOptions struct {
	// DecisionMetrics override or extend DefaultDecisionMetrics.
	DecisionMetrics map[string]string
	// MessageMetrics override or extend DefaultMessageMetrics.
	MessageMetrics map[string]string
	// ExternalID sends the Pique visitor id or the Product Agents customer
	// id as the profile's external_id, which also makes events without an
	// email sendable.
	ExternalID bool
	// Now is the clock that bounds event times; time.Now when nil.
	Now func() time.Time
}

// Mapper turns decoded hookbridge events into Klaviyo events.
type Mapper struct {
	decisions  map[string]string
	messages   map[string]string
	externalID bool
	now        func() time.Time
}

// NewMapper returns a Mapper with the defaults overlaid by o.
func NewMapper(o MappingOptions) *Mapper {
	m := &Mapper{decisions: DefaultDecisionMetrics(), messages: DefaultMessageMetrics(), externalID: o.ExternalID, now: o.Now}
	for k, v := range o.DecisionMetrics {
		m.decisions[k] = v
	}
	for k, v := range o.MessageMetrics {
		m.messages[k] = v
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// ErrUnknownEvent is returned for an event type the forwarder has no
// mapping for.
var ErrUnknownEvent = errors.New("klaviyo: no Klaviyo mapping for this event type")

// Map returns the Klaviyo event for ev, a *SkipError when ev has no
// usable profile identifier, or a *LimitError when Klaviyo would refuse
// it.
func (m *Mapper) Map(ev schemas.Event) (Event, error) {
	var (
		kev Event
		err error
	)
	switch e := ev.(type) {
	case *schemas.DecisionMade:
		kev, err = m.decision(e)
	case *schemas.AgentMessage:
		kev, err = m.message(e)
	default:
		return Event{}, ErrUnknownEvent
	}
	if err != nil {
		return Event{}, err
	}
	if err := checkLimits(&kev); err != nil {
		return Event{}, err
	}
	return kev, nil
}

// DecisionMetric is the metric name of a Pique action.
func (m *Mapper) DecisionMetric(action string) string {
	if name, ok := m.decisions[action]; ok {
		return name
	}
	return "Pique " + action
}

// MessageMetric is the metric name of a Product Agents message type.
func (m *Mapper) MessageMetric(messageType string) string {
	if name, ok := m.messages[messageType]; ok {
		return name
	}
	return "Product Agents " + messageType
}

func (m *Mapper) decision(d *schemas.DecisionMade) (Event, error) {
	prof, err := m.profile(d.Session.Email, d.Session.VisitorID)
	if err != nil {
		return Event{}, err
	}
	action := deref(d.Decision.Action)
	// The seed relay's properties, under the same names, so flows and
	// templates built for it keep working; absent fields are left out as
	// JSON.stringify leaves out undefined.
	props := map[string]any{"action": action}
	putString(props, "reason", d.Decision.Reason)
	putString(props, "llmReasoning", d.Decision.LLMReasoning)
	if v := d.Session.ProductsViewed; v != nil {
		props["productsViewed"] = *v
	}
	if d.Session.CartItems != nil {
		props["cartItems"] = d.Session.CartItems
	}
	if v := d.Session.DurationSeconds; v != nil {
		props["durationSeconds"] = *v
	}
	return Event{
		Kind:       kindDecision,
		Profile:    prof,
		Metric:     m.DecisionMetric(action),
		Properties: props,
		Time:       m.eventTime(d.OccurredAt, d.ReceivedAt),
		UniqueID:   d.EventID,
	}, nil
}

func (m *Mapper) message(a *schemas.AgentMessage) (Event, error) {
	prof, err := m.profile(a.Customer.Email, a.Customer.ID)
	if err != nil {
		return Event{}, err
	}
	mt := deref(a.MessageType)
	// The payload's own names (seed 001), so a template renders
	// {{ event.headline }} or loops over {{ event.primaryProducts }}.
	props := map[string]any{"messageType": mt}
	putString(props, "subject", a.Content.Subject)
	putString(props, "previewText", a.Content.PreviewText)
	putString(props, "headline", a.Content.Headline)
	putString(props, "body", a.Content.Body)
	putString(props, "callToAction", a.Content.CallToAction)
	props["primaryProducts"] = products(a.PrimaryProducts)
	props["otherProducts"] = products(a.OtherProducts)
	return Event{
		Kind:       kindMessage,
		Profile:    prof,
		Metric:     m.MessageMetric(mt),
		Properties: props,
		Time:       m.eventTime(a.OccurredAt, a.ReceivedAt),
		UniqueID:   a.EventID,
	}, nil
}

// profile picks the identifiers; an event without a usable one is skipped
// rather than sent, since Klaviyo would reject it.
func (m *Mapper) profile(email, id *string) (Profile, error) {
	var p Profile
	e := strings.TrimSpace(deref(email))
	emailOK := validEmail(e)
	if emailOK {
		p.Email = e
	}
	if m.externalID {
		p.ExternalID = strings.TrimSpace(deref(id))
	}
	switch {
	case p.Email != "" || p.ExternalID != "":
		return p, nil
	case e != "":
		return p, &SkipError{Reason: SkipInvalidEmail}
	case m.externalID:
		return p, &SkipError{Reason: SkipNoIdentifier}
	}
	return p, &SkipError{Reason: SkipNoEmail}
}

// validEmail is a cheap sanity check, not RFC 5322: it only keeps out what
// can never be an address; Klaviyo is the judge of the rest.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n")
}

// eventTime is the event's own timestamp, truncated to the second as Klaviyo
// stores it. A timestamp Klaviyo would reject (before 2000, more than a year
// ahead) falls back to when hookbridge received the webhook.
func (m *Mapper) eventTime(occurred *time.Time, received time.Time) time.Time {
	t := received
	if occurred != nil && inKlaviyoRange(*occurred, m.now()) {
		t = *occurred
	}
	return t.UTC().Truncate(time.Second)
}

var minKlaviyoTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func inKlaviyoRange(t, now time.Time) bool {
	return !t.Before(minKlaviyoTime) && !t.After(now.AddDate(1, 0, 0))
}

// product is a Product Agents product under the payload's JSON names.
type product struct {
	Title       *string  `json:"title,omitempty"`
	Description *string  `json:"description,omitempty"`
	Image       *image   `json:"image,omitempty"`
	URL         *string  `json:"url,omitempty"`
	Price       *float64 `json:"price,omitempty"`
	OldPrice    *float64 `json:"oldPrice,omitempty"`
	Currency    *string  `json:"currency,omitempty"`
	OnSale      *bool    `json:"onSale,omitempty"`
}

type image struct {
	ScalableURL *string `json:"scalableUrl,omitempty"`
	URL         *string `json:"url,omitempty"`
}

func products(ps []schemas.Product) []product {
	out := make([]product, 0, len(ps))
	for _, p := range ps {
		q := product{Title: p.Title, Description: p.Description, URL: p.URL, Price: p.Price,
			OldPrice: p.OldPrice, Currency: p.Currency, OnSale: p.OnSale}
		if p.Image != nil {
			q.Image = &image{ScalableURL: p.Image.ScalableURL, URL: p.Image.URL}
		}
		out = append(out, q)
	}
	return out
}

func putString(props map[string]any, key string, v *string) {
	if v != nil {
		props[key] = *v
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

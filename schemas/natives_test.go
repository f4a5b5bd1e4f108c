package schemas_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// AppendEncode reuses natives from a pool and writes a record map only
// when a field changes shape; Native builds fresh ones. Both must encode
// every event exactly as natives built the plain way (referenceNative)
// do, over events whose optional fields, lists and products come and go,
// so a value left over from an earlier event never leaks into the next.
func TestPooledEncodingMatchesFreshNatives(t *testing.T) {
	reg, _, _ := newRegistry(t)
	if err := reg.Register(context.Background(), schemas.Subjects("")); err != nil {
		t.Fatal(err)
	}
	g := &eventGen{rng: rand.New(rand.NewPCG(1, 2))}
	for i := range 2000 {
		ev := g.event(i)
		pooled, err := reg.AppendEncode(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		codec, _ := ev.Kind().Codec()
		want, err := codec.BinaryFromNative(nil, referenceNative(ev))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pooled[5:], want) {
			t.Fatalf("event %d (%+v): pooled encoding differs from the plain natives'", i, ev)
		}
		fresh, err := codec.BinaryFromNative(nil, ev.Native())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, want) {
			t.Fatalf("event %d (%+v): Native's encoding differs from the plain natives'", i, ev)
		}
	}
}

// eventGen makes events of both kinds with each optional part present or
// not at random; two in three events are of the kind before them, so a
// pooled native is refilled by its own kind with fields coming and going.
type eventGen struct {
	rng  *rand.Rand
	kind int
}

func (g *eventGen) maybe(s string) *string {
	if g.rng.IntN(2) == 0 {
		return nil
	}
	return &s
}

func (g *eventGen) maybeF(f float64) *float64 {
	if g.rng.IntN(2) == 0 {
		return nil
	}
	return &f
}

func (g *eventGen) maybeN(n int64) *int64 {
	if g.rng.IntN(2) == 0 {
		return nil
	}
	return &n
}

// at is a time with sub-millisecond parts, before 1970 as often as not.
func (g *eventGen) at() time.Time {
	return time.Unix(g.rng.Int64N(4e9)-2e9, g.rng.Int64N(1e9)).UTC()
}

func (g *eventGen) event(i int) schemas.Event {
	if g.rng.IntN(3) == 0 {
		g.kind ^= 1
	}
	id := strconv.Itoa(i)
	var occurred *time.Time
	if g.rng.IntN(2) == 0 {
		occurred = new(g.at())
	}
	if g.kind == 0 {
		d := &schemas.DecisionMade{EventID: id, EventType: "decision.made", ReceivedAt: g.at(), OccurredAt: occurred, RawJSON: "{" + id,
			SvixID: g.maybe("m" + id), Decision: schemas.Decision{ID: g.maybe(id), Action: g.maybe("a" + id), Reason: g.maybe("r"), LLMReasoning: g.maybe("l" + id)},
			Session: schemas.Session{VisitorID: g.maybe("v"), Email: g.maybe("e" + id), EventCount: g.maybeN(int64(i) << 20),
				DurationSeconds: g.maybeF(float64(i) / 7), ProductsViewed: g.maybeN(int64(i))}}
		for range g.rng.IntN(4) {
			d.Session.CartItems = append(d.Session.CartItems, "item"+strconv.Itoa(g.rng.IntN(100)))
		}
		return d
	}
	m := &schemas.AgentMessage{EventID: id, ReceivedAt: g.at(), OccurredAt: occurred, RawJSON: "[" + id, MessageType: g.maybe("T" + id),
		Customer: schemas.Customer{ID: g.maybe("c" + id), Email: g.maybe("e")},
		Content:  schemas.Content{Subject: g.maybe("s" + id), PreviewText: g.maybe("p"), Headline: g.maybe("h" + id), Body: g.maybe("<p>b</p>"), CallToAction: g.maybe("go")}}
	for range g.rng.IntN(5) {
		p := schemas.Product{Title: g.maybe("t" + id), Description: g.maybe("d"), URL: g.maybe("u" + id),
			Price: g.maybeF(9.99), OldPrice: g.maybeF(float64(i)), Currency: g.maybe("EUR")}
		if g.rng.IntN(2) == 0 {
			p.Image = &schemas.Image{ScalableURL: g.maybe("s" + id), URL: g.maybe("u")}
		}
		if g.rng.IntN(2) == 0 {
			p.OnSale = new(g.rng.IntN(2) == 0)
		}
		if g.rng.IntN(2) == 0 {
			m.PrimaryProducts = append(m.PrimaryProducts, p)
		} else {
			m.OtherProducts = append(m.OtherProducts, p)
		}
	}
	return m
}

// referenceNative builds ev's goavro native data the plain way: fresh
// maps, a union map per set optional field, times as time.Time.
func referenceNative(ev schemas.Event) map[string]any {
	switch e := ev.(type) {
	case *schemas.DecisionMade:
		cart := []any{}
		for _, c := range e.Session.CartItems {
			cart = append(cart, c)
		}
		s := &e.Session
		return map[string]any{
			"event_id": e.EventID, "event_type": e.EventType, "occurred_at": refUnion("long.timestamp-millis", e.OccurredAt),
			"received_at": e.ReceivedAt, "svix_id": refUnion("string", e.SvixID), "raw_json": e.RawJSON,
			"decision": map[string]any{"id": refUnion("string", e.Decision.ID), "action": refUnion("string", e.Decision.Action),
				"reason": refUnion("string", e.Decision.Reason), "llm_reasoning": refUnion("string", e.Decision.LLMReasoning)},
			"session": map[string]any{"visitor_id": refUnion("string", s.VisitorID), "email": refUnion("string", s.Email),
				"event_count": refUnion("long", s.EventCount), "duration_seconds": refUnion("double", s.DurationSeconds),
				"products_viewed": refUnion("long", s.ProductsViewed), "cart_items": cart},
		}
	case *schemas.AgentMessage:
		c := &e.Content
		return map[string]any{
			"event_id": e.EventID, "message_type": refUnion("string", e.MessageType), "occurred_at": refUnion("long.timestamp-millis", e.OccurredAt),
			"received_at": e.ReceivedAt, "raw_json": e.RawJSON,
			"customer": map[string]any{"id": refUnion("string", e.Customer.ID), "email": refUnion("string", e.Customer.Email)},
			"content": map[string]any{"subject": refUnion("string", c.Subject), "preview_text": refUnion("string", c.PreviewText),
				"headline": refUnion("string", c.Headline), "body": refUnion("string", c.Body), "call_to_action": refUnion("string", c.CallToAction)},
			"primary_products": refProducts(e.PrimaryProducts), "other_products": refProducts(e.OtherProducts),
		}
	}
	panic("no reference native for " + ev.Kind().String())
}

func refProducts(ps []schemas.Product) []any {
	out := []any{}
	for _, p := range ps {
		var img any
		if p.Image != nil {
			img = map[string]any{"io.hookbridge.productagents.v1.Image": map[string]any{
				"scalable_url": refUnion("string", p.Image.ScalableURL), "url": refUnion("string", p.Image.URL)}}
		}
		out = append(out, map[string]any{
			"title": refUnion("string", p.Title), "description": refUnion("string", p.Description), "image": img,
			"url": refUnion("string", p.URL), "price": refUnion("double", p.Price), "old_price": refUnion("double", p.OldPrice),
			"currency": refUnion("string", p.Currency), "on_sale": refUnion("boolean", p.OnSale),
		})
	}
	return out
}

func refUnion[T any](typ string, p *T) any {
	if p == nil {
		return nil
	}
	return map[string]any{typ: *p}
}

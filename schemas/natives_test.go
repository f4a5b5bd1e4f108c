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

// AppendEncode reuses natives from a pool; a value left over from an
// earlier event must never leak into the next one. Each encoding must equal
// the encoding of a freshly built native, over events whose optional
// fields come and go.
func TestPooledEncodingMatchesFreshNatives(t *testing.T) {
	reg, _, _ := newRegistry(t)
	if err := reg.Register(context.Background(), schemas.Subjects("")); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	maybe := func(s string) *string {
		if rng.IntN(2) == 0 {
			return nil
		}
		return &s
	}
	maybeF := func(f float64) *float64 {
		if rng.IntN(2) == 0 {
			return nil
		}
		return &f
	}
	for i := range 400 {
		id := strconv.Itoa(i)
		var ev schemas.Event
		if i%2 == 0 {
			n := int64(i)
			d := &schemas.DecisionMade{EventID: id, EventType: "decision.made", ReceivedAt: time.UnixMilli(int64(i)).UTC(), RawJSON: id,
				SvixID: maybe("m" + id), Decision: schemas.Decision{ID: maybe(id), Action: maybe("a"), Reason: maybe("r"), LLMReasoning: maybe("l")},
				Session: schemas.Session{VisitorID: maybe("v"), Email: maybe("e"), DurationSeconds: maybeF(1.5)}}
			if rng.IntN(2) == 0 {
				d.Session.EventCount, d.OccurredAt = &n, &d.ReceivedAt
			}
			for range rng.IntN(3) {
				d.Session.CartItems = append(d.Session.CartItems, "item"+id)
			}
			ev = d
		} else {
			m := &schemas.AgentMessage{EventID: id, ReceivedAt: time.UnixMilli(int64(i)).UTC(), RawJSON: id, MessageType: maybe("T"),
				Customer: schemas.Customer{ID: maybe("c"), Email: maybe("e")}, Content: schemas.Content{Subject: maybe("s"), Body: maybe("<p>b</p>")}}
			for range rng.IntN(3) {
				p := schemas.Product{Title: maybe("t"), Price: maybeF(9.99), OldPrice: maybeF(12), Currency: maybe("EUR")}
				if rng.IntN(2) == 0 {
					p.Image = &schemas.Image{ScalableURL: maybe("s"), URL: maybe("u")}
				}
				if rng.IntN(2) == 0 {
					on := rng.IntN(2) == 0
					p.OnSale = &on
				}
				if rng.IntN(2) == 0 {
					m.PrimaryProducts = append(m.PrimaryProducts, p)
				} else {
					m.OtherProducts = append(m.OtherProducts, p)
				}
			}
			ev = m
		}
		pooled, err := reg.AppendEncode(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		codec, _ := ev.Kind().Codec()
		fresh, err := codec.BinaryFromNative(nil, ev.Native())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pooled[5:], fresh) {
			t.Fatalf("event %d: pooled encoding differs from a fresh one", i)
		}
	}
}

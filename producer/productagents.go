package producer

import (
	json "github.com/goccy/go-json"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
)

// agentBody is a Product Agents webhook as documented (seed 001). Every
// field is optional and strings may hold HTML, which passes through as is.
type agentBody struct {
	Event *struct {
		ID          *string `json:"id"`
		Timestamp   *string `json:"timestamp"`
		MessageType *string `json:"messageType"`
	} `json:"event"`
	Customer *struct {
		ID    *string `json:"id"`
		Email *string `json:"email"`
	} `json:"customer"`
	Content *struct {
		Subject      *string `json:"subject"`
		PreviewText  *string `json:"previewText"`
		Headline     *string `json:"headline"`
		Body         *string `json:"body"`
		CallToAction *string `json:"callToAction"`
	} `json:"content"`
	PrimaryProducts []agentProduct `json:"primaryProducts"`
	OtherProducts   []agentProduct `json:"otherProducts"`
}

type agentProduct struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Image       *struct {
		ScalableURL *string `json:"scalableUrl"`
		URL         *string `json:"url"`
	} `json:"image"`
	URL      *string      `json:"url"`
	Price    *json.Number `json:"price"`
	OldPrice *json.Number `json:"oldPrice"`
	Currency *string      `json:"currency"`
	OnSale   *bool        `json:"onSale"`
}

// mapProductAgents maps a verified Product Agents webhook. The event id is
// event.id, else the SHA-256 of the body; the key is customer.id, else the
// event id.
func mapProductAgents(d *delivery, t config.Topics) (mapped, error) {
	var b agentBody
	if err := decodeJSON(d.Body, &b); err != nil {
		return mapped{}, err
	}
	ev := &schemas.AgentMessage{ReceivedAt: d.ReceivedAt, RawJSON: string(d.Body)}
	if e := b.Event; e != nil {
		ev.EventID, ev.MessageType, ev.OccurredAt = nonEmpty(e.ID), e.MessageType, parseTime(e.Timestamp)
	}
	if ev.EventID == "" {
		ev.EventID = bodyHash(d.Body)
	}
	if c := b.Customer; c != nil {
		ev.Customer = schemas.Customer{ID: c.ID, Email: c.Email}
	}
	if c := b.Content; c != nil {
		ev.Content = schemas.Content{Subject: c.Subject, PreviewText: c.PreviewText, Headline: c.Headline, Body: c.Body, CallToAction: c.CallToAction}
	}
	var err error
	if ev.PrimaryProducts, err = mapProducts("primaryProducts", b.PrimaryProducts); err != nil {
		return mapped{}, err
	}
	if ev.OtherProducts, err = mapProducts("otherProducts", b.OtherProducts); err != nil {
		return mapped{}, err
	}
	m := mapped{topic: t.ProductAgents(), key: nonEmpty(ev.Customer.ID), eventID: ev.EventID, eventType: nonEmpty(ev.MessageType), event: ev}
	if m.key == "" {
		m.key = ev.EventID
	}
	return m, nil
}

func mapProducts(field string, in []agentProduct) ([]schemas.Product, error) {
	out := make([]schemas.Product, len(in))
	for i, p := range in {
		price, err := toDouble(field+".price", p.Price)
		if err != nil {
			return nil, err
		}
		old, err := toDouble(field+".oldPrice", p.OldPrice)
		if err != nil {
			return nil, err
		}
		out[i] = schemas.Product{Title: p.Title, Description: p.Description, URL: p.URL,
			Price: price, OldPrice: old, Currency: p.Currency, OnSale: p.OnSale}
		if p.Image != nil {
			out[i].Image = &schemas.Image{ScalableURL: p.Image.ScalableURL, URL: p.Image.URL}
		}
	}
	return out, nil
}

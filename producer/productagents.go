package producer

import (
	"time"

	json "github.com/goccy/go-json"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
)

// agentBody is a Product Agents webhook as documented (seed 001). Every
// field is optional and strings may hold HTML, which passes through as is.
type agentBody struct {
	Event           *agentEvent    `json:"event"`
	Customer        *agentCustomer `json:"customer"`
	Content         *agentContent  `json:"content"`
	PrimaryProducts []agentProduct `json:"primaryProducts"`
	OtherProducts   []agentProduct `json:"otherProducts"`
}

type agentEvent struct {
	ID          *string `json:"id"`
	Timestamp   *string `json:"timestamp"`
	MessageType *string `json:"messageType"`
}

type agentCustomer struct {
	ID    *string `json:"id"`
	Email *string `json:"email"`
}

type agentContent struct {
	Subject      *string `json:"subject"`
	PreviewText  *string `json:"previewText"`
	Headline     *string `json:"headline"`
	Body         *string `json:"body"`
	CallToAction *string `json:"callToAction"`
}

type agentProduct struct {
	Title       *string      `json:"title"`
	Description *string      `json:"description"`
	Image       *agentImage  `json:"image"`
	URL         *string      `json:"url"`
	Price       *json.Number `json:"price"`
	OldPrice    *json.Number `json:"oldPrice"`
	Currency    *string      `json:"currency"`
	OnSale      *bool        `json:"onSale"`
}

type agentImage struct {
	ScalableURL *string `json:"scalableUrl"`
	URL         *string `json:"url"`
}

// agentParts are a body's event, customer and content, allocated
// together, and its products' images, a few at a time.
type agentParts struct {
	event    agentEvent
	customer agentCustomer
	content  agentContent
	images   []agentImage
}

func (p *agentParts) image() *agentImage {
	if len(p.images) == cap(p.images) {
		p.images = make([]agentImage, 0, 4) // the old pointers stay valid
	}
	p.images = append(p.images, agentImage{})
	return &p.images[len(p.images)-1]
}

// readAgent is agentBody's fast reader (see decodeJSONFast): the
// documented shape, every field of its type or null.
func readAgent(sc *jsonScanner, b *agentBody) bool {
	var parts *agentParts
	room := func() *agentParts {
		if parts == nil {
			parts = new(agentParts)
		}
		return parts
	}
	product := func(sc *jsonScanner, p *agentProduct) bool { return readAgentProduct(sc, p, room) }
	return sc.fields([]string{"event", "customer", "content", "primaryProducts", "otherProducts"}, func(i int) bool {
		switch i {
		case 0:
			return objectInto(sc, &b.Event, func() *agentEvent { return &room().event }, func(sc *jsonScanner, e *agentEvent) bool {
				return sc.strFields([]string{"id", "timestamp", "messageType"}, &e.ID, &e.Timestamp, &e.MessageType)
			})
		case 1:
			return objectInto(sc, &b.Customer, func() *agentCustomer { return &room().customer }, func(sc *jsonScanner, c *agentCustomer) bool {
				return sc.strFields([]string{"id", "email"}, &c.ID, &c.Email)
			})
		case 2:
			return objectInto(sc, &b.Content, func() *agentContent { return &room().content }, func(sc *jsonScanner, c *agentContent) bool {
				return sc.strFields([]string{"subject", "previewText", "headline", "body", "callToAction"},
					&c.Subject, &c.PreviewText, &c.Headline, &c.Body, &c.CallToAction)
			})
		case 3:
			return arrayValue(sc, &b.PrimaryProducts, objectElem(product))
		}
		return arrayValue(sc, &b.OtherProducts, objectElem(product))
	})
}

func readAgentProduct(sc *jsonScanner, p *agentProduct, room func() *agentParts) bool {
	return sc.fields([]string{"title", "description", "image", "url", "price", "oldPrice", "currency", "onSale"}, func(i int) bool {
		switch i {
		case 0:
			return sc.strValue(&p.Title)
		case 1:
			return sc.strValue(&p.Description)
		case 2:
			return objectInto(sc, &p.Image, func() *agentImage { return room().image() }, func(sc *jsonScanner, im *agentImage) bool {
				return sc.strFields([]string{"scalableUrl", "url"}, &im.ScalableURL, &im.URL)
			})
		case 3:
			return sc.strValue(&p.URL)
		case 4:
			return sc.numberValue(&p.Price)
		case 5:
			return sc.numberValue(&p.OldPrice)
		case 6:
			return sc.strValue(&p.Currency)
		}
		return sc.boolValue(&p.OnSale)
	})
}

// mapProductAgents maps a verified Product Agents webhook. The event id is
// event.id, else the SHA-256 of the body; the key is customer.id, else the
// event id.
func mapProductAgents(d *delivery, t config.Topics) (mapped, error) {
	var b agentBody
	raw, err := decodeJSONFast(d.Body, &b, readAgent) // raw_json, and the fields read share it
	if err != nil {
		return mapped{}, err
	}
	w := &agentMessageValues{AgentMessage: schemas.AgentMessage{ReceivedAt: d.ReceivedAt, RawJSON: raw}}
	ev := &w.AgentMessage
	if e := b.Event; e != nil {
		ev.EventID, ev.MessageType, ev.OccurredAt = nonEmpty(e.ID), e.MessageType, parseTime(e.Timestamp, &w.occurredAt)
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
	if ev.PrimaryProducts, err = mapProducts(b.PrimaryProducts, "primaryProducts.price", "primaryProducts.oldPrice"); err != nil {
		return mapped{}, err
	}
	if ev.OtherProducts, err = mapProducts(b.OtherProducts, "otherProducts.price", "otherProducts.oldPrice"); err != nil {
		return mapped{}, err
	}
	m := mapped{topic: t.ProductAgents(), key: nonEmpty(ev.Customer.ID), eventID: ev.EventID, eventType: nonEmpty(ev.MessageType), event: ev}
	if m.key == "" {
		m.key = ev.EventID
	}
	return m, nil
}

// agentMessageValues is an AgentMessage with room for its timestamp.
type agentMessageValues struct {
	schemas.AgentMessage
	occurredAt time.Time
}

// productValues holds what a product's optional fields point to.
type productValues struct {
	image           schemas.Image
	price, oldPrice float64
}

// mapProducts maps a list of products; the field names (constants, so
// they cost nothing until an error) say where a bad price is.
func mapProducts(in []agentProduct, priceField, oldPriceField string) ([]schemas.Product, error) {
	out := make([]schemas.Product, len(in))
	vals := make([]productValues, len(in))
	for i, p := range in {
		v := &vals[i]
		price, err := toDouble(priceField, p.Price, &v.price)
		if err != nil {
			return nil, err
		}
		old, err := toDouble(oldPriceField, p.OldPrice, &v.oldPrice)
		if err != nil {
			return nil, err
		}
		out[i] = schemas.Product{Title: p.Title, Description: p.Description, URL: p.URL,
			Price: price, OldPrice: old, Currency: p.Currency, OnSale: p.OnSale}
		if p.Image != nil {
			v.image = schemas.Image{ScalableURL: p.Image.ScalableURL, URL: p.Image.URL}
			out[i].Image = &v.image
		}
	}
	return out, nil
}

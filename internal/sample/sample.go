// Package sample makes realistic webhooks, shaped like the senders'
// documented examples and varied, and signs them the way each sender does. `send-sample`,
// `bench` and the tests use it; the receiver never does.
package sample

import (
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Generator makes sample webhook bodies. It is deterministic for a seed
// and not safe for concurrent use.
type Generator struct {
	rng *rand.Rand
	n   int
}

// NewGenerator returns a Generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var (
	actions   = []string{"cart_abandonment", "browse_abandonment", "price_sensitive", "gentle_nudge", "loyalty_winback"}
	products  = []string{"Summer Dress", "Linen Shirt", "Trail Runner 2", "Café Crème Mug", "Silk Scarf <b>limited</b>", "Wool Beanie"}
	msgTypes  = []string{"REPLENISHMENT_REMINDER", "SIMILAR_PRODUCT_RECOMMENDATIONS", "ACCESSORY_RELATED_PRODUCT_UPSELL", "PRICE_DROP_VIEWED_PRODUCT", "PRICE_DROP_PURCHASED_REPLENISHMENT", "PRICE_DROP_ALTERNATIVE_PRODUCT"}
	firstName = []string{"ada", "grace", "linus", "zoë", "jürgen", "mei"}
)

func (g *Generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *Generator) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s-%08x-%04d", prefix, g.rng.Uint32(), g.n)
}

// Pique returns a decision.made body and its event id (decision.id).
func (g *Generator) Pique(now time.Time) (body []byte, eventID string) {
	eventID = g.id("dec")
	action := g.pick(actions)
	viewed, minutes := 1+g.rng.IntN(12), 1+g.rng.IntN(9)
	reason, llm, cart := g.decisionStory(action, viewed, minutes)
	b := map[string]any{
		"type": "decision.made",
		"decision": map[string]any{
			"id":           eventID,
			"action":       action,
			"reason":       reason,
			"llmReasoning": llm,
		},
		"session": map[string]any{
			"visitorId":       fmt.Sprintf("vis-%04d", g.rng.IntN(2000)),
			"email":           fmt.Sprintf("%s.%d@example.com", g.pick(firstName), g.rng.IntN(1000)),
			"eventCount":      1 + g.rng.IntN(40),
			"durationSeconds": 60*minutes + g.rng.IntN(60),
			"productsViewed":  viewed,
			"cartItems":       cart,
		},
		"timestamp": now.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	body, _ = json.Marshal(b)
	return body, eventID
}

// decisionStory returns a reason, the model's reasoning and the cart that
// agree with each other and with the action: a reason names only items
// that are in the cart, and an abandoned cart is never empty.
func (g *Generator) decisionStory(action string, viewed, minutes int) (reason, llm string, cart []string) {
	cart = []string{}
	fill := func(n int) {
		for range n {
			cart = append(cart, g.pick(products))
		}
	}
	switch action {
	case "cart_abandonment":
		fill(1 + g.rng.IntN(3))
		reason = fmt.Sprintf("Added %q to cart but left without purchasing.", cart[0])
		llm = fmt.Sprintf("This visitor spent %d minutes browsing %d products and added %d to the cart before leaving; a cart reminder fits.", minutes, viewed, len(cart))
	case "price_sensitive":
		fill(1 + g.rng.IntN(2))
		reason = fmt.Sprintf("Came back to %q %d times without buying.", cart[0], 2+g.rng.IntN(4))
		llm = "Repeated visits to the same item with no purchase suggest the price is the blocker; a price-focused message fits."
	case "browse_abandonment":
		reason = fmt.Sprintf("Viewed %d products without adding any to the cart.", viewed)
		llm = fmt.Sprintf("This visitor spent %d minutes browsing with an empty cart; a browse reminder fits.", minutes)
	case "loyalty_winback":
		reason = fmt.Sprintf("Returning customer, first visit in %d days.", 30+g.rng.IntN(150))
		llm = "A past customer came back after a long gap; a win-back message fits."
	default:
		reason = fmt.Sprintf("Browsing for %d minutes with no action yet.", minutes)
		llm = fmt.Sprintf("This visitor viewed %d products without a clear intent; a gentle %s fits.", viewed, strings.ReplaceAll(action, "_", " "))
	}
	return reason, llm, cart
}

// ProductAgents returns a message body and its event id (event.id).
func (g *Generator) ProductAgents(now time.Time) (body []byte, eventID string) {
	eventID = g.id("evt")
	product := func() map[string]any {
		price := float64(500+g.rng.IntN(9000)) / 100
		return map[string]any{
			"title":       g.pick(products),
			"description": "<p>Soft, breathable &amp; made to last.</p>",
			"image":       map[string]any{"scalableUrl": "https://cdn.example.com/img/{width}/p.jpg", "url": "https://cdn.example.com/img/p.jpg"},
			"url":         "https://shop.example.com/p/" + strconv.Itoa(g.rng.IntN(500)),
			"price":       price,
			"oldPrice":    price * 1.2,
			"currency":    "EUR",
			"onSale":      g.rng.IntN(2) == 0,
		}
	}
	b := map[string]any{
		"event":    map[string]any{"id": eventID, "timestamp": now.UTC().Format(time.RFC3339), "messageType": g.pick(msgTypes)},
		"customer": map[string]any{"id": fmt.Sprintf("cust-%04d", g.rng.IntN(2000)), "email": fmt.Sprintf("%s@example.com", g.pick(firstName))},
		"content": map[string]any{
			"subject": "Running low?", "previewText": "Your favourites are waiting",
			"headline": "<h1>Time to restock</h1>", "body": "<p>We picked these for you — à bientôt!</p>", "callToAction": "Shop now",
		},
		"primaryProducts": []any{product()},
		"otherProducts":   []any{},
	}
	if g.rng.IntN(2) == 0 {
		b["otherProducts"] = []any{product(), product()}
	}
	body, _ = json.Marshal(b)
	return body, eventID
}

// SvixHeaders signs body as Svix does, with the first secret.
func SvixHeaders(secret, msgID string, ts time.Time, body []byte) (http.Header, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("sample: bad Svix secret: %w", err)
	}
	sig, err := wh.Sign(msgID, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("svix-id", msgID)
	h.Set("svix-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("svix-signature", sig)
	h.Set("Content-Type", "application/json")
	return h, nil
}

// TokenHeaders authenticates with Authorization: Bearer token.
func TokenHeaders(token string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json")
	return h
}

// TokenInHeader authenticates as a static-token route configured with
// header reads it: Authorization: Bearer token, or the whole value of any
// other header.
func TokenInHeader(header, token string) http.Header {
	if strings.EqualFold(header, "Authorization") {
		return TokenHeaders(token)
	}
	h := http.Header{}
	h.Set(header, token)
	h.Set("Content-Type", "application/json")
	return h
}

// HMACHeaders puts the hex HMAC-SHA256 of body in header.
func HMACHeaders(header, key string, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	h := http.Header{}
	h.Set(header, hex.EncodeToString(m.Sum(nil)))
	h.Set("Content-Type", "application/json")
	return h
}

// NewSvixSecret returns a fresh whsec_ secret from 24 random bytes.
func NewSvixSecret() string { return "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(24)) }

// NewToken returns a fresh random bearer token.
func NewToken() string { return hex.EncodeToString(randomBytes(24)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = cryptorand.Read(b) // never fails on supported platforms
	return b
}

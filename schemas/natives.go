package schemas

import "time"

// Building goavro native data allocates a map per record and per non-null
// ["null", T] value; for the receiver that was more CPU than the Avro
// encoding itself. These natives keep their maps and are refilled for
// each event: Native builds a fresh one, Registry.AppendEncode reuses them
// from a pool.

// union is a reusable goavro union value ({"type": value}).
type union struct {
	m    map[string]any
	name string
}

func newUnion(name string) union { return union{m: map[string]any{name: nil}, name: name} }

// set returns the union holding v, or nil (Avro null) when present is false.
func (u union) set(present bool, v any) any {
	if !present {
		return nil
	}
	u.m[u.name] = v
	return u.m
}

func (u union) str(p *string) any {
	if p == nil {
		return u.set(false, nil)
	}
	return u.set(true, *p)
}

func (u union) long(p *int64) any {
	if p == nil {
		return nil
	}
	return u.set(true, *p)
}

func (u union) double(p *float64) any {
	if p == nil {
		return nil
	}
	return u.set(true, *p)
}

func (u union) boolean(p *bool) any {
	if p == nil {
		return nil
	}
	return u.set(true, *p)
}

func (u union) time(p *time.Time) any {
	if p == nil {
		return nil
	}
	return u.set(true, *p)
}

// decisionNative is the native form of a DecisionMade.
type decisionNative struct {
	root, decision, session map[string]any
	svixID, occurredAt      union
	dID, dAction, dReason   union
	dLLM, sVisitor, sEmail  union
	sEvents, sDuration      union
	sViewed                 union
	cart                    []any
}

func newDecisionNative() *decisionNative {
	s, l, d := "string", "long", "double"
	return &decisionNative{
		root: make(map[string]any, 8), decision: make(map[string]any, 4), session: make(map[string]any, 6),
		svixID: newUnion(s), occurredAt: newUnion("long.timestamp-millis"),
		dID: newUnion(s), dAction: newUnion(s), dReason: newUnion(s), dLLM: newUnion(s),
		sVisitor: newUnion(s), sEmail: newUnion(s), sEvents: newUnion(l), sDuration: newUnion(d), sViewed: newUnion(l),
	}
}

func (n *decisionNative) fill(e *DecisionMade) map[string]any {
	n.decision["id"] = n.dID.str(e.Decision.ID)
	n.decision["action"] = n.dAction.str(e.Decision.Action)
	n.decision["reason"] = n.dReason.str(e.Decision.Reason)
	n.decision["llm_reasoning"] = n.dLLM.str(e.Decision.LLMReasoning)
	s := &e.Session
	n.cart = n.cart[:0]
	for _, item := range s.CartItems {
		n.cart = append(n.cart, item)
	}
	n.session["visitor_id"] = n.sVisitor.str(s.VisitorID)
	n.session["email"] = n.sEmail.str(s.Email)
	n.session["event_count"] = n.sEvents.long(s.EventCount)
	n.session["duration_seconds"] = n.sDuration.double(s.DurationSeconds)
	n.session["products_viewed"] = n.sViewed.long(s.ProductsViewed)
	n.session["cart_items"] = n.cart
	n.root["event_id"] = e.EventID
	n.root["event_type"] = e.EventType
	n.root["occurred_at"] = n.occurredAt.time(e.OccurredAt)
	n.root["received_at"] = e.ReceivedAt
	n.root["svix_id"] = n.svixID.str(e.SvixID)
	n.root["decision"] = n.decision
	n.root["session"] = n.session
	n.root["raw_json"] = e.RawJSON
	return n.root
}

// agentNative is the native form of an AgentMessage.
type agentNative struct {
	root, customer, content    map[string]any
	messageType, occurredAt    union
	cID, cEmail                union
	subject, preview, headline union
	body, cta                  union
	primary, other             []any
	products                   []*productNative // reused across both lists
}

type productNative struct {
	root, image                               map[string]any
	imageU                                    union
	title, description, url, currency         union
	price, oldPrice, onSale, scalable, imgURL union
}

func newAgentNative() *agentNative {
	s := "string"
	return &agentNative{
		root: make(map[string]any, 9), customer: make(map[string]any, 2), content: make(map[string]any, 5),
		messageType: newUnion(s), occurredAt: newUnion("long.timestamp-millis"), cID: newUnion(s), cEmail: newUnion(s),
		subject: newUnion(s), preview: newUnion(s), headline: newUnion(s), body: newUnion(s), cta: newUnion(s),
	}
}

func newProductNative() *productNative {
	s := "string"
	return &productNative{
		root: make(map[string]any, 8), image: make(map[string]any, 2), imageU: newUnion("io.hookbridge.productagents.v1.Image"),
		title: newUnion(s), description: newUnion(s), url: newUnion(s), currency: newUnion(s),
		price: newUnion("double"), oldPrice: newUnion("double"), onSale: newUnion("boolean"), scalable: newUnion(s), imgURL: newUnion(s),
	}
}

func (n *agentNative) fill(e *AgentMessage) map[string]any {
	n.customer["id"] = n.cID.str(e.Customer.ID)
	n.customer["email"] = n.cEmail.str(e.Customer.Email)
	c := &e.Content
	n.content["subject"] = n.subject.str(c.Subject)
	n.content["preview_text"] = n.preview.str(c.PreviewText)
	n.content["headline"] = n.headline.str(c.Headline)
	n.content["body"] = n.body.str(c.Body)
	n.content["call_to_action"] = n.cta.str(c.CallToAction)
	for len(n.products) < len(e.PrimaryProducts)+len(e.OtherProducts) {
		n.products = append(n.products, newProductNative())
	}
	n.primary = n.fillProducts(n.primary[:0], e.PrimaryProducts, n.products)
	n.other = n.fillProducts(n.other[:0], e.OtherProducts, n.products[len(e.PrimaryProducts):])
	n.root["event_id"] = e.EventID
	n.root["message_type"] = n.messageType.str(e.MessageType)
	n.root["occurred_at"] = n.occurredAt.time(e.OccurredAt)
	n.root["received_at"] = e.ReceivedAt
	n.root["customer"] = n.customer
	n.root["content"] = n.content
	n.root["primary_products"] = n.primary
	n.root["other_products"] = n.other
	n.root["raw_json"] = e.RawJSON
	return n.root
}

func (n *agentNative) fillProducts(dst []any, ps []Product, slots []*productNative) []any {
	for i := range ps {
		p, pn := &ps[i], slots[i]
		var img any
		if p.Image != nil {
			pn.image["scalable_url"] = pn.scalable.str(p.Image.ScalableURL)
			pn.image["url"] = pn.imgURL.str(p.Image.URL)
			img = pn.imageU.set(true, pn.image)
		}
		pn.root["title"] = pn.title.str(p.Title)
		pn.root["description"] = pn.description.str(p.Description)
		pn.root["image"] = img
		pn.root["url"] = pn.url.str(p.URL)
		pn.root["price"] = pn.price.double(p.Price)
		pn.root["old_price"] = pn.oldPrice.double(p.OldPrice)
		pn.root["currency"] = pn.currency.str(p.Currency)
		pn.root["on_sale"] = pn.onSale.boolean(p.OnSale)
		dst = append(dst, pn.root)
	}
	return dst
}

// release drops references to the event's strings, so a pooled native
// does not keep a large raw_json alive.
func (n *decisionNative) release() { n.root["raw_json"] = "" }

func (n *agentNative) release() { n.root["raw_json"] = "" }

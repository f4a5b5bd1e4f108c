package schemas

import "time"

// Building goavro native data allocates a map per record and per non-null
// ["null", T] value, and every map write hashes its key; for the receiver
// that was more CPU than the Avro encoding itself. These natives keep
// their maps and are refilled for each event: Native builds a fresh one,
// Registry.AppendEncode reuses them from a pool. A field's entry in its
// record map is written only when its value changes shape (null to set,
// a list's backing array), so refilling an event shaped like the last
// one writes the values and nothing else.

// opt is an optional (["null", T]) field of a reusable record map.
type opt struct {
	rec   map[string]any
	key   string
	union map[string]any // {typ: value}, what rec[key] holds when set
	typ   string
	set   bool
}

func newOpt(rec map[string]any, key, typ string) opt {
	rec[key] = nil
	return opt{rec: rec, key: key, union: map[string]any{typ: nil}, typ: typ}
}

// present makes the field null or its union, whose value is unchanged.
func (o *opt) present(set bool) {
	if set == o.set {
		return
	}
	o.set = set
	if set {
		o.rec[o.key] = o.union
	} else {
		o.rec[o.key] = nil
	}
}

// setOpt makes o *p, or null when p is nil.
func setOpt[T any](o *opt, p *T) {
	if p != nil {
		o.union[o.typ] = *p
	}
	o.present(p != nil)
}

// setTime is setOpt for a timestamp-millis field.
func setTime(o *opt, p *time.Time) {
	if p != nil {
		o.union[o.typ] = millis(*p)
	}
	o.present(p != nil)
}

// millis is t as a timestamp-millis long, computed as goavro computes it
// from a time.Time (which it would box a second time).
func millis(t time.Time) int64 { return t.Unix()*1e3 + int64(t.Nanosecond()/1e6) }

// array is an array field of a reusable record map: refill items from
// items[:0], then store.
type array struct {
	rec    map[string]any
	key    string
	items  []any
	stored []any // what rec[key] holds
}

func newArray(rec map[string]any, key string) array {
	rec[key] = []any(nil)
	return array{rec: rec, key: key}
}

// store puts items in the record. Refilled from items[:0], they have the
// array rec[key] holds unless append grew it, which changes the capacity:
// equal length and capacity mean the stored slice is already items.
func (a *array) store() {
	if len(a.items) == len(a.stored) && cap(a.items) == cap(a.stored) {
		return
	}
	a.stored = a.items
	a.rec[a.key] = a.items
}

// decisionNative is the native form of a DecisionMade.
type decisionNative struct {
	root                  map[string]any
	svixID, occurredAt    opt
	dID, dAction, dReason opt
	dLLM, sVisitor        opt
	sEmail, sEvents       opt
	sDuration, sViewed    opt
	cart                  array
}

func newDecisionNative() *decisionNative {
	s, l := "string", "long"
	root, decision, session := make(map[string]any, 8), make(map[string]any, 4), make(map[string]any, 6)
	root["decision"], root["session"] = decision, session
	return &decisionNative{
		root: root, svixID: newOpt(root, "svix_id", s), occurredAt: newOpt(root, "occurred_at", "long.timestamp-millis"),
		dID: newOpt(decision, "id", s), dAction: newOpt(decision, "action", s), dReason: newOpt(decision, "reason", s),
		dLLM: newOpt(decision, "llm_reasoning", s), sVisitor: newOpt(session, "visitor_id", s), sEmail: newOpt(session, "email", s),
		sEvents: newOpt(session, "event_count", l), sDuration: newOpt(session, "duration_seconds", "double"),
		sViewed: newOpt(session, "products_viewed", l), cart: newArray(session, "cart_items"),
	}
}

func (n *decisionNative) fill(e *DecisionMade) map[string]any {
	setOpt(&n.dID, e.Decision.ID)
	setOpt(&n.dAction, e.Decision.Action)
	setOpt(&n.dReason, e.Decision.Reason)
	setOpt(&n.dLLM, e.Decision.LLMReasoning)
	s := &e.Session
	n.cart.items = n.cart.items[:0]
	for _, item := range s.CartItems {
		n.cart.items = append(n.cart.items, item)
	}
	n.cart.store()
	setOpt(&n.sVisitor, s.VisitorID)
	setOpt(&n.sEmail, s.Email)
	setOpt(&n.sEvents, s.EventCount)
	setOpt(&n.sDuration, s.DurationSeconds)
	setOpt(&n.sViewed, s.ProductsViewed)
	n.root["event_id"] = e.EventID
	n.root["event_type"] = e.EventType
	setTime(&n.occurredAt, e.OccurredAt)
	n.root["received_at"] = millis(e.ReceivedAt)
	setOpt(&n.svixID, e.SvixID)
	n.root["raw_json"] = e.RawJSON
	return n.root
}

// agentNative is the native form of an AgentMessage.
type agentNative struct {
	root                       map[string]any
	messageType, occurredAt    opt
	cID, cEmail                opt
	subject, preview, headline opt
	body, cta                  opt
	primary, other             array
	products                   []*productNative // reused across both lists
}

type productNative struct {
	root                                      map[string]any
	image                                     opt
	title, description, url, currency         opt
	price, oldPrice, onSale, scalable, imgURL opt
}

func newAgentNative() *agentNative {
	s := "string"
	root, customer, content := make(map[string]any, 9), make(map[string]any, 2), make(map[string]any, 5)
	root["customer"], root["content"] = customer, content
	return &agentNative{
		root: root, messageType: newOpt(root, "message_type", s), occurredAt: newOpt(root, "occurred_at", "long.timestamp-millis"),
		cID: newOpt(customer, "id", s), cEmail: newOpt(customer, "email", s),
		subject: newOpt(content, "subject", s), preview: newOpt(content, "preview_text", s), headline: newOpt(content, "headline", s),
		body: newOpt(content, "body", s), cta: newOpt(content, "call_to_action", s),
		primary: newArray(root, "primary_products"), other: newArray(root, "other_products"),
	}
}

func newProductNative() *productNative {
	s, d := "string", "double"
	root, image := make(map[string]any, 8), make(map[string]any, 2)
	pn := &productNative{
		root: root, image: newOpt(root, "image", "io.hookbridge.productagents.v1.Image"),
		title: newOpt(root, "title", s), description: newOpt(root, "description", s), url: newOpt(root, "url", s),
		currency: newOpt(root, "currency", s), price: newOpt(root, "price", d), oldPrice: newOpt(root, "old_price", d),
		onSale: newOpt(root, "on_sale", "boolean"), scalable: newOpt(image, "scalable_url", s), imgURL: newOpt(image, "url", s),
	}
	pn.image.union[pn.image.typ] = image
	return pn
}

func (n *agentNative) fill(e *AgentMessage) map[string]any {
	setOpt(&n.cID, e.Customer.ID)
	setOpt(&n.cEmail, e.Customer.Email)
	c := &e.Content
	setOpt(&n.subject, c.Subject)
	setOpt(&n.preview, c.PreviewText)
	setOpt(&n.headline, c.Headline)
	setOpt(&n.body, c.Body)
	setOpt(&n.cta, c.CallToAction)
	for len(n.products) < len(e.PrimaryProducts)+len(e.OtherProducts) {
		n.products = append(n.products, newProductNative())
	}
	n.primary.fill(e.PrimaryProducts, n.products)
	n.other.fill(e.OtherProducts, n.products[len(e.PrimaryProducts):])
	n.root["event_id"] = e.EventID
	setOpt(&n.messageType, e.MessageType)
	setTime(&n.occurredAt, e.OccurredAt)
	n.root["received_at"] = millis(e.ReceivedAt)
	n.root["raw_json"] = e.RawJSON
	return n.root
}

// fill makes the array ps, each product in its own slot.
func (a *array) fill(ps []Product, slots []*productNative) {
	a.items = a.items[:0]
	for i := range ps {
		p, pn := &ps[i], slots[i]
		pn.image.present(p.Image != nil)
		if p.Image != nil {
			setOpt(&pn.scalable, p.Image.ScalableURL)
			setOpt(&pn.imgURL, p.Image.URL)
		}
		setOpt(&pn.title, p.Title)
		setOpt(&pn.description, p.Description)
		setOpt(&pn.url, p.URL)
		setOpt(&pn.price, p.Price)
		setOpt(&pn.oldPrice, p.OldPrice)
		setOpt(&pn.currency, p.Currency)
		setOpt(&pn.onSale, p.OnSale)
		a.items = append(a.items, pn.root)
	}
	a.store()
}

// release drops references to the event's strings, so a pooled native
// does not keep a large raw_json alive.
func (n *decisionNative) release() { n.root["raw_json"] = "" }

func (n *agentNative) release() { n.root["raw_json"] = "" }

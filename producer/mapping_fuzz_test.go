package producer

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/loadtest"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/schemas"
)

// The seed corpora run as ordinary tests; `go test -fuzz FuzzMapPique
// ./producer` explores further.

func FuzzMapPique(f *testing.F) {
	g := sample.NewGenerator(11)
	for range 3 {
		b, _ := g.Pique(time.Now())
		f.Add(b, "msg_1")
	}
	for _, s := range []string{
		`{"type":"decision.made","decision":{"id":"a1b2c3d4-...","action":"cart_abandonment","reason":"Added \"Summer Dress\" to cart but left without purchasing.","llmReasoning":"This visitor spent 4 minutes browsing 3 products before adding..."},"session":{"visitorId":"f8e7d6c5-...","email":"customer@example.com","eventCount":12,"durationSeconds":245,"productsViewed":3,"cartItems":["Summer Dress"]},"timestamp":"2025-01-15T14:32:00.000Z"}`,
		`{"type":"decision.made","session":{"eventCount":12.0,"durationSeconds":1e3}}`,
		`{"type":"decision.made","session":{"eventCount":1.5}}`,
		`{"type":"x","decision":null,"session":null}`,
		`{"type":""}`, `null`, `[]`, `"s"`, `{"type":1}`, "{\"type\":\"\xff\"}",
	} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, body []byte, svixID string) {
		d := &delivery{Source: "pique", ReceivedAt: time.UnixMilli(1700000000000).UTC(), SvixID: svixID, Body: body}
		m, err := mapPique(d, config.Topics{})
		checkMapped(t, d, m, err, schemas.KindDecisionMade)
	})
}

func FuzzMapProductAgents(f *testing.F) {
	g := sample.NewGenerator(12)
	for range 3 {
		b, _ := g.ProductAgents(time.Now())
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `{"event":{"id":""}}`, `{"primaryProducts":[{"price":"9.99"}]}`, `{"primaryProducts":[null,{}]}`,
		`{"customer":{"email":null},"otherProducts":[]}`, `{"event":{"timestamp":"not a time"}}`, `[1]`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := &delivery{Source: "product-agents", ReceivedAt: time.UnixMilli(1700000000000).UTC(), Body: body}
		m, err := mapProductAgents(d, config.Topics{})
		checkMapped(t, d, m, err, schemas.KindAgentMessage)
	})
}

// checkMapped asserts the mapping contract: a webhook either maps to an
// event that encodes, decodes back with the body intact and has an id, or
// is refused with a 400-class error.
func checkMapped(t *testing.T, d *delivery, m mapped, err error, kind schemas.Kind) {
	t.Helper()
	if err != nil {
		var bad *badRequest
		if !errors.As(err, &bad) {
			t.Fatalf("mapping failed with a non-400 error: %v", err)
		}
		return
	}
	if m.eventID == "" || m.key == "" {
		t.Fatalf("mapped without an event id or key: %+v", m)
	}
	if m.event == nil {
		return // unrouted: the raw body is the value
	}
	native := avroRoundTrip(t, kind, m.event)
	if native["raw_json"] != string(d.Body) || native["event_id"] != m.eventID {
		t.Fatalf("raw_json or event_id changed in the round trip")
	}
}

// avroRoundTrip encodes ev with its kind's embedded schema and decodes it
// back.
func avroRoundTrip(t *testing.T, kind schemas.Kind, ev schemas.Event) map[string]any {
	t.Helper()
	codec, err := kind.Codec()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := codec.BinaryFromNative(nil, ev.Native())
	if err != nil {
		t.Fatalf("mapped event does not encode: %v", err)
	}
	native, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatalf("encoded event does not decode: %v", err)
	}
	return native.(map[string]any)
}

// addSamples seeds f with three of source's sample bodies, each as it is
// and padded to 600 bytes as the load generator sends it.
func addSamples(f *testing.F, seed uint64, source string) {
	g := sample.NewGenerator(seed)
	for range 3 {
		for _, size := range []int{0, 600} {
			b, _ := loadtest.Body(g, source, time.Now(), size)
			f.Add(b)
		}
	}
}

// FuzzReadPiqueAgreesWithGoJSON holds the fast Pique reader to go-json's
// (and encoding/json's) reading: for every body, the same piqueBody or the
// same refusal, word for word.
func FuzzReadPiqueAgreesWithGoJSON(f *testing.F) {
	addSamples(f, 13, "pique")
	for _, s := range []string{
		`{"type":"decision.made","decision":{"id":"a1","action":"x","reason":"Added \"Summer Dress\"","llmReasoning":"\u00e9\ud83d\ude00 \ud800"},"session":{"visitorId":"v","email":"e","eventCount":12,"durationSeconds":-2.5e3,"productsViewed":0,"cartItems":["a","b\n"]},"timestamp":"2025-01-15T14:32:00.000Z"}`,
		`{"type":"decision.made","session":{"cartItems":[]}}`,
		`{"type":"decision.made","session":{"cartItems":null,"eventCount":null},"decision":null,"timestamp":null}`,
		`{"type":"decision.made","session":{"cartItems":[null]}}`,
		`{"type":"decision.made","session":{"cartItems":["a",1]}}`,
		`{"type":"decision.made","session":{"eventCount":"12"}}`,
		`{"type":"decision.made","session":{"eventCount":"twelve"}}`,
		`{"type":"decision.made","session":{"eventCount":true}}`,
		`{"type":"decision.made","session":{"eventCount":{}}}`,
		`{"type":"decision.made","session":"s"}`,
		`{"type":"decision.made","decision":[]}`,
		`{"type":["decision.made"]}`,
		`{"type":1}`, `{"type":true}`, `{"type":{}}`,
		`{"Type":"decision.made"}`, `{"TYPE":"x","type":"y"}`, `{"type":"x","Decision":{"ID":"1"}}`,
		`{"typ\u0065":"decision.made"}`, `{"type":"decision.made","decision":{"\u0069d":"1"}}`,
		`{"ſession":{"visitorId":"v"},"type":"x"}`, `{"type":"x","session":{"\u212aey":1,"visitorid":"v"}}`,
		`{"type":"x","other":{"deep":[1,{"a":[null,true,false,"s",-0.5e-3]}]},"session":{"extra":[[]]}}`,
		` { "type" : "x" , "session" : { "visitorId" : "v" , "cartItems" : [ "a" , "b" ] } } `,
		`{}`, `{"a":1}`, `{"type":""}`,
		`{"type":"\ud800\u0041 \udc00 \ud83d\ud83d\ude00 \u0000 \/ \b\f\r\t \\ \"","session":{"cartItems":["\ud834\udd1e","\uD834\uDD1E","\ud834"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { agreesWithGoJSON[piqueBody](t, body, readPique) })
}

// FuzzReadAgentAgreesWithGoJSON is the same for Product Agents bodies.
func FuzzReadAgentAgreesWithGoJSON(f *testing.F) {
	addSamples(f, 15, "product-agents")
	for _, s := range []string{
		`{}`, `{"event":{"id":""}}`, `{"primaryProducts":[{"price":"9.99"}]}`, `{"primaryProducts":[null,{}]}`,
		`{"customer":{"email":null},"otherProducts":[]}`, `{"event":{"timestamp":"not a time"}}`,
		`{"primaryProducts":[{"title":"<b>t</b>","description":"d\u00e9","image":{"scalableUrl":"s","url":"u"},"url":"x","price":9.99,"oldPrice":-1e2,"currency":"EUR","onSale":true}],"otherProducts":[{"onSale":false,"image":null,"price":null}]}`,
		`{"primaryProducts":[{"onSale":"yes"}]}`, `{"primaryProducts":[{"onSale":1}]}`, `{"primaryProducts":{}}`,
		`{"primaryProducts":[{"image":[]}]}`, `{"primaryProducts":[[]]}`, `{"primaryProducts":[1]}`,
		`{"PrimaryProducts":[{}]}`, `{"event":{"ID":"x"}}`, `{"event":{"messagetype":"x"}}`, `{"content":{"bOdy":"x"}}`,
		`{"content":{"subject":"s","previewText":"p","headline":"h","body":"<p>\"b\"</p>","callToAction":"c"},"customer":{"id":"c1","email":"e"}}`,
		`{"event":"x"}`, `{"customer":[]}`, `{"content":1}`, `{"event":{"id":5}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { agreesWithGoJSON[agentBody](t, body, readAgent) })
}

// agreesWithGoJSON fails t unless the fast reader gives what go-json (and
// encoding/json) give for body: the same value or the same refusal.
func agreesWithGoJSON[T any](t *testing.T, body []byte, read func(*jsonScanner, *T) bool) {
	t.Helper()
	var fast, slow T
	text, errFast := decodeJSONFast(body, &fast, read)
	errSlow := decodeJSON(body, &slow)
	if fmt.Sprint(errFast) != fmt.Sprint(errSlow) {
		t.Fatalf("fast reader: %v; go-json: %v", errFast, errSlow)
	}
	if errFast == nil && text != string(body) {
		t.Fatalf("the body's text is %q, not the body", text)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast reader read\n%s\ngo-json\n%s", dump(fast), dump(slow))
	}
}

func dump(v any) string { b, _ := stdjson.Marshal(v); return string(b) }

// The fast readers must take the usual bodies, or they save nothing.
func TestFastReadersTakeTheDocumentedBodies(t *testing.T) {
	g := sample.NewGenerator(14)
	for range 20 {
		body, _ := loadtest.Body(g, "pique", time.Now(), 600)
		var b piqueBody
		if _, ok := readFast(body, &b, readPique); !ok || b.Type == nil || b.Decision == nil || b.Session == nil || b.Session.EventCount == nil {
			t.Fatalf("the fast reader gave up on, or misread, a documented Pique body: %s", body)
		}
		body, _ = loadtest.Body(g, "product-agents", time.Now(), 600)
		var a agentBody
		if _, ok := readFast(body, &a, readAgent); !ok || a.Event == nil || a.Content == nil || len(a.PrimaryProducts) == 0 {
			t.Fatalf("the fast reader gave up on, or misread, a documented Product Agents body: %s", body)
		}
	}
}

// FuzzCheckBodyNamesInvalidUTF8 holds checkBody, whose one pass checks the
// UTF-8 with the JSON, to the rule that invalid UTF-8 is what a refusal
// names, wherever it is and whatever else is wrong: the UTF-8 refusal
// exactly when utf8.Valid fails.
func FuzzCheckBodyNamesInvalidUTF8(f *testing.F) {
	for _, s := range invalidUTF8Bodies() {
		f.Add([]byte(s))
	}
	addSamples(f, 16, "pique")
	addSamples(f, 17, "product-agents")
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkBody(body)
		if named := err != nil && err.Error() == "body is not valid UTF-8"; named == utf8.Valid(body) {
			t.Fatalf("checkBody(%q) = %v; utf8.Valid = %v", body, err, utf8.Valid(body))
		}
	})
}

// The fast reader keeps a body's strings in slabs and an array of strings
// as a run of one; runs that outgrow a slab move to the next, whole.
func TestFastReaderStringArraysCrossSlabs(t *testing.T) {
	for before := range 20 {
		for items := range 40 {
			var b strings.Builder
			b.WriteString(`{"type":"decision.made","decision":{"id":"d","action":"a\"b","reason":"r"},"session":{"visitorId":"v"`)
			for i := range before {
				fmt.Fprintf(&b, `,"x%d":"s"`, i) // skipped: not kept
			}
			b.WriteString(`,"email":"e","cartItems":[`)
			for i := range items {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"item %d\n"`, i)
			}
			b.WriteString(`]},"timestamp":"t"}`)
			body := []byte(b.String())
			agreesWithGoJSON[piqueBody](t, body, readPique)
			if before%4 == 0 { // a kept value before the array moves where the run starts
				agreesWithGoJSON[piqueBody](t, []byte(strings.Replace(b.String(), `"session":{`, `"session":{"durationSeconds":1,"eventCount":2,`, 1)), readPique)
			}
		}
	}
}

// After the check, the fast readers jump over every string of a documented
// body instead of scanning it again.
func TestFastReadersJumpTheCheckedStrings(t *testing.T) {
	g := sample.NewGenerator(18)
	for range 10 {
		for _, source := range []string{"pique", "product-agents"} {
			body, _ := loadtest.Body(g, source, time.Now(), 600)
			var jumped, measured int
			note := func(sc *jsonScanner, ok bool) bool { jumped, measured = sc.jumps, len(sc.strEnds); return ok }
			var ok bool
			if source == "pique" {
				_, ok, _ = checkRead(body, new(piqueBody), func(sc *jsonScanner, b *piqueBody) bool { return note(sc, readPique(sc, b)) })
			} else {
				_, ok, _ = checkRead(body, new(agentBody), func(sc *jsonScanner, b *agentBody) bool { return note(sc, readAgent(sc, b)) })
			}
			if !ok || measured == 0 || jumped < measured-1 { // all but the padding's, which is skipped
				t.Fatalf("%s: read %v, jumped over %d of the %d strings measured: %s", source, ok, jumped, measured, body)
			}
		}
	}
}

package producer

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/sample"
)

// gzipBomb returns zeros gzipped twice: a couple of KB on the wire that
// would expand to size bytes in a server that decompresses. The inner
// stream is one gzipped MiB repeated (a valid multi-member gzip stream),
// which keeps building it cheap.
func gzipBomb(t *testing.T, size int) []byte {
	t.Helper()
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	return gz(bytes.Repeat(gz(make([]byte, 1<<20)), size>>20))
}

// expandedSize gunzips b twice and counts what comes out, without keeping it.
func expandedSize(t *testing.T, b []byte) int64 {
	t.Helper()
	outer, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := gzip.NewReader(outer)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, inner)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// An unauthenticated request must cost O(body_limit): a compressed body is
// refused as it came, never expanded. Decompressing this bomb allocates
// 256 MiB; the bound below is 32 times smaller.
func TestGzipBombIsRefusedWithoutDecompressing(t *testing.T) {
	r := newRig(t, rigOptions{})
	const expanded = 256 << 20
	bomb := gzipBomb(t, expanded)
	if len(bomb) > 4096 || expandedSize(t, bomb) != expanded {
		t.Fatalf("bomb is %d bytes, want a few KB expanding to %d", len(bomb), expanded)
	}
	signed, err := sample.SvixHeaders(r.secret, "msg_bomb", time.Now(), bomb)
	if err != nil {
		t.Fatal(err)
	}
	forged := signed.Clone()
	forged.Set("svix-signature", "v1,"+strings.Repeat("A", 43)+"=")
	cases := []struct {
		name string
		path string
		h    http.Header
	}{
		{"pique, forged signature", "/webhooks/pique", forged},
		{"pique, signed compressed bytes", "/webhooks/pique", signed},
		{"product-agents, wrong token", "/webhooks/product-agents", sample.TokenHeaders("not-the-token")},
		{"product-agents, right token", "/webhooks/product-agents", sample.TokenHeaders(r.token)},
	}
	for _, c := range cases {
		for _, enc := range []string{"gzip, gzip", "GZIP", "deflate", "br"} {
			t.Run(c.name+", "+enc, func(t *testing.T) {
				h := c.h.Clone()
				h.Set("Content-Encoding", enc)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				resp := post(t, r.url+c.path, h, bomb)
				runtime.ReadMemStats(&after)
				if resp.code != http.StatusUnsupportedMediaType && resp.code != http.StatusUnauthorized {
					t.Fatalf("status %d, want 415 or 401 (%v)", resp.code, resp.body)
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
					t.Fatalf("the request allocated %d MiB; a %d-byte body must cost next to nothing", grew>>20, len(bomb))
				}
			})
		}
	}
	// identity is no encoding at all, and stays accepted.
	body, _ := sample.NewGenerator(1).ProductAgents(time.Now())
	h := sample.TokenHeaders(r.token)
	h.Set("Content-Encoding", "identity")
	if resp := post(t, r.url+"/webhooks/product-agents", h, body); resp.code != http.StatusOK {
		t.Fatalf("Content-Encoding identity: status %d %v", resp.code, resp.body)
	}
	if got := metric(t, r.url, `hookbridge_receiver_rejections_total{reason="encoding",source="pique"}`); got != 8 {
		t.Errorf("pique encoding rejections counted %v, want 8", got)
	}
	if n := len(r.env.ReadAll(t, r.env.Config.Topics.ProductAgents())); n != 1 {
		t.Errorf("%d records in Kafka, want the 1 identity-encoded webhook", n)
	}
}

// RFC 7235: the auth scheme is case-insensitive.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	r := newRig(t, rigOptions{})
	g := sample.NewGenerator(8)
	for scheme, want := range map[string]int{"Bearer": 200, "bearer": 200, "BEARER": 200, "bEaReR": 200, "Basic": 401, "Bearer" + r.token[:1]: 401} {
		body, _ := g.ProductAgents(time.Now())
		h := sample.TokenHeaders(r.token)
		h.Set("Authorization", scheme+" "+r.token)
		if resp := post(t, r.url+"/webhooks/product-agents", h, body); resp.code != want {
			t.Errorf("Authorization: %s <token>: status %d, want %d (%v)", scheme, resp.code, want, resp.body)
		}
	}
}

// raw_json is what every reader sees, so the receiver must not read a
// different event out of it: no duplicate keys at any depth, nothing after
// the object. And a refusal speaks of the body in JSON's terms.
func TestBodiesAreRefusedInJSONTerms(t *testing.T) {
	cases := []struct {
		source string
		body   string
		want   string // in the 400's message; "" = accepted
	}{
		{"pique", `{"type":"decision.made","decision":{"id":"a"},"decision":{"id":"b"}}`, `duplicate key "decision"`},
		{"pique", `{"type":"decision.made","type":"other"}`, `duplicate key "type"`},
		{"pique", `{"type":"decision.made","decision":{"id":"a","id":"b"}}`, `duplicate key "decision.id"`},
		{"pique", `{"type":"decision.made","decision":{"id":"a","\u0069d":"b"}}`, `duplicate key "decision.id"`},
		{"product-agents", `{"primaryProducts":[{"url":"a"},{"url":"b","url":"c"}]}`, `duplicate key "primaryProducts[1].url"`},
		{"product-agents", `{"x":{"y":[{"z":1,"z":2}]}}`, `duplicate key "x.y[0].z"`},
		{"pique", "{\"type\":\"decision.made\"}\x00<script>", "data after the top-level object"},
		{"pique", `{"type":"decision.made"} {}`, "data after the top-level object"},
		{"pique", "{\"type\":\"decision.made\"}\n \r\t", ""},
		{"product-agents", `{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}`, ""},
		{"product-agents", `[1]`, "body must be a JSON object"},
		{"product-agents", `"hello"`, "body must be a JSON object"},
		{"product-agents", `42`, "body must be a JSON object"},
		{"product-agents", `{"event":{"id":42}}`, "event.id: want a string, got a number"},
		{"product-agents", `{"customer":{"email":["a"]}}`, "customer.email: want a string, got an array"},
		{"product-agents", `{"primaryProducts":{"a":1}}`, "primaryProducts: want an array, got an object"},
		{"product-agents", `{"primaryProducts":[{"onSale":"yes"}]}`, "primaryProducts.onSale: want true or false, got a string"},
		{"pique", `{"type":"decision.made","session":{"eventCount":1.5}}`, "session.eventCount: want a whole number, got 1.5"},
		{"pique", `{"type":"decision.made",`, "malformed JSON"},
		{"pique", `{"type":"decision.made","x":01}`, "malformed JSON at byte 29"},
	}
	for _, c := range cases {
		d := &delivery{Source: c.source, ReceivedAt: time.Now(), SvixID: "msg_1", Body: []byte(c.body)}
		mapFn := mapPique
		if c.source == "product-agents" {
			mapFn = mapProductAgents
		}
		_, err := mapFn(d, config.Topics{})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: refused: %v", c.body, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want one saying %s", c.body, err, c.want)
		}
	}
}

// A wide object takes the map path of the duplicate check.
func TestDuplicateKeyInAWideObject(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"decision.made"`)
	for i := range 1000 {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString(`,"k500":0}`)
	_, err := mapPique(&delivery{Body: []byte(b.String()), SvixID: "m"}, config.Topics{})
	if err == nil || !strings.Contains(err.Error(), `duplicate key "k500"`) {
		t.Fatalf("error %v, want duplicate key k500", err)
	}
}

// invalidUTF8Bodies put a byte that is not UTF-8 in every place a body can
// hold one, most after something else is already wrong: the refusal must
// name the UTF-8 all the same.
func invalidUTF8Bodies() []string {
	return []string{
		"{\"type\":\"\xff\"}",
		"{\"\xff\":1}",
		"{\"type\":\"x\",\xff}",
		"\xff{}",
		"{\"type\":01,\"x\":\"\xff\"}",
		"{\"a\":1,\"a\":2,\"b\":\"\xff\"}",
		"{\"type\":\"x\"}\xff",
		"{\"type\":\"x\"} \"\xff\"",
		"[\"\xff\"]",
		"{\"type\":\"\xc3\"}",
		"{\"type\":\"x\xc3",
		"{\"type\":\"abc\xff",
		"{\"type\":\"\xed\xa0\x80\"}",
		"{\"type\":\"\xc0\xaf\"}",
		"{\"type\":\"\xf4\x90\x80\x80\"}",
		"{\"a\":\"\\q\xff\"}",
		"{\"a\":\"\x01\xff\"}",
		"{\"a\":" + strings.Repeat("[", maxJSONDepth+2) + "\"\xff\"",
	}
}

func TestInvalidUTF8IsNamedWhateverElseIsWrong(t *testing.T) {
	for _, body := range invalidUTF8Bodies() {
		for source, mapFn := range map[string]func(*delivery, config.Topics) (mapped, error){"pique": mapPique, "product-agents": mapProductAgents} {
			_, err := mapFn(&delivery{Source: source, SvixID: "msg_1", Body: []byte(body)}, config.Topics{})
			if err == nil || err.Error() != "body is not valid UTF-8" {
				t.Errorf("%s %q: error %v, want body is not valid UTF-8", source, body, err)
			}
		}
	}
	// UTF-8 beyond ASCII, in keys and values, is accepted as it is.
	body := "{\"type\":\"x\",\"caf\xc3\xa9\":\"\xf0\x9f\x9b\x92 \xe2\x82\xac \xef\xbf\xbd \\u00e9\"}"
	if m, err := mapPique(&delivery{SvixID: "msg_1", Body: []byte(body)}, config.Topics{}); err != nil || m.eventType != "x" {
		t.Errorf("%q: %+v, %v; want it accepted", body, m, err)
	}
}

// plainStrBytes, the scanner's table of the bytes that stand for themselves
// in a string, is the rule it encodes.
func TestPlainStrBytes(t *testing.T) {
	for c := range 256 {
		if want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; plainStrByte(byte(c)) != want {
			t.Errorf("plainStrByte(%#x) = %v, want %v", c, !want, want)
		}
	}
}

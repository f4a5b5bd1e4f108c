package producer

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

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
	r := newRig(t, nil)
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
	r := newRig(t, nil)
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

package producer

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/hookbridge/hookbridge/internal/config"
)

// The Svix library is the reference: svixVerifier must accept and refuse
// exactly what it does, with the same reason. The cases are the library's
// own (webhook_test.go) plus what a sender or attacker could vary.

const (
	libSecret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the library tests' secret
	libMsgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	libBody   = `{"test": 2432232314}`
)

// librarySays verifies with the Svix library, trying each secret as the
// receiver did before it had its own verifier.
func librarySays(t testing.TB, secrets []string, body []byte, h http.Header) error {
	var last error
	for _, s := range secrets {
		wh, err := svix.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if last = wh.Verify(body, h); last == nil {
			return nil
		}
	}
	return last
}

func libSign(t testing.TB, secret, id string, ts time.Time, body []byte) string {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := wh.Sign(id, ts, body)
	return sig
}

func svixHeader(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set("svix-id", id)
	h.Set("svix-timestamp", ts)
	h.Set("svix-signature", sig)
	return h
}

// assertAgree fails unless svixVerifier and the library agree on h.
func assertAgree(t testing.TB, name string, secrets []string, body []byte, h http.Header) (accepted bool) {
	t.Helper()
	var cs []config.Secret
	for _, s := range secrets {
		cs = append(cs, config.Secret(s))
	}
	v, err := newSvixVerifier(cs)
	if err != nil {
		t.Fatal(err)
	}
	ours, ref := v.Verify(body, headerMap(h)), librarySays(t, secrets, body, h)
	switch {
	case (ours == nil) != (ref == nil):
		t.Errorf("%s: ours %v, library %v", name, ours, ref)
	case ours != nil && ours.Error() != "unauthorized: svix signature: "+strings.ToLower(ref.Error()):
		t.Errorf("%s: ours says %q, library %q", name, ours, ref)
	}
	return ours == nil
}

func TestSvixVerifierAgreesWithLibraryOnItsCases(t *testing.T) {
	const bad = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	body := []byte(libBody)
	type tc struct {
		name   string
		at     time.Duration // timestamp offset from now
		modify func(h http.Header)
		accept bool
	}
	cases := []tc{
		{name: "valid signature is valid", accept: true},
		{name: "valid unbranded signature is valid", accept: true, modify: func(h http.Header) {
			for _, k := range []string{"id", "timestamp", "signature"} {
				h.Set("webhook-"+k, h.Get("svix-"+k))
				h.Del("svix-" + k)
			}
		}},
		{name: "missing id returns error", modify: func(h http.Header) { h.Del("svix-id") }},
		{name: "missing timestamp returns error", modify: func(h http.Header) { h.Del("svix-timestamp") }},
		{name: "missing signature returns error", modify: func(h http.Header) { h.Del("svix-signature") }},
		{name: "invalid signature is invalid", modify: func(h http.Header) { h.Set("svix-signature", bad) }},
		{name: "partial signature is invalid", modify: func(h http.Header) { h.Set("svix-signature", "v1,") }},
		{name: "old timestamp fails", at: -svixTolerance},
		// The library's case is +1 s; +2 s keeps it refused even when a
		// second ticks between signing and verifying.
		{name: "new timestamp fails", at: svixTolerance + 2*time.Second},
		{name: "valid multi sig is valid", accept: true, modify: func(h http.Header) {
			h.Set("svix-signature", strings.Join([]string{bad, "v2" + bad[2:], h.Get("svix-signature"), bad}, " "))
		}},
		{name: "invalid timestamp fails", modify: func(h http.Header) {
			h.Set("svix-timestamp", fmt.Sprint(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
		}},
		// Beyond the library's cases: what a sender or attacker can vary.
		{name: "non-numeric timestamp", modify: func(h http.Header) { h.Set("svix-timestamp", "soon") }},
		{name: "timestamp with a plus sign signs as the number", accept: true, modify: func(h http.Header) {
			h.Set("svix-timestamp", "+"+h.Get("svix-timestamp"))
		}},
		{name: "timestamp with leading zeros signs as the number", accept: true, modify: func(h http.Header) {
			h.Set("svix-timestamp", "000"+h.Get("svix-timestamp"))
		}},
		{name: "only a v2 signature", modify: func(h http.Header) { h.Set("svix-signature", "v2"+h.Get("svix-signature")[2:]) }},
		{name: "signature with a trailing field", accept: true, modify: func(h http.Header) { h.Set("svix-signature", h.Get("svix-signature")+",extra") }},
		{name: "signature without a version", modify: func(h http.Header) { h.Set("svix-signature", h.Get("svix-signature")[3:]) }},
		{name: "double spaces between signatures", accept: true, modify: func(h http.Header) { h.Set("svix-signature", bad+"  "+h.Get("svix-signature")) }},
		{name: "signature cut short", modify: func(h http.Header) { s := h.Get("svix-signature"); h.Set("svix-signature", s[:len(s)-1]) }},
		{name: "signature one byte longer", modify: func(h http.Header) { h.Set("svix-signature", h.Get("svix-signature")+"=") }},
		{name: "svix-* incomplete, webhook-* complete", accept: true, modify: func(h http.Header) {
			for _, k := range []string{"id", "timestamp", "signature"} {
				h.Set("webhook-"+k, h.Get("svix-"+k))
			}
			h.Del("svix-signature")
		}},
		{name: "svix-* complete and wrong, webhook-* right", modify: func(h http.Header) {
			for _, k := range []string{"id", "timestamp", "signature"} {
				h.Set("webhook-"+k, h.Get("svix-"+k))
			}
			h.Set("svix-signature", bad)
		}},
		{name: "other id than signed", modify: func(h http.Header) { h.Set("svix-id", "msg_other") }},
		{name: "within tolerance in the past", at: -svixTolerance + 5*time.Second, accept: true},
		{name: "within tolerance in the future", at: svixTolerance - 5*time.Second, accept: true},
	}
	for _, prefix := range []string{"", "whsec_"} {
		for _, c := range cases {
			ts := time.Now().Add(c.at)
			h := svixHeader(libMsgID, strconv.FormatInt(ts.Unix(), 10), libSign(t, libSecret, libMsgID, ts, body))
			if c.modify != nil {
				c.modify(h)
			}
			if got := assertAgree(t, prefix+c.name, []string{prefix + libSecret}, body, h); got != c.accept {
				t.Errorf("%s%s: accepted %v, want %v", prefix, c.name, got, c.accept)
			}
		}
	}
}

func TestSvixVerifierRotation(t *testing.T) {
	body := []byte(libBody)
	old, next := libSecret, "whsec_"+strings.Repeat("QUJD", 8)
	now := time.Now()
	h := svixHeader(libMsgID, strconv.FormatInt(now.Unix(), 10), libSign(t, next, libMsgID, now, body))
	if !assertAgree(t, "second secret signs", []string{old, next}, body, h) {
		t.Error("a webhook signed with the second secret was refused")
	}
	if assertAgree(t, "neither secret signs", []string{old}, body, h) {
		t.Error("a webhook signed with an unconfigured secret was accepted")
	}
}

// TestSvixVerifierKnownVector is the library's TestWebhookSign vector,
// checked at the moment it was signed.
func TestSvixVerifierKnownVector(t *testing.T) {
	v, err := newSvixVerifier([]config.Secret{"whsec_" + libSecret})
	if err != nil {
		t.Fatal(err)
	}
	h := svixHeader(libMsgID, "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := v.verify([]byte(libBody), headerMap(h), time.Unix(1614265330, 0)); err != nil {
		t.Fatal(err)
	}
	if err := v.verify([]byte(libBody+" "), headerMap(h), time.Unix(1614265330, 0)); err == nil {
		t.Fatal("a changed body passed")
	}
}

// FuzzSvixVerifierAgreesWithLibrary varies id, timestamp (offset and
// spelling), body and the signature header, with or without the valid
// signature in it; its seeds run with every `go test`.
func FuzzSvixVerifierAgreesWithLibrary(f *testing.F) {
	f.Add("msg_1", int64(0), uint8(0), []byte(libBody), "", true)
	f.Add("msg_1", int64(-200), uint8(1), []byte(`{}`), "v1,AAAA v2,BBBB", true)
	f.Add("", int64(0), uint8(0), []byte(libBody), "v1,x", false)
	f.Add("msg_ü", int64(299), uint8(2), []byte{}, "  v1,,", true)
	f.Add("msg_1", int64(-400), uint8(0), []byte(libBody), "", true)
	f.Add("msg_1", int64(1e12), uint8(3), []byte(libBody), "v1", false)
	f.Fuzz(func(t *testing.T, id string, offset int64, spelling uint8, body []byte, sigs string, signed bool) {
		if d := offset % 1000; abs(abs(d)-300) < 3 {
			return // the library reads the clock later than we do: too close to call
		}
		now := time.Now()
		ts := now.Unix() + offset%1000
		if offset/1000 != 0 {
			ts = offset // far away, overflowing or negative
		}
		text := strconv.FormatInt(ts, 10)
		switch spelling % 4 {
		case 1:
			text = "+" + text
		case 2:
			text = "0" + text
		case 3:
			text += "x"
		}
		if signed {
			sigs = strings.TrimSpace(sigs + " " + libSign(t, libSecret, id, time.Unix(ts, 0), body))
		}
		h := http.Header{}
		// Header values cannot hold line breaks or NULs; Fiber never passes them.
		if !validHeaderValue(id) || !validHeaderValue(sigs) {
			return
		}
		for k, v := range map[string]string{"svix-id": id, "svix-timestamp": text, "svix-signature": sigs} {
			if v != "" {
				h.Set(k, v)
			}
		}
		assertAgree(t, "fuzz", []string{libSecret}, body, h)
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func validHeaderValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00") && s == strings.TrimSpace(s)
}

package producer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/sample"
)

// A signed system batch with no items makes no events: there is nothing to
// store, so it is answered 200 with events 0 whatever Kafka and the spool
// are doing, as it is when Kafka is up.
func TestEmptyKlaviyoBatchWhileNothingCanStore(t *testing.T) {
	// The spool is full, and the Kafka check has not run (no background
	// loops here), so Kafka counts as away.
	r := newRig(t, rigOptions{spool: true, dir: fullSpoolDir(t), maxBytes: 16, unserved: true})

	body := []byte(`{"data":[],"meta":{"klaviyo_account_id":"A","klaviyo_webhook_id":"wh_empty"}}`)
	req := httptest.NewRequest("POST", "/webhooks/klaviyo/system", bytes.NewReader(body))
	req.Header = sample.KlaviyoSystemHeaders(r.system, "wh_empty", time.Now(), body)
	resp, err := r.srv.App().Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ack map[string]any
	if err := json.Unmarshal(raw, &ack); err != nil || resp.StatusCode != http.StatusOK || ack["events"] != 0.0 || ack["status"] != outcomeAccepted {
		t.Fatalf("answer %d %s; want 200 with events 0", resp.StatusCode, raw)
	}
	if n := r.spool.Len(); n != 1 {
		t.Errorf("spool holds %d; want the 1 older webhook only", n)
	}
}

// panickingPublisher stands in for a bug anywhere in a handler.
type panickingPublisher struct{}

func (panickingPublisher) Publish(*kgo.Record, func(error)) { panic("planted bug") }

// A panic in a handler is answered 500 JSON, logged at ERROR with its
// stack, counted, and the receiver goes on serving.
func TestHandlerPanicIsAnswered500AndServingGoesOn(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Publisher = panickingPublisher{} }})
	r.waitReady(t, http.StatusOK)
	body, _ := sample.NewGenerator(3).Pique(time.Now())
	for range 2 { // the second answer shows the first panic took nothing down
		a := r.postPique(t, "msg_panic", body)
		if msg, _ := a.body["error"].(string); a.code != http.StatusInternalServerError || msg == "" || strings.Contains(msg, "planted") {
			t.Fatalf("answer %d %v; want 500 with an error that does not reveal the panic", a.code, a.body)
		}
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "planted bug") || !strings.Contains(logs, "panic_test.go") {
		t.Errorf("want an ERROR line with the panic and its stack; logs:\n%s", logs)
	}
	if a := post(t, r.url+"/webhooks/klaviyo/flow", sample.TokenHeaders(r.flow), []byte(`{"event_id":"f1"}`)); a.code != http.StatusInternalServerError {
		t.Fatalf("klaviyo flow answer %d %v; want 500", a.code, a.body)
	}
	for source, want := range map[string]float64{"pique": 2, "klaviyo-flow": 1} {
		if got := metric(t, r.url, `hookbridge_receiver_panics_total{source="`+source+`"}`); got != want {
			t.Errorf("hookbridge_receiver_panics_total{source=%q} = %v, want %v", source, got, want)
		}
	}
	if hz, err := http.Get(r.url + "/healthz"); err != nil || hz.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after the panics: %v %v", hz, err)
	} else {
		hz.Body.Close()
	}
}

package producer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers/dedupe"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/schemas"
)

func klaviyoSign(secret string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	m.Write([]byte(ts))
	return hex.EncodeToString(m.Sum(nil))
}

func TestKlaviyoSystemSignature(t *testing.T) {
	now := time.Date(2026, 4, 14, 3, 50, 12, 0, time.UTC)
	tol := 5 * time.Minute
	v, err := newKlaviyoVerifier(config.KlaviyoSystemSource{Secrets: []config.Secret{"new-secret-0123456", "old-secret-0123456"}, Tolerance: &tol},
		func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"data":[],"meta":{"klaviyo_account_id":"A","klaviyo_webhook_id":"wh_1","timestamp":"x"}}`)
	stamp := "Tue, 14 Apr 2026 03:50:12 GMT"
	good := headerMap{"Klaviyo-Signature": {klaviyoSign("new-secret-0123456", body, stamp)}, "Klaviyo-Timestamp": {stamp}, "Klaviyo-Webhook-Id": {"wh_1"}}
	with := func(k, val string) headerMap {
		h := headerMap{}
		for name, vs := range good {
			h[name] = vs
		}
		if val == "" {
			delete(h, k)
		} else {
			h[k] = []string{val}
		}
		return h
	}
	signedAt := func(ts string) headerMap {
		h := with("Klaviyo-Timestamp", ts)
		h["Klaviyo-Signature"] = []string{klaviyoSign("new-secret-0123456", body, ts)}
		return h
	}
	cases := []struct {
		name   string
		body   []byte
		h      headerMap
		reason string // "" = accepted
	}{
		{"good", body, good, ""},
		{"rotated: the old secret still verifies", body, with("Klaviyo-Signature", klaviyoSign("old-secret-0123456", body, stamp)), ""},
		{"RFC 3339 timestamp", body, signedAt("2026-04-14T03:52:00Z"), ""},
		{"unix seconds", body, signedAt(strconv.FormatInt(now.Unix(), 10)), ""},
		{"unix milliseconds", body, signedAt(strconv.FormatInt(now.UnixMilli(), 10)), ""},
		{"tampered body", append(bytes.Clone(body), ' '), good, "unauthorized"},
		{"other secret", body, with("Klaviyo-Signature", klaviyoSign("someone-elses-secret", body, stamp)), "unauthorized"},
		{"truncated signature", body, with("Klaviyo-Signature", klaviyoSign("new-secret-0123456", body, stamp)[:32]), "unauthorized"},
		{"timestamp changed after signing", body, with("Klaviyo-Timestamp", "Tue, 14 Apr 2026 03:50:13 GMT"), "unauthorized"},
		{"stale timestamp", body, signedAt("Tue, 14 Apr 2026 03:44:00 GMT"), "stale_timestamp"},
		{"future timestamp", body, signedAt("Tue, 14 Apr 2026 03:56:00 GMT"), "stale_timestamp"},
		{"missing signature", body, with("Klaviyo-Signature", ""), "unauthorized"},
		{"missing timestamp", body, with("Klaviyo-Timestamp", ""), "unauthorized"},
		{"missing webhook id", body, with("Klaviyo-Webhook-Id", ""), "unauthorized"},
		{"webhook id mismatch", body, with("Klaviyo-Webhook-Id", "wh_2"), "webhook_id_mismatch"},
	}
	for _, c := range cases {
		err := v.Verify(c.body, c.h)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.reason != "" && err == nil:
			t.Errorf("%s: accepted", c.name)
		case c.reason != "" && rejectReason(err) != c.reason:
			t.Errorf("%s: reason %q (%v); want %q", c.name, rejectReason(err), err, c.reason)
		}
	}
	off := time.Duration(0)
	v2, _ := newKlaviyoVerifier(config.KlaviyoSystemSource{Secrets: []config.Secret{"new-secret-0123456"}, Tolerance: &off}, func() time.Time { return now })
	if err := v2.Verify(body, signedAt("Mon, 01 Jan 2024 00:00:00 GMT")); err != nil {
		t.Errorf("tolerance 0 must turn the timestamp check off: %v", err)
	}
}

// A 1,000-item batch becomes exactly 1,000 records: each with its own
// event id, key, topic and raw bytes as they appear in the body.
func TestKlaviyoSystemBatchBecomesOneRecordPerItem(t *testing.T) {
	r := newRig(t, rigOptions{})
	body, items := sample.NewGenerator(7).KlaviyoSystem(time.Now(), "wh_batch", 1000)
	a := post(t, r.url+"/webhooks/klaviyo/system", sample.KlaviyoSystemHeaders(r.system, "wh_batch", time.Now(), body), body)
	if a.code != http.StatusOK || a.body["events"] != 1000.0 {
		t.Fatalf("answer %d %v; want 200 with events 1000", a.code, a.body)
	}
	if _, ok := a.body["event_id"]; ok {
		t.Errorf("answer %v names one event_id for 1,000 events", a.body)
	}
	recs := r.env.ReadAll(t, r.env.Config.Topics.Klaviyo())
	if len(recs) != 1000 {
		t.Fatalf("%d records; want 1000", len(recs))
	}
	byID := map[string]*kgo.Record{}
	for _, rec := range recs {
		byID[schemas.Header(rec, schemas.HeaderEventID)] = rec
	}
	for _, it := range items {
		rec := byID[it.ExternalID]
		if rec == nil {
			t.Fatalf("no record for %s", it.ExternalID)
		}
		ev, err := r.env.Schemas.DecodeEvent(context.Background(), rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		k := ev.(*schemas.KlaviyoWebhook)
		if string(rec.Key) != it.ProfileID || k.WebhookKind != "system" || *k.Topic != it.Topic || *k.Email != it.Email ||
			*k.WebhookID != "wh_batch" || *k.AccountID != "AbC123" || k.OccurredAt == nil || k.MetricName == nil ||
			schemas.Header(rec, schemas.HeaderSource) != "klaviyo-system" {
			t.Fatalf("record of %s: key %q, event %+v", it.ExternalID, rec.Key, k)
		}
		if !bytes.Contains(body, []byte(k.RawJSON)) || !bytes.HasPrefix([]byte(k.RawJSON), []byte(`{"external_id":"`+it.ExternalID)) &&
			!bytes.Contains([]byte(k.RawJSON), []byte(`"external_id":"`+it.ExternalID+`"`)) {
			t.Fatalf("raw_json of %s is not its item's bytes from the body: %.200s", it.ExternalID, k.RawJSON)
		}
	}
}

// raw_json of an item is its bytes exactly as in the body: whitespace,
// escapes, HTML and non-ASCII included.
func TestKlaviyoSystemRawBytesExact(t *testing.T) {
	item1 := "{ \"external_id\" : \"e1\",\n  \"topic\":\"event:klaviyo.opened_email\", \"payload\": {\"attributes\":{\"event_properties\":{\"Subject\":\"<b>Zoë</b> \\u2615 \\\"q\\\"\"}}}}"
	item2 := `{"external_id":"e2","topic":"event:klaviyo.sent_sms","payload":{"data":{"attributes":{"datetime":"2026-04-14T03:50:12+00:00"},"relationships":{"profile":{"data":{"type":"profile","id":"P2"}}}},"included":[{"type":"profile","id":"P2","attributes":{"email":"jürgen@example.com"}}]}}`
	body := []byte("{\"data\": [ " + item1 + " ,\n" + item2 + "], \"meta\": {\"klaviyo_webhook_id\":\"w\",\"klaviyo_account_id\":\"A\"}}")
	ms, err := mapKlaviyoSystem(&delivery{Body: body, ReceivedAt: time.Now()}, config.Topics{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("%d records; want 2", len(ms))
	}
	k1, k2 := ms[0].event.(*schemas.KlaviyoWebhook), ms[1].event.(*schemas.KlaviyoWebhook)
	if k1.RawJSON != item1 || k2.RawJSON != item2 {
		t.Fatalf("raw_json\n%q\n%q\nwant\n%q\n%q", k1.RawJSON, k2.RawJSON, item1, item2)
	}
	if ms[1].key != "P2" || *k2.Email != "jürgen@example.com" || k2.OccurredAt == nil || *k1.MetricName != "opened_email" || ms[0].key != "e1" {
		t.Fatalf("typed fields: %+v / %+v (keys %q %q)", k1, k2, ms[0].key, ms[1].key)
	}
}

// Whether Klaviyo sets Content-Type on flow webhooks is not documented, so
// that route reads the body as JSON whatever the header says (invalid JSON
// is still 400); the other routes keep 415.
func TestKlaviyoFlowTakesJSONWhateverTheContentType(t *testing.T) {
	r := newRig(t, rigOptions{})
	flow := r.url + "/webhooks/klaviyo/flow"
	typed := func(token, ct string) http.Header {
		h := sample.TokenHeaders(token)
		if h.Del("Content-Type"); ct != "" {
			h.Set("Content-Type", ct)
		}
		return h
	}
	for i, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "no/such; type"} {
		body := []byte(`{"event_id":"ct-` + strconv.Itoa(i) + `","email":"a@example.com"}`)
		if a := post(t, flow, typed(r.flow, ct), body); a.code != http.StatusOK || a.body["event_id"] != "ct-"+strconv.Itoa(i) {
			t.Errorf("Content-Type %q: answer %d %v; want 200", ct, a.code, a.body)
		}
	}
	if a := post(t, flow, typed(r.flow, "text/plain"), []byte(`event_id=1`)); a.code != http.StatusBadRequest {
		t.Errorf("a body that is not JSON: %d %v; want 400", a.code, a.body)
	}
	body, _ := sample.NewGenerator(4).ProductAgents(time.Now())
	for _, ct := range []string{"", "text/plain"} {
		if a := post(t, r.url+"/webhooks/product-agents", typed(r.token, ct), body); a.code != http.StatusUnsupportedMediaType {
			t.Errorf("product agents with Content-Type %q: %d %v; want 415", ct, a.code, a.body)
		}
	}
	if n := len(r.env.ReadAll(t, r.env.Config.Topics.Klaviyo())); n != 4 {
		t.Errorf("%d flow records; want 4", n)
	}
}

// Flow webhooks: the id at the configured path, else the SHA-256 of the
// body; any header the merchant chose; several tokens.
func TestKlaviyoFlow(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		o.Receiver.Klaviyo.Flow.Tokens = append(o.Receiver.Klaviyo.Flow.Tokens, "second-token")
	}})
	withID := []byte(`{"event_id":"01HORDER-42","email":"zoë@example.com","profile_id":"01HPROF","type":"Placed Order","occurred_at":"2026-04-14T03:50:12Z","note":"<i>gift</i>"}`)
	noID := []byte(`{"email":"a@example.com","type":"Placed Order"}`)
	for _, c := range []struct {
		body    []byte
		token   string
		id, key string
	}{
		{withID, r.flow, "01HORDER-42", "01HPROF"},
		{noID, "second-token", bodyHash(noID), "a@example.com"},
	} {
		a := post(t, r.url+"/webhooks/klaviyo/flow", sample.TokenHeaders(c.token), c.body)
		if a.code != http.StatusOK || a.body["event_id"] != c.id || a.body["events"] != 1.0 {
			t.Fatalf("answer %d %v; want 200 with event_id %s", a.code, a.body, c.id)
		}
	}
	if a := post(t, r.url+"/webhooks/klaviyo/flow", sample.TokenHeaders(r.flow[:len(r.flow)-1]), withID); a.code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d %v; want 401", a.code, a.body)
	}
	recs := r.env.ReadAll(t, r.env.Config.Topics.Klaviyo())
	if len(recs) != 2 {
		t.Fatalf("%d records; want 2", len(recs))
	}
	for _, rec := range recs {
		ev, err := r.env.Schemas.DecodeEvent(context.Background(), rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		k := ev.(*schemas.KlaviyoWebhook)
		if k.WebhookKind != "flow" || schemas.Header(rec, schemas.HeaderSource) != "klaviyo-flow" || (k.RawJSON != string(withID) && k.RawJSON != string(noID)) {
			t.Fatalf("flow record: %+v", k)
		}
		if k.EventID == "01HORDER-42" && (string(rec.Key) != "01HPROF" || *k.Email != "zoë@example.com" || k.OccurredAt == nil) {
			t.Fatalf("flow record: key %q %+v", rec.Key, k)
		}
	}
}

// A merchant's own header holds the token as its whole value.
func TestKlaviyoFlowCustomHeader(t *testing.T) {
	v, err := newTokenVerifier("X-Webhook-Secret", "s3cret-s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(nil, headerMap{"X-Webhook-Secret": {"s3cret-s3cret"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []headerMap{{"X-Webhook-Secret": {"Bearer s3cret-s3cret"}}, {"Authorization": {"Bearer s3cret-s3cret"}}, {"X-Webhook-Secret": {"s3cret"}}} {
		if v.Verify(nil, bad) == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The system route has its own body limit, above the app's default.
func TestKlaviyoSystemBodyLimitIsItsOwn(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Receiver.Klaviyo.System.BodyLimit = 3 << 20 }})
	body, _ := sample.NewGenerator(3).KlaviyoSystem(time.Now(), "wh", 2500) // well over 1 MiB
	if len(body) <= 1<<20 || len(body) > 3<<20 {
		t.Fatalf("sample batch is %d bytes; want between 1 and 3 MiB", len(body))
	}
	if a := post(t, r.url+"/webhooks/klaviyo/system", sample.KlaviyoSystemHeaders(r.system, "wh", time.Now(), body), body); a.code != http.StatusOK {
		t.Fatalf("answer %d %v; want 200", a.code, a.body)
	}
	// Product Agents keeps its 1 MiB: a declared length above it gets 413
	// from the headers alone, though the app takes 3 MiB on another route.
	head := "POST /webhooks/product-agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa((1<<20)+1) + "\r\n\r\n"
	if got := rawExchange(t, r.url, head); !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Fatalf("Product Agents over its 1 MiB limit: %q; want 413", got)
	}
}

// onceFailingPublisher fails the records whose event ids it is told to, once.
type onceFailingPublisher struct {
	inner Publisher
	mu    sync.Mutex
	fail  map[string]bool
}

func (p *onceFailingPublisher) Publish(rec *kgo.Record, done func(error)) {
	id := schemas.Header(rec, schemas.HeaderEventID)
	p.mu.Lock()
	failing := p.fail[id]
	delete(p.fail, id)
	p.mu.Unlock()
	if failing {
		done(errors.New("NOT_ENOUGH_REPLICAS (injected)"))
		return
	}
	p.inner.Publish(rec, done)
}

// A batch the broker acknowledges only in part is not acknowledged: the
// sender retries the whole batch, and every event ends up in the topic
// (some twice, which dedupe removes).
func TestKlaviyoSystemPartlyAckedBatchIsNotAcknowledged(t *testing.T) {
	body, items := sample.NewGenerator(9).KlaviyoSystem(time.Now(), "wh", 20)
	fp := &onceFailingPublisher{fail: map[string]bool{items[4].ExternalID: true, items[11].ExternalID: true}}
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		o.Receiver.Klaviyo.System.Spool = new(false)
		fp.inner = o.Publisher
		o.Publisher = fp
	}})
	url := r.url + "/webhooks/klaviyo/system"
	if a := post(t, url, sample.KlaviyoSystemHeaders(r.system, "wh", time.Now(), body), body); a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("answer %d %v; want 503 with Retry-After while 2 of 20 records are not acknowledged", a.code, a.body)
	}
	if a := post(t, url, sample.KlaviyoSystemHeaders(r.system, "wh", time.Now(), body), body); a.code != http.StatusOK || a.body["events"] != 20.0 {
		t.Fatalf("retry: %d %v; want 200 with events 20", a.code, a.body)
	}
	ids := map[string]int{}
	for _, rec := range r.env.ReadAll(t, r.env.Config.Topics.Klaviyo()) {
		ids[schemas.Header(rec, schemas.HeaderEventID)]++
	}
	for i, it := range items {
		want := 2
		if i == 4 || i == 11 {
			want = 1
		}
		if ids[it.ExternalID] != want {
			t.Errorf("%s in the topic %d times; want %d", it.ExternalID, ids[it.ExternalID], want)
		}
	}
	// The copies of the half-stored batch are what dedupe is for: each id
	// is once in the deduplicated topic.
	deduped := dedupeAll(t, r.env, r.env.Config.Topics.Klaviyo())
	for _, it := range items {
		if deduped[it.ExternalID] != 1 {
			t.Errorf("%s in %s %d times; want once", it.ExternalID, r.env.Config.Topics.Deduped(r.env.Config.Topics.Klaviyo()), deduped[it.ExternalID])
		}
	}
	if len(deduped) != len(items) {
		t.Errorf("%d event ids in the deduplicated topic; want %d", len(deduped), len(items))
	}
}

// dedupeAll runs the dedupe group over topic until it committed every
// record written so far, and returns how often each event id is in the
// deduplicated topic.
func dedupeAll(t *testing.T, env *testkit.Env, topic string) map[string]int {
	t.Helper()
	c := dedupe.Config{Group: "dedupe-" + topic, Topics: []string{topic}, Output: env.Config.Topics.Deduped,
		Changelog: topics.DedupeChangelog, Window: 7 * 24 * time.Hour, MaxIDsPerPartition: 1 << 20,
		TransactionalID: "dedupe-" + topic + "-test", Schemas: env.Schemas}
	opts := env.ConsumerOptions(t)
	stop := testkit.Background("dedupe", func(ctx context.Context) error { return dedupe.Run(ctx, opts, c) })
	ends := map[int32]int64{}
	for _, rec := range env.ReadAll(t, topic) {
		ends[rec.Partition] = max(ends[rec.Partition], rec.Offset+1)
	}
	testkit.Eventually(t, 60*time.Second, "dedupe commits every record of "+topic, func() bool {
		got, err := env.FetchCommitted(t, c.Group)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if got[topic][p] < end {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatalf("dedupe: %v", err)
	}
	out := map[string]int{}
	for _, rec := range env.ReadAll(t, env.Config.Topics.Deduped(topic)) {
		out[schemas.Header(rec, schemas.HeaderEventID)]++
	}
	return out
}

// countingPublisher acknowledges every record at once without sending it.
type countingPublisher struct{ n atomic.Int64 }

func (p *countingPublisher) Publish(_ *kgo.Record, done func(error)) { p.n.Add(1); done(nil) }

// The drainer keeps to a record budget, not an entry count: spooled batches
// of 1,000 events each are produced a few entries per round, never more
// records than half the producer's buffer (which would fail at once).
func TestDrainerKeepsToARecordBudget(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.waitReady(t, http.StatusOK)
	body, _ := sample.NewGenerator(1).KlaviyoSystem(time.Now(), "wh", 1000)
	entries := make([]spoolEntry, 25)
	for i := range entries {
		entries[i] = spoolEntry{seq: uint64(i + 1), d: delivery{Source: "klaviyo-system", ReceivedAt: time.Now(), Body: body}}
	}
	cp := &countingPublisher{}
	r.srv.opts.Publisher = cp
	results := r.srv.publishEntries(entries)
	if len(results) != drainRecordBudget/1000 || cp.n.Load() != int64(len(results))*1000 {
		t.Fatalf("one round produced %d entries, %d records; want %d entries within the %d-record budget",
			len(results), cp.n.Load(), drainRecordBudget/1000, drainRecordBudget)
	}
	for _, a := range results {
		if err := a.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

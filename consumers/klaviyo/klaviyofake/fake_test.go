package klaviyofake

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const key = "pk_fake"

func post(t *testing.T, f *Fake, path, body string, edit func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Klaviyo-API-Key "+key)
	req.Header.Set("revision", "2026-07-15")
	req.Header.Set("Content-Type", "application/vnd.api+json")
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func bulkEvent(uid string) string {
	return `{"type":"event","attributes":{"metric":{"data":{"type":"metric","attributes":{"name":"M"}}},"properties":{},"time":"2026-01-01T00:00:00Z","unique_id":"` + uid + `"}}`
}

func bulk(events ...string) string {
	return `{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile","attributes":{"email":"a@example.com"}}},"events":{"data":[` +
		strings.Join(events, ",") + `]}}}]}}}}`
}

// The fake enforces the documented contract.
func TestContract(t *testing.T) {
	f := New(Options{APIKey: key, Bulk: Limit{Burst: 100, BurstWindow: time.Second, Steady: 100, SteadyWindow: time.Minute}})
	defer f.Close()
	single := `{"data":{"type":"event","attributes":{"metric":{"data":{"type":"metric","attributes":{"name":"M"}}},"profile":{"data":{"type":"profile","attributes":{"email":"a@example.com"}}},"properties":{"x":1},"unique_id":"s1"}}}`
	for _, c := range []struct {
		name, path, body string
		edit             func(*http.Request)
		want             int
	}{
		{"single ok", PathEvents, single, nil, 202},
		{"bulk ok", PathBulkEvents, bulk(bulkEvent("b1"), bulkEvent("b2")), nil, 202},
		{"no key", PathEvents, single, func(r *http.Request) { r.Header.Del("Authorization") }, 401},
		{"wrong key", PathEvents, single, func(r *http.Request) { r.Header.Set("Authorization", "Klaviyo-API-Key pk_x") }, 401},
		{"no revision", PathEvents, single, func(r *http.Request) { r.Header.Del("revision") }, 400},
		{"wrong media type", PathEvents, single, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, 415},
		{"not JSON:API", PathEvents, `{"event":"M"}`, nil, 400},
		{"no identifier", PathEvents, strings.Replace(single, `"email":"a@example.com"`, `"first_name":"A"`, 1), nil, 400},
		{"duplicate unique_id in bulk", PathBulkEvents, bulk(bulkEvent("d1"), bulkEvent("d1")), nil, 400},
		{"too large", PathBulkEvents, bulk(bulkEvent(strings.Repeat("x", MaxPayload))), nil, 413},
		{"unknown path", "/api/track", single, nil, 404},
	} {
		if got := post(t, f, c.path, c.body, c.edit).StatusCode; got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// A resend is accepted and dropped by unique_id.
	post(t, f, PathBulkEvents, bulk(bulkEvent("b1")), nil)
	if s := f.Stats(); f.Stored() != 3 || s.Duplicates != 1 {
		t.Errorf("stored %d, duplicates %d; want 3 and 1", f.Stored(), s.Duplicates)
	}
}

// Past its limit the fake answers 429 with Retry-After; below it, the
// RateLimit-* headers describe the steady window.
func TestRateLimit(t *testing.T) {
	f := New(Options{APIKey: key, Bulk: Limit{Burst: 2, BurstWindow: time.Minute, Steady: 5, SteadyWindow: time.Minute}})
	defer f.Close()
	r := post(t, f, PathBulkEvents, bulk(bulkEvent("r1")), nil)
	if r.StatusCode != 202 || r.Header.Get("RateLimit-Limit") != "5" || r.Header.Get("RateLimit-Remaining") != "4" {
		t.Errorf("first: %d %v", r.StatusCode, r.Header)
	}
	post(t, f, PathBulkEvents, bulk(bulkEvent("r2")), nil)
	r = post(t, f, PathBulkEvents, bulk(bulkEvent("r3")), nil)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Remaining") != "" {
		t.Errorf("third: %d %v; want 429 with Retry-After only", r.StatusCode, r.Header)
	}
}

package klaviyo

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
)

// An answer no event can cause (a wrong base_url's 404, a method or media
// type a proxy refuses, a retired endpoint's 410) stops the partition
// uncommitted with an error naming base_url; none of the events is
// dead-lettered, so fixing the URL and restarting loses nothing.
func TestProcessorStopsOnSetupErrors(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone, http.StatusUnsupportedMediaType, http.StatusConflict} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			ctx := testContext(t, 10*time.Second)
			p := h.processor(Options{})
			// Every request, the single events isolating a batch included.
			for range 50 {
				h.fake.Inject(klaviyofake.Fault{Status: status})
			}
			recs := h.records(decisions("setup", 10)...)
			if err := p.Process(ctx, recs); err != nil {
				t.Fatal(err)
			}
			checkSetupStop(t, h, p, p.Flush(ctx), recs[0].Offset)
		})
	}
}

// A redirect (an http:// base_url, a moved host) is not followed: a
// followed POST becomes a GET, whose answer says nothing about the events.
func TestProcessorStopsOnRedirect(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, h.fake.URL()+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(redirect.Close)
	var err error
	h.client, err = NewClient(ClientOptions{BaseURL: redirect.URL, APIKey: testKey, Bulk: fastLimit, Single: fastLimit,
		Backoff: Backoff{Base: time.Millisecond, Cap: 20 * time.Millisecond}, Logger: h.logs.Logger(), Metrics: h.metrics})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	recs := h.records(decisions("moved", 10)...)
	if err := p.Process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	err = p.Flush(ctx)
	checkSetupStop(t, h, p, err, recs[0].Offset)
	if err != nil && !strings.Contains(err.Error(), "redirecting to "+h.fake.URL()) {
		t.Errorf("the error does not say where the redirect points: %v", err)
	}
}

func checkSetupStop(t *testing.T, h *harness, p *Processor, err error, first int64) {
	t.Helper()
	if !errors.Is(err, ErrMisconfigured) || !strings.Contains(err.Error(), "klaviyo.base_url") {
		t.Errorf("flush: %v; want ErrMisconfigured naming klaviyo.base_url", err)
	}
	if got := held(p); got != first {
		t.Errorf("pending %d, want %d: the offset must not move past events Klaviyo never saw", got, first)
	}
	if n := len(h.deadLetters()); n != 0 {
		t.Errorf("%d events dead-lettered for a setup error", n)
	}
	if n := h.fake.Stored(); n != 0 {
		t.Errorf("the fake stored %d events", n)
	}
	if err != nil && strings.Contains(err.Error(), "injected fault") {
		t.Errorf("the stop error, logged at error level, carries Klaviyo's detail: %v", err)
	}
}

// 408 and 425 come from a proxy or load balancer and say nothing about the
// events: they are retried like a 5xx and the events arrive.
func TestClientRetriesTransientProxyAnswers(t *testing.T) {
	for _, status := range []int{http.StatusRequestTimeout, http.StatusTooEarly} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			ctx := testContext(t, 10*time.Second)
			p := h.processor(Options{})
			// More than a split batch's requests, so that a client that
			// took them for rejections would dead-letter every event.
			const faults = 20
			for range faults {
				h.fake.Inject(klaviyofake.Fault{Status: status})
			}
			evs := decisions("proxy", 10)
			if err := p.Process(ctx, h.records(evs...)); err != nil {
				t.Fatal(err)
			}
			if err := p.Flush(ctx); err != nil || held(p) != -1 {
				t.Fatalf("flush: pending %d, err %v", held(p), err)
			}
			expectStored(t, h.fake, NewMapper(MappingOptions{}), evs)
			if n := len(h.deadLetters()); n != 0 {
				t.Errorf("%d events dead-lettered for a transient %d", n, status)
			}
			if got := h.fake.Stats().Requests[klaviyofake.PathBulkEvents][status]; got != faults {
				t.Errorf("%d answers of %d to the bulk request, want the %d injected", got, status, faults)
			}
		})
	}
}

// Package klaviyofake is an in-process Klaviyo Events API for tests and
// benchmarks. It enforces the contract the forwarder relies on, as written
// in the shared Klaviyo reference: the Authorization and revision headers,
// the JSON:API shapes of POST /api/events and POST
// /api/event-bulk-create-jobs, the size limits, 202 on success, 429 with
// Retry-After past its configured burst and steady limits (RateLimit-*
// headers otherwise), 400 for invalid events and for a unique_id repeated in
// one bulk request, and Klaviyo's dedup: the first event per (profile,
// metric, unique_id) is kept, later ones are dropped.
//
// Faults (5xx, stalls, answers lost after the events were taken) are
// injected with Inject. Only tests import this package.
package klaviyofake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths of the two endpoints.
const (
	PathEvents     = "/api/events"
	PathBulkEvents = "/api/event-bulk-create-jobs"
)

// Limit is an endpoint's rate limit: Burst requests in any BurstWindow,
// Steady in any SteadyWindow. Scale the windows down to run Klaviyo's
// limits faster.
type Limit struct {
	Burst        int
	BurstWindow  time.Duration
	Steady       int
	SteadyWindow time.Duration
}

// Options configure a Fake.
type Options struct {
	// APIKey is the one private key accepted; others get 401.
	APIKey string
	// ForbiddenKeys are keys without events:write: they get 403.
	ForbiddenKeys []string
	// Bulk and Single are the rate limits; Klaviyo's documented ones when
	// zero (10/s·150/min and 350/s·3500/min).
	Bulk, Single Limit
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// CountOnly keeps dedup keys and counters but not the events, for
	// benchmarks that send millions.
	CountOnly bool
	// FractionalRetryAfter sends Retry-After with millisecond precision
	// ("0.25") instead of whole seconds, for limits scaled to short
	// windows.
	FractionalRetryAfter bool
}

// Event is an event the fake stored.
type Event struct {
	Profile    map[string]any
	Metric     string
	Properties map[string]any
	Time       time.Time
	UniqueID   string
	// Path is the endpoint it came through.
	Path string
}

// Email is the profile's email, if any.
func (e Event) Email() string { s, _ := e.Profile["email"].(string); return s }

// ExternalID is the profile's external_id, if any.
func (e Event) ExternalID() string { s, _ := e.Profile["external_id"].(string); return s }

// Fault changes the answer to one matching request.
type Fault struct {
	// Path limits the fault to one endpoint; "" matches both.
	Path string
	// Status is the answer (500, 503, ...); 0 keeps the normal answer.
	Status int
	// Delay stalls the answer, as a slow or hung server does.
	Delay time.Duration
	// Accept processes the request normally before the fault applies: the
	// events are taken but the client sees a failure or a timeout.
	Accept bool
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
}

// Stats counts what the fake answered.
type Stats struct {
	// Requests by path and status.
	Requests map[string]map[int]int
	// Deliveries counts events taken, duplicates included.
	Deliveries int
	// Duplicates counts events dropped because their unique_id was known.
	Duplicates int
}

// Total is the number of requests to path with any status.
func (s Stats) Total(path string) int {
	n := 0
	for _, c := range s.Requests[path] {
		n += c
	}
	return n
}

// Fake is a running fake Klaviyo.
type Fake struct {
	o   Options
	srv *httptest.Server

	mu      sync.Mutex
	faults  []Fault
	windows map[string]*window
	events  []Event
	stored  int
	byKey   map[string]int
	stats   Stats
	waiters []waiter
}

type waiter struct {
	n  int
	ch chan struct{}
}

// New starts a fake on a loopback port.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(l, d Limit) Limit {
		if l.Steady == 0 {
			return d
		}
		return l
	}
	o.Bulk = def(o.Bulk, Limit{10, time.Second, 150, time.Minute})
	o.Single = def(o.Single, Limit{350, time.Second, 3500, time.Minute})
	f := &Fake{o: o, byKey: make(map[string]int), windows: map[string]*window{
		PathBulkEvents: {limit: o.Bulk},
		PathEvents:     {limit: o.Single},
	}, stats: Stats{Requests: make(map[string]map[int]int)}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// URL is the base URL to give the client.
func (f *Fake) URL() string { return f.srv.URL }

// Close stops the server.
func (f *Fake) Close() { f.srv.CloseClientConnections(); f.srv.Close() }

// Inject queues faults; each applies to the next request it matches.
func (f *Fake) Inject(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, faults...)
}

// Events returns the stored events in the order they were taken.
func (f *Fake) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

// Stored is the number of distinct events stored.
func (f *Fake) Stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stored
}

// Stats returns a copy of the counters.
func (f *Fake) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Requests = make(map[string]map[int]int, len(f.stats.Requests))
	for p, m := range f.stats.Requests {
		s.Requests[p] = make(map[int]int, len(m))
		for k, v := range m {
			s.Requests[p][k] = v
		}
	}
	return s
}

// WaitStored blocks until at least n events are stored or ctx ends.
func (f *Fake) WaitStored(ctx context.Context, n int) error {
	f.mu.Lock()
	if f.stored >= n {
		f.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	f.waiters = append(f.waiters, waiter{n, ch})
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("klaviyofake: waiting for %d events (have %d): %w", n, f.Stored(), ctx.Err())
	}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	status := f.handle(w, r)
	f.mu.Lock()
	if f.stats.Requests[r.URL.Path] == nil {
		f.stats.Requests[r.URL.Path] = make(map[int]int)
	}
	f.stats.Requests[r.URL.Path][status]++
	f.mu.Unlock()
}

// handle answers one request and returns the status it wrote.
func (f *Fake) handle(w http.ResponseWriter, r *http.Request) int {
	if r.URL.Path != PathEvents && r.URL.Path != PathBulkEvents {
		return writeError(w, http.StatusNotFound, "not_found", "Not found.", "no such endpoint", "")
	}
	if r.Method != http.MethodPost {
		return writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed.", r.Method, "")
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Klaviyo-API-Key ")
	switch {
	case !ok || key == "":
		return writeError(w, http.StatusUnauthorized, "not_authenticated", "Authentication credentials were not provided.", "missing Klaviyo-API-Key authorization", "")
	case contains(f.o.ForbiddenKeys, key):
		return writeError(w, http.StatusForbidden, "permission_denied", "You do not have permission to perform this action.", "the key lacks the events:write scope", "")
	case key != f.o.APIKey:
		return writeError(w, http.StatusUnauthorized, "authentication_failed", "Incorrect authentication credentials.", "invalid private key", "")
	}
	fault, hasFault := f.takeFault(r.URL.Path)
	if hasFault && !fault.Accept {
		return f.applyFault(w, r, fault, 0)
	}
	if wait, ok := f.admit(r.URL.Path); !ok {
		w.Header().Set("Retry-After", f.retryAfter(wait))
		return writeError(w, http.StatusTooManyRequests, "throttled", "Request was throttled.", "rate limit exceeded", "")
	}
	f.rateHeaders(w, r.URL.Path)
	status := f.accept(w, r)
	if hasFault {
		return f.applyFault(w, r, fault, status)
	}
	if status == http.StatusAccepted {
		w.WriteHeader(status)
	}
	return status
}

func (f *Fake) retryAfter(wait time.Duration) string {
	if f.o.FractionalRetryAfter {
		return strconv.FormatFloat(math.Ceil(wait.Seconds()*1000)/1000, 'f', -1, 64)
	}
	return strconv.Itoa(int(math.Ceil(wait.Seconds())))
}

func (f *Fake) takeFault(path string) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ft := range f.faults {
		if ft.Path == "" || ft.Path == path {
			f.faults = append(f.faults[:i], f.faults[i+1:]...)
			return ft, true
		}
	}
	return Fault{}, false
}

// applyFault stalls and answers the fault's status; with Accept the events
// were taken already and a 202 stays unwritten until the stall ends (the
// client has usually given up by then).
func (f *Fake) applyFault(w http.ResponseWriter, r *http.Request, ft Fault, status int) int {
	// Reading the body to its end lets the server notice a client that
	// hangs up, which ends the stall.
	_, _ = io.Copy(io.Discard, r.Body)
	if ft.Delay > 0 {
		t := time.NewTimer(ft.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	if ft.RetryAfter != "" {
		w.Header().Set("Retry-After", ft.RetryAfter)
	}
	if ft.Status != 0 {
		return writeError(w, ft.Status, "server_error", "A server error occurred.", "injected fault", "")
	}
	if status == http.StatusAccepted {
		w.WriteHeader(status)
	}
	return status
}

// accept validates the request and stores its events. It writes error
// answers itself and leaves a 202 to the caller.
func (f *Fake) accept(w http.ResponseWriter, r *http.Request) int {
	if rev := r.Header.Get("revision"); !revisionRE.MatchString(rev) {
		return writeError(w, http.StatusBadRequest, "invalid", "Invalid input.", fmt.Sprintf("missing or malformed revision header %q", rev), "")
	}
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if ct = strings.TrimSpace(ct); ct != "application/vnd.api+json" && ct != "application/json" {
		return writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type.", ct, "")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxPayload))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return writeError(w, http.StatusRequestEntityTooLarge, "too_large", "Payload too large.", "the payload exceeds 5 MB", "")
		}
		return writeError(w, http.StatusBadRequest, "parse_error", "Malformed JSON.", err.Error(), "")
	}
	var evs []Event
	var bad *invalid
	if r.URL.Path == PathEvents {
		evs, bad = parseSingle(doc, f.o.Now())
	} else {
		evs, bad = parseBulk(doc, f.o.Now())
	}
	if bad != nil {
		return writeError(w, http.StatusBadRequest, "invalid", "Invalid input.", bad.detail, bad.pointer)
	}
	f.store(r.URL.Path, evs)
	return http.StatusAccepted
}

func (f *Fake) store(path string, evs []Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range evs {
		e.Path = path
		f.stats.Deliveries++
		k := dedupKey(e)
		if e.UniqueID != "" {
			if _, ok := f.byKey[k]; ok {
				f.stats.Duplicates++
				continue
			}
		}
		f.byKey[k] = len(f.events)
		f.stored++
		if !f.o.CountOnly {
			f.events = append(f.events, e)
		}
	}
	kept := f.waiters[:0]
	for _, wt := range f.waiters {
		if f.stored >= wt.n {
			close(wt.ch)
		} else {
			kept = append(kept, wt)
		}
	}
	f.waiters = kept
}

// dedupKey is Klaviyo's dedup scope: profile, metric, unique_id.
func dedupKey(e Event) string {
	return e.Email() + "\x00" + e.ExternalID() + "\x00" + e.Metric + "\x00" + e.UniqueID
}

func writeError(w http.ResponseWriter, status int, code, title, detail, pointer string) int {
	obj := map[string]any{"id": "fake-" + strconv.Itoa(status), "status": status, "code": code, "title": title, "detail": detail}
	if pointer != "" {
		obj["source"] = map[string]any{"pointer": pointer}
	}
	w.Header().Set("Content-Type", "application/vnd.api+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{obj}})
	return status
}

var revisionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$`)

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// MaxPayload is the 5 MB request limit.
const MaxPayload = 5 << 20

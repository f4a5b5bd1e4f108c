package klaviyo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint paths under the base URL (reference §2, §3).
const (
	PathEvents     = "/api/events"
	PathBulkEvents = "/api/event-bulk-create-jobs"
)

// Limits on one bulk request (reference §3, §4).
const (
	MaxBulkEvents = 1000
	MaxBulkBytes  = 5 << 20
)

// DefaultRevision is the API revision the forwarder is written against:
// the newest in Klaviyo's stored OpenAPI spec, which has both create
// endpoints as used here.
const DefaultRevision = "2026-07-15"

// ErrUnauthorized is wrapped by the error of a 401 or 403: the key is
// missing, invalid, public, or lacks events:write. Retrying cannot help.
var ErrUnauthorized = errors.New("klaviyo: the API key was refused (check that it is a private key with the events:write scope)")

// ErrMisconfigured is wrapped by the error of an answer no event can
// cause: a redirect, 404, 405, 410 (a wrong klaviyo.base_url, a retired
// endpoint), 415 or any other status that is neither retried nor a
// rejection of the content. Retrying cannot help and dead-lettering would
// empty the stream into the dead-letter topic, so the group stops,
// uncommitted.
var ErrMisconfigured = errors.New("klaviyo: the request did not reach Klaviyo's Events API as configured (check klaviyo.base_url, which is Klaviyo's address without /api such as https://a.klaviyo.com, and any proxy in between)")

// APIError is Klaviyo refusing the content of a request (400, 413, 422):
// retrying cannot change the answer, and the events go to the dead-letter
// topic with it.
type APIError struct {
	Endpoint string
	Status   int
	Errors   []ErrorObject
}

// ErrorObject is one JSON:API error of Klaviyo's (reference §6).
type ErrorObject struct {
	ID     string `json:"id,omitempty"`
	Code   string `json:"code,omitempty"`
	Title  string `json:"title,omitempty"`
	Detail string `json:"detail,omitempty"`
	Source struct {
		Pointer string `json:"pointer,omitempty"`
	} `json:"source"`
}

// Error is the whole answer, detail included: it goes in the dead-letter
// record's error header and in debug logs, never above debug, since the
// detail may quote an email.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "klaviyo: POST %s answered %d", e.Endpoint, e.Status)
	for i, o := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(strings.Join(nonEmpty(o.Code, o.Title, o.Detail), ": "))
		if o.Source.Pointer != "" {
			fmt.Fprintf(&b, " (at %s)", o.Source.Pointer)
		}
	}
	return b.String()
}

// Summary is the answer without Klaviyo's detail, for errors and logs
// above debug level.
func (e *APIError) Summary() string {
	return fmt.Sprintf("POST %s answered %d (codes %v)", e.Endpoint, e.Status, e.Codes())
}

// Codes returns the code of each of Klaviyo's errors, without the detail
// (which may quote an email), for logs at info level.
func (e *APIError) Codes() []string {
	codes := make([]string, len(e.Errors))
	for i, o := range e.Errors {
		codes[i] = o.Code
	}
	return codes
}

// Rejected reports whether the status is Klaviyo refusing the request's
// content (400, 413, 422): the events go to the dead-letter topic, after a
// bulk request is split to find which.
func (e *APIError) Rejected() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// PointsAtEvent reports whether one of Klaviyo's errors points into the
// request body (/data/...), which makes it about an event rather than
// about the request as configured.
func (e *APIError) PointsAtEvent() bool {
	for _, o := range e.Errors {
		if strings.HasPrefix(o.Source.Pointer, "/data") {
			return true
		}
	}
	return false
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Backoff is capped exponential backoff with jitter.
type Backoff struct {
	Base time.Duration // first wait; default 500ms
	Cap  time.Duration // longest wait; default 30s
}

// delay is the wait before retry n (0-based): min(cap, base·2^n), of which
// the upper half is random so that partitions and processes that failed
// together do not retry together.
func (b Backoff) delay(n int) time.Duration {
	base, limit := b.Base, b.longest()
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	d := limit
	if n < 30 && base<<n < limit {
		d = base << n
	}
	return d/2 + rand.N(d/2+1)
}

// longest is Cap or its default: the longest backoff, and the longest
// Retry-After the client follows.
func (b Backoff) longest() time.Duration {
	if b.Cap <= 0 {
		return 30 * time.Second
	}
	return b.Cap
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// BaseURL is Klaviyo's address; the client appends /api/....
	BaseURL string
	// APIKey is the private key; it only ever goes in the Authorization
	// header.
	APIKey string
	// Revision is the pinned API revision header.
	Revision string
	// HTTP is the client to use; a fresh one when nil.
	HTTP *http.Client
	// Timeout bounds one attempt (connect, send, answer); default 30s.
	Timeout time.Duration
	// Bulk and Single are the endpoints' rate limits; the documented ones
	// when zero. The quota is per account: when several processes share
	// it, give each its share.
	Bulk, Single Limit
	// Headroom is the fraction of each limit left unused so that latency
	// jitter never pushes a window over; 0.02 when nil, and 0 uses the
	// whole limit.
	Headroom *float64
	// Backoff paces retries of 429s without Retry-After, 5xx and network
	// errors.
	Backoff Backoff
	// MaxAttempts gives up a request after that many attempts; 0 retries
	// until the context ends (Klaviyo being down is no reason to drop or
	// dead-letter events).
	MaxAttempts int
	// DryRun logs what would be sent and sends nothing.
	DryRun  bool
	Logger  *slog.Logger
	Metrics *Metrics
}

// Client sends events to Klaviyo. It is safe for concurrent use, and one
// Client's pacing covers every partition of the process.
type Client struct {
	o      ClientOptions
	http   *http.Client
	pacers map[string]*pacer
	log    *slog.Logger
	m      *Metrics

	mu      sync.Mutex
	authErr error
}

// NewClient returns a client for o.
func NewClient(o ClientOptions) (*Client, error) {
	if !o.DryRun && o.APIKey == "" {
		return nil, errors.New("klaviyo: no API key: set HOOKBRIDGE_KLAVIYO_API_KEY (or _FILE), or use dry-run")
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://a.klaviyo.com"
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.Revision == "" {
		o.Revision = DefaultRevision
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Bulk.Steady == 0 {
		o.Bulk = BulkEndpointLimit()
	}
	if o.Single.Steady == 0 {
		o.Single = SingleEndpointLimit()
	}
	if o.Headroom == nil {
		o.Headroom = new(0.02)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics, _ = NewMetrics(nil)
	}
	c := &Client{o: o, log: o.Logger, m: o.Metrics, pacers: map[string]*pacer{
		PathBulkEvents: newPacer(o.Bulk, *o.Headroom),
		PathEvents:     newPacer(o.Single, *o.Headroom),
	}}
	var hc http.Client // a copy: CheckRedirect must not change the caller's
	if o.HTTP != nil {
		hc = *o.HTTP
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c.http = &hc
	// A redirect is a wrong base_url, and following one would turn the
	// POST into a GET whose 200 would pass for an accepted event.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// Ready is the readiness check: an error once Klaviyo refused the key.
func (c *Client) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authErr
}

// DryRun reports whether the client only logs.
func (c *Client) DryRun() bool { return c.o.DryRun }

// SendBulk sends events as one bulk job. The caller keeps a batch within
// MaxBulkEvents and MaxBulkBytes and free of repeated unique_ids, which
// would fail the whole request.
func (c *Client) SendBulk(ctx context.Context, events []*Encoded) error {
	if c.o.DryRun {
		c.logDryRun(PathBulkEvents, events)
		return nil
	}
	return c.post(ctx, PathBulkEvents, encodeBulk(events))
}

// Send sends one event through the single-event endpoint, whose errors
// name what is wrong with that event.
func (c *Client) Send(ctx context.Context, ev *Encoded) error {
	if c.o.DryRun {
		c.logDryRun(PathEvents, []*Encoded{ev})
		return nil
	}
	body, err := encodeSingle(&ev.Event)
	if err != nil {
		return err
	}
	return c.post(ctx, PathEvents, body)
}

// post sends body until Klaviyo answers 2xx or something retrying cannot
// fix, or ctx ends. 429, 5xx, 408, 425, network errors and timeouts are
// retried; the event's unique_id makes a retry after an ambiguous failure
// harmless.
func (c *Client) post(ctx context.Context, path string, body []byte) error {
	p := c.pacers[path]
	for attempt := 0; ; attempt++ {
		start := time.Now()
		if err := p.wait(ctx); err != nil {
			return err
		}
		c.m.PacedSeconds.WithLabelValues(path).Observe(time.Since(start).Seconds())

		status, hdr, respBody, err := c.attempt(ctx, path, body)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Warn("klaviyo request failed; retrying", "endpoint", path, "attempt", attempt+1, "err", err)
			wait = c.o.Backoff.delay(attempt)
		case status >= 200 && status < 300:
			p.observe(hdr)
			return nil
		case status == http.StatusTooManyRequests:
			// The whole endpoint waits, not just this request: every
			// partition shares the account's window.
			if d, ok := retryAfter(hdr, time.Now(), c.o.Backoff.longest()); ok {
				wait = d
			} else {
				wait = c.o.Backoff.delay(attempt)
			}
			p.pause(wait)
			c.log.Warn("klaviyo rate limit hit; waiting", "endpoint", path, "wait", wait)
		case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooEarly:
			// 408 and 425 come from a proxy or load balancer in between:
			// transient like a 5xx.
			p.observe(hdr)
			wait = c.o.Backoff.delay(attempt)
			c.log.Warn("klaviyo answered a transient error; retrying", "endpoint", path, "status", status, "attempt", attempt+1)
		case status == http.StatusForbidden && isChallenge(hdr):
			// A Cloudflare challenge page, not a refused key.
			wait = c.o.Backoff.delay(attempt)
			c.log.Warn("klaviyo answered with a bot challenge; backing off", "endpoint", path, "attempt", attempt+1)
		default:
			p.observe(hdr)
			return c.refused(path, status, hdr, respBody)
		}
		if c.o.MaxAttempts > 0 && attempt+1 >= c.o.MaxAttempts {
			if err == nil {
				err = fmt.Errorf("answered %d", status)
			}
			return fmt.Errorf("klaviyo: POST %s: giving up after %d attempts: %w", path, attempt+1, err)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// refused is the error of an answer retrying cannot change: a rejection
// of the content (*APIError, for the dead-letter topic), or an error that
// stops the group (a refused key, a setup that does not reach the Events
// API). The latter is logged at error level, so it carries the status and
// Klaviyo's codes but not their detail, which goes to debug.
func (c *Client) refused(path string, status int, hdr http.Header, body []byte) error {
	apiErr := &APIError{Endpoint: path, Status: status, Errors: parseErrors(body)}
	if apiErr.Rejected() {
		return apiErr
	}
	c.log.Debug("klaviyo refusal detail", "endpoint", path, "err", apiErr)
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		err := fmt.Errorf("%w: %s", ErrUnauthorized, apiErr.Summary())
		c.mu.Lock()
		c.authErr = err
		c.mu.Unlock()
		return err
	}
	where := c.o.BaseURL + path
	if loc := hdr.Get("Location"); status >= 300 && status < 400 && loc != "" {
		where += " (redirecting to " + loc + ")"
	}
	apiErr.Endpoint = where
	return fmt.Errorf("%w: %s", ErrMisconfigured, apiErr.Summary())
}

// attempt is one HTTP round trip. Its errors carry the URL and never the
// key, which only travels in a header.
func (c *Client) attempt(ctx context.Context, path string, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("klaviyo: building the request: %w", err)
	}
	req.Header.Set("Authorization", "Klaviyo-API-Key "+c.o.APIKey)
	req.Header.Set("revision", c.o.Revision)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	req.Header.Set("Accept", "application/vnd.api+json")
	start := time.Now()
	resp, err := c.http.Do(req)
	c.m.RequestSeconds.WithLabelValues(path).Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.Requests.WithLabelValues(path, "error").Inc()
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	// Error bodies are small; success bodies are empty. Drain the rest so
	// the connection is reused.
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	c.m.Requests.WithLabelValues(path, strconv.Itoa(resp.StatusCode)).Inc()
	if err != nil && resp.StatusCode >= 400 {
		return 0, nil, nil, fmt.Errorf("klaviyo: reading the answer to POST %s: %w", path, err)
	}
	return resp.StatusCode, resp.Header, respBody, nil
}

func isChallenge(h http.Header) bool {
	return h.Get("cf-mitigated") != "" || strings.HasPrefix(h.Get("Content-Type"), "text/html")
}

func parseErrors(body []byte) []ErrorObject {
	var doc struct {
		Errors []ErrorObject `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		return doc.Errors
	}
	if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 512 {
			s = s[:512] + "…"
		}
		return []ErrorObject{{Detail: s}}
	}
	return nil
}

// logDryRun says what would be sent, with emails masked.
func (c *Client) logDryRun(path string, events []*Encoded) {
	metrics := make(map[string]int)
	for _, e := range events {
		metrics[e.Event.Metric]++
		c.log.Debug("klaviyo dry run: event", "endpoint", path, "metric", e.Event.Metric,
			"email", MaskEmail(e.Event.Profile.Email), "external_id", e.Event.Profile.ExternalID,
			"unique_id", e.Event.UniqueID, "time", e.Event.Time.Format(timeFormat))
	}
	c.log.Info("klaviyo dry run: would send", "endpoint", path, "events", len(events), "metrics", metrics)
}

// MaskEmail keeps an email recognisable without printing it:
// "ada@example.com" becomes "a***@example.com".
func MaskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		if s == "" {
			return ""
		}
		return "***"
	}
	return s[:1] + "***" + s[at:]
}

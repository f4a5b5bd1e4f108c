package klaviyo

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is one endpoint's rate limit as Klaviyo documents it: at most Burst
// requests in any BurstWindow and Steady requests in any SteadyWindow.
type Limit struct {
	Burst        int
	BurstWindow  time.Duration // default 1s
	Steady       int
	SteadyWindow time.Duration // default 1m
}

// BulkEndpointLimit is the documented limit (reference §4) of the bulk
// endpoint for a private key, per account: tier M, 10/s, 150/min.
func BulkEndpointLimit() Limit {
	return Limit{Burst: 10, BurstWindow: time.Second, Steady: 150, SteadyWindow: time.Minute}
}

// SingleEndpointLimit is the documented limit of the single-event
// endpoint: tier XL, 350/s, 3,500/min.
func SingleEndpointLimit() Limit {
	return Limit{Burst: 350, BurstWindow: time.Second, Steady: 3500, SteadyWindow: time.Minute}
}

func (l Limit) withDefaults() Limit {
	if l.BurstWindow <= 0 {
		l.BurstWindow = time.Second
	}
	if l.SteadyWindow <= 0 {
		l.SteadyWindow = time.Minute
	}
	return l
}

// Ceiling is the sustained request rate the limit allows, per second.
func (l Limit) Ceiling() float64 {
	l = l.withDefaults()
	return float64(l.Steady) / l.SteadyWindow.Seconds()
}

// pacer keeps one endpoint under its limit for every partition of the
// process: the quota is Klaviyo's per account, so requests wait here rather
// than be refused there.
//
// Two token buckets model the two windows. A bucket of size b and rate r
// lets b+r·w requests through in any window w, so the steady bucket holds
// half the headroom's worth of tokens and refills at (1-headroom) of the
// limit: any steady window then sees at most the limit less half the
// headroom, however the requests fall (the other half absorbs latency
// jitter between our clock and Klaviyo's), and sustained sending runs at
// (1-headroom) of the ceiling. The burst bucket holds one token, which
// spaces requests so no burst window is exceeded either.
type pacer struct {
	burst  *rate.Limiter
	steady *rate.Limiter

	// interval is the time between two steady tokens.
	interval time.Duration

	mu    sync.Mutex
	until time.Time // nobody sends before this (Retry-After, an exhausted window)
	now   func() time.Time
}

func newPacer(l Limit, headroom float64) *pacer {
	l = l.withDefaults()
	if headroom < 0 || headroom >= 1 {
		headroom = 0
	}
	keep := 1 - headroom
	steadyBucket := int(float64(l.Steady) * headroom / 2)
	if steadyBucket < 1 {
		steadyBucket = 1
	}
	steadyRate := float64(l.Steady) * keep / l.SteadyWindow.Seconds()
	return &pacer{
		burst:    rate.NewLimiter(rate.Limit(float64(l.Burst)*keep/l.BurstWindow.Seconds()), 1),
		steady:   rate.NewLimiter(rate.Limit(steadyRate), steadyBucket),
		interval: time.Duration(float64(time.Second) / steadyRate),
		now:      time.Now,
	}
}

// wait blocks until a request may go, or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		d := p.until.Sub(p.now())
		p.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := p.burst.Wait(ctx); err != nil {
		return ctxErr(ctx, err)
	}
	return ctxErr(ctx, p.steady.Wait(ctx))
}

// ctxErr reports the context's error when the limiter gave up because the
// deadline would pass before a token came.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// pause holds every request to the endpoint for d.
func (p *pacer) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.now().Add(d); t.After(p.until) {
		p.until = t
	}
}

// observe follows the RateLimit-* headers of a non-429 answer: when the
// steady window is used up (by us or by another integration on the same
// account), hold off instead of collecting 429s.
//
// The hold is the reset time but at most two token intervals: Reset comes
// in whole seconds, and in a sliding window a slot frees up as soon as the
// oldest request ages out, which for a window we filled ourselves is about
// one interval away. Should the window really stay full (another sender, a
// fixed window), the next request gets a 429 whose Retry-After says how
// long to wait.
func (p *pacer) observe(h http.Header) {
	remaining, ok := headerInt(h, "RateLimit-Remaining")
	if !ok || remaining > 0 {
		return
	}
	hold := 2 * p.interval
	if reset, ok := headerInt(h, "RateLimit-Reset"); ok && time.Duration(reset)*time.Second < hold {
		hold = time.Duration(reset) * time.Second
	}
	p.pause(hold)
}

// retryAfter reads Retry-After in seconds or as an HTTP date, cut to
// limit: the header comes from whatever answered, and a day's wait (or a
// number that overflows a Duration) would stall every partition. A
// negative, non-finite or unreadable value counts as absent.
func retryAfter(h http.Header, now time.Time, limit time.Duration) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
			return 0, false
		}
		if secs >= limit.Seconds() {
			return limit, true
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, limit), true
}

func headerInt(h http.Header, key string) (int, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" {
		return 0, false
	}
	// Some servers send a list ("10, 10;w=1"); the first member is ours.
	if i := strings.IndexAny(v, ",;"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

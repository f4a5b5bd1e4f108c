package klaviyofake

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// window is an endpoint's sliding-window rate limiter: the times of the
// requests it let through during the last steady window.
type window struct {
	limit Limit
	times []time.Time
}

// admit lets a request through when neither window is full, and otherwise
// says how long until one is.
func (f *Fake) admit(path string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, now := f.windows[path], f.o.Now()
	w.prune(now)
	if wait := w.wait(now); wait > 0 {
		return wait, false
	}
	w.times = append(w.times, now)
	return 0, true
}

func (w *window) prune(now time.Time) {
	i := 0
	for i < len(w.times) && !w.times[i].After(now.Add(-w.limit.SteadyWindow)) {
		i++
	}
	w.times = w.times[i:]
}

// wait is how long until a request fits both windows; 0 when it fits now.
func (w *window) wait(now time.Time) time.Duration {
	var d time.Duration
	if n := len(w.times); n >= w.limit.Steady {
		d = w.times[n-w.limit.Steady].Add(w.limit.SteadyWindow).Sub(now)
	}
	if n := len(w.times); n >= w.limit.Burst {
		if b := w.times[n-w.limit.Burst].Add(w.limit.BurstWindow).Sub(now); b > d {
			d = b
		}
	}
	return d
}

// rateHeaders sets the RateLimit-* headers of the steady window.
func (f *Fake) rateHeaders(rw http.ResponseWriter, path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, now := f.windows[path], f.o.Now()
	reset := 0
	if len(w.times) > 0 {
		reset = int(math.Ceil(w.times[0].Add(w.limit.SteadyWindow).Sub(now).Seconds()))
	}
	h := rw.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(w.limit.Steady))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(w.limit.Steady-len(w.times), 0)))
	h.Set("RateLimit-Reset", strconv.Itoa(reset))
}

// Package health serves the liveness, readiness and Prometheus endpoints of
// hookbridge's processes: /healthz says the process is up, /readyz runs the
// named readiness checks each component added, /metrics exposes the
// process's Prometheus registry.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Checks is a set of named readiness checks. The zero value is ready.
type Checks struct {
	mu     sync.RWMutex
	checks map[string]func() error
	info   map[string]func() any
}

// AddInfo adds a value shown on /readyz next to the checks, such as a
// queue's depth; it does not affect readiness.
func (c *Checks) AddInfo(name string, info func() any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info == nil {
		c.info = make(map[string]func() any)
	}
	c.info[name] = info
}

// Add registers a readiness check; a non-nil error means not ready, and its
// text is shown on /readyz.
func (c *Checks) Add(name string, check func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checks == nil {
		c.checks = make(map[string]func() error)
	}
	c.checks[name] = check
}

// Status runs every check and returns each one's result ("ok" or the error).
func (c *Checks) Status() (ready bool, status map[string]string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ready, status = true, make(map[string]string, len(c.checks))
	for name, check := range c.checks {
		if err := check(); err != nil {
			ready, status[name] = false, err.Error()
		} else {
			status[name] = "ok"
		}
	}
	return ready, status
}

// Names lists the checks, sorted.
func (c *Checks) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.checks))
	for n := range c.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReadyJSON writes the readiness answer: 200 or 503 and the checks as JSON.
func (c *Checks) ReadyJSON() (code int, body []byte) {
	ready, status := c.Status()
	code = http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	out := map[string]any{"ready": ready, "checks": status}
	c.mu.RLock()
	for name, info := range c.info {
		out[name] = info()
	}
	c.mu.RUnlock()
	body, _ = json.Marshal(out)
	return code, body
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(checks *Checks, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		code, body := checks.ReadyJSON()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

// Serve serves h on addr until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener is Serve on a listener the caller opened.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving health and metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

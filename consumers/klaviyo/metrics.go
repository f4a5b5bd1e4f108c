package klaviyo

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbridge/hookbridge/internal/metrics"
)

// The kinds of event the forwarder sends, as its metrics label them.
const (
	kindDecision = "decision"
	kindMessage  = "message"
)

// Metrics are the forwarder's own Prometheus metrics; the runner adds lag
// and throughput per partition.
type Metrics struct {
	// Sent counts events Klaviyo accepted (202), by kind (decision,
	// message); metric names come from webhooks and are unbounded.
	Sent *prometheus.CounterVec
	// DryRun counts events a dry run logged instead of sending, by kind.
	DryRun *prometheus.CounterVec
	// Skipped counts events never sent, by reason (no_email, ...).
	Skipped *prometheus.CounterVec
	// Requests counts HTTP answers by endpoint and status ("error" for a
	// network failure or timeout).
	Requests *prometheus.CounterVec
	// RequestSeconds is the latency of one HTTP attempt by endpoint.
	RequestSeconds *prometheus.HistogramVec
	// PacedSeconds is how long requests waited for the rate limiter.
	PacedSeconds *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_klaviyo_events_sent_total", Help: "Events Klaviyo accepted with 202, by kind.",
		}, []string{"kind"}),
		DryRun: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_klaviyo_events_dry_run_total", Help: "Events a dry run logged instead of sending, by kind.",
		}, []string{"kind"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_klaviyo_events_skipped_total", Help: "Events not sent to Klaviyo, by reason.",
		}, []string{"reason"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_klaviyo_requests_total", Help: "HTTP answers from Klaviyo by endpoint and status.",
		}, []string{"endpoint", "status"}),
		RequestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookbridge_klaviyo_request_seconds", Help: "Latency of one request to Klaviyo.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"endpoint"}),
		PacedSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookbridge_klaviyo_paced_seconds", Help: "Time a request waited for the client-side rate limiter.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"endpoint"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.Sent, err = metrics.Register(reg, m.Sent); err != nil {
		return nil, err
	}
	if m.DryRun, err = metrics.Register(reg, m.DryRun); err != nil {
		return nil, err
	}
	if m.Skipped, err = metrics.Register(reg, m.Skipped); err != nil {
		return nil, err
	}
	if m.Requests, err = metrics.Register(reg, m.Requests); err != nil {
		return nil, err
	}
	if m.RequestSeconds, err = metrics.Register(reg, m.RequestSeconds); err != nil {
		return nil, err
	}
	if m.PacedSeconds, err = metrics.Register(reg, m.PacedSeconds); err != nil {
		return nil, err
	}
	// Every kind's series exists from the start, so rates and alerts see
	// the first event rather than a series appearing from nothing.
	for _, kind := range []string{kindDecision, kindMessage} {
		m.Sent.WithLabelValues(kind)
		m.DryRun.WithLabelValues(kind)
	}
	return m, nil
}

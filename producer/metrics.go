package producer

import (
	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/hookbridge/hookbridge/internal/metrics"
)

// metrics are the receiver's Prometheus metrics.
type metrics struct {
	requests   *prometheus.CounterVec   // by source and outcome
	rejections *prometheus.CounterVec   // by source and reason
	produce    *prometheus.HistogramVec // produce latency to ack, by source
	panics     *prometheus.CounterVec   // handler panics answered 500, by source
}

// Outcomes of a webhook request.
const (
	outcomeAccepted    = "accepted"    // in Kafka
	outcomeSpooled     = "spooled"     // fsynced to the spool
	outcomeUnrouted    = "unrouted"    // in Kafka, on the unrouted topic
	outcomeRejected    = "rejected"    // 4xx
	outcomeUnavailable = "unavailable" // 503
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_receiver_requests_total",
			Help: "Webhook requests by source and outcome (accepted, spooled, unrouted, rejected, unavailable).",
		}, []string{"source", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_receiver_rejections_total",
			Help: "Rejected webhook requests by source and reason.",
		}, []string{"source", "reason"}),
		produce: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookbridge_receiver_produce_seconds",
			Help:    "Time from produce to Kafka's acks=all acknowledgement.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"source"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_receiver_panics_total",
			Help: "Requests whose handler panicked (a bug), answered 500 while the receiver went on serving.",
		}, []string{"source"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = promreg.Register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.rejections, err = promreg.Register(reg, m.rejections); err != nil {
		return nil, err
	}
	if m.produce, err = promreg.Register(reg, m.produce); err != nil {
		return nil, err
	}
	if m.panics, err = promreg.Register(reg, m.panics); err != nil {
		return nil, err
	}
	return m, nil
}

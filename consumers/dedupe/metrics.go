package dedupe

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/hookbridge/hookbridge/internal/metrics"
)

// metrics are dedupe's own, next to the runner's shared ones.
type metrics struct {
	duplicates *prometheus.CounterVec
	forgotten  *prometheus.CounterVec
	remembered *prometheus.GaugeVec
	txns       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_dedupe_duplicates_total",
			Help: "Records dropped because their event id was already emitted within the window.",
		}, []string{"topic"}),
		forgotten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_dedupe_forgotten_early_total",
			Help: "Ids forgotten before their window ended because a partition reached dedupe.max_ids_per_partition.",
		}, []string{"topic"}),
		remembered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookbridge_dedupe_remembered_ids",
			Help: "Event ids remembered per input partition.",
		}, []string{"topic", "partition"}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_dedupe_transactions_total",
			Help: "Transactions by outcome: committed or aborted.",
		}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.duplicates, err = promreg.Register(reg, m.duplicates); err != nil {
		return nil, err
	}
	if m.forgotten, err = promreg.Register(reg, m.forgotten); err != nil {
		return nil, err
	}
	if m.remembered, err = promreg.Register(reg, m.remembered); err != nil {
		return nil, err
	}
	if m.txns, err = promreg.Register(reg, m.txns); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) setRemembered(topic string, p int32, n int) {
	m.remembered.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(n))
}

func (m *metrics) forget(topic string, p int32) {
	m.remembered.DeleteLabelValues(topic, strconv.Itoa(int(p)))
}

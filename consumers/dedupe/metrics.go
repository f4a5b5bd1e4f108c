package dedupe

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
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
	if m.duplicates, err = register(reg, m.duplicates); err != nil {
		return nil, err
	}
	if m.forgotten, err = register(reg, m.forgotten); err != nil {
		return nil, err
	}
	if m.remembered, err = register(reg, m.remembered); err != nil {
		return nil, err
	}
	if m.txns, err = register(reg, m.txns); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector a previous run in this
// process registered under the same name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("dedupe: registering metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) setRemembered(topic string, p int32, n int) {
	m.remembered.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(n))
}

func (m *metrics) forget(topic string, p int32) {
	m.remembered.DeleteLabelValues(topic, strconv.Itoa(int(p)))
}

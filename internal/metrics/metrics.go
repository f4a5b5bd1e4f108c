// Package metrics holds what hookbridge's Prometheus metrics share.
package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Register registers c, or returns the collector registered before under
// the same name, so a component can be started twice in one process (dev
// restarts a group, tests run several).
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering metrics: %w", err)
	}
	return c, nil
}

// NewRegistry returns the registry a hookbridge process serves on /metrics:
// the Go runtime and process collectors, and whatever its components
// register next to them.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// Two collectors of their own kinds on a fresh registry cannot
	// collide, so this cannot fail.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

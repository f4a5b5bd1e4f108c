package main

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookbridge/hookbridge/internal/health"
	"github.com/hookbridge/hookbridge/producer"
)

func cmdServe(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("serve [--config FILE]", `
Runs the webhook receiver: POST /webhooks/pique, POST /webhooks/product-agents,
GET /healthz, /readyz and /metrics. It runs from the environment alone
(HOOKBRIDGE_KAFKA_BROKERS, HOOKBRIDGE_SCHEMA_REGISTRY_URL, HOOKBRIDGE_PIQUE_SECRETS,
HOOKBRIDGE_PRODUCT_AGENTS_TOKEN, ...) or from a YAML file; see the README.`, std)
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.Receiver.CheckSecrets(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Receiver.Listen)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, std.err)
	if addr := cfg.Receiver.PprofListen; addr != "" {
		go func() { log.Error("pprof endpoint stopped", "err", http.ListenAndServe(addr, pprofMux())) }() //nolint:gosec // operator-enabled debug endpoint
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return producer.Run(ctx, producer.RunOptions{Config: cfg, Log: log, Metrics: reg, Health: &health.Checks{}, Listener: ln})
}

// pprofMux serves Go's profiles on their usual paths. It is its own mux, so
// nothing else registered on http.DefaultServeMux (importing
// net/http/pprof adds its handlers there) is ever exposed with it.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

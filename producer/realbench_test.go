//go:build realkafka

package producer

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/loadtest"
	"github.com/hookbridge/hookbridge/internal/sample"
)

// TestRealReceiverFigures measures the receiver on the real cluster (topics
// RF 3, min ISR 2, acks=all) at 16, 64 and 256 connections, for
// docs/benchmarks.md. It runs only with HOOKBRIDGE_REAL_BENCH=1: figures
// are measured, never asserted.
func TestRealReceiverFigures(t *testing.T) {
	if os.Getenv("HOOKBRIDGE_REAL_BENCH") == "" {
		t.Skip("figures for docs/benchmarks.md: set HOOKBRIDGE_REAL_BENCH=1")
	}
	c := real.Get(t)
	r := newRig(t, rigOptions{env: c.Env(t)})
	r.waitReady(t, http.StatusOK)
	sign := func(msgID string, body []byte) http.Header {
		h, _ := sample.SvixHeaders(r.secret, msgID, time.Now(), body)
		return h
	}
	for _, conns := range []int{16, 64, 256} {
		opts := loadtest.Options{URL: r.url, Source: "pique", Connections: conns, Duration: 10 * time.Second,
			MaxRequests: 200000, BodySize: 600, Sign: sign}
		pool, err := loadtest.NewPool(opts)
		if err != nil {
			t.Fatal(err)
		}
		pool.SignAhead(20000, nil)
		cpu0, start := c.CPU(), time.Now()
		res := loadtest.Run(context.Background(), opts, pool, nil)
		brokerCPU := c.CPU() - cpu0
		wall := time.Since(start)
		fmt.Printf("FIGURE connections=%d acked=%d failed=%d req/s=%.0f p50=%v p99=%v test-process-RSS=%s broker-CPU=%.0f%% of one core (3 brokers) statuses=%v\n",
			conns, res.Acked, res.Failed, res.RPS(), res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond),
			rss(), 100*brokerCPU.Seconds()/wall.Seconds(), res.Statuses)
	}
}

// rss is this process's resident set (receiver and load generator).
func rss() string {
	raw, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

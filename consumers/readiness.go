package consumers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Readiness is a group's answer on /readyz: not ready until the cluster
// answered once, then ready unless the last fetch failed or the group
// stopped. Dedupe's loop uses it too.
type Readiness struct {
	mu  sync.Mutex
	err error
}

// NewReadiness returns a Readiness that is not ready yet.
func NewReadiness() *Readiness {
	return &Readiness{err: errors.New("not connected to Kafka yet")}
}

// Set records the current state; nil means ready.
func (r *Readiness) Set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// Check is the health check: nil when ready.
func (r *Readiness) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// WaitConnected pings the cluster until it answers or ctx ends and marks r
// ready when it does. A member that owns no partition never fetches, so the
// ping is what tells /readyz that it can reach Kafka.
func (r *Readiness) WaitConnected(ctx context.Context, cl *kgo.Client) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.Ping(pctx)
		cancel()
		if err == nil {
			r.Set(nil)
			return
		}
		r.Set(fmt.Errorf("cannot reach Kafka: %w", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

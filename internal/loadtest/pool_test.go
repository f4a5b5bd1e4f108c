package loadtest

import (
	"context"
	"net/http"
	"testing"
)

func testPool(t *testing.T, n int) *Pool {
	t.Helper()
	p, err := NewPool(Options{Source: "pique", MaxRequests: n, BodySize: 100,
		Sign: func(string, []byte) http.Header { return http.Header{"X": {"y"}} }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPoolSignsAheadOfTheSenders: senders get every webhook of the pool,
// each once, although only a few were signed before the run.
func TestPoolSignsAheadOfTheSenders(t *testing.T) {
	p := testPool(t, 3000)
	p.SignAhead(10, nil)
	if p.Signed() != 10 {
		t.Fatalf("signed %d before the run, want 10", p.Signed())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); p.signInBackground(ctx) }()
	seen := map[string]bool{}
	for i := range 3000 {
		r, ok := p.get(i)
		if !ok || seen[r.EventID] || len(r.Headers) != 1 {
			t.Fatalf("webhook %d: ok %v, %+v", i, ok, r)
		}
		seen[r.EventID] = true
	}
	if _, ok := p.get(3000); ok {
		t.Fatal("the pool gave more than MaxRequests")
	}
	<-done
}

// TestPoolStopsWithTheRun: a sender waiting for signing is let go when the
// run ends, and the signer does not sign the rest of a large pool.
func TestPoolStopsWithTheRun(t *testing.T) {
	p := testPool(t, 1_000_000)
	p.SignAhead(1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.signInBackground(ctx) }()
	cancel()
	<-done
	if _, ok := p.get(p.Signed()); ok {
		t.Fatal("got a webhook that was never signed")
	}
	if p.Signed() > 5000 {
		t.Fatalf("signed %d after the run ended", p.Signed())
	}
}

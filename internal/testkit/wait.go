package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond until it holds. The guard is a bound against a
// hang, not a timing assumption: a test waits on observable state, never
// on a sleep. what says, in the failure, what never came true.
func Eventually(t testing.TB, guard time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting until %s", guard, what)
		}
		time.Sleep(10 * time.Millisecond) // the polling interval, not synchronisation
	}
}

// Background runs run until the returned stop is called; stop cancels its
// context and returns run's error, or an error naming what when run does
// not return within 30 s (a hang, not a timing assumption).
func Background(what string, run func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s did not return within 30s of its context ending", what)
		}
	}
}

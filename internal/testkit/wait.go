package testkit

import (
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

package klaviyo

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"
)

// Retry-After comes from whatever answered: a day, a number past what a
// Duration holds, or nonsense must not stall every partition, so the wait
// is cut to the retry cap and unusable values count as absent.
func TestRetryAfterIsBounded(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const limit = 30 * time.Second
	for _, c := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"2", 2 * time.Second, true},
		{"0.25", 250 * time.Millisecond, true},
		{"0", 0, true},
		{"30", limit, true},
		{"86400", limit, true},
		{"1e12", limit, true},
		{"1e300", limit, true},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), limit, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"-5", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"-Inf", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, ok := retryAfter(http.Header{"Retry-After": {c.header}}, now, limit)
		if got != c.want || ok != c.ok {
			t.Errorf("Retry-After %q: %v, %v; want %v, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

// A headroom of 0 paces at the whole limit; only a missing one gets the
// default 2 %.
func TestClientHeadroomZeroUsesTheWholeLimit(t *testing.T) {
	lim := Limit{Burst: 10, Steady: 600}
	for _, c := range []struct {
		headroom *float64
		want     float64 // steady requests per second
	}{
		{nil, 10 * 0.98},
		{new(0.0), 10},
		{new(0.1), 10 * 0.9},
	} {
		cl, err := NewClient(ClientOptions{DryRun: true, Bulk: lim, Single: lim, Headroom: c.headroom})
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(cl.pacers[PathBulkEvents].steady.Limit()); math.Abs(got-c.want) > 1e-9 {
			name := "nil"
			if c.headroom != nil {
				name = fmt.Sprint(*c.headroom)
			}
			t.Errorf("headroom %s: paced at %v/s, want %v/s", name, got, c.want)
		}
	}
}

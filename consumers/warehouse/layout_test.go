package warehouse

import (
	"testing"
	"time"
)

// TestFirstOffsetReadsOnlyThePartitionsNames: a listing of an hour holds
// every partition's files (and other topics' when one topic's name starts
// another's); only the partition's own names give a first offset.
func TestFirstOffsetReadsOnlyThePartitionsNames(t *testing.T) {
	hour := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	key := Layout{}.Key("orders", 1, hour, 4711)
	if got, ok := firstOffset(key, filePrefix("orders", 1)); !ok || got != 4711 {
		t.Fatalf("firstOffset(%q) = %d, %v; want 4711", key, got, ok)
	}
	for _, k := range []string{
		Layout{}.Key("orders", 11, hour, 4711),
		Layout{}.Key("orders", 10, hour, 4711),
		Layout{}.Key("orders.x", 1, hour, 4711),
		"orders/dt=2025-03-14/hr=09/.orders+1+0000000000000004711.parquet.123.tmp",
		"orders/dt=2025-03-14/hr=09/orders+1+4711.parquet",
		"orders/dt=2025-03-14/hr=09/orders+1+-000000000000004711.parquet",
	} {
		if got, ok := firstOffset(k, filePrefix("orders", 1)); ok {
			t.Errorf("firstOffset(%q) = %d for partition 1 of orders", k, got)
		}
	}
}

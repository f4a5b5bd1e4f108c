package main

import (
	"strings"
	"testing"
	"time"
)

// TestBenchAgainstReceiver load-tests a dev receiver briefly and checks
// bench's own verification: every acknowledged webhook is in Kafka.
func TestBenchAgainstReceiver(t *testing.T) {
	devTestEnv(t)
	dir := t.TempDir()
	dev := startDev(t, dir, "--consumers=false")
	dev.useDev(t)
	out, stderr, err := runCmd(t, 40*time.Second, cmdBench, "--url", dev.URL, "--data-dir", dir,
		"--duration", "1s", "--max-requests", "2000", "--connections", "4")
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	if !strings.Contains(out, "verified: all") {
		t.Errorf("bench output does not report the Kafka verification:\n%s", out)
	}
	if err := dev.stop(t); err != nil {
		t.Fatalf("dev returned %v after cancel, want nil", err)
	}
}

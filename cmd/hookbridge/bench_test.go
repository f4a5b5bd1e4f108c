package main

import (
	"io"
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

// bench sends load to loopback only, unless --allow-remote: the host it
// checks is the one the requests go to, so a user-name part that looks
// like a loopback address cannot smuggle the load elsewhere.
func TestBenchTarget(t *testing.T) {
	hermeticEnv(t)
	for _, c := range []struct {
		url, want   string
		allowRemote bool
	}{
		{url: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{url: "127.0.0.1:8080/webhooks/pique", want: "http://127.0.0.1:8080"},
		{url: "http://localhost:8080/", want: "http://localhost:8080"},
		{url: "http://[::1]:8080", want: "http://[::1]:8080"},
		{url: "https://127.0.0.2", want: "https://127.0.0.2"},
		{url: "http://127.0.0.1:80@example.com"},
		{url: "http://127.0.0.1:80@example.com", allowRemote: true},
		{url: "http://user:pass@127.0.0.1:8080"},
		{url: "http://127.0.0.1@10.0.0.5:8080/webhooks"},
		{url: "http://example.com:8080"},
		{url: "http://127.0.0.1.example.com:8080"},
		{url: "http://10.0.0.5:8080"},
		{url: "http://10.0.0.5:8080", allowRemote: true, want: "http://10.0.0.5:8080"},
		{url: "ftp://127.0.0.1"},
	} {
		got, err := benchTarget(c.url, c.allowRemote, io.Discard)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("benchTarget(%q, allowRemote=%v) = %q, %v; want %q", c.url, c.allowRemote, got, err, c.want)
		}
	}
	_, _, err := runCmd(t, 10*time.Second, cmdBench, "--url", "http://127.0.0.1:80@example.com", "--duration", "1ms")
	if err == nil || !strings.Contains(err.Error(), "user name") {
		t.Errorf("bench --url http://127.0.0.1:80@example.com: %v; want a refusal", err)
	}
}

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/sample"
)

// The pprof listener serves profiles and nothing that happens to be
// registered on http.DefaultServeMux.
func TestPprofMuxServesOnlyProfiles(t *testing.T) {
	http.HandleFunc("/debug/leak-test", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(pprofMux())
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/": 200, "/debug/leak-test": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// serve on a damaged spool file exits with what to do, naming the file;
// too small a record limit stops it naming both settings.
func TestServeRefusesADamagedSpoolAndLimitsThatCannotFit(t *testing.T) {
	hermeticEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xAB}, 16384), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKBRIDGE_LISTEN", "127.0.0.1:0")
	t.Setenv("HOOKBRIDGE_KAFKA_BROKERS", "127.0.0.1:1")
	t.Setenv("HOOKBRIDGE_PIQUE_SECRETS", sample.NewSvixSecret())
	t.Setenv("HOOKBRIDGE_PRODUCT_AGENTS_TOKEN", "t")
	t.Setenv("HOOKBRIDGE_SPOOL_DIR", dir)
	_, _, err := runCmd(t, 20*time.Second, cmdServe)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "hookbridge spool drain --file "+path+".damaged") {
		t.Fatalf("serve on a damaged spool: %v", err)
	}
	t.Setenv("HOOKBRIDGE_MAX_RECORD_BYTES", "1MiB")
	_, _, err = runCmd(t, 20*time.Second, cmdServe)
	if err == nil || !strings.Contains(err.Error(), "receiver.body_limit") || !strings.Contains(err.Error(), "receiver.max_record_bytes") {
		t.Fatalf("serve with max_record_bytes 1MiB: %v", err)
	}
}

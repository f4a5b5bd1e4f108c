package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
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

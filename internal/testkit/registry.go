package testkit

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/schemas"
)

// RefusingRegistry is a client of the environment's schema registry
// behind a proxy that, while Refuse is true, answers every request with
// Status and Body instead, counting them in Refused. Its cache starts
// empty, so the first decode of each schema id reaches the proxy.
type RefusingRegistry struct {
	Registry *schemas.Registry
	Status   int
	Body     string
	Refuse   atomic.Bool
	Refused  atomic.Int64
}

// RefusingRegistry starts refusing with status and body (a registry error
// in JSON); the proxy stops when t ends.
func (e *Env) RefusingRegistry(t testing.TB, status int, body string) *RefusingRegistry {
	t.Helper()
	target, err := url.Parse(e.Registry.URL())
	if err != nil {
		t.Fatal(err)
	}
	rr := &RefusingRegistry{Status: status, Body: body}
	rr.Refuse.Store(true)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rr.Refuse.Load() {
			rr.Refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rr.Status)
			_, _ = w.Write([]byte(rr.Body))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	src, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	rr.Registry = schemas.NewRegistry(src)
	return rr
}

// Package loadtest is `hookbridge bench`: it posts signed webhooks to a
// receiver at a fixed concurrency for a fixed time, reports requests/s,
// latency percentiles and errors, and then checks that every webhook the
// receiver acknowledged is in Kafka.
package loadtest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hookbridge/hookbridge/internal/sample"
)

// Options configures a run.
type Options struct {
	URL         string        // receiver base URL, e.g. http://127.0.0.1:8080
	Source      string        // pique or product-agents
	Connections int           // concurrent connections, one request in flight each
	Duration    time.Duration // how long to send
	MaxRequests int           // upper bound on requests (the pool's size)
	BodySize    int           // approximate body size in bytes
	// Sign returns the headers that authenticate body for Source.
	Sign func(msgID string, body []byte) http.Header
}

// Request is one pre-signed webhook.
type Request struct {
	EventID string
	Body    []byte
	Headers [][2]string
}

// Result is what a run measured.
type Result struct {
	Sent, Acked, Failed int
	Statuses            map[int]int
	Elapsed             time.Duration
	ClientCPU           time.Duration // CPU the load generator itself used while sending
	P50, P90, P99, Max  time.Duration
	AckedIDs            []string
	FirstError          error
	SignStalls          int // times a sender waited for the background signer
}

// RPS is acknowledged requests per second.
func (r Result) RPS() float64 { return float64(r.Acked) / r.Elapsed.Seconds() }

// Body returns a sample body for source padded to about size bytes (in a
// free-text field, as real senders' reasoning and copy would be).
func Body(g *sample.Generator, source string, now time.Time, size int) ([]byte, string) {
	var body []byte
	var id string
	if source == "pique" {
		body, id = g.Pique(now)
	} else {
		body, id = g.ProductAgents(now)
	}
	if pad := size - len(body); pad > 0 {
		// Both samples end with '}' and have a top-level object; add a
		// note field to reach the size.
		note := make([]byte, 0, pad+16)
		note = append(note, `,"note":"`...)
		for len(note) < pad-2 {
			note = append(note, 'x')
		}
		note = append(note, `"}`...)
		body = append(body[:len(body)-1], note...)
	}
	return body, id
}

// Run sends the pool's webhooks, signing the rest of it in the
// background, until Duration passes or the pool runs out. progress, when
// set, is called about once a second with what was sent and signed so far.
func Run(ctx context.Context, opts Options, pool *Pool, progress func(elapsed time.Duration, sent, signed int)) Result {
	addr, path, err := splitURL(opts.URL, opts.Source)
	if err != nil {
		return Result{FirstError: err}
	}
	client := &fasthttp.HostClient{Addr: addr, MaxConns: opts.Connections, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var next atomic.Int64
	workers := make([]worker, opts.Connections)
	var wg, signer sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	signer.Add(1)
	go func() {
		defer signer.Done()
		pool.signInBackground(ctx)
	}()
	for i := range workers {
		w := &workers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, client, path, pool, &next)
		}()
	}
	stopProgress := reportProgress(start, &next, pool, progress)
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start)
	cancel()
	signer.Wait()
	res := summarize(workers, pool.reqs, elapsed)
	res.ClientCPU = processCPU() - cpu0
	res.SignStalls = pool.Stalls()
	return res
}

// reportProgress calls progress every second until the returned stop.
func reportProgress(start time.Time, next *atomic.Int64, pool *Pool, progress func(time.Duration, int, int)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				progress(time.Since(start), min(int(next.Load()), pool.Signed()), pool.Signed())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type worker struct {
	latencies []time.Duration
	acked     []int
	statuses  map[int]int
	failed    int
	err       error
}

func (w *worker) run(ctx context.Context, client *fasthttp.HostClient, path string, pool *Pool, next *atomic.Int64) {
	w.statuses = map[int]int{}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for ctx.Err() == nil {
		i := int(next.Add(1) - 1)
		r, ok := pool.get(i)
		if !ok {
			return
		}
		req.Reset()
		req.SetRequestURI(path)
		req.Header.SetHost(client.Addr)
		req.Header.SetMethod(fasthttp.MethodPost)
		for _, h := range r.Headers {
			req.Header.Set(h[0], h[1])
		}
		req.SetBodyRaw(r.Body)
		t0 := time.Now()
		err := client.Do(req, resp)
		w.latencies = append(w.latencies, time.Since(t0))
		if err != nil {
			w.failed++
			if w.err == nil {
				w.err = err
			}
			continue
		}
		code := resp.StatusCode()
		w.statuses[code]++
		if code >= 200 && code < 300 {
			w.acked = append(w.acked, i)
		} else {
			w.failed++
		}
	}
}

func summarize(workers []worker, reqs []Request, elapsed time.Duration) Result {
	res := Result{Statuses: map[int]int{}, Elapsed: elapsed}
	var lat []time.Duration
	for i := range workers {
		w := &workers[i]
		lat = append(lat, w.latencies...)
		res.Failed += w.failed
		for c, n := range w.statuses {
			res.Statuses[c] += n
		}
		for _, j := range w.acked {
			res.AckedIDs = append(res.AckedIDs, reqs[j].EventID)
		}
		if res.FirstError == nil {
			res.FirstError = w.err
		}
	}
	res.Sent, res.Acked = len(lat), len(res.AckedIDs)
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		res.P50, res.P90, res.P99, res.Max = q(0.50), q(0.90), q(0.99), lat[len(lat)-1]
	}
	return res
}

func splitURL(base, source string) (addr, path string, err error) {
	var u fasthttp.URI
	if err := u.Parse(nil, []byte(base)); err != nil {
		return "", "", err
	}
	if string(u.Scheme()) != "http" {
		return "", "", errors.New("bench speaks plain http to a receiver on this machine; use an http:// URL")
	}
	return string(u.Host()), "/webhooks/" + source, nil
}

package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// Helpers for the receiver tests: readers of /readyz and /metrics, a
// concurrent load that records every answer, a way to take the broker away
// and bring it back, and checks of what reached Kafka.

// readyCode is /readyz's status at url, 0 if nothing answers.
func readyCode(url string) int {
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readyz returns /readyz's status and JSON body.
func readyz(t testing.TB, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// metric returns the value of an unlabelled gauge from /metrics.
func metric(t testing.TB, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		var v float64
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	t.Fatalf("metric %s not in /metrics", name)
	return 0
}

// outage makes the broker unreachable: every request any client sends is
// answered by closing its connection, as when the broker is down or the
// network is cut. end brings it back.
func outage(c *kfake.Cluster) (end func()) {
	var mu sync.Mutex
	down := true
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if !down {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		return nil, errors.New("broker down"), true
	})
	return func() {
		mu.Lock()
		down = false
		mu.Unlock()
	}
}

// answer is one request of a load and what the receiver said.
type answer struct {
	source     string // "pique" or "product-agents"
	eventID    string
	code       int // 0: no answer (transport error)
	retryAfter string
	start, end time.Time
}

// loader posts signed webhooks of both sources from several goroutines and
// records every answer.
type loader struct {
	url, secret, token string
	client             *http.Client
	mu                 sync.Mutex
	answers            []answer
	stop               chan struct{}
	stopOnce           sync.Once
	wg                 sync.WaitGroup
	// stopOnError ends a goroutine at its first transport error (the
	// receiver is gone).
	stopOnError bool
	// pace is the least time between two posts of one goroutine, so that a
	// bounded count of requests spans the test's phases.
	pace time.Duration
}

func newLoader(url, secret, token string) *loader {
	return &loader{url: url, secret: secret, token: token, stop: make(chan struct{}), pace: 20 * time.Millisecond,
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

// run starts workers goroutines per source, each posting at most perWorker
// webhooks until halt.
func (l *loader) run(seed uint64, workers, perWorker int) {
	for w := range workers {
		for _, source := range []string{"pique", "product-agents"} {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				g := sample.NewGenerator(seed + uint64(w)*2 + map[string]uint64{"pique": 0, "product-agents": 1}[source])
				for range perWorker {
					if a := l.post(g, source); a.code == 0 && l.stopOnError {
						return
					}
					select {
					case <-l.stop:
						return
					case <-time.After(l.pace):
					}
				}
			}()
		}
	}
}

func (l *loader) post(g *sample.Generator, source string) answer {
	a := answer{source: source, start: time.Now()}
	var body []byte
	var h http.Header
	if source == "pique" {
		body, a.eventID = g.Pique(a.start)
		h, _ = sample.SvixHeaders(l.secret, "msg_"+a.eventID, a.start, body)
	} else {
		body, a.eventID = g.ProductAgents(a.start)
		h = sample.TokenHeaders(l.token)
	}
	req, _ := http.NewRequest(http.MethodPost, l.url+"/webhooks/"+source, bytes.NewReader(body))
	req.Header = h
	if resp, err := l.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a.code, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	a.end = time.Now()
	l.mu.Lock()
	l.answers = append(l.answers, a)
	l.mu.Unlock()
	return a
}

// halt stops the load and waits for its goroutines; it may be called
// more than once.
func (l *loader) halt() []answer {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.client.CloseIdleConnections()
	return l.snapshot()
}

func (l *loader) snapshot() []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]answer(nil), l.answers...)
}

// count counts answers that match.
func (l *loader) count(match func(answer) bool) int {
	n := 0
	for _, a := range l.snapshot() {
		if match(a) {
			n++
		}
	}
	return n
}

// eventIDs returns the event-id headers of a topic's records, each with how
// often it occurs.
func eventIDs(t testing.TB, env *testkit.Env, topic string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, r := range env.ReadAll(t, topic) {
		ids[schemas.Header(r, schemas.HeaderEventID)]++
	}
	return ids
}

// checkAcknowledgedInKafka fails t for every 2xx answer whose event is not
// in its source's topic.
func checkAcknowledgedInKafka(t *testing.T, env *testkit.Env, answers []answer) (acked int) {
	t.Helper()
	inKafka := map[string]map[string]int{
		"pique":          eventIDs(t, env, env.Config.Topics.Pique()),
		"product-agents": eventIDs(t, env, env.Config.Topics.ProductAgents()),
	}
	var lost []string
	for _, a := range answers {
		if a.code/100 != 2 {
			continue
		}
		acked++
		if inKafka[a.source][a.eventID] == 0 {
			lost = append(lost, fmt.Sprintf("%s %s (%d)", a.source, a.eventID, a.code))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged webhooks are not in Kafka, e.g. %v", len(lost), acked, lost[:min(len(lost), 5)])
	}
	return acked
}

// tally counts answers by source and status, for failure messages.
func tally(answers []answer) map[string]int {
	out := map[string]int{}
	for _, a := range answers {
		out[fmt.Sprintf("%s %d", a.source, a.code)]++
	}
	return out
}

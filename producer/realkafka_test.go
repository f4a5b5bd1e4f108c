//go:build realkafka

package producer

// The receiver's promises on a real three-broker Kafka cluster (see
// internal/kafkatest): topics replicated 3 with min.insync.replicas 2,
// brokers killed, hung and restarted under load.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/kafkatest"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(real.Main(m)) }

// TestRealSpine runs the record contract tests of both sources on the
// real cluster: the same assertions as the in-process tier.
func TestRealSpine(t *testing.T) {
	c := real.Get(t)
	for name, check := range map[string]func(*testing.T, *rig){
		"pique":          checkPiqueWebhookBecomesRecord,
		"pique-absent":   checkPiqueAbsentFieldsAreNull,
		"product-agents": checkProductAgentsWebhookBecomesRecord,
		"unrouted":       checkUnknownPiqueTypeGoesToUnrouted,
	} {
		t.Run(name, func(t *testing.T) { check(t, newRig(t, rigOptions{env: c.Env(t)})) })
	}
}

// TestRealBelowMinISR kills two of the three brokers, leaving fewer than
// min.insync.replicas: Pique gets 503 with Retry-After within the ack
// deadline (Svix retries), Product Agents 202 from the spool. Once the
// brokers are back the spool drains, every acknowledged webhook is in
// Kafka and each customer's records keep the order they were accepted in.
func TestRealBelowMinISR(t *testing.T) {
	c := real.Get(t)
	const ackDeadline = 3 * time.Second
	// A real cluster's first produces to new topics (metadata, producer id)
	// can take longer than the in-process rig's short spool deadline on a
	// loaded machine; what is asserted is the answer below min ISR.
	fr := newRig(t, rigOptions{spool: true, env: c.Env(t), ackDeadline: ackDeadline, spoolDeadline: ackDeadline})
	fr.waitReady(t, http.StatusOK)
	posted := map[string][]string{} // customer → event ids in acceptance order
	acked := map[string]bool{}
	postAgent := func(i int, want int) {
		cust := "cust-" + strconv.Itoa(i%3)
		id := fmt.Sprintf("isr-%04d", i)
		body := []byte(fmt.Sprintf(`{"event":{"id":%q,"messageType":"REPLENISHMENT_REMINDER"},"customer":{"id":%q}}`, id, cust))
		resp := fr.postAgents(t, body)
		if resp.code != want && !(want == http.StatusOK && resp.code == http.StatusAccepted) {
			t.Fatalf("product agents %s: %d %v, want %d", id, resp.code, resp.body, want)
		}
		posted[cust] = append(posted[cust], id)
		acked[id] = true
	}
	for i := range 30 {
		postAgent(i, http.StatusOK)
	}

	survivor := c.Nodes()[0].ID
	for _, n := range c.Nodes()[1:] {
		c.Kill(n.ID)
	}
	for i := range 5 {
		start := time.Now()
		body := []byte(fmt.Sprintf(`{"type":"decision.made","decision":{"id":"isr-p-%d","action":"gentle_nudge"},"session":{"visitorId":"v-%d"}}`, i, i))
		resp := fr.postPique(t, fmt.Sprintf("msg_isr_%d", i), body)
		took := time.Since(start)
		if resp.code != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
			t.Fatalf("pique with only broker %d alive: %d %v (Retry-After %q), want 503 with Retry-After",
				survivor, resp.code, resp.body, resp.header.Get("Retry-After"))
		}
		if took > ackDeadline+time.Second {
			t.Errorf("pique 503 took %v, over the ack deadline %v + 1s", took, ackDeadline)
		}
	}
	for i := 30; i < 90; i++ {
		postAgent(i, http.StatusAccepted)
	}
	if fr.spool.Len() == 0 {
		t.Fatal("Product Agents answered 202 with an empty spool")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	fr.waitDrained(t)

	inKafka := map[string][]string{}
	for _, r := range fr.env.ReadAll(t, fr.env.Config.Topics.ProductAgents()) {
		inKafka[string(r.Key)] = append(inKafka[string(r.Key)], schemas.Header(r, schemas.HeaderEventID))
	}
	for cust, want := range posted {
		first := firstAppearances(inKafka[cust])
		if len(first) != len(want) {
			t.Errorf("%s: %d distinct webhooks in Kafka, %d acknowledged", cust, len(first), len(want))
			continue
		}
		for i := range want {
			if first[i] != want[i] {
				t.Errorf("%s: record %d is %s, want %s (order of acceptance)", cust, i, first[i], want[i])
				break
			}
		}
	}
	for id := range acked {
		found := false
		for _, ids := range inKafka {
			for _, got := range ids {
				found = found || got == id
			}
		}
		if !found {
			t.Errorf("acknowledged %s is not in Kafka", id)
		}
	}
}

// firstAppearances drops repeats (a retried batch may write a webhook
// twice, which dedupe removes) and keeps the order of first appearance.
func firstAppearances(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// TestRealLeaderFailoverUnderLoad posts both sources from 16 connections
// each while the leader of a partition being written is SIGKILLed (and
// restarted), then another broker hangs (SIGSTOP) for 10 s. Every webhook
// answered 2xx must be in Kafka; every Pique webhook not stored got 503
// with Retry-After; Product Agents is never refused (its spool has room);
// no request takes longer than the ack deadline + 1 s.
func TestRealLeaderFailoverUnderLoad(t *testing.T) {
	c := real.Get(t)
	const ackDeadline = 5 * time.Second
	// A real cluster's first produces to new topics (metadata, producer id)
	// can take longer than the in-process rig's short spool deadline on a
	// loaded machine; what is asserted is the answer below min ISR.
	fr := newRig(t, rigOptions{spool: true, env: c.Env(t), ackDeadline: ackDeadline, spoolDeadline: ackDeadline})
	fr.waitReady(t, http.StatusOK)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := newLoader(fr.url, fr.secret, fr.token)
	l.pace = 50 * time.Millisecond
	l.run(500, 16, 2000)
	defer l.halt()
	served := func(n int) func() bool {
		return func() bool { return l.count(func(a answer) bool { return a.code/100 == 2 }) >= n }
	}

	testkit.Eventually(t, 30*time.Second, "the load is acknowledged", served(200))
	leader, err := c.LeaderOf(ctx, fr.env.Config.Topics.Pique(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(leader)
	killed := time.Now()
	n := len(l.snapshot())
	testkit.Eventually(t, 60*time.Second, "webhooks are acknowledged again after the leader died", served(n+200))
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	hung := c.Nodes()[0].ID
	if hung == leader {
		hung = c.Nodes()[1].ID
	}
	if err := c.Pause(hung); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	time.Sleep(10 * time.Second) // the fault's length: a broker hung for 10 s
	if err := c.Resume(hung); err != nil {
		t.Fatal(err)
	}
	n = len(l.snapshot())
	testkit.Eventually(t, 60*time.Second, "webhooks are acknowledged after the hung broker resumed", served(n+200))
	answers := l.halt()
	fr.waitDrained(t)

	for _, a := range answers {
		took := a.end.Sub(a.start)
		switch {
		case a.code == 0:
			t.Errorf("%s %s: no answer", a.source, a.eventID)
		case a.code/100 != 2 && (a.source != "pique" || a.code != http.StatusServiceUnavailable || a.retryAfter == ""):
			t.Errorf("%s %s: %d (Retry-After %q); only Pique may be refused, with 503 and Retry-After", a.source, a.eventID, a.code, a.retryAfter)
		case took > ackDeadline+time.Second:
			t.Errorf("%s %s answered %d after %v, over the ack deadline %v + 1s", a.source, a.eventID, a.code, took, ackDeadline)
		}
	}
	acked := checkAcknowledgedInKafka(t, fr.env, answers)
	t.Logf("leader %d killed at +0s, broker %d hung at +%v for 10s: %d requests, %d acknowledged, all in Kafka: %v",
		leader, hung, paused.Sub(killed).Round(time.Second), len(answers), acked, tally(answers))
}

package producer

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// spoolWebhooks posts n Product Agents webhooks that the rig must spool
// (202) and returns their event ids.
func spoolWebhooks(t *testing.T, fr *rig, n int) []string {
	t.Helper()
	g := sample.NewGenerator(11)
	var ids []string
	for range n {
		body, id := g.ProductAgents(time.Now())
		if resp := fr.postAgents(t, body); resp.code != http.StatusAccepted {
			t.Fatalf("webhook %s: status %d %v, want 202 from the spool", id, resp.code, resp.body)
		}
		ids = append(ids, id)
	}
	return ids
}

// refuseProduce makes the broker refuse every produce with a retriable
// error while it stays reachable: the receiver spools, its drainer fails.
func refuseProduce(c *kfake.Cluster) *kfake.FaultHandle {
	return c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
}

// A receiver stopped with webhooks in its spool and Kafka reachable sends
// them before it exits: a pod removed on scale-in may never run again.
func TestShutdownDrainsTheSpool(t *testing.T) {
	env := testkit.Start(t)
	fr := newRig(t, rigOptions{spool: true, env: env, tweak: func(o *Options) { o.Receiver.Spool.ShutdownDrainTimeout = 20 * time.Second }})
	fr.waitReady(t, http.StatusOK)
	refuse := refuseProduce(env.Cluster)
	ids := spoolWebhooks(t, fr, 5)

	fr.stop() // SIGTERM
	testkit.Eventually(t, 10*time.Second, "the receiver begins its shutdown", func() bool {
		return strings.Contains(fr.logs.String(), "receiver shutting down")
	})
	refuse.Remove() // Kafka takes records again as the receiver stops
	if err := fr.waitServed(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := fr.spool.Close(); err != nil {
		t.Fatal(err)
	}
	if left := spooledEventIDs(t, fr.dir); len(left) != 0 {
		t.Errorf("the spool file holds %d webhooks after shutdown, want none: %v", len(left), left)
	}
	// An entry leaves the spool only after Kafka's ack: they are there now.
	inKafka := eventIDs(t, env, env.Config.Topics.ProductAgents())
	for _, id := range ids {
		if inKafka[id] == 0 {
			t.Errorf("%s was spooled and is not in Kafka after shutdown", id)
		}
	}
	if logs := fr.logs.String(); !strings.Contains(logs, "spool drained before exiting") {
		t.Error("the receiver did not log the drain at shutdown")
	}
}

// The shutdown drain never holds a stopping receiver past its bound, and
// what it could not send stays in the spool: Kafka known to be away (no
// drain at all) or reachable but refusing every record.
func TestShutdownDrainIsBounded(t *testing.T) {
	for _, kafka := range []string{"away", "refusing"} {
		t.Run(kafka, func(t *testing.T) {
			env := testkit.Start(t)
			fr := newRig(t, rigOptions{spool: true, env: env, tweak: func(o *Options) { o.Receiver.Spool.ShutdownDrainTimeout = time.Second }})
			fr.waitReady(t, http.StatusOK)
			if kafka == "away" {
				outage(env.Cluster)
				fr.waitReady(t, http.StatusServiceUnavailable)
			} else {
				refuseProduce(env.Cluster)
			}
			ids := spoolWebhooks(t, fr, 3)
			fr.stop()
			// Without the bound the drain would retry until the guard of
			// waitServed (30s) fails the test.
			if err := fr.waitServed(t); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if err := fr.spool.Close(); err != nil {
				t.Fatal(err)
			}
			left := spooledEventIDs(t, fr.dir)
			for _, id := range ids {
				if !left[id] {
					t.Errorf("%s was spooled and is neither in the spool nor sent", id)
				}
			}
			if logs := fr.logs.String(); !strings.Contains(logs, "spool not empty at shutdown") || !strings.Contains(logs, "entries="+strconv.Itoa(len(ids))) {
				t.Errorf("the receiver did not log the %d webhooks left in the spool", len(ids))
			}
		})
	}
}

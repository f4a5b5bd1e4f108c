package producer

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// fullSpoolDir is a spool directory holding one older webhook: reopened
// with a bound below what it holds (rigOptions.maxBytes 16), the spool is
// full, and not empty.
func fullSpoolDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sp, err := OpenSpool(dir, 1<<20, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	old, _ := sample.NewGenerator(1).ProductAgents(time.Now())
	if err := sp.Append(context.Background(), &delivery{Source: "product-agents", ReceivedAt: time.Now(), Body: old}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Product Agents never retries, so a full spool must not cost a webhook
// while Kafka can take it: the receiver tries Kafka directly.
func TestFullSpoolFallsBackToKafkaWhenKafkaIsUp(t *testing.T) {
	env := testkit.Start(t)
	r := newRig(t, rigOptions{env: env, spool: true, dir: fullSpoolDir(t), maxBytes: 16, unserved: true})
	r.srv.kafkaErr.Store(nil) // Kafka answered the last check (no background loops run here)

	body, id := sample.NewGenerator(2).ProductAgents(time.Now())
	req := httptest.NewRequest("POST", "/webhooks/product-agents", bytes.NewReader(body))
	for k, v := range sample.TokenHeaders(r.token) {
		req.Header[k] = v
	}
	resp, err := r.srv.App().Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d with a full spool and Kafka up, want 200", resp.StatusCode)
	}
	if r.spool.Len() != 1 {
		t.Errorf("spool holds %d, want the 1 older webhook", r.spool.Len())
	}
	recs := env.ReadAll(t, env.Config.Topics.ProductAgents())
	if len(recs) != 1 || schemas.Header(recs[0], schemas.HeaderEventID) != id {
		t.Fatalf("records in Kafka: %d", len(recs))
	}
}

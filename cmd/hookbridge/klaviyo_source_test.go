package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
)

// The Klaviyo forwarder never reads Klaviyo's own webhooks: a loop from
// Klaviyo back into Klaviyo is impossible by construction.
func TestKlaviyoForwarderNeverReadsKlaviyoWebhooks(t *testing.T) {
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range forwardedTopics(cfg.Topics) {
		if strings.HasPrefix(topic, cfg.Topics.Klaviyo()) {
			t.Fatalf("the Klaviyo forwarder reads %s", topic)
		}
	}
	// dedupe and the warehouse do read it, and topics apply creates both.
	if !slices.Contains(cfg.Topics.Raw(), cfg.Topics.Klaviyo()) {
		t.Fatalf("raw topics %v lack %s", cfg.Topics.Raw(), cfg.Topics.Klaviyo())
	}
	var names []string
	for _, s := range topics.Specs(cfg.Topics) {
		names = append(names, s.Name)
	}
	for _, want := range []string{cfg.Topics.Klaviyo(), cfg.Topics.Deduped(cfg.Topics.Klaviyo())} {
		if !slices.Contains(names, want) {
			t.Errorf("topics apply does not create %s (creates %v)", want, names)
		}
	}
}

// Klaviyo webhooks from dev end to end: send-sample → raw topic → deduped
// → Parquet.
func TestDevKlaviyoEndToEnd(t *testing.T) {
	cfg, dir, dev := startDevWithDefaults(t)
	if s, _ := sendSample(t, "--source", "klaviyo-system", "--count", "2", "--batch", "50", "--seed", "3", "--data-dir", dir, "--url", dev.URL); s != 2 {
		t.Fatalf("klaviyo-system: sent %d, want 2", s)
	}
	if s, _ := sendSample(t, "--source", "klaviyo-flow", "--count", "3", "--duplicates", "1", "--seed", "3", "--data-dir", dir, "--url", dev.URL); s != 6 {
		t.Fatalf("klaviyo-flow: sent %d, want 6 (3 and their duplicates)", s)
	}
	topic := cfg.Topics.Klaviyo()
	raw := tail(t, topic, 106)
	if ids := eventIDs(t, raw); len(ids) != 103 {
		t.Fatalf("raw topic: %d distinct ids in %d records, want 103", len(ids), len(raw))
	}
	for _, l := range raw { // tail decodes the Klaviyo records' values, not only their headers
		var v struct {
			EventID string `json:"event_id"`
			Kind    string `json:"kind"`
			RawJSON string `json:"raw_json"`
		}
		if err := json.Unmarshal(l.Value, &v); err != nil || v.EventID != l.Headers["event-id"] ||
			(v.Kind != "flow" && v.Kind != "system") || !json.Valid([]byte(v.RawJSON)) {
			t.Fatalf("tail printed %s/%d@%d as %s (%v); want its event_id, kind and raw_json", l.Topic, l.Partition, l.Offset, l.Value, err)
		}
	}
	waitDedupeCaughtUp(t, dev.Kafka, cfg)
	if got := testkit.ReadCommitted(t, []string{dev.Kafka}, cfg.Topics.Deduped(topic)); len(got) != 103 {
		t.Fatalf("deduped topic holds %d committed records, want 103", len(got))
	}
	testkit.Eventually(t, 20*time.Second, "a Klaviyo .parquet file under "+dev.Warehouse, func() bool {
		files, _ := parquetFiles(dev.Warehouse)
		return slices.ContainsFunc(files, func(f string) bool { return strings.Contains(f, "klaviyo") })
	})
}

package consumers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/schemas"
)

// A registry refusing the credentials is not the record's fault: decoding
// is retried, logged at error with what to check, and succeeds once the
// registry accepts them again; an unknown schema id stays undecodable.
func TestRegistryRefusingCredentialsIsRetriedNotPoison(t *testing.T) {
	env := testkit.Start(t)
	rr := env.RefusingRegistry(t, http.StatusForbidden, `{"error_code":40301,"message":"User cannot access the resource."}`)
	reg := rr.Registry
	rec := env.Record(t, env.Config.Topics.Pique(), &schemas.DecisionMade{EventID: "dec-403", EventType: "decision.made",
		ReceivedAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), RawJSON: "{}"})

	logs := testkit.NewLogBuffer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ev schemas.Event
	done := make(chan error, 1)
	go func() {
		done <- consumers.Retry(ctx, logs.Logger(), "decoding", func(int) time.Duration { return 5 * time.Millisecond },
			consumers.Transient, func() (err error) {
				ev, err = reg.DecodeEvent(ctx, rec.Value)
				return err
			})
	}()
	testkit.Eventually(t, 10*time.Second, "two refused rounds logged at error", func() bool {
		return rr.Refused.Load() >= 2 && strings.Count(logs.String(), "level=ERROR") >= 2
	})
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") && (!strings.Contains(line, "schema_registry.username") || !strings.Contains(line, "status=403")) {
			t.Errorf("the error line does not say what to check: %s", line)
		}
	}
	rr.Refuse.Store(false)
	if err := <-done; err != nil || ev == nil || ev.ID() != "dec-403" {
		t.Fatalf("decoding once the registry accepts the credentials: %v, %v", ev, err)
	}

	unknown := append([]byte{0, 0, 0, 0x7f, 0x7f}, rec.Value[5:]...)
	if _, err := reg.DecodeEvent(ctx, unknown); err == nil || consumers.Transient(err) {
		t.Errorf("an unknown schema id gives %v (transient: %v); want an error that is the record's", err, consumers.Transient(err))
	}
}

package klaviyo

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// An event whose own data breaks one of Klaviyo's limits is refused by the
// mapper, naming the field and never quoting the value; one just inside
// every limit maps.
func TestMapRefusesWhatKlaviyoWouldReject(t *testing.T) {
	big := strings.Repeat("x", MaxStringBytes+1)
	// "Pique " is 6 characters: 121 more is the longest name Klaviyo takes.
	inside := decision("inside", "ada@example.com", strings.Repeat("é", MaxMetricName-len("Pique ")))
	inside.Decision.Reason = new(strings.Repeat("r", MaxStringBytes))
	inside.Session.CartItems = make([]string, MaxArrayItems)
	if _, err := NewMapper(MappingOptions{}).Map(inside); err != nil {
		t.Fatalf("an event at every limit: %v", err)
	}
	cases := []struct {
		name  string
		ev    schemas.Event
		field string
	}{
		{"decision metric name", decision("a", "ada@example.com", strings.Repeat("a", MaxMetricName-len("Pique ")+1)), "metric name"},
		{"message metric name", message("b", "ada@example.com", strings.Repeat("T", MaxMetricName)), "metric name"},
		{"string property", func() schemas.Event {
			d := decision("c", "ada@example.com", "cart_abandonment")
			d.Decision.LLMReasoning = new(big)
			return d
		}(), "properties.llmReasoning"},
		{"array property", func() schemas.Event {
			d := decision("d", "ada@example.com", "cart_abandonment")
			d.Session.CartItems = make([]string, MaxArrayItems+1)
			return d
		}(), "properties.cartItems"},
		{"string in an array", func() schemas.Event {
			d := decision("e", "ada@example.com", "cart_abandonment")
			d.Session.CartItems = []string{"ok", big}
			return d
		}(), "properties.cartItems[1]"},
		{"product field", func() schemas.Event {
			m := message("f", "ada@example.com", "REPLENISHMENT_REMINDER")
			m.OtherProducts = []schemas.Product{{Title: new("ok")}, {Image: &schemas.Image{URL: new(big)}}}
			return m
		}(), "properties.otherProducts[1].image.url"},
		{"email", decision("g", big[:MaxStringBytes]+"@x.example", "cart_abandonment"), "email"},
	}
	for _, c := range cases {
		_, err := NewMapper(MappingOptions{}).Map(c.ev)
		var lim *LimitError
		if !errors.As(err, &lim) || lim.Field != c.field {
			t.Errorf("%s: %v; want a limit error about %s", c.name, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), "xxxx") || strings.Contains(err.Error(), "aaaa") || strings.Contains(err.Error(), "TTTT") {
			t.Errorf("%s: the error quotes the value: %.200s", c.name, err)
		}
	}
}

// A sender can make the mapper refuse as many events as it likes: each is
// dead-lettered as unmappable before anything is sent, and the partition
// goes on (16 refusals of a batch once stopped every partition, again at
// each restart).
func TestProcessorDeadLettersEventsOverKlaviyoLimits(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := testContext(t, 10*time.Second)
	p := h.processor(Options{})
	var long []schemas.Event
	for i := range systemicRejection {
		long = append(long, decision("long-"+string(rune('a'+i)), "ada@example.com", strings.Repeat("a", 130)))
	}
	// One event over the 5 MB payload limit by its strings, each under
	// 100 KB.
	huge := decision("huge", "ada@example.com", "cart_abandonment")
	for range 60 {
		huge.Session.CartItems = append(huge.Session.CartItems, strings.Repeat("c", MaxStringBytes))
	}
	good := decisions("good", 5)
	for _, batch := range [][]schemas.Event{long, append([]schemas.Event{huge}, good...)} {
		if err := p.Process(ctx, h.records(batch...)); err != nil {
			t.Fatal(err)
		}
		if err := p.Flush(ctx); err != nil || held(p) != -1 {
			t.Fatalf("flush: pending %d, err %v; want every event done", held(p), err)
		}
	}
	if got := h.deadLettersFor("unmappable"); got != systemicRejection+1 {
		t.Errorf("%d dead letters for reason unmappable, want %d", got, systemicRejection+1)
	}
	if n := len(h.deadLetters()); n != systemicRejection+1 {
		t.Errorf("%d dead letters in all, want %d", n, systemicRejection+1)
	}
	expectStored(t, h.fake, NewMapper(MappingOptions{}), good)
	if s := h.fake.Stats(); s.Requests[PathEvents][400]+s.Requests[PathBulkEvents][400] != 0 {
		t.Errorf("events over Klaviyo's limits were sent: %v", s.Requests)
	}
}

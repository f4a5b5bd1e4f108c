package sample

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"
)

// TestPiqueSamplesAgreeWithThemselves: a reason names only items that are in
// the cart, and an abandoned cart is never empty, so what a newcomer sees in
// `tail` or in Klaviyo's dry-run log reads as one story.
func TestPiqueSamplesAgreeWithThemselves(t *testing.T) {
	quoted := regexp.MustCompile(`"([^"]+)"`)
	g := NewGenerator(1)
	seen := map[string]bool{}
	for range 2000 {
		body, _ := g.Pique(time.Now())
		var d struct {
			Decision struct{ Action, Reason string }
			Session  struct{ CartItems []string }
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		seen[d.Decision.Action] = true
		for _, m := range quoted.FindAllStringSubmatch(d.Decision.Reason, -1) {
			if !slices.Contains(d.Session.CartItems, m[1]) {
				t.Fatalf("reason %q names %q, which is not in the cart %q", d.Decision.Reason, m[1], d.Session.CartItems)
			}
		}
		if d.Decision.Action == "cart_abandonment" && len(d.Session.CartItems) == 0 {
			t.Fatalf("cart_abandonment with an empty cart: %s", body)
		}
	}
	if len(seen) != len(actions) {
		t.Fatalf("only actions %v came up", seen)
	}
}

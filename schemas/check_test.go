package schemas_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/schemas"
)

// edit returns the embedded DecisionMade schema changed by fn, which gets
// the top-level fields and the decision record's fields.
func edit(t *testing.T, fn func(top, decision *[]map[string]any)) string {
	t.Helper()
	var s struct {
		Type      string           `json:"type"`
		Name      string           `json:"name"`
		Namespace string           `json:"namespace"`
		Fields    []map[string]any `json:"fields"`
	}
	if err := json.Unmarshal([]byte(schemas.KindDecisionMade.Source()), &s); err != nil {
		t.Fatal(err)
	}
	var decision []map[string]any
	var at int
	for i, f := range s.Fields {
		if f["name"] == "decision" {
			at = i
			raw, _ := json.Marshal(f["type"].(map[string]any)["fields"])
			if err := json.Unmarshal(raw, &decision); err != nil {
				t.Fatal(err)
			}
		}
	}
	fn(&s.Fields, &decision)
	s.Fields[at]["type"].(map[string]any)["fields"] = decision
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func without(fields []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, f := range fields {
		if f["name"] != name {
			out = append(out, f)
		}
	}
	return out
}

func TestCompatibilityNamesTheFieldAndRule(t *testing.T) {
	registered := schemas.KindDecisionMade.Source()
	for _, c := range []struct {
		name string
		edit func(top, decision *[]map[string]any)
		want []string // each must be one of the incompatibilities; none: compatible
	}{
		{"added optional field passes", func(top, d *[]map[string]any) {
			*d = append(*d, map[string]any{"name": "channel", "type": []any{"null", "string"}, "default": nil, "doc": "where the decision applies"})
		}, nil},
		{"new docs pass", func(top, d *[]map[string]any) { (*top)[0]["doc"] = "changed" }, nil},
		{"removed field without default fails", func(top, d *[]map[string]any) {
			*top = without(*top, "event_type")
		}, []string{"FORWARD: field event_type: records written without this field cannot be read"}},
		{"changed type fails", func(top, d *[]map[string]any) {
			for _, f := range *d {
				if f["name"] == "action" {
					f["type"] = []any{"null", "long"}
				}
			}
		}, []string{"BACKWARD: field decision.action: written as string, read as [null, long]", "FORWARD: field decision.action: written as long, read as [null, string]"}},
		{"renamed field without alias fails", func(top, d *[]map[string]any) {
			(*top)[0]["name"] = "id"
		}, []string{"BACKWARD: field id: records written without this field", "FORWARD: field event_id: records written without this field"}},
		{"added field without default fails", func(top, d *[]map[string]any) {
			*top = append(*top, map[string]any{"name": "tenant", "type": "string"})
		}, []string{"BACKWARD: field tenant: records written without this field cannot be read: it has no default"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := schemas.Compatibility(edit(t, c.edit), registered)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d incompatibilities, want %d: %v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(got[i].String(), w) {
					t.Errorf("incompatibility %d: %q, want it to start %q", i, got[i], w)
				}
			}
		})
	}
}

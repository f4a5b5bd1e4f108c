package klaviyofake

import (
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Content limits (reference §4).
const (
	MaxBulkEvents    = 1000
	MaxStringBytes   = 100 << 10
	MaxProperties    = 400
	MaxArrayLength   = 4000
	MaxDepth         = 10
	MaxMetricNameLen = 128
)

// invalid is a validation failure: what and where (a JSON pointer).
type invalid struct{ detail, pointer string }

func bad(pointer, format string, args ...any) *invalid {
	return &invalid{detail: fmt.Sprintf(format, args...), pointer: pointer}
}

func parseSingle(doc map[string]any, now time.Time) ([]Event, *invalid) {
	data, b := object(doc, "data", "/data")
	if b != nil {
		return nil, b
	}
	if data["type"] != "event" {
		return nil, bad("/data/type", "type must be \"event\"")
	}
	attrs, b := object(data, "attributes", "/data/attributes")
	if b != nil {
		return nil, b
	}
	prof, b := profileOf(attrs, "/data/attributes/profile")
	if b != nil {
		return nil, b
	}
	e, b := eventOf(attrs, prof, "/data/attributes", now)
	if b != nil {
		return nil, b
	}
	return []Event{e}, nil
}

func parseBulk(doc map[string]any, now time.Time) ([]Event, *invalid) {
	data, b := object(doc, "data", "/data")
	if b != nil {
		return nil, b
	}
	if data["type"] != "event-bulk-create-job" {
		return nil, bad("/data/type", "type must be \"event-bulk-create-job\"")
	}
	attrs, b := object(data, "attributes", "/data/attributes")
	if b != nil {
		return nil, b
	}
	ebc, b := object(attrs, "events-bulk-create", "/data/attributes/events-bulk-create")
	if b != nil {
		return nil, b
	}
	entries, ok := ebc["data"].([]any)
	if !ok || len(entries) == 0 {
		return nil, bad("/data/attributes/events-bulk-create/data", "must be a non-empty list")
	}
	var out []Event
	seen := make(map[string]bool)
	for i, raw := range entries {
		ptr := fmt.Sprintf("/data/attributes/events-bulk-create/data/%d", i)
		entry, ok := raw.(map[string]any)
		if !ok || entry["type"] != "event-bulk-create" {
			return nil, bad(ptr+"/type", "type must be \"event-bulk-create\"")
		}
		ea, b := object(entry, "attributes", ptr+"/attributes")
		if b != nil {
			return nil, b
		}
		prof, b := profileOf(ea, ptr+"/attributes/profile")
		if b != nil {
			return nil, b
		}
		evs, b := object(ea, "events", ptr+"/attributes/events")
		if b != nil {
			return nil, b
		}
		list, ok := evs["data"].([]any)
		if !ok || len(list) == 0 {
			return nil, bad(ptr+"/attributes/events/data", "must be a non-empty list")
		}
		for j, rawEv := range list {
			eptr := fmt.Sprintf("%s/attributes/events/data/%d", ptr, j)
			ev, ok := rawEv.(map[string]any)
			if !ok || ev["type"] != "event" {
				return nil, bad(eptr+"/type", "type must be \"event\"")
			}
			a, b := object(ev, "attributes", eptr+"/attributes")
			if b != nil {
				return nil, b
			}
			e, b := eventOf(a, prof, eptr+"/attributes", now)
			if b != nil {
				return nil, b
			}
			if e.UniqueID != "" {
				k := dedupKey(e)
				if seen[k] {
					return nil, bad(eptr+"/attributes/unique_id", "duplicate unique_id %q for one profile and metric in a bulk request", e.UniqueID)
				}
				seen[k] = true
			}
			out = append(out, e)
			if len(out) > MaxBulkEvents {
				return nil, bad("/data/attributes/events-bulk-create/data", "more than %d events in one request", MaxBulkEvents)
			}
		}
	}
	return out, nil
}

func object(m map[string]any, key, ptr string) (map[string]any, *invalid) {
	v, ok := m[key].(map[string]any)
	if !ok {
		return nil, bad(ptr, "%s must be an object", key)
	}
	return v, nil
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

var identifiers = []string{"email", "phone_number", "external_id", "anonymous_id", "_kx"}

func profileOf(parent map[string]any, ptr string) (map[string]any, *invalid) {
	p, b := object(parent, "profile", ptr)
	if b != nil {
		return nil, b
	}
	data, b := object(p, "data", ptr+"/data")
	if b != nil {
		return nil, b
	}
	if data["type"] != "profile" {
		return nil, bad(ptr+"/data/type", "type must be \"profile\"")
	}
	attrs, _ := data["attributes"].(map[string]any)
	if attrs == nil {
		attrs = map[string]any{}
	}
	has := data["id"] != nil
	for _, k := range identifiers {
		if s, ok := attrs[k].(string); ok && s != "" {
			has = true
		}
	}
	if !has {
		return nil, bad(ptr+"/data/attributes", "a profile needs at least one identifier")
	}
	if e, ok := attrs["email"].(string); ok && e != "" && !emailRE.MatchString(e) {
		return nil, bad(ptr+"/data/attributes/email", "invalid email address %q", e)
	}
	if b := limits(attrs, ptr+"/data/attributes", 1); b != nil {
		return nil, b
	}
	return attrs, nil
}

func eventOf(a, prof map[string]any, ptr string, now time.Time) (Event, *invalid) {
	m, b := object(a, "metric", ptr+"/metric")
	if b != nil {
		return Event{}, b
	}
	md, b := object(m, "data", ptr+"/metric/data")
	if b != nil {
		return Event{}, b
	}
	if md["type"] != "metric" {
		return Event{}, bad(ptr+"/metric/data/type", "type must be \"metric\"")
	}
	ma, b := object(md, "attributes", ptr+"/metric/data/attributes")
	if b != nil {
		return Event{}, b
	}
	name, _ := ma["name"].(string)
	if name == "" || utf8.RuneCountInString(name) >= MaxMetricNameLen {
		return Event{}, bad(ptr+"/metric/data/attributes/name", "metric name must be 1 to %d characters", MaxMetricNameLen-1)
	}
	props, b := object(a, "properties", ptr+"/properties")
	if b != nil {
		return Event{}, b
	}
	if len(props) > MaxProperties {
		return Event{}, bad(ptr+"/properties", "more than %d properties", MaxProperties)
	}
	if b := limits(props, ptr+"/properties", 1); b != nil {
		return Event{}, b
	}
	e := Event{Profile: prof, Metric: name, Properties: props, Time: now}
	if raw, ok := a["time"]; ok {
		s, _ := raw.(string)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Event{}, bad(ptr+"/time", "time must be an ISO 8601 date-time: %q", s)
		}
		if t.Year() < 2000 || t.After(now.AddDate(1, 0, 0)) {
			return Event{}, bad(ptr+"/time", "time %s is out of range", s)
		}
		e.Time = t.Truncate(time.Second)
	}
	if raw, ok := a["unique_id"]; ok {
		s, ok := raw.(string)
		if !ok {
			return Event{}, bad(ptr+"/unique_id", "unique_id must be a string")
		}
		e.UniqueID = s
	}
	return e, nil
}

// limits checks string sizes, array lengths and nesting depth.
func limits(v any, ptr string, depth int) *invalid {
	if depth > MaxDepth {
		return bad(ptr, "nested deeper than %d levels", MaxDepth)
	}
	switch x := v.(type) {
	case string:
		if len(x) > MaxStringBytes {
			return bad(ptr, "string longer than 100 KB")
		}
	case []any:
		if len(x) > MaxArrayLength {
			return bad(ptr, "array longer than %d items", MaxArrayLength)
		}
		for i, y := range x {
			if b := limits(y, fmt.Sprintf("%s/%d", ptr, i), depth+1); b != nil {
				return b
			}
		}
	case map[string]any:
		for k, y := range x {
			if b := limits(y, ptr+"/"+k, depth+1); b != nil {
				return b
			}
		}
	}
	return nil
}

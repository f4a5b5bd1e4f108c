package klaviyo

import (
	"fmt"
	"unicode/utf8"
)

// Klaviyo's content limits (reference §4) that an event's own data can
// break. The mapper checks them so that such an event is dead-lettered
// before it is sent: a sender who can make Klaviyo refuse events must not
// be able to make it refuse whole batches.
const (
	// MaxMetricName is the longest metric name, in characters ("under
	// 128"); an action or messageType without a configured name becomes
	// part of one.
	MaxMetricName = 127
	// MaxStringBytes is the longest string anywhere in an event.
	MaxStringBytes = 100 << 10
	// MaxArrayItems is the longest array anywhere in an event.
	MaxArrayItems = 4000
)

// LimitError says which of Klaviyo's limits an event breaks. It names the
// field and the sizes, never the value, which may be personal or huge.
type LimitError struct {
	Field string // "metric name", "properties.reason", ...
	Size  int
	Limit int
	Unit  string // "characters", "bytes", "items"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("klaviyo: the event's %s is %d %s, over Klaviyo's limit of %d", e.Field, e.Size, e.Unit, e.Limit)
}

// checkLimits reports the first limit e breaks, in a fixed order (the
// properties by key) so that the same event always gets the same error.
// Field names are built only for the error: every event is checked.
func checkLimits(e *Event) error {
	if n := utf8.RuneCountInString(e.Metric); n > MaxMetricName {
		return &LimitError{Field: "metric name", Size: n, Limit: MaxMetricName, Unit: "characters"}
	}
	for _, f := range [...]named{{"email", &e.Profile.Email}, {"external_id", &e.Profile.ExternalID}, {"unique_id", &e.UniqueID}} {
		if err := checkString(f.name, *f.s); err != nil {
			return err
		}
	}
	var first *LimitError
	var firstKey string
	for k, v := range e.Properties {
		if err := checkValue(v); err != nil && (first == nil || k < firstKey) {
			first, firstKey = err, k
		}
	}
	if first == nil {
		return nil
	}
	first.Field = "properties." + firstKey + first.Field
	return first
}

// checkValue checks the types the mapper puts in properties; the others
// (numbers, booleans) have no limit to break. The error's Field is the
// path below the property: "" for the value itself, "[3]", "[3].title".
func checkValue(v any) *LimitError {
	switch x := v.(type) {
	case string:
		return checkString("", x)
	case []string:
		if err := checkArray("", len(x)); err != nil {
			return err
		}
		for i, s := range x {
			if err := checkString("", s); err != nil {
				err.Field = fmt.Sprintf("[%d]", i)
				return err
			}
		}
	case []product:
		if err := checkArray("", len(x)); err != nil {
			return err
		}
		for i, p := range x {
			for _, f := range p.strings() {
				if f.s == nil {
					continue
				}
				if err := checkString("", *f.s); err != nil {
					err.Field = fmt.Sprintf("[%d].%s", i, f.name)
					return err
				}
			}
		}
	}
	return nil
}

func checkString(field, s string) *LimitError {
	if len(s) > MaxStringBytes {
		return &LimitError{Field: field, Size: len(s), Limit: MaxStringBytes, Unit: "bytes"}
	}
	return nil
}

func checkArray(field string, n int) *LimitError {
	if n > MaxArrayItems {
		return &LimitError{Field: field, Size: n, Limit: MaxArrayItems, Unit: "items"}
	}
	return nil
}

// named is a string field under its JSON name.
type named struct {
	name string
	s    *string
}

// strings are p's string fields.
func (p product) strings() []named {
	out := []named{{"title", p.Title}, {"description", p.Description}, {"url", p.URL}, {"currency", p.Currency}}
	if p.Image != nil {
		out = append(out, named{"image.scalableUrl", p.Image.ScalableURL}, named{"image.url", p.Image.URL})
	}
	return out
}

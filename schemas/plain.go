package schemas

import (
	"time"
)

// Plain turns goavro native data into plain JSON-ready values: unions
// unwrapped to their value, timestamps as RFC 3339 strings in UTC, records
// as maps keyed by their Avro field names.
func Plain(native any) any {
	switch v := native.(type) {
	case map[string]any:
		if len(v) == 1 {
			for name, inner := range v {
				if isUnionBranch(name) {
					return Plain(inner)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = Plain(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = Plain(x)
		}
		return out
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return native
}

// isUnionBranch tells a goavro union wrapper ({"string": ...}) from a
// record with a single field: union keys name types, record fields do not.
func isUnionBranch(name string) bool {
	switch name {
	case "string", "long", "int", "double", "float", "boolean", "bytes", "long.timestamp-millis":
		return true
	}
	// Named types in our unions (records) are namespaced.
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return true
		}
	}
	return false
}

package producer

import (
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/hookbridge/hookbridge/schemas"
)

// delivery is one verified webhook as received: everything needed to map
// and encode it, now or later from the spool. It owns its bytes; nothing in
// it aliases Fiber's request buffers.
type delivery struct {
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"received_at"`
	SvixID     string    `json:"svix_id,omitempty"`
	Body       []byte    `json:"body"`
}

// mapped is a delivery turned into what goes to Kafka.
type mapped struct {
	topic     string
	key       string
	eventID   string
	eventType string
	event     schemas.Event // nil for an unrouted webhook: its raw body is the value
}

// badRequest is a webhook hookbridge can never accept: malformed JSON or a
// missing required part. The sender gets 400 and the message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// decodeJSON decodes a webhook body into v. checkJSON refuses what is not
// one well-formed object with unique keys; the decode itself is go-json's
// (fast). When go-json fails, encoding/json decodes again, slowly but with
// the error's JSON path (go-json names only the Go field, and misreports
// some type mismatches as syntax errors).
func decodeJSON(body []byte, v any) error {
	if err := checkBody(body); err != nil {
		return err
	}
	return unmarshal(body, v)
}

// decodeJSONFast is decodeJSON with a reader for v's usual shape tried
// first, when checkJSON has accepted the body: fast, without reflection,
// a walk of the top-level object with the scanner's own primitives (go-json
// was the largest single cost of mapping a webhook). A fast reader reports
// false at anything unusual (a field of another type, a key that matches a
// field only case-insensitively, a number given as a string), v is left
// zero, and the decode is go-json's and encoding/json's as for any body,
// so every unusual body is read, or refused, exactly as without it.
//
// text is string(body) (see readFast), which the strings read share.
func decodeJSONFast[T any](body []byte, v *T, fast func(*jsonScanner, *T) bool) (text string, err error) {
	text, ok, err := checkRead(body, v, fast)
	if err != nil || ok {
		return text, err
	}
	return text, unmarshal(body, v)
}

// checkBody refuses a body that is not valid UTF-8 or not one JSON object
// (checkJSON). checkJSON's one pass checks the UTF-8 too; at any error the
// whole body is checked, so invalid UTF-8 is what is named wherever it is
// and whatever else is wrong.
func checkBody(body []byte) error {
	sc := scannerFor(body)
	defer sc.release()
	return sc.checkBody()
}

// checkBody is checkBody with sc.
func (sc *jsonScanner) checkBody() error {
	err := sc.check()
	if err != nil && !utf8.Valid(sc.buf) {
		return errNotUTF8()
	}
	return err
}

// errNotUTF8 is the refusal of a body that is not valid UTF-8.
func errNotUTF8() error { return badf("body is not valid UTF-8") }

// unmarshal decodes a checked body into v: go-json, else encoding/json for
// an error that names the JSON path.
func unmarshal(body []byte, v any) error {
	if json.Unmarshal(body, v) == nil {
		return nil
	}
	err := stdjson.Unmarshal(body, v)
	var typeErr *stdjson.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return badf("body must be a JSON object")
	case errors.As(err, &typeErr):
		return badf("%s: want %s, got %s", typeErr.Field, jsonKind(typeErr.Type.String()), gotKind(typeErr.Value))
	default:
		return badf("malformed JSON: %v", err)
	}
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "Number"), strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

// gotKind names what encoding/json found ("number 1e999", "bool", ...).
func gotKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	switch kind {
	case "object", "array":
		return "an " + kind
	case "bool":
		return "true or false"
	}
	return "a " + kind
}

// bodyHash is the hex SHA-256 of a body: the event id of a webhook that
// carries none, so identical bodies dedupe to one event.
func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// parseTime reads an ISO-8601 timestamp into dst and returns dst; a
// missing or unreadable one is null (raw_json keeps what was sent). The
// conversions below fill a dst the same way, so an event's values can be
// allocated with it.
func parseTime(s *string, dst *time.Time) *time.Time {
	if s == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil
	}
	*dst = t.UTC()
	return dst
}

// toLong reads a JSON number that should be whole; 12.0 is accepted.
func toLong(field string, n *json.Number, dst *int64) (*int64, error) {
	if n == nil {
		return nil, nil
	}
	if i, err := n.Int64(); err == nil {
		*dst = i
		return dst, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return nil, badf("%s: want a whole number, got %s", field, n.String())
	}
	*dst = int64(f)
	return dst, nil
}

func toDouble(field string, n *json.Number, dst *float64) (*float64, error) {
	if n == nil {
		return nil, nil
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil {
		return nil, badf("%s: want a number, got %s", field, n.String())
	}
	*dst = f
	return dst, nil
}

func nonEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

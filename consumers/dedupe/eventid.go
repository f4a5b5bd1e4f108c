package dedupe

import (
	"context"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// HeaderEventID is the header the receiver puts the event id in.
const HeaderEventID = schemas.HeaderEventID

// errNoEventID is why a record without any id goes to the dead letters.
var errNoEventID = errors.New("dedupe: record has no event-id header and its value does not decode to an event")

// eventID returns rec's event id: the event-id header, or, for a record
// written without it, the id inside the Avro value. A value that is not
// in the Confluent wire format is refused even with a header: every
// reader of the deduped topics would fail on it.
func eventID(ctx context.Context, reg *schemas.Registry, rec *kgo.Record) (string, error) {
	if len(rec.Value) < 5 || rec.Value[0] != 0 {
		return "", fmt.Errorf("dedupe: value of %d bytes is not in the Confluent wire format (magic byte 0, 4-byte schema id, Avro)", len(rec.Value))
	}
	if id := schemas.Header(rec, HeaderEventID); id != "" {
		return id, nil
	}
	if reg == nil {
		return "", errNoEventID
	}
	ev, err := reg.DecodeEvent(ctx, rec.Value)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoEventID, err)
	}
	if ev.ID() == "" {
		return "", errNoEventID
	}
	return ev.ID(), nil
}

// hashID is the fixed-size form of an id that the seen set and the
// changelog store. It must never change: changelogs written by one version
// are restored by the next.
func hashID(id string) uint64 { return xxhash.Sum64String(id) }

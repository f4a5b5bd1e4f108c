package dedupe

import (
	"context"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
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

// eventIDs reads the event ids of recs before their transaction begins,
// waiting out a schema registry that is down or refuses the credentials
// (the group stalls and its lag alerts fire) instead of dead-lettering
// records for the registry's fault. errs[i] is record i's own error, for
// its dead letter; err is set only when ctx ended first.
func (d *deduper) eventIDs(ctx context.Context, recs []*kgo.Record) (ids []string, errs []error, err error) {
	ids, errs = make([]string, len(recs)), make([]error, len(recs))
	for i, rec := range recs {
		errs[i] = consumers.Retry(ctx, d.Log, "dedupe: reading an event id through the schema registry", retryDelay, consumers.Transient,
			func() (err error) {
				ids[i], err = eventID(ctx, d.c.Schemas, rec)
				return err
			})
		if errs[i] != nil && ctx.Err() != nil {
			return nil, nil, errs[i]
		}
	}
	return ids, errs, nil
}

// hashID is the fixed-size form of an id that the seen set and the
// changelog store. It must never change: changelogs written by one version
// are restored by the next.
func hashID(id string) uint64 { return xxhash.Sum64String(id) }

//go:build datakit

package examples

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/schemas"
)

// evolvedAgentMessage is AgentMessage after a BACKWARD-compatible change:
// an added optional field.
var evolvedAgentMessage = strings.Replace(schemas.KindAgentMessage.Source(), `"fields": [`,
	`"fields": [{"name": "channel", "type": ["null", "string"], "default": null, "doc": "added later"},`, 1)

// writeEvolved registers the evolved schema under the deduped topic's
// subject (as a newer hookbridge would) and writes one record with it.
func writeEvolved(t *testing.T, d *dev, eventID string) {
	t.Helper()
	ev := &schemas.AgentMessage{EventID: eventID, ReceivedAt: time.Now().UTC().Truncate(time.Millisecond), RawJSON: "{}",
		Customer: schemas.Customer{ID: new("cus-evolved")}}
	native := ev.Native()
	native["channel"] = goavro.Union("string", "sms")
	writeWithSchema(t, d, evolvedAgentMessage, ev, native, "cus-evolved")
}

// writeWithSchema registers schema, a compatible change of AgentMessage,
// under the deduped topic's subject and writes native, ev's value in that
// schema, to the deduped topic with ev's headers and key.
func writeWithSchema(t *testing.T, d *dev, schema string, ev *schemas.AgentMessage, native map[string]any, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := sr.NewClient(sr.URLs(d.Registry))
	if err != nil {
		t.Fatal(err)
	}
	if found, err := schemas.Compatibility(schema, schemas.KindAgentMessage.Source()); err != nil || len(found) > 0 {
		t.Fatalf("the changed schema is not a compatible change: %v %v", found, err)
	}
	ss, err := reg.CreateSchema(ctx, schemas.Subject(messagesDeduped), sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	val := binary.BigEndian.AppendUint32([]byte{0}, uint32(ss.ID))
	if val, err = codec.BinaryFromNative(val, native); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec := &kgo.Record{Topic: messagesDeduped, Key: []byte(key), Value: val, Headers: ev.Meta().Headers()}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

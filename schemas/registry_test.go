package schemas_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/hookbridge/hookbridge/schemas"
)

func newRegistry(t *testing.T) (*schemas.Registry, *srfake.Registry, *sr.Client) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return schemas.NewRegistry(cl), fake, cl
}

func ptr[T any](v T) *T { return &v }

func TestRegisterEncodeDecodeRoundTrip(t *testing.T) {
	reg, _, cl := newRegistry(t)
	ctx := context.Background()
	ev := &schemas.DecisionMade{
		EventID: "dec-1", EventType: "decision.made", ReceivedAt: time.UnixMilli(1700000000123).UTC(),
		OccurredAt: ptr(time.UnixMilli(1700000000000).UTC()), SvixID: ptr("msg_1"),
		Decision: schemas.Decision{Action: ptr("cart_abandonment"), Reason: ptr("<b>Zoë</b> 🛒")},
		Session:  schemas.Session{EventCount: ptr(int64(12)), DurationSeconds: ptr(245.5), CartItems: []string{"Café"}},
		RawJSON:  `{"x":"é"}`,
	}
	if _, err := reg.AppendEncode(nil, ev); err == nil {
		t.Fatal("encoding before registration must fail: the schema id is unknown")
	}
	if err := reg.Register(ctx, schemas.Subjects("")); err != nil {
		t.Fatal(err)
	}
	if c := cl.Compatibility(ctx, "pique.decisions.v1-value"); c[0].Err != nil || c[0].Level != sr.CompatBackward {
		t.Fatalf("subject compatibility = %+v; want BACKWARD", c[0])
	}
	val, err := reg.AppendEncode(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := reg.SchemaID(schemas.KindDecisionMade)
	if val[0] != 0 || int(val[1])<<24|int(val[2])<<16|int(val[3])<<8|int(val[4]) != id {
		t.Fatalf("not Confluent framing with schema id %d: % x", id, val[:5])
	}
	// A second Registry (another process) fetches the writer schema by id.
	other, err := sr.NewClient(sr.URLs(cl.OptValue(sr.URLs).([]string)...))
	if err != nil {
		t.Fatal(err)
	}
	got, err := schemas.NewRegistry(other).DecodeEvent(ctx, val)
	if err != nil {
		t.Fatal(err)
	}
	dm := got.(*schemas.DecisionMade)
	if dm.EventID != ev.EventID || *dm.Decision.Reason != *ev.Decision.Reason || *dm.Session.DurationSeconds != 245.5 ||
		!dm.ReceivedAt.Equal(ev.ReceivedAt) || !dm.OccurredAt.Equal(*ev.OccurredAt) || dm.Session.CartItems[0] != "Café" ||
		dm.Decision.ID != nil || dm.Session.Email != nil || dm.RawJSON != ev.RawJSON {
		t.Fatalf("round trip changed the event: %+v", dm)
	}
	if err := reg.Register(ctx, schemas.Subjects("")); err != nil {
		t.Fatalf("registering again must be idempotent: %v", err)
	}
	if again, _ := reg.SchemaID(schemas.KindDecisionMade); again != id {
		t.Fatalf("re-registration changed the id %d → %d", id, again)
	}
}

// A record written by a newer schema version (a field added, BACKWARD
// compatible) still decodes: readers use the writer's schema by id.
func TestDecodeRecordOfNewerSchemaVersion(t *testing.T) {
	reg, fake, _ := newRegistry(t)
	ctx := context.Background()
	if err := reg.Register(ctx, schemas.Subjects("")); err != nil {
		t.Fatal(err)
	}
	newer := strings.Replace(schemas.KindAgentMessage.Source(), `{"name": "raw_json"`,
		`{"name": "locale", "type": ["null", "string"], "default": null}, {"name": "raw_json"`, 1)
	id, _, err := fake.RegisterSchema("productagents.messages.v1-value", sr.Schema{Schema: newer, Type: sr.TypeAvro})
	if err != nil {
		t.Fatalf("a field added with a default must be BACKWARD compatible: %v", err)
	}
	codec, err := goavro.NewCodec(newer)
	if err != nil {
		t.Fatal(err)
	}
	ev := &schemas.AgentMessage{EventID: "evt-1", ReceivedAt: time.UnixMilli(1).UTC(), RawJSON: "{}",
		PrimaryProducts: []schemas.Product{{Title: ptr("Mug"), Image: &schemas.Image{URL: ptr("u")}, Price: ptr(9.5), OnSale: ptr(true)}}}
	native := ev.Native()
	native["locale"] = goavro.Union("string", "fr-FR")
	val := []byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	if val, err = codec.BinaryFromNative(val, native); err != nil {
		t.Fatal(err)
	}
	d, err := reg.Decode(ctx, val)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaID != id || d.Kind != schemas.KindAgentMessage {
		t.Fatalf("decoded %+v", d)
	}
	if txt, err := reg.SchemaText(ctx, id); err != nil || txt != newer {
		t.Fatalf("SchemaText(%d) = %.60q…, %v; want the registered text", id, txt, err)
	}
	plain := schemas.Plain(d.Native).(map[string]any)
	p := plain["primary_products"].([]any)[0].(map[string]any)
	if plain["locale"] != "fr-FR" || plain["event_id"] != "evt-1" || p["title"] != "Mug" || p["image"].(map[string]any)["url"] != "u" ||
		p["on_sale"] != true || plain["message_type"] != nil || plain["received_at"] != "1970-01-01T00:00:00.001Z" {
		t.Fatalf("plain form: %v", plain)
	}
}

func TestDecodeRejectsWhatIsNotAnEvent(t *testing.T) {
	reg, fake, _ := newRegistry(t)
	other, _, err := fake.RegisterSchema("x-value", sr.Schema{Schema: `{"type":"record","name":"Other","fields":[]}`, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	for name, val := range map[string][]byte{
		"not wire format":  []byte(`{"json":true}`),
		"unknown id":       {0, 0, 0, 0x7f, 0x7f, 1},
		"not a hookbridge": {0, byte(other >> 24), byte(other >> 16), byte(other >> 8), byte(other)},
	} {
		if _, err := reg.DecodeEvent(context.Background(), val); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

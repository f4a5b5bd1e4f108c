package schemas_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/schemas"
)

// Every kind in the table has a schema that compiles, a topic, a subject,
// and a doc on every field of the Klaviyo schema.
func TestTableOfKinds(t *testing.T) {
	subjects := schemas.Subjects("acme.")
	for _, k := range schemas.AllKinds() {
		if _, err := k.Codec(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		if k.Topic() == "" || subjects[k] != "acme."+k.Topic()+"-value" {
			t.Errorf("%s: topic %q, subject %q", k, k.Topic(), subjects[k])
		}
	}
	if len(subjects) != 3 || schemas.KindKlaviyoWebhook.Topic() != "klaviyo.webhooks.v1" {
		t.Fatalf("subjects %v", subjects)
	}
	for _, line := range strings.Split(schemas.KindKlaviyoWebhook.Source(), "\n") {
		if strings.Contains(line, `{"name":`) && !strings.Contains(line, `"doc":`) {
			t.Errorf("a field without a doc: %s", line)
		}
	}
}

// A KlaviyoWebhook survives encoding and decoding, HTML and non-ASCII too.
func TestKlaviyoWebhookRoundTrip(t *testing.T) {
	reg, _, _ := newRegistry(t)
	ctx := context.Background()
	if err := reg.Register(ctx, schemas.Subjects("")); err != nil {
		t.Fatal(err)
	}
	ev := &schemas.KlaviyoWebhook{EventID: "ext-1", WebhookKind: schemas.KlaviyoSystem, Topic: ptr("event:klaviyo.opened_email"),
		MetricName: ptr("Opened Email"), ProfileID: ptr("01HPROF"), Email: ptr("zoë@example.com"),
		OccurredAt: ptr(time.UnixMilli(1700000000000).UTC()), ReceivedAt: time.UnixMilli(1700000001000).UTC(),
		WebhookID: ptr("wh_1"), AccountID: ptr("acc_1"), RawJSON: `{"x":"<b>Café</b> 🛒"}`}
	val, err := reg.AppendEncode(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reg.DecodeEvent(ctx, val)
	if err != nil {
		t.Fatal(err)
	}
	k := got.(*schemas.KlaviyoWebhook)
	if k.EventID != "ext-1" || k.WebhookKind != "system" || *k.Email != *ev.Email || k.RawJSON != ev.RawJSON ||
		!k.OccurredAt.Equal(*ev.OccurredAt) || *k.AccountID != "acc_1" || k.Key() != "01HPROF" || k.Meta().Source != "klaviyo-system" {
		t.Fatalf("round trip changed the event: %+v", k)
	}
}

// A record written with a schema that is no hookbridge kind is an error
// naming the record and the schema id, never decoded as some other kind.
func TestDecodeEventOfUnknownSchemaIsAnError(t *testing.T) {
	_, fake, cl := newRegistry(t)
	other := `{"type":"record","name":"Stranger","namespace":"io.other","fields":[{"name":"event_id","type":"string"}]}`
	id, _, err := fake.RegisterSchema("other-value", sr.Schema{Schema: other, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(other)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := codec.BinaryFromNative(nil, map[string]any{"event_id": "x"})
	if err != nil {
		t.Fatal(err)
	}
	var h sr.ConfluentHeader
	val, _ := h.AppendEncode(nil, id, nil)
	_, err = schemas.NewRegistry(cl).DecodeEvent(context.Background(), append(val, bin...))
	if err == nil || !strings.Contains(err.Error(), "Stranger") || !strings.Contains(err.Error(), "id") {
		t.Fatalf("DecodeEvent of a Stranger = %v; want an error naming the record and the schema id", err)
	}
}

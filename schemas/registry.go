package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Subject returns the TopicNameStrategy subject for a topic's values.
func Subject(topic string) string { return topic + "-value" }

// DedupedSubject is the subject of the .deduped twin of the topic whose
// subject is subject.
func DedupedSubject(subject string) string {
	return strings.TrimSuffix(subject, "-value") + ".deduped-value"
}

// ErrNotRegistered is returned by Encode until Register has succeeded: the
// schema ids that go into every record are not known before then.
var ErrNotRegistered = errors.New("schemas: not registered with the schema registry yet")

// Registry encodes events in the Confluent wire format with the schema ids
// it registered, and decodes records written with any schema id the schema
// registry knows. It is safe for concurrent use.
type Registry struct {
	client  *sr.Client
	header  sr.ConfluentHeader
	writers atomic.Pointer[map[Kind]writer]

	mu      sync.RWMutex
	readers map[int]reader

	decisions, messages sync.Pool // reusable natives for AppendEncode
}

type writer struct {
	id    int
	codec *goavro.Codec
}

type reader struct {
	kind  Kind
	codec *goavro.Codec
}

// NewRegistry returns a Registry that talks to the schema registry through
// client.
func NewRegistry(client *sr.Client) *Registry {
	return &Registry{client: client, readers: make(map[int]reader)}
}

// Register registers each kind's embedded schema under its subject, sets the
// subject's compatibility to BACKWARD, and remembers the ids for Encode. It is
// idempotent: registering a schema the subject already has returns its id.
func (r *Registry) Register(ctx context.Context, subjects map[Kind]string) error {
	ws := make(map[Kind]writer, len(subjects))
	for kind, subject := range subjects {
		var ss sr.SubjectSchema
		// dedupe copies values byte for byte to <topic>.deduped, so the
		// schema goes under that topic's subject too (the same schema, the
		// same id): stock TopicNameStrategy deserializers look a writer id
		// up under the subject of the record's own topic.
		for _, s := range []string{subject, DedupedSubject(subject)} {
			res := r.client.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, s)
			if err := res[0].Err; err != nil {
				return fmt.Errorf("schemas: setting BACKWARD compatibility on subject %q: %w", s, err)
			}
			got, err := r.client.CreateSchema(ctx, s, sr.Schema{Schema: kind.Source(), Type: sr.TypeAvro})
			if err != nil {
				return fmt.Errorf("schemas: registering %s under subject %q: %w", kind, s, err)
			}
			if s == subject {
				ss = got
			} else if got.ID != ss.ID {
				return fmt.Errorf("schemas: the registry gave %s id %d under %q but %d under %q: records copied by dedupe would name the wrong schema", kind, ss.ID, subject, got.ID, s)
			}
		}
		codec, err := kind.Codec()
		if err != nil {
			return err
		}
		ws[kind] = writer{id: ss.ID, codec: codec}
		r.mu.Lock()
		r.readers[ss.ID] = reader{kind: kind, codec: codec}
		r.mu.Unlock()
	}
	r.writers.Store(&ws)
	return nil
}

// Registered reports whether Register has succeeded.
func (r *Registry) Registered() bool { return r.writers.Load() != nil }

// SchemaID returns the id Register got for kind.
func (r *Registry) SchemaID(kind Kind) (int, error) {
	w, err := r.writer(kind)
	return w.id, err
}

func (r *Registry) writer(kind Kind) (writer, error) {
	ws := r.writers.Load()
	if ws == nil {
		return writer{}, ErrNotRegistered
	}
	w, ok := (*ws)[kind]
	if !ok {
		return writer{}, fmt.Errorf("schemas: %s was not registered", kind)
	}
	return w, nil
}

// AppendEncode appends e in the Confluent wire format to dst.
func (r *Registry) AppendEncode(dst []byte, e Event) ([]byte, error) {
	w, err := r.writer(e.Kind())
	if err != nil {
		return dst, err
	}
	dst, err = r.header.AppendEncode(dst, w.id, nil)
	if err != nil {
		return dst, err
	}
	dst, err = r.encode(dst, w.codec, e)
	if err != nil {
		return dst, fmt.Errorf("schemas: encoding %s %q: %w", e.Kind(), e.ID(), err)
	}
	return dst, nil
}

// encode appends e's Avro binary to dst, filling natives from a pool.
func (r *Registry) encode(dst []byte, codec *goavro.Codec, e Event) ([]byte, error) {
	switch e := e.(type) {
	case *DecisionMade:
		n, _ := r.decisions.Get().(*decisionNative)
		if n == nil {
			n = newDecisionNative()
		}
		defer func() { n.release(); r.decisions.Put(n) }()
		return codec.BinaryFromNative(dst, n.fill(e))
	case *AgentMessage:
		n, _ := r.messages.Get().(*agentNative)
		if n == nil {
			n = newAgentNative()
		}
		defer func() { n.release(); r.messages.Put(n) }()
		return codec.BinaryFromNative(dst, n.fill(e))
	}
	return codec.BinaryFromNative(dst, e.Native())
}

// Decoded is one record value decoded from the Confluent wire format.
type Decoded struct {
	SchemaID int
	Kind     Kind
	Native   any // goavro native data, as the writer's schema shaped it
}

// Decode reads a Confluent wire-format value, fetching the writer's schema
// from the registry the first time its id is seen.
func (r *Registry) Decode(ctx context.Context, value []byte) (Decoded, error) {
	id, body, err := r.header.DecodeID(value)
	if err != nil {
		return Decoded{}, fmt.Errorf("schemas: value is not in the Confluent wire format: %w", err)
	}
	rd, err := r.reader(ctx, id)
	if err != nil {
		return Decoded{}, err
	}
	native, rest, err := rd.codec.NativeFromBinary(body)
	if err != nil {
		return Decoded{}, fmt.Errorf("schemas: decoding %s with schema id %d: %w", rd.kind, id, err)
	}
	if len(rest) != 0 {
		return Decoded{}, fmt.Errorf("schemas: decoding %s with schema id %d: %d trailing bytes", rd.kind, id, len(rest))
	}
	return Decoded{SchemaID: id, Kind: rd.kind, Native: native}, nil
}

// DecodeEvent decodes a value into its event type (*DecisionMade,
// *AgentMessage, *KlaviyoWebhook). A writer schema that is no hookbridge
// kind is an error naming its record and schema id.
func (r *Registry) DecodeEvent(ctx context.Context, value []byte) (Event, error) {
	d, err := r.Decode(ctx, value)
	if err != nil {
		return nil, err
	}
	ki, ok := d.Kind.info()
	if !ok {
		return nil, fmt.Errorf("schemas: schema id %d is %s, not a hookbridge event kind", d.SchemaID, d.Kind)
	}
	return ki.decode(d.Native)
}

// SchemaText returns the Avro schema text of a schema id, from the same
// cache Decode uses, so a schema is fetched from the registry once.
func (r *Registry) SchemaText(ctx context.Context, id int) (string, error) {
	rd, err := r.reader(ctx, id)
	if err != nil {
		return "", err
	}
	return rd.codec.Schema(), nil
}

func (r *Registry) reader(ctx context.Context, id int) (reader, error) {
	r.mu.RLock()
	rd, ok := r.readers[id]
	r.mu.RUnlock()
	if ok {
		return rd, nil
	}
	s, err := r.client.SchemaByID(ctx, id)
	if err != nil {
		return reader{}, fmt.Errorf("schemas: fetching schema id %d from the registry: %w", id, err)
	}
	kind, err := kindOf(s.Schema)
	if err != nil {
		return reader{}, fmt.Errorf("schemas: schema id %d: %w", id, err)
	}
	codec, err := goavro.NewCodec(s.Schema)
	if err != nil {
		return reader{}, fmt.Errorf("schemas: schema id %d does not compile: %w", id, err)
	}
	rd = reader{kind: kind, codec: codec}
	r.mu.Lock()
	r.readers[id] = rd
	r.mu.Unlock()
	return rd, nil
}

// kindOf tells which event a schema describes from its record name.
func kindOf(schema string) (Kind, error) {
	var head struct{ Name string }
	if err := json.Unmarshal([]byte(schema), &head); err != nil {
		return 0, fmt.Errorf("not an Avro record schema: %w", err)
	}
	name := head.Name[strings.LastIndexByte(head.Name, '.')+1:]
	for _, k := range AllKinds() {
		if name == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("record %q is not a hookbridge event", head.Name)
}

package schemas_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/schemas"
)

// Records dedupe copies to <topic>.deduped keep their schema id; stock
// deserializers look that id up under the .deduped topic's own subject, so
// Register puts the schema there too, with the same id.
func TestRegisterAlsoUnderTheDedupedSubject(t *testing.T) {
	reg, _, cl := newRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subjects := schemas.Subjects("t.")
	if err := reg.Register(ctx, subjects); err != nil {
		t.Fatal(err)
	}
	for _, k := range schemas.AllKinds() {
		id, _ := reg.SchemaID(k)
		got, err := cl.SchemaByVersion(ctx, schemas.DedupedSubject(subjects[k]), -1)
		if err != nil || got.ID != id {
			t.Errorf("%s: subject %s has id %d (%v), want %d as under %s", k, schemas.DedupedSubject(subjects[k]), got.ID, err, id, subjects[k])
		}
	}
	if got := schemas.DedupedSubject("pique.decisions.v1-value"); got != "pique.decisions.v1.deduped-value" {
		t.Errorf("DedupedSubject: %s", got)
	}
}

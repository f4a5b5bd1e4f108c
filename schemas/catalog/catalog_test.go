package catalog_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
	"github.com/hookbridge/hookbridge/schemas/catalog"
)

// catalogue is docs/topics.md, relative to this package.
var catalogue = filepath.Join("..", "..", "docs", "topics.md")

// TestCatalogueIsCurrent fails when docs/topics.md is not what `hookbridge
// schemas docs` writes for the default configuration: after changing a
// schema or a topic, run `go run ./cmd/hookbridge schemas docs --out docs/topics.md`.
func TestCatalogueIsCurrent(t *testing.T) {
	cfg, err := config.Default(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want, err := catalog.Markdown(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(catalogue)
	if err != nil {
		t.Fatalf("reading the catalogue: %v (write it with: go run ./cmd/hookbridge schemas docs --out docs/topics.md)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/topics.md is not current: run `go run ./cmd/hookbridge schemas docs --out docs/topics.md` and commit it")
	}
}

// Every field of every schema says what it means.
func TestEveryFieldHasADoc(t *testing.T) {
	for _, k := range schemas.AllKinds() {
		s, err := avro.ParseWithCache(k.Source(), "", &avro.SchemaCache{})
		if err != nil {
			t.Fatal(err)
		}
		walk(t, k.String(), s, map[string]bool{})
	}
}

func walk(t *testing.T, path string, s avro.Schema, seen map[string]bool) {
	switch s := s.(type) {
	case *avro.RecordSchema:
		if seen[s.FullName()] {
			return
		}
		seen[s.FullName()] = true
		for _, f := range s.Fields() {
			if f.Doc() == "" {
				t.Errorf("%s.%s has no doc", path, f.Name())
			}
			walk(t, path+"."+f.Name(), f.Type(), seen)
		}
	case *avro.UnionSchema:
		for _, b := range s.Types() {
			walk(t, path, b, seen)
		}
	case *avro.ArraySchema:
		walk(t, path+"[]", s.Items(), seen)
	}
}

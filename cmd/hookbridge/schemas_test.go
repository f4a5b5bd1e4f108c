package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/schemas"
)

// schemas check passes against the schemas as registered, and fails naming
// the field when the registered version has a field the embedded one lacks
// (as after removing a field) — through the dev registry, which accepts
// anything, so the local check is what catches it.
func TestSchemasCheck(t *testing.T) {
	env := groupsFixture(t)
	out, stderr, err := runCmd(t, 30*time.Second, cmdSchemas, "check")
	if err != nil || strings.Count(out, " ok\n") != 2*len(schemas.AllKinds()) {
		t.Fatalf("check against the registered schemas: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}

	subject := schemas.Subject(env.Config.Topics.Pique())
	newer := strings.Replace(schemas.KindDecisionMade.Source(), `"fields": [`,
		`"fields": [{"name": "tenant", "type": "string", "doc": "a field the binary does not have"},`, 1)
	cl, err := sr.NewClient(sr.URLs(env.Config.SchemaRegistry.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: newer}); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, 30*time.Second, cmdSchemas, "check", "--registry", env.Config.SchemaRegistry.URL)
	if err == nil {
		t.Fatalf("check passed against a registered version with a required field the binary lacks:\n%s", out)
	}
	if !strings.Contains(err.Error(), subject+": against version 2: FORWARD: field tenant:") {
		t.Errorf("check's error does not name the subject, rule and field: %v", err)
	}
}

// Where the registry's compatibility endpoint answers, its verdict counts
// too, even when the local check finds nothing.
func TestSchemasCheckReportsTheRegistrysVerdict(t *testing.T) {
	env := groupsFixture(t)
	env.Registry.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/compatibility/") {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"is_compatible": false, "messages": ["READER_FIELD_MISSING_DEFAULT_VALUE: tenant"]}`)
		return true
	})
	_, _, err := runCmd(t, 30*time.Second, cmdSchemas, "check")
	subject := schemas.Subject(env.Config.Topics.Pique())
	if err == nil || !strings.Contains(err.Error(), subject+": registry (version 1): READER_FIELD_MISSING_DEFAULT_VALUE: tenant") {
		t.Errorf("check with a registry that answers incompatible: %v; want its message", err)
	}
}

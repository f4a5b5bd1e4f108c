package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
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

// A registry URL with a wrong path, or a proxy in front, answers 404 with
// a page of its own rather than the registry's "subject not found": check
// fails naming the URL instead of passing every subject as "no version
// yet" (which let any schema through CI).
func TestSchemasCheckFailsOnA404ThatIsNotTheRegistrys(t *testing.T) {
	hermeticEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body>Not Found</body></html>")
	}))
	t.Cleanup(srv.Close)
	var out, errb syncBuffer
	code := run([]string{"schemas", "check", "--registry", srv.URL + "/wrong-path"}, stdio{&out, &errb})
	if code != 1 {
		t.Fatalf("schemas check against a 404 page: exit %d, want 1\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if want := srv.URL + "/wrong-path/subjects/"; !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), "answered 404") {
		t.Errorf("the error does not name the URL (%s…) and the status:\n%s", want, errb.String())
	}
}

// A registry that has none of the subjects (a wrong topics.prefix, another
// registry than production's) fails the check, since nothing was compared;
// --first-registration says that is expected. One subject missing among
// registered ones (a new topic) passes with a note.
func TestSchemasCheckWithNoSubjectRegistered(t *testing.T) {
	env := groupsFixture(t)
	t.Setenv("HOOKBRIDGE_TOPIC_PREFIX", "elsewhere.")
	out, stderr, err := runCmd(t, 30*time.Second, cmdSchemas, "check")
	if err == nil || !strings.Contains(err.Error(), "none of the") || !strings.Contains(err.Error(), "--first-registration") {
		t.Fatalf("check with no subject registered: %v; want a failure pointing at --first-registration\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	out, stderr, err = runCmd(t, 30*time.Second, cmdSchemas, "check", "--first-registration")
	if err != nil || strings.Count(out, " no version registered yet") != 2*len(schemas.AllKinds()) {
		t.Fatalf("check --first-registration with no subject registered: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}

	t.Setenv("HOOKBRIDGE_TOPIC_PREFIX", "")
	subject := schemas.DedupedSubject(schemas.Subject(env.Config.Topics.Pique()))
	cl, err := sr.NewClient(sr.URLs(env.Config.SchemaRegistry.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, perm := range []sr.DeleteHow{sr.SoftDelete, sr.HardDelete} {
		if _, err := cl.DeleteSubject(ctx, subject, perm); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, err = runCmd(t, 30*time.Second, cmdSchemas, "check")
	if err != nil || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(subject)+` +no version registered yet`).MatchString(out) {
		t.Fatalf("check with one subject of many missing: %v; want a pass with a note\nstdout: %s\nstderr: %s", err, out, stderr)
	}
}

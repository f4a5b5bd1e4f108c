package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
	"github.com/hookbridge/hookbridge/schemas/catalog"
)

var schemaCommands = []string{"register", "print", "check", "docs"}

func cmdSchemas(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("schemas register|print|check|docs [--registry URL] [--out FILE] [--config FILE]", `
register: registers the embedded Avro schemas under their TopicNameStrategy
subjects (<topic>-value) with BACKWARD compatibility, and prints the ids.
print: prints each subject and its schema as embedded in this binary.
check: checks each embedded schema against the latest registered version of
its subject, before you deploy a schema change. It asks the registry's
compatibility endpoint (BACKWARD) and also checks locally, both ways: BACKWARD
(the new schema reads every registered record) and FORWARD (consumers still
on the registered schema read the new records). Exits non-zero naming each
field and the rule it breaks. A subject with no version yet (the registry
answers "subject not found", error 40401) passes with a note; any other
answer (a 404 page from a wrong URL or proxy, 401, 5xx) fails naming the URL.
When no subject is registered at all, as with a wrong --registry or
topics.prefix, check fails unless --first-registration says that is expected.
docs: writes the topic catalogue (docs/topics.md): every topic, who writes
and reads it, its key, partitions and retention, and each schema's fields.`, std)
	cfgPath := configFlag(fs)
	registry := fs.String("registry", "", "schema registry `URL` (default: schema_registry.url of the configuration)")
	out := fs.String("out", "", "docs: write the catalogue to this `file` instead of stdout")
	first := fs.Bool("first-registration", false, "check: pass when no subject is registered yet (a first deployment to this registry)")
	if len(args) == 0 || !slices.Contains(schemaCommands, args[0]) {
		if err := fs.Parse(args); err != nil {
			return err // --help: usage printed, exit 0
		}
		fs.Usage()
		return fmt.Errorf("use 'hookbridge schemas %s'", strings.Join(schemaCommands, "|"))
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	subjects := schemas.Subjects(cfg.Topics.Prefix)
	if args[0] == "print" {
		for _, k := range schemas.AllKinds() {
			fmt.Fprintf(std.out, "# subject %s\n%s\n", subjects[k], k.Source())
		}
		return nil
	}
	if args[0] == "docs" {
		return writeCatalogue(cfg, *out, std)
	}
	if *registry != "" {
		cfg.SchemaRegistry.URL = *registry
	}
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if args[0] == "check" {
		return checkSchemas(rctx, src, subjects, *first, std)
	}
	reg := schemas.NewRegistry(src)
	if err := reg.Register(rctx, subjects); err != nil {
		return err
	}
	for _, k := range schemas.AllKinds() {
		id, _ := reg.SchemaID(k)
		fmt.Fprintf(std.out, "%-40s %-14s id=%d compatibility=BACKWARD\n", subjects[k], k, id)
	}
	return nil
}

// checkSchemas checks every embedded schema against its subject's latest
// version and fails naming every incompatibility found. When no subject
// has a version at all it fails unless first says a first registration is
// expected: a wrong registry or topics.prefix looks just like that, and must
// not let an incompatible schema through CI.
func checkSchemas(ctx context.Context, cl *sr.Client, subjects map[schemas.Kind]string, first bool, std stdio) error {
	var broken []string
	anyFound := false
	for _, k := range schemas.AllKinds() {
		for _, subject := range []string{subjects[k], schemas.DedupedSubject(subjects[k])} {
			ok, err := reportSubject(ctx, cl, subject, k.Source(), std, &broken)
			if err != nil {
				return err
			}
			anyFound = anyFound || ok
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("%d incompatible change(s); keep the old field or give the new one a default:\n  %s", len(broken), strings.Join(broken, "\n  "))
	}
	if !anyFound && !first {
		return fmt.Errorf("none of the %d subjects is registered, so nothing was checked: point --registry (or schema_registry.url) at the registry production uses and check topics.prefix; for a first deployment to this registry, pass --first-registration", 2*len(schemas.AllKinds()))
	}
	return nil
}

// reportSubject checks one subject, prints the verdict and appends what
// breaks to broken. It reports whether the subject has a version.
func reportSubject(ctx context.Context, cl *sr.Client, subject, source string, std stdio, broken *[]string) (bool, error) {
	problems, found, note, err := checkSubject(ctx, cl, subject, source)
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", subject, err)
	}
	if note != "" {
		fmt.Fprintf(std.err, "%s: %s\n", subject, note)
	}
	switch {
	case !found:
		fmt.Fprintf(std.out, "%-48s no version registered yet: nothing to be compatible with\n", subject)
	case len(problems) == 0:
		fmt.Fprintf(std.out, "%-48s ok\n", subject)
	}
	for _, p := range problems {
		fmt.Fprintf(std.out, "%-48s INCOMPATIBLE %s\n", subject, p)
		*broken = append(*broken, subject+": "+p)
	}
	return found, nil
}

// checkSubject returns what breaks between source and the subject's latest
// version: the registry's verdict where its endpoint answers, and the
// local check always (a registry that accepts anything, like dev's, must
// not let a break through). found is false when the registry says the
// subject does not exist.
func checkSubject(ctx context.Context, cl *sr.Client, subject, source string) (problems []string, found bool, note string, err error) {
	latest, err := cl.SchemaByVersion(ctx, subject, -1)
	if re, ok := errors.AsType[*sr.ResponseError](err); ok && re.ErrorCode == sr.ErrSubjectNotFound.Code {
		return nil, false, "", nil
	}
	if err != nil {
		return nil, false, "", fmt.Errorf("fetching the latest version: %w", registryAnswer(err))
	}
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, sr.Schema{Schema: source})
	if err != nil {
		note = fmt.Sprintf("the registry's compatibility endpoint did not answer (%v): local check only", registryAnswer(err))
	} else if !res.Is {
		msgs := res.Messages
		if len(msgs) == 0 {
			msgs = []string{"incompatible (the registry gave no detail)"}
		}
		for _, m := range msgs {
			problems = append(problems, fmt.Sprintf("registry (version %d): %s", latest.Version, m))
		}
	}
	local, err := schemas.Compatibility(source, latest.Schema.Schema)
	if err != nil {
		return nil, true, note, err
	}
	for _, p := range local {
		problems = append(problems, fmt.Sprintf("against version %d: %s", latest.Version, p))
	}
	return problems, true, note, nil
}

// registryAnswer names the URL, status and (the start of) the body of a
// registry's error answer: a 404 page from a wrong path or a proxy says
// nothing useful on its own.
func registryAnswer(err error) error {
	re, ok := errors.AsType[*sr.ResponseError](err)
	if !ok {
		return err
	}
	body := string(re.Raw)
	if len(body) > 200 {
		body = strings.ToValidUTF8(body[:200], "") + "…"
	}
	hint := ""
	if re.StatusCode == http.StatusNotFound {
		hint = " (not the registry's \"subject not found\", error 40401: is the registry URL right, without a path the registry does not serve?)"
	}
	return fmt.Errorf("%s %s answered %d%s: %s", re.Method, re.URL, re.StatusCode, hint, body)
}

// writeCatalogue writes the topic catalogue to path, or stdout.
func writeCatalogue(cfg *config.Config, path string, std stdio) error {
	md, err := catalog.Markdown(cfg)
	if err != nil {
		return err
	}
	if path == "" {
		_, err = std.out.Write(md)
		return err
	}
	if err := os.WriteFile(path, md, 0o644); err != nil {
		return fmt.Errorf("writing the catalogue: %w", err)
	}
	fmt.Fprintf(std.out, "wrote %s\n", path)
	return nil
}

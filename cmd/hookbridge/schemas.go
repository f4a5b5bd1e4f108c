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
field and the rule it breaks. A subject with no version yet passes.
docs: writes the topic catalogue (docs/topics.md): every topic, who writes
and reads it, its key, partitions and retention, and each schema's fields.`, std)
	cfgPath := configFlag(fs)
	registry := fs.String("registry", "", "schema registry `URL` (default: schema_registry.url of the configuration)")
	out := fs.String("out", "", "docs: write the catalogue to this `file` instead of stdout")
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
		return checkSchemas(rctx, src, subjects, std)
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
// version and fails naming every incompatibility found.
func checkSchemas(ctx context.Context, cl *sr.Client, subjects map[schemas.Kind]string, std stdio) error {
	var broken []string
	for _, k := range schemas.AllKinds() {
		for _, subject := range []string{subjects[k], schemas.DedupedSubject(subjects[k])} {
			if err := reportSubject(ctx, cl, subject, k.Source(), std, &broken); err != nil {
				return err
			}
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("%d incompatible change(s); keep the old field or give the new one a default:\n  %s", len(broken), strings.Join(broken, "\n  "))
	}
	return nil
}

// reportSubject checks one subject, prints the verdict and appends what
// breaks to broken.
func reportSubject(ctx context.Context, cl *sr.Client, subject, source string, std stdio, broken *[]string) error {
	problems, note, err := checkSubject(ctx, cl, subject, source)
	if err != nil {
		return fmt.Errorf("checking %s: %w", subject, err)
	}
	if note != "" {
		fmt.Fprintf(std.err, "%s: %s\n", subject, note)
	}
	if len(problems) == 0 {
		fmt.Fprintf(std.out, "%-48s ok\n", subject)
	}
	for _, p := range problems {
		fmt.Fprintf(std.out, "%-48s INCOMPATIBLE %s\n", subject, p)
		*broken = append(*broken, subject+": "+p)
	}
	return nil
}

// checkSubject returns what breaks between source and the subject's latest
// version: the registry's verdict where its endpoint answers, and the
// local check always (a registry that accepts anything, like dev's, must
// not let a break through).
func checkSubject(ctx context.Context, cl *sr.Client, subject, source string) (problems []string, note string, err error) {
	latest, err := cl.SchemaByVersion(ctx, subject, -1)
	if re, ok := errors.AsType[*sr.ResponseError](err); ok && re.StatusCode == http.StatusNotFound {
		return nil, "no version registered yet: nothing to be compatible with", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("fetching the latest version: %w", err)
	}
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, sr.Schema{Schema: source})
	if err != nil {
		note = fmt.Sprintf("the registry's compatibility endpoint did not answer (%v): local check only", err)
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
		return nil, note, err
	}
	for _, p := range local {
		problems = append(problems, fmt.Sprintf("against version %d: %s", latest.Version, p))
	}
	return problems, note, nil
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

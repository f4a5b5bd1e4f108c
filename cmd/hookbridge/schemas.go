package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

func cmdSchemas(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("schemas register|print [--config FILE]", `
register: registers the embedded Avro schemas under their TopicNameStrategy
subjects (<topic>-value) with BACKWARD compatibility, and prints the ids.
print: prints each subject and its schema as embedded in this binary.`, std)
	cfgPath := configFlag(fs)
	if len(args) == 0 || (args[0] != "register" && args[0] != "print") {
		if err := fs.Parse(args); err != nil {
			return err // --help: usage printed, exit 0
		}
		fs.Usage()
		return fmt.Errorf("use 'hookbridge schemas register' or 'hookbridge schemas print'")
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
	src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return err
	}
	reg := schemas.NewRegistry(src)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := reg.Register(rctx, subjects); err != nil {
		return err
	}
	for _, k := range schemas.AllKinds() {
		id, _ := reg.SchemaID(k)
		fmt.Fprintf(std.out, "%-40s %-14s id=%d compatibility=BACKWARD\n", subjects[k], k, id)
	}
	return nil
}

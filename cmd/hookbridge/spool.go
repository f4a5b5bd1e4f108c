package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookbridge/hookbridge/producer"
)

func cmdSpool(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("spool drain --file FILE [--config FILE]", `
Sends every webhook in a spool file that no receiver uses any more to Kafka,
oldest first, mapped and encoded as the receiver does. Use it for a spool file
the receiver refused to open (damaged: moved aside as the error said) or one
left behind by a receiver that will not run again. A damaged file is read page
by page: what survives is sent, possibly with webhooks delivered before, which
dedupe removes. Webhooks that can never be produced go to the dead-letter topic
(or FILE.quarantine.jsonl). The file is not changed: running it again sends
everything again, and dedupe removes the duplicates.`, std)
	cfgPath := configFlag(fs)
	file := fs.String("file", "", "the spool `file` to drain, e.g. spool/spool.db.damaged (required)")
	sub, rest := "", args
	if len(args) > 0 && args[0] == "drain" {
		sub, rest = args[0], args[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if sub != "drain" {
		fs.Usage()
		return errors.New("want: hookbridge spool drain --file FILE")
	}
	if *file == "" {
		fs.Usage()
		return errors.New("--file is required")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	opts, cl, err := producer.KafkaOptions(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	opts.Logger = newLogger(cfg.Log, std.err)
	rep, err := producer.DrainFile(ctx, *file, opts)
	if rep.Salvaged {
		fmt.Fprintf(std.out, "%s is damaged: read what its pages still hold\n", *file)
	}
	fmt.Fprintf(std.out, "%s: %d webhooks found, %d sent to Kafka, %d quarantined (dead-letter topic %s, else %s)\n",
		*file, rep.Entries, rep.Produced, rep.Quarantined, cfg.Topics.DeadLetter(), rep.QuarantineFile)
	return err
}

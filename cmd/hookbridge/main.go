// Command hookbridge turns marketing webhooks into a durable, replayable
// Kafka event stream. Each subcommand lives in a file of its own and only
// wires the packages that do the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

// stdio is where a command writes.
type stdio struct{ out, err io.Writer }

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run the webhook receiver", cmdServe},
		"consume":     {"run one consumer group: dedupe, klaviyo or warehouse", cmdConsume},
		"deadletters": {"deadletters list|redrive: inspect dead letters and copy chosen ones back", cmdDeadLetters},
		"groups":      {"list consumer groups: state, members, lag to the last stable offset", cmdGroups},
		"dev":         {"run everything in one process on an embedded Kafka and schema registry", cmdDev},
		"send-sample": {"post signed sample webhooks to a receiver", cmdSendSample},
		"tail":        {"print a topic's records decoded to JSON lines", cmdTail},
		"topics":      {"topics apply: create or update hookbridge's topics", cmdTopics},
		"schemas":     {"schemas register|print|check|docs: register, print, check or document the Avro schemas", cmdSchemas},
		"bench":       {"load-test a receiver with signed webhooks and check every ack reached Kafka", cmdBench},
		"replay":      {"reset a consumer group's offsets to replay history", cmdReplay},
		"spool":       {"spool drain --file F: send a spool file the receiver no longer uses to Kafka", cmdSpool},
	}
}

func main() { os.Exit(run(os.Args[1:], stdio{os.Stdout, os.Stderr})) }

func run(args []string, std stdio) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(std.out, cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(std.err, "hookbridge: unknown command %q\n\n", args[0])
		usage(std.err, cmds)
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	if err := cmd.run(ctx, args[1:], std); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(std.err, "hookbridge %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// exits at once. Everything acknowledged is durable by then (in Kafka or in
// the fsynced spool), so the hard exit loses nothing.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "hookbridge: second signal, exiting now")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: hookbridge <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'hookbridge <command> --help' for a command's flags.")
}

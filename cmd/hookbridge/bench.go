package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/loadtest"
)

func cmdBench(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("bench [flags]", `
Load-tests a receiver: posts signed webhooks (secrets as for send-sample)
at a fixed concurrency for a fixed time, reports requests/s, p50/p90/p99
latency and errors, then reads the topic (brokers from --config / HOOKBRIDGE_*)
and checks that every acknowledged webhook is in Kafka. Sends only to
loopback addresses unless --allow-remote is given.`, std)
	cfgPath := configFlag(fs)
	url := fs.String("url", "http://127.0.0.1:8080", "receiver base URL")
	source := fs.String("source", "pique", "pique or product-agents")
	conns := fs.Int("connections", 64, "concurrent connections")
	dur := fs.Duration("duration", 10*time.Second, "how long to send")
	maxReq := fs.Int("max-requests", 600000, "upper bound on requests; a first batch is signed before the run, the rest during it as far as the run gets")
	ahead := fs.Int("sign-ahead", 20000, "webhooks to sign before the run starts")
	size := fs.Int("body-size", 600, "body size in bytes")
	dataDir := fs.String("data-dir", ".hookbridge", "where 'hookbridge dev' keeps its dev secrets")
	verify := fs.Bool("verify", true, "check that every acknowledged webhook is in Kafka")
	remote := fs.Bool("allow-remote", false, "allow a non-loopback --url")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base, err := benchTarget(*url, *remote, std.err)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	sign, err := sampleSigner(*source, *dataDir)
	if err != nil {
		return err
	}
	opts := loadtest.Options{URL: base, Source: *source, Connections: *conns, Duration: *dur, MaxRequests: *maxReq, BodySize: *size, Sign: sign}
	pool, err := loadtest.NewPool(opts)
	if err != nil {
		return err
	}
	pool.SignAhead(*ahead, func(signed, of int) {
		fmt.Fprintf(std.err, "\rsigning %s webhooks of ~%d bytes ahead of the run: %d/%d", *source, *size, signed, of)
		if signed == of {
			fmt.Fprintln(std.err)
		}
	})
	topic := cfg.Topics.Pique()
	if *source == "product-agents" {
		topic = cfg.Topics.ProductAgents()
	}
	kopts, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return err
	}
	cl, err := newKafkaClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	var from map[int32]kgo.Offset
	if *verify {
		if from, err = loadtest.EndOffsets(ctx, cl, topic); err != nil {
			return err
		}
	}
	fmt.Fprintf(std.out, "sending for %s on %d connections to %s/webhooks/%s\n", *dur, *conns, base, *source)
	res := loadtest.Run(ctx, opts, pool, func(elapsed time.Duration, sent, signed int) {
		fmt.Fprintf(std.err, "  %s: %d sent, %d signed\n", elapsed.Round(time.Second), sent, signed)
	})
	fmt.Fprintf(std.out, "sent %d, acknowledged %d, failed %d in %s: %.0f req/s; latency p50 %s p90 %s p99 %s max %s; statuses %v\n",
		res.Sent, res.Acked, res.Failed, res.Elapsed.Round(time.Millisecond), res.RPS(),
		res.P50.Round(time.Microsecond), res.P90.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Max.Round(time.Microsecond), res.Statuses)
	fmt.Fprintf(std.out, "load generator CPU while sending: %.1f s (%.0f%% of one core)\n", res.ClientCPU.Seconds(), 100*res.ClientCPU.Seconds()/res.Elapsed.Seconds())
	if res.FirstError != nil {
		fmt.Fprintf(std.out, "first transport error: %v\n", res.FirstError)
	}
	if res.Sent == *maxReq {
		fmt.Fprintln(std.out, "note: --max-requests ran out before --duration; raise it")
	}
	if res.SignStalls > 0 {
		fmt.Fprintf(std.out, "note: senders waited %d times for signing, so the load generator limited the rate; raise --sign-ahead\n", res.SignStalls)
	}
	if res.Acked == 0 {
		return errors.New("the receiver acknowledged nothing")
	}
	if !*verify {
		return nil
	}
	vctx, cancel := context.WithTimeout(ctx, loadtest.VerifyTimeout)
	defer cancel()
	missing, err := loadtest.Missing(vctx, kopts, topic, from, res.AckedIDs)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d acknowledged webhooks are not in %s (e.g. %s)", len(missing), topic, missing[0])
	}
	fmt.Fprintf(std.out, "verified: all %d acknowledged webhooks are in %s\n", res.Acked, topic)
	return nil
}

// benchTarget returns the receiver's base URL for raw, refusing, unless
// allowRemote, a host that is not loopback. The host checked is the one
// the requests go to, the parsed URL's: in http://127.0.0.1:80@example.com
// "127.0.0.1:80" is a user name and the load would go to example.com. A
// URL with a user name or password is refused either way: the receiver
// takes no credentials there, so one is a mistake or a trick.
func benchTarget(raw string, allowRemote bool, w io.Writer) (string, error) {
	base, err := receiverURL(raw, w)
	if err != nil {
		return "", err
	}
	u, err := neturl.Parse(base)
	if err != nil {
		return "", fmt.Errorf("--url %q: %w", raw, err)
	}
	if u.User != nil {
		return "", fmt.Errorf("--url %q has a user name or password before its host (%s), which the receiver does not take; give the receiver's address, such as http://127.0.0.1:8080", raw, u.Host)
	}
	if !allowRemote && !loadtest.Loopback(u.Hostname()) {
		return "", fmt.Errorf("--url %q: the host %s is not a loopback address; pass --allow-remote to load a remote receiver", raw, u.Hostname())
	}
	return base, nil
}

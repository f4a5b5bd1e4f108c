package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// TestSecondDevOnOneDataDirFailsAtOnce: the second dev stops before it
// starts anything, naming the process that holds the data directory.
func TestSecondDevOnOneDataDirFailsAtOnce(t *testing.T) {
	devTestEnv(t)
	dir := t.TempDir()
	startDev(t, dir)
	out, stderr, err := runCmd(t, 10*time.Second, cmdDev, "--data-dir", dir, "--listen", "127.0.0.1:0",
		"--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "in use by another hookbridge dev (process "+strconv.Itoa(os.Getpid())+" holds") {
		t.Fatalf("second dev: %v, want an error naming pid %d", err, os.Getpid())
	}
	if out != "" || stderr != "" {
		t.Fatalf("the second dev started something before failing:\nstdout: %s\nstderr: %s", out, stderr)
	}
}

// TestDevBannerCommandsWork runs the banner's "try next" commands as
// printed, for a dev on a non-default data dir and ports, then the other
// first-hour paths of send-sample and tail against it.
func TestDevBannerCommandsWork(t *testing.T) {
	devTestEnv(t)
	d := startDev(t, t.TempDir())
	cmds := bannerCommands(t, d.out.String())
	for _, c := range cmds {
		if strings.HasPrefix(c.name, "send-sample") {
			sendSample(t, c.args...)
		}
	}
	var follow bannerCommand
	for _, c := range cmds {
		if c.name != "tail" {
			continue
		}
		if !strings.Contains(strings.Join(c.args, " "), "--until-end") {
			follow = c
			continue
		}
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		out, stderr, err := runCmd(t, 20*time.Second, cmdTail, c.args...)
		if err != nil {
			t.Fatalf("tail %v: %v\n%s", c.args, err, stderr)
		}
		if lines := strings.Count(out, "\n"); lines < 20 {
			t.Fatalf("tail --until-end printed %d records, want the 20+ just sent:\n%s", lines, out)
		}
	}
	if follow.name == "" {
		t.Fatal("the banner suggests no tail that follows")
	}

	t.Run("tail says once when it has caught up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errb syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- cmdTail(ctx, []string{"--topic", "pique.decisions.v1", "--from", "latest"}, stdio{&out, &errb})
		}()
		testkit.Eventually(t, 20*time.Second, "tail to say it caught up", func() bool { return strings.Contains(errb.String(), "caught up") })
		sendSample(t, "--url", d.URL, "--data-dir", bannerDataDir(cmds), "--count", "3")
		testkit.Eventually(t, 20*time.Second, "tail to print the new records", func() bool { return strings.Count(out.String(), "\n") == 3 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(errb.String(), "caught up"); n != 1 {
			t.Fatalf("tail said %d times that it caught up:\n%s", n, errb.String())
		}
	})

	t.Run("tail of a missing topic fails and lists the topics", func(t *testing.T) {
		_, _, err := runCmd(t, 20*time.Second, cmdTail, "--topic", "pique.decision.v1")
		if err == nil || !strings.Contains(err.Error(), "topic pique.decision.v1 does not exist") || !strings.Contains(err.Error(), "pique.decisions.v1.deduped") {
			t.Fatalf("tail of a missing topic: %v", err)
		}
	})

	t.Run("send-sample takes the URLs people type", func(t *testing.T) {
		host := strings.TrimPrefix(d.URL, "http://")
		for _, url := range []string{host, d.URL + "/webhooks/pique", d.URL + "/webhooks/pique/"} {
			out, stderr, err := runCmd(t, 20*time.Second, cmdSendSample, "--url", url, "--data-dir", bannerDataDir(cmds), "--count", "2")
			if err != nil || !strings.Contains(out, "2 accepted") || !strings.Contains(stderr, "using --url "+d.URL) {
				t.Fatalf("--url %s: %v\nstdout: %s\nstderr: %s", url, err, out, stderr)
			}
		}
	})

	t.Run("send-sample says why webhooks were refused", func(t *testing.T) {
		t.Setenv("HOOKBRIDGE_PIQUE_SECRETS", sample.NewSvixSecret())
		out, _, err := runCmd(t, 20*time.Second, cmdSendSample, "--url", d.URL, "--count", "3")
		if err == nil || !strings.Contains(out, "first 401 Unauthorized: {\"error\":") || strings.Count(out, "first 401") != 1 {
			t.Fatalf("send-sample with a wrong secret: %v\n%s", err, out)
		}
	})
}

type bannerCommand struct {
	name string // the subcommand
	args []string
	env  map[string]string
}

// bannerCommands parses the banner's "go run ./cmd/hookbridge ..." lines.
func bannerCommands(t *testing.T, banner string) []bannerCommand {
	t.Helper()
	var cmds []bannerCommand
	for _, line := range strings.Split(banner, "\n") {
		before, after, ok := strings.Cut(strings.TrimSpace(line), "go run ./cmd/hookbridge ")
		if !ok {
			continue
		}
		c := bannerCommand{env: map[string]string{}}
		for _, kv := range strings.Fields(before) {
			k, v, _ := strings.Cut(kv, "=")
			c.env[k] = v
		}
		fields := strings.Fields(after)
		c.name, c.args = fields[0], fields[1:]
		cmds = append(cmds, c)
	}
	if len(cmds) < 4 {
		t.Fatalf("banner has %d commands to try:\n%s", len(cmds), banner)
	}
	return cmds
}

func bannerDataDir(cmds []bannerCommand) string {
	for _, c := range cmds {
		for i, a := range c.args {
			if a == "--data-dir" {
				return c.args[i+1]
			}
		}
	}
	return ".hookbridge"
}

// TestJSONLogsPrintDurationsAsText: "168h0m0s", not 604800000000000.
func TestJSONLogsPrintDurationsAsText(t *testing.T) {
	var buf syncBuffer
	newLogger(config.Log{Level: "info", Format: "json"}, &buf).Info("dedupe", "window", 168*time.Hour)
	if !strings.Contains(buf.String(), `"window":"168h0m0s"`) {
		t.Fatalf("log line %s", buf.String())
	}
}

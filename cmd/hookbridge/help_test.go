package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runMain runs the binary's entry point with args and returns its exit
// status and what it wrote to stdout and stderr.
func runMain(args ...string) (int, string, string) {
	var out, errb syncBuffer
	code := run(args, stdio{&out, &errb})
	return code, out.String(), errb.String()
}

// TestHelpForEveryCommand checks what a newcomer meets first: --help on
// every command, an unknown command, and configuration mistakes that must
// stop a command with a message naming the culprit.
func TestHelpForEveryCommand(t *testing.T) {
	hermeticEnv(t)

	for name, cmd := range commands() {
		t.Run(name, func(t *testing.T) {
			for _, flag := range []string{"--help", "-h"} {
				code, out, errb := runMain(name, flag)
				if code != 0 {
					t.Errorf("hookbridge %s %s exited %d, want 0\nstderr:\n%s", name, flag, code, errb)
				}
				usage := out + errb
				if !strings.Contains(usage, "Usage: hookbridge "+name) {
					t.Errorf("hookbridge %s %s: usage does not name the command:\n%s", name, flag, usage)
				}
				if !strings.Contains(usage, "-config") && name != "send-sample" {
					t.Errorf("hookbridge %s %s: usage does not list --config:\n%s", name, flag, usage)
				}
				if strings.Contains(usage, "hookbridge "+name+":") {
					t.Errorf("hookbridge %s %s printed an error:\n%s", name, flag, usage)
				}
			}
			if cmd.summary == "" {
				t.Errorf("command %s has no summary", name)
			}
		})
	}

	t.Run("overview", func(t *testing.T) {
		for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
			code, out, _ := runMain(args...)
			if code != 0 {
				t.Errorf("hookbridge %v exited %d, want 0", args, code)
			}
			for name, cmd := range commands() {
				if !strings.Contains(out, name) || !strings.Contains(out, cmd.summary) {
					t.Errorf("hookbridge %v: overview lacks %s (%s):\n%s", args, name, cmd.summary, out)
				}
			}
		}
	})

	t.Run("unknown command", func(t *testing.T) {
		code, _, errb := runMain("nope")
		if code != 2 {
			t.Errorf("hookbridge nope exited %d, want 2", code)
		}
		if !strings.Contains(errb, `unknown command "nope"`) || !strings.Contains(errb, "Commands:") {
			t.Errorf("hookbridge nope: stderr does not say so and list the commands:\n%s", errb)
		}
	})

	t.Run("consume unknown group", func(t *testing.T) {
		code, _, errb := runMain("consume", "nope")
		if code != 1 {
			t.Errorf("consume nope exited %d, want 1", code)
		}
		if !strings.Contains(errb, `unknown consumer group "nope"`) || !strings.Contains(errb, "dedupe, klaviyo, warehouse") {
			t.Errorf("consume nope: stderr does not name the group and the choices:\n%s", errb)
		}
		code, _, errb = runMain("consume")
		if code != 1 || !strings.Contains(errb, "name a consumer group") {
			t.Errorf("consume without a group exited %d:\n%s", code, errb)
		}
	})

	t.Run("bad log level", func(t *testing.T) {
		t.Setenv("HOOKBRIDGE_LOG_LEVEL", "loud")
		code, _, errb := runMain("serve")
		if code != 1 || !strings.Contains(errb, "log.level") || !strings.Contains(errb, "loud") {
			t.Errorf("serve with HOOKBRIDGE_LOG_LEVEL=loud exited %d, want 1 and a message naming log.level:\n%s", code, errb)
		}
	})

	t.Run("unknown YAML key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hookbridge.yaml")
		yaml := "kafka:\n  brokers: [127.0.0.1:1]\nreceiver:\n  listen: 127.0.0.1:0\n  pique:\n    secretz: [whsec_x]\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errb := runMain("serve", "--config", path)
		if code != 1 || !strings.Contains(errb, "secretz") || !strings.Contains(errb, path) {
			t.Errorf("serve with an unknown YAML key exited %d, want 1 and a message naming the key and the file:\n%s", code, errb)
		}
	})

	t.Run("bad YAML value", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hookbridge.yaml")
		if err := os.WriteFile(path, []byte("log:\n  format: xml\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errb := runMain("serve", "--config", path)
		if code != 1 || !strings.Contains(errb, "log.format") {
			t.Errorf("serve with log.format xml exited %d, want 1 and a message naming log.format:\n%s", code, errb)
		}
	})

	t.Run("missing config file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yaml")
		code, _, errb := runMain("serve", "--config", path)
		if code != 1 || !strings.Contains(errb, path) {
			t.Errorf("serve with a missing config file exited %d:\n%s", code, errb)
		}
	})

	t.Run("serve without secrets", func(t *testing.T) {
		t.Setenv("HOOKBRIDGE_LISTEN", "127.0.0.1:0")
		code, _, errb := runMain("serve")
		if code != 1 || !strings.Contains(errb, "HOOKBRIDGE_PIQUE_SECRETS") && !strings.Contains(errb, "pique.secrets") {
			t.Errorf("serve without secrets exited %d, want 1 and a message naming the Pique secrets:\n%s", code, errb)
		}
	})
}

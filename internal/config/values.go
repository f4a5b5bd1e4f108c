package config

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var errEOF = io.EOF

// Secret is a credential. It prints as "[redacted]" in logs, errors and
// JSON; Reveal returns the value for the one place that needs it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer without revealing the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from revealing the value.
func (s Secret) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without revealing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps encoding/json from revealing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, s.String()), nil }

// ByteSize is a size in bytes; YAML and the environment accept plain numbers
// or KiB, MiB and GiB suffixes ("1MiB").
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses "1048576", "512KiB", "1MiB" or "2GiB".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (use bytes, or KiB, MiB, GiB)", s)
	}
	return ByteSize(n * mult), nil
}

// envString sets *dst from the variable name when it is set.
func envString(env Env, name string, dst *string) {
	if v, ok := env(name); ok {
		*dst = v
	}
}

// envSecret sets *dst from the variable name, or from the file named by
// name_FILE (trailing newlines trimmed), so secrets can come from mounted
// files.
func envSecret(env Env, name string, dst *Secret) error {
	if v, ok := env(name); ok {
		*dst = Secret(v)
		return nil
	}
	if path, ok := env(name + "_FILE"); ok {
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s_FILE: %w", name, err)
		}
		*dst = Secret(strings.TrimRight(string(raw), "\r\n"))
	}
	return nil
}

// envSecrets is envSecret for a comma-separated list.
func envSecrets(env Env, name string, dst *[]Secret) error {
	var joined Secret
	if err := envSecret(env, name, &joined); err != nil || joined == "" {
		return err
	}
	*dst = nil
	for _, s := range strings.Split(joined.Reveal(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			*dst = append(*dst, Secret(s))
		}
	}
	return nil
}

// envList sets *dst from a comma-separated variable.
func envList(env Env, name string, dst *[]string) {
	v, ok := env(name)
	if !ok {
		return
	}
	*dst = splitList(v)
}

func envDuration(env Env, name string, dst *time.Duration) error {
	v, ok := env(name)
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not a duration; write a number with a unit, such as 500ms, 30s, 5m, 1h30m or 168h", name, v)
	}
	*dst = d
	return nil
}

func envBool(env Env, name string, dst *bool) error {
	v, ok := env(name)
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not true or false", name, v)
	}
	*dst = b
	return nil
}

func envInt(env Env, name string, dst *int) error {
	v, ok := env(name)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not a whole number", name, v)
	}
	*dst = n
	return nil
}

func envByteSize(env Env, name string, dst *ByteSize) error {
	v, ok := env(name)
	if !ok {
		return nil
	}
	b, err := ParseByteSize(v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	*dst = b
	return nil
}

func orDefault[T comparable](dst *T, def T) {
	var zero T
	if *dst == zero {
		*dst = def
	}
}

// StringList is a list of strings that YAML may also give as one string,
// comma-separated as in the environment: `brokers: a:9092` and
// `brokers: a:9092,b:9092` mean what `brokers: [a:9092, b:9092]` does.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = splitList(n.Value)
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

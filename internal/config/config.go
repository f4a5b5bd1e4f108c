// Package config loads hookbridge's configuration: one YAML file, then
// environment overrides (HOOKBRIDGE_*), then defaults, then validation that
// names the offending field. Secrets come from the environment or from files
// and never print: they are [Secret] values.
//
// Each section lives in a file of its own and implements [section], so a
// component's knobs are declared, defaulted, overridden and checked in one
// place.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of every hookbridge command.
type Config struct {
	Log            Log            `yaml:"log"`
	Kafka          Kafka          `yaml:"kafka"`
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	Topics         Topics         `yaml:"topics"`
	Receiver       Receiver       `yaml:"receiver"`
	Consumers      Consumers      `yaml:"consumers"`
	Dedupe         Dedupe         `yaml:"dedupe"`
	Klaviyo        Klaviyo        `yaml:"klaviyo"`
	Warehouse      Warehouse      `yaml:"warehouse"`
}

// section is one part of the configuration.
type section interface {
	// setDefaults fills every field left zero.
	setDefaults()
	// applyEnv overrides fields from the environment.
	applyEnv(env Env) error
	// validate checks the section, naming the field in its error.
	validate() error
}

func (c *Config) sections() []section {
	return []section{&c.Log, &c.Kafka, &c.SchemaRegistry, &c.Topics, &c.Receiver,
		&c.Consumers, &c.Dedupe, &c.Klaviyo, &c.Warehouse}
}

// Env looks up an environment variable; os.LookupEnv is the usual one.
type Env func(name string) (string, bool)

// Load reads the YAML file at path (none when path is empty), applies the
// environment, fills defaults and validates.
func Load(path string, env Env) (*Config, error) {
	var c Config
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: reading %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, errEOF) {
			return nil, fmt.Errorf("config: %s: %s", path, explainYAML(raw, err))
		}
	}
	return c.finish(env)
}

// Default returns the configuration with only the environment and defaults.
func Default(env Env) (*Config, error) { return (&Config{}).finish(env) }

func (c *Config) finish(env Env) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	fromFile := *c
	if err := c.load(env); err != nil {
		return nil, blameEnv(err, fromFile, env)
	}
	return c, nil
}

func (c *Config) load(env Env) error {
	for _, s := range c.sections() {
		if err := s.applyEnv(env); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	for _, s := range c.sections() {
		s.setDefaults()
	}
	return c.Validate()
}

// blameEnv names the environment variable behind each problem that
// validation words in YAML terms ("receiver.compression: ..."), so a person
// who set HOOKBRIDGE_PRODUCER_COMPRESSION is not sent looking for a YAML
// file. It finds the variable by loading again without it: a problem that
// disappears was that variable's. Only names are printed, never values.
func blameEnv(err error, fromFile Config, env Env) error {
	var set []string
	_ = (&Config{}).load(func(name string) (string, bool) {
		v, ok := env(name)
		if ok {
			set = append(set, name)
		}
		return v, ok
	})
	problems := strings.Split(err.Error(), "\n")
	blamed := append([]string(nil), problems...)
	for _, name := range set {
		without := fromFile
		werr := without.load(func(n string) (string, bool) {
			if n == name {
				return "", false
			}
			return env(n)
		})
		for i, p := range problems {
			if strings.Contains(p, name) || (werr != nil && strings.Contains(werr.Error(), strings.TrimPrefix(p, "config: "))) {
				continue
			}
			blamed[i] += " (set by " + name + ")"
		}
	}
	return errors.New(strings.Join(blamed, "\n"))
}

// Validate checks every section; commands call it again after changing
// fields from flags.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range c.sections() {
		if err := s.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func klaviyoTestEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestKlaviyoDefaults(t *testing.T) {
	c, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Klaviyo
	if k.BaseURL != "https://a.klaviyo.com" || k.Revision != "2026-07-15" || k.BatchSize != 1000 || k.BatchBytes != 5<<20 ||
		k.RateLimits.Bulk != (KlaviyoLimit{10, 150}) || k.RateLimits.Single != (KlaviyoLimit{350, 3500}) || k.DryRun || k.ExternalID {
		t.Errorf("defaults: %+v", k)
	}
}

func TestKlaviyoEnv(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("pk_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Default(klaviyoTestEnv(map[string]string{
		"HOOKBRIDGE_KLAVIYO_API_KEY_FILE":   keyFile,
		"HOOKBRIDGE_KLAVIYO_BASE_URL":       "http://127.0.0.1:9999",
		"HOOKBRIDGE_KLAVIYO_REVISION":       "2025-10-15",
		"HOOKBRIDGE_KLAVIYO_EXTERNAL_ID":    "true",
		"HOOKBRIDGE_KLAVIYO_BULK_STEADY":    "75",
		"HOOKBRIDGE_KLAVIYO_FLUSH_INTERVAL": "250ms",
		"HOOKBRIDGE_KLAVIYO_HEADROOM":       "0.05",
		"HOOKBRIDGE_KLAVIYO_GROUP":          "team-a-klaviyo",
	}))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Klaviyo
	if k.APIKey.Reveal() != "pk_from_file" || k.BaseURL != "http://127.0.0.1:9999" || k.Revision != "2025-10-15" ||
		!k.ExternalID || k.RateLimits.Bulk.Steady != 75 || k.FlushInterval != 250*time.Millisecond || *k.Headroom != 0.05 || k.Group != "team-a-klaviyo" {
		t.Errorf("env overrides: %+v", k)
	}
	if s := k.APIKey.String(); strings.Contains(s, "pk_") {
		t.Errorf("the key prints as %q", s)
	}
}

func TestKlaviyoValidationNamesTheField(t *testing.T) {
	for env, field := range map[string]string{
		"HOOKBRIDGE_KLAVIYO_BATCH_SIZE":  "klaviyo.batch_size",
		"HOOKBRIDGE_KLAVIYO_REVISION":    "klaviyo.revision",
		"HOOKBRIDGE_KLAVIYO_BASE_URL":    "klaviyo.base_url",
		"HOOKBRIDGE_KLAVIYO_BULK_STEADY": "klaviyo.rate_limits.bulk.steady",
		"HOOKBRIDGE_KLAVIYO_HEADROOM":    "klaviyo.headroom",
	} {
		bad := map[string]string{"HOOKBRIDGE_KLAVIYO_BATCH_SIZE": "5000", "HOOKBRIDGE_KLAVIYO_REVISION": "latest",
			"HOOKBRIDGE_KLAVIYO_BASE_URL": "a.klaviyo.com", "HOOKBRIDGE_KLAVIYO_BULK_STEADY": "-1", "HOOKBRIDGE_KLAVIYO_HEADROOM": "0.9"}[env]
		_, err := Default(klaviyoTestEnv(map[string]string{env: bad}))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s=%s: error %v, want one naming %s", env, bad, err, field)
		}
	}
	_, err := Default(klaviyoTestEnv(map[string]string{"HOOKBRIDGE_KLAVIYO_TIMEOUT": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "HOOKBRIDGE_KLAVIYO_TIMEOUT") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestKlaviyoMetricOverridesFromYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "klaviyo:\n  decision_metrics:\n    cart_abandonment: Cart Left\n  message_metrics:\n    REPLENISHMENT_REMINDER: \"\"\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "klaviyo.message_metrics.REPLENISHMENT_REMINDER") {
		t.Errorf("empty metric name: %v", err)
	}
}

// headroom: 0 (use the whole limit) is a setting, not "unset": only a
// missing headroom gets the default.
func TestKlaviyoHeadroomZeroIsKept(t *testing.T) {
	c, err := Default(nil)
	if err != nil || *c.Klaviyo.Headroom != 0.02 {
		t.Fatalf("default headroom: %v, %v; want 0.02", c.Klaviyo.Headroom, err)
	}
	c, err = Default(klaviyoTestEnv(map[string]string{"HOOKBRIDGE_KLAVIYO_HEADROOM": "0"}))
	if err != nil || *c.Klaviyo.Headroom != 0 {
		t.Errorf("HOOKBRIDGE_KLAVIYO_HEADROOM=0: %v, %v; want 0", *c.Klaviyo.Headroom, err)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("klaviyo:\n  headroom: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path, nil)
	if err != nil || *c.Klaviyo.Headroom != 0 {
		t.Errorf("headroom: 0 in YAML: %v, %v; want 0", *c.Klaviyo.Headroom, err)
	}
	for _, bad := range []string{"-0.1", "0.5", "NaN"} {
		if _, err := Default(klaviyoTestEnv(map[string]string{"HOOKBRIDGE_KLAVIYO_HEADROOM": bad})); err == nil || !strings.Contains(err.Error(), "klaviyo.headroom") {
			t.Errorf("HOOKBRIDGE_KLAVIYO_HEADROOM=%s: %v; want an error naming klaviyo.headroom", bad, err)
		}
	}
}

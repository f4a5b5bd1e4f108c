package config

import (
	"strings"
	"testing"
	"time"
)

func TestWarehouseDefaultsAndEnv(t *testing.T) {
	c, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Warehouse
	if w.Group != "hookbridge-warehouse" || w.Dir != "warehouse" || w.FlushInterval != 5*time.Minute ||
		w.FlushRecords != 500_000 || w.FlushBytes != 256<<20 || w.RowGroupBytes != 64<<20 || w.BufferBytes != 128<<20 || w.S3.Enabled() {
		t.Fatalf("defaults: %+v", w)
	}
	env := map[string]string{
		"HOOKBRIDGE_WAREHOUSE_DIR":            "/data/wh",
		"HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL": "5s",
		"HOOKBRIDGE_WAREHOUSE_FLUSH_BYTES":    "8MiB",
		"HOOKBRIDGE_WAREHOUSE_BUFFER_BYTES":   "32MiB",
		"HOOKBRIDGE_WAREHOUSE_S3_BUCKET":      "lake",
		"HOOKBRIDGE_WAREHOUSE_S3_ENDPOINT":    "localhost:9000",
		"HOOKBRIDGE_WAREHOUSE_S3_PATH_STYLE":  "true",
		"HOOKBRIDGE_WAREHOUSE_S3_USE_SSL":     "false",
		"AWS_REGION":                          "eu-west-1",
	}
	c, err = Default(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	w = c.Warehouse
	if w.Dir != "/data/wh" || w.FlushInterval != 5*time.Second || w.FlushBytes != 8<<20 || w.BufferBytes != 32<<20 || !w.S3.Enabled() ||
		w.S3.Endpoint != "localhost:9000" || !w.S3.PathStyle || w.S3.SSL() || w.S3.Region != "eu-west-1" {
		t.Fatalf("from the environment: %+v", w)
	}
}

func TestWarehouseValidationNamesTheField(t *testing.T) {
	for name, val := range map[string]string{
		"HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL":  "soon",
		"HOOKBRIDGE_WAREHOUSE_FLUSH_RECORDS":   "-1",
		"HOOKBRIDGE_WAREHOUSE_ROW_GROUP_BYTES": "1KiB",
		"HOOKBRIDGE_WAREHOUSE_BUFFER_BYTES":    "1KiB",
	} {
		_, err := Default(func(k string) (string, bool) { return val, k == name })
		if err == nil {
			t.Errorf("%s=%s: no error", name, val)
			continue
		}
		if !strings.Contains(err.Error(), "warehouse.") && !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: error %q names neither field nor variable", name, val, err)
		}
	}
}

package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Warehouse configures `hookbridge consume warehouse`: where Parquet files
// go and when they are closed. S3 credentials are not configured here:
// they come from the usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// / AWS_SESSION_TOKEN, MINIO_ROOT_USER / MINIO_ROOT_PASSWORD,
// ~/.aws/credentials, IAM roles) and are never logged.
type Warehouse struct {
	Group string `yaml:"group"` // HOOKBRIDGE_WAREHOUSE_GROUP; consumer group id; default hookbridge-warehouse
	// Dir is the local root, used when s3.bucket is empty.
	Dir string      `yaml:"dir"` // HOOKBRIDGE_WAREHOUSE_DIR; default ./warehouse (dev: <data dir>/warehouse)
	S3  WarehouseS3 `yaml:"s3"`
	// FlushInterval closes every open file of a partition and commits, so a
	// quiet partition's records land within it.
	FlushInterval time.Duration `yaml:"flush_interval"`  // HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL; default 5m (dev: 5s)
	FlushRecords  int           `yaml:"flush_records"`   // HOOKBRIDGE_WAREHOUSE_FLUSH_RECORDS; default 500000 per partition
	FlushBytes    ByteSize      `yaml:"flush_bytes"`     // HOOKBRIDGE_WAREHOUSE_FLUSH_BYTES; record bytes per partition; default 256MiB
	RowGroupBytes ByteSize      `yaml:"row_group_bytes"` // HOOKBRIDGE_WAREHOUSE_ROW_GROUP_BYTES; uncompressed; default 64MiB
	// BufferBytes bounds the rows a partition holds in memory for files
	// too small to open yet (a replay spread over many hours makes many).
	BufferBytes ByteSize `yaml:"buffer_bytes"` // HOOKBRIDGE_WAREHOUSE_BUFFER_BYTES; per partition; default 128MiB
	// SpoolDir holds files being written before their S3 upload.
	SpoolDir string `yaml:"spool_dir"` // HOOKBRIDGE_WAREHOUSE_SPOOL_DIR; default the OS temp dir
}

// WarehouseS3 is an S3-compatible destination; setting Bucket selects it.
type WarehouseS3 struct {
	Endpoint  string `yaml:"endpoint"`   // HOOKBRIDGE_WAREHOUSE_S3_ENDPOINT; host[:port]; default s3.amazonaws.com
	Bucket    string `yaml:"bucket"`     // HOOKBRIDGE_WAREHOUSE_S3_BUCKET
	Prefix    string `yaml:"prefix"`     // HOOKBRIDGE_WAREHOUSE_S3_PREFIX; key prefix, e.g. warehouse
	Region    string `yaml:"region"`     // HOOKBRIDGE_WAREHOUSE_S3_REGION (or AWS_REGION)
	PathStyle bool   `yaml:"path_style"` // HOOKBRIDGE_WAREHOUSE_S3_PATH_STYLE; true for MinIO
	// UseSSL is a pointer so that an explicit false (plain-HTTP MinIO)
	// survives the default of true.
	UseSSL *bool `yaml:"use_ssl"` // HOOKBRIDGE_WAREHOUSE_S3_USE_SSL; default true
}

// Enabled reports whether files go to S3 instead of the local directory.
func (s WarehouseS3) Enabled() bool { return s.Bucket != "" }

// SSL reports whether to use HTTPS.
func (s WarehouseS3) SSL() bool { return s.UseSSL == nil || *s.UseSSL }

func (w *Warehouse) setDefaults() {
	orDefault(&w.Group, "hookbridge-warehouse")
	orDefault(&w.Dir, "warehouse")
	orDefault(&w.FlushInterval, 5*time.Minute)
	orDefault(&w.FlushRecords, 500_000)
	orDefault(&w.FlushBytes, 256<<20)
	orDefault(&w.RowGroupBytes, 64<<20)
	orDefault(&w.BufferBytes, 128<<20)
	if w.S3.Enabled() {
		orDefault(&w.S3.Endpoint, "s3.amazonaws.com")
	}
}

func (w *Warehouse) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_WAREHOUSE_GROUP", &w.Group)
	envString(env, "HOOKBRIDGE_WAREHOUSE_DIR", &w.Dir)
	envString(env, "HOOKBRIDGE_WAREHOUSE_SPOOL_DIR", &w.SpoolDir)
	envString(env, "HOOKBRIDGE_WAREHOUSE_S3_ENDPOINT", &w.S3.Endpoint)
	envString(env, "HOOKBRIDGE_WAREHOUSE_S3_BUCKET", &w.S3.Bucket)
	envString(env, "HOOKBRIDGE_WAREHOUSE_S3_PREFIX", &w.S3.Prefix)
	if w.S3.Region == "" {
		envString(env, "AWS_REGION", &w.S3.Region)
	}
	envString(env, "HOOKBRIDGE_WAREHOUSE_S3_REGION", &w.S3.Region)
	if v, ok := env("HOOKBRIDGE_WAREHOUSE_S3_USE_SSL"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("HOOKBRIDGE_WAREHOUSE_S3_USE_SSL: %q is not true or false", v)
		}
		w.S3.UseSSL = &b
	}
	return errors.Join(
		envBool(env, "HOOKBRIDGE_WAREHOUSE_S3_PATH_STYLE", &w.S3.PathStyle),
		envDuration(env, "HOOKBRIDGE_WAREHOUSE_FLUSH_INTERVAL", &w.FlushInterval),
		envInt(env, "HOOKBRIDGE_WAREHOUSE_FLUSH_RECORDS", &w.FlushRecords),
		envByteSize(env, "HOOKBRIDGE_WAREHOUSE_FLUSH_BYTES", &w.FlushBytes),
		envByteSize(env, "HOOKBRIDGE_WAREHOUSE_ROW_GROUP_BYTES", &w.RowGroupBytes),
		envByteSize(env, "HOOKBRIDGE_WAREHOUSE_BUFFER_BYTES", &w.BufferBytes),
	)
}

func (w *Warehouse) validate() error {
	var errs []error
	if w.Group == "" {
		errs = append(errs, errors.New("warehouse.group: must not be empty"))
	}
	if !w.S3.Enabled() && w.Dir == "" {
		errs = append(errs, errors.New("warehouse.dir: must not be empty (or set warehouse.s3.bucket)"))
	}
	if w.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("warehouse.flush_interval: %s must be positive, e.g. 5s or 5m", w.FlushInterval))
	}
	if w.FlushRecords < 1 {
		errs = append(errs, fmt.Errorf("warehouse.flush_records: %d must be at least 1", w.FlushRecords))
	}
	if w.FlushBytes < 1<<10 || w.FlushBytes > 4<<30 {
		errs = append(errs, fmt.Errorf("warehouse.flush_bytes: %d must be between 1KiB and 4GiB (one S3 PUT holds at most 5GiB)", w.FlushBytes))
	}
	if w.RowGroupBytes < 64<<10 || w.RowGroupBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("warehouse.row_group_bytes: %d must be between 64KiB and 1GiB", w.RowGroupBytes))
	}
	if w.BufferBytes < 1<<20 || w.BufferBytes > 16<<30 {
		errs = append(errs, fmt.Errorf("warehouse.buffer_bytes: %d must be between 1MiB and 16GiB", w.BufferBytes))
	}
	if w.S3.Enabled() && w.S3.Endpoint == "" {
		errs = append(errs, errors.New("warehouse.s3.endpoint: must not be empty when warehouse.s3.bucket is set"))
	}
	return errors.Join(errs...)
}

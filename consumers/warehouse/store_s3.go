package warehouse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure an S3Store.
type S3Options struct {
	// Endpoint is host[:port] of the S3 API, e.g. s3.amazonaws.com or
	// localhost:9000 for MinIO.
	Endpoint string
	Bucket   string
	// Prefix goes before every key, e.g. "warehouse".
	Prefix string
	Region string
	// PathStyle addresses the bucket in the path (MinIO and most other
	// S3-compatible stores) instead of the host name.
	PathStyle bool
	// UseSSL talks HTTPS.
	UseSSL bool
	// Credentials default to the usual chain: AWS_ACCESS_KEY_ID /
	// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), MINIO_ROOT_USER /
	// MINIO_ROOT_PASSWORD, ~/.aws/credentials, then IAM roles.
	Credentials *credentials.Credentials
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// SpoolDir holds files while they are written, before the upload;
	// default os.TempDir().
	SpoolDir string
}

// DefaultS3Credentials is the usual credential chain of AWS tools.
func DefaultS3Credentials() *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{},
	})
}

// S3Store keeps files in an S3-compatible bucket. A file is written to a
// local spool file, then uploaded whole with one conditional PUT
// (If-None-Match: *), so an object is either complete or absent and is
// never replaced. Its horizon and schema id are also stored as the
// object's x-amz-meta-hookbridge-horizon and -schema-id.
type S3Store struct {
	client *minio.Client
	opts   S3Options
}

// NewS3Store returns a store that writes to the bucket of opts.
func NewS3Store(opts S3Options) (*S3Store, error) {
	if opts.Endpoint == "" || opts.Bucket == "" {
		return nil, errors.New("warehouse: the S3 store needs warehouse.s3.endpoint and warehouse.s3.bucket")
	}
	if opts.Credentials == nil {
		opts.Credentials = DefaultS3Credentials()
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = os.TempDir()
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:        opts.Credentials,
		Secure:       opts.UseSSL,
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    opts.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("warehouse: S3 client for %s: %w", opts.Endpoint, err)
	}
	return &S3Store{client: cl, opts: opts}, nil
}

// String implements Store.
func (s *S3Store) String() string {
	return "s3://" + path.Join(s.opts.Bucket, s.opts.Prefix) + " at " + s.opts.Endpoint
}

// Check verifies that the bucket exists and the credentials reach it.
func (s *S3Store) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.opts.Bucket)
	if err != nil {
		return fmt.Errorf("warehouse: reaching bucket %q at %s: %w", s.opts.Bucket, s.opts.Endpoint, err)
	}
	if !ok {
		return fmt.Errorf("warehouse: bucket %q does not exist at %s: create it first", s.opts.Bucket, s.opts.Endpoint)
	}
	return nil
}

func (s *S3Store) object(key string) string {
	if s.opts.Prefix == "" {
		return key
	}
	return strings.TrimSuffix(s.opts.Prefix, "/") + "/" + key
}

// The object metadata Publish sets, so that Stat needs no more than a
// HEAD request.
const (
	s3HorizonMeta = "Hookbridge-Horizon"
	s3SchemaMeta  = "Hookbridge-Schema-Id"
)

// Stat implements Store.
func (s *S3Store) Stat(ctx context.Context, key string) (Stored, bool, error) {
	name := s.object(key)
	info, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return Stored{}, false, nil
		}
		return Stored{}, false, fmt.Errorf("warehouse: stat s3://%s/%s: %w", s.opts.Bucket, name, err)
	}
	if st, ok := s3Stored(info.UserMetadata); ok {
		return st, true, nil
	}
	// No metadata (a copy that dropped it, or a file written before the
	// schema id was kept there): read the footer.
	obj, err := s.client.GetObject(ctx, s.opts.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return Stored{}, true, fmt.Errorf("warehouse: reading s3://%s/%s: %w", s.opts.Bucket, name, err)
	}
	defer obj.Close()
	st, err := footerStored(obj, info.Size)
	if err != nil {
		return Stored{}, true, fmt.Errorf("warehouse: s3://%s/%s: %w", s.opts.Bucket, name, err)
	}
	return st, true, nil
}

// s3Stored reads Stored from an object's metadata.
func s3Stored(meta map[string]string) (Stored, bool) {
	var (
		st         Stored
		hasH, hasS bool
	)
	for k, v := range meta {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
		case strings.EqualFold(k, s3HorizonMeta):
			st.Horizon, hasH = n, true
		case strings.EqualFold(k, s3SchemaMeta):
			st.Schema, hasS = int(n), true
		}
	}
	return st, hasH && hasS
}

// List implements Store.
func (s *S3Store) List(ctx context.Context, dir string) ([]string, error) {
	prefix := s.object(dir) + "/"
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("warehouse: listing s3://%s/%s: %w", s.opts.Bucket, prefix, obj.Err)
		}
		if strings.HasSuffix(obj.Key, Suffix) {
			keys = append(keys, path.Join(dir, strings.TrimPrefix(obj.Key, prefix)))
		}
	}
	return keys, nil
}

// Create implements Store.
func (s *S3Store) Create(_ context.Context, key string) (Staged, error) {
	if err := os.MkdirAll(s.opts.SpoolDir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: creating spool directory: %w", err)
	}
	f, err := os.CreateTemp(s.opts.SpoolDir, "hookbridge-warehouse-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("warehouse: creating a spool file for %s: %w", key, err)
	}
	return &s3Staged{store: s, key: key, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

type s3Staged struct {
	store *S3Store
	key   string
	f     *os.File
	w     *bufio.Writer
	done  bool
}

func (u *s3Staged) Write(p []byte) (int, error) { return u.w.Write(p) }

// maxSinglePut is S3's limit for one PUT. Flush limits keep files far
// below it; multipart uploads are avoided because not every S3-compatible
// store honours If-None-Match on them.
const maxSinglePut = 5 << 30

func (u *s3Staged) Publish(ctx context.Context, stored Stored) error {
	defer u.Abort()
	if err := u.w.Flush(); err != nil {
		return fmt.Errorf("warehouse: writing spool file %s: %w", u.f.Name(), err)
	}
	size, err := u.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("warehouse: spool file %s: %w", u.f.Name(), err)
	}
	if size > maxSinglePut {
		return fmt.Errorf("warehouse: %s is %d bytes, more than one S3 PUT takes: lower warehouse.flush_bytes", u.key, size)
	}
	if _, err := u.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("warehouse: spool file %s: %w", u.f.Name(), err)
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/vnd.apache.parquet",
		UserMetadata: map[string]string{
			s3HorizonMeta: strconv.FormatInt(stored.Horizon, 10),
			s3SchemaMeta:  strconv.Itoa(stored.Schema),
		},
		PartSize: uint64(max(size, 5<<20)),
	}
	opts.SetMatchETagExcept("*")
	name := u.store.object(u.key)
	_, err = u.store.client.PutObject(ctx, u.store.opts.Bucket, name, u.f, size, opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == minio.PreconditionFailed || r.StatusCode == http.StatusPreconditionFailed {
			return ErrExists
		}
		return fmt.Errorf("warehouse: uploading s3://%s/%s: %w", u.store.opts.Bucket, name, err)
	}
	return nil
}

func (u *s3Staged) Abort() {
	if u.done {
		return
	}
	u.done = true
	_ = u.f.Close()
	_ = os.Remove(u.f.Name())
}

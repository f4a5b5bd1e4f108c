//go:build realkafka

package warehouse

// The S3 store against a real S3 server: SeaweedFS's S3 gateway on
// loopback, built from its Go module by .ci/realkafka.sh into .tools/.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// installWeed says how .ci/realkafka.sh builds SeaweedFS's binary.
const installWeed = "bash .ci/realkafka.sh (builds .tools/weed from the Go module github.com/seaweedfs/seaweedfs)"

var weed struct {
	once     sync.Once
	endpoint string
	cmd      *exec.Cmd
	dir      string
	err      error
}

func init() {
	stores = append(stores, struct {
		name string
		make func(*testing.T) testStore
	}{"seaweedfs", seaweedTestStore})
}

func weedBinary() string {
	if p := os.Getenv("HOOKBRIDGE_WEED"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", ".tools", "weed")
}

// seaweedTestStore is an S3Store on a fresh prefix of the shared SeaweedFS
// server's bucket.
func seaweedTestStore(t *testing.T) testStore {
	t.Helper()
	if _, err := os.Stat(weedBinary()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SeaweedFS is not built at %s (CI=true): %s", weedBinary(), installWeed)
		}
		t.Skip("SeaweedFS not built; build it with: " + installWeed)
	}
	weed.once.Do(startWeed)
	if weed.err != nil {
		t.Fatalf("starting SeaweedFS: %v", weed.err)
	}
	return s3TestStoreAt(t, weed.endpoint, fmt.Sprintf("warehouse-%d", time.Now().UnixNano()))
}

func startWeed() {
	var ports []string
	var lns []net.Listener
	for range 8 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			weed.err = err
			return
		}
		lns = append(lns, ln)
		ports = append(ports, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	weed.dir, weed.err = os.MkdirTemp("", "seaweedfs-")
	if weed.err != nil {
		return
	}
	weed.endpoint = "127.0.0.1:" + ports[3]
	weed.cmd = exec.Command(weedBinary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+weed.dir,
		"-master.port="+ports[0], "-volume.port="+ports[1], "-filer.port="+ports[2], "-s3", "-s3.port="+ports[3],
		"-master.port.grpc="+ports[4], "-volume.port.grpc="+ports[5], "-filer.port.grpc="+ports[6], "-s3.port.grpc="+ports[7],
		"-filer.localSocket="+filepath.Join(weed.dir, "filer.sock"), "-s3.localSocket="+filepath.Join(weed.dir, "s3.sock"),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=20")
	log, err := os.Create(filepath.Join(weed.dir, "weed.log"))
	if err != nil {
		weed.err = err
		return
	}
	weed.cmd.Stdout, weed.cmd.Stderr = log, log
	weed.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if weed.err = weed.cmd.Start(); weed.err != nil {
		return
	}
	cl, err := minio.New(weed.endpoint, &minio.Options{Creds: credentials.NewStaticV4("test-key", "test-secret", "")})
	if err != nil {
		weed.err = err
		return
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = cl.MakeBucket(ctx, "lake", minio.MakeBucketOptions{})
		cancel()
		if err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(filepath.Join(weed.dir, "weed.log"))
			weed.err = fmt.Errorf("S3 on %s not up in 90s: %v\n%s", weed.endpoint, err, tailLines(raw, 40))
			return
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

func tailLines(raw []byte, n int) string {
	lines := strings.Split(string(raw), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func stopWeed() {
	if weed.cmd != nil && weed.cmd.Process != nil {
		_ = syscall.Kill(-weed.cmd.Process.Pid, syscall.SIGKILL)
		_ = weed.cmd.Wait()
	}
	if weed.dir != "" {
		os.RemoveAll(weed.dir)
	}
}

// TestRealS3SeaweedFS runs the warehouse's exactly-once store tests (a
// crash between upload and commit, so a retried flush rewrites the same
// deterministic names; a rebalance with a zombie; a replay that starts
// inside a stored flush, found by listing) on SeaweedFS, and checks
// what the S3 store relies on from the server: a create-only PUT
// (If-None-Match: *) on an existing object is refused with 412 and the
// object keeps its first content; a multipart upload arrives whole.
func TestRealS3SeaweedFS(t *testing.T) {
	s := seaweedTestStore(t)
	t.Run("crash between upload and commit", TestCrashBetweenUploadAndCommit)
	t.Run("rebalance mid-stream", TestRebalanceMidStream)
	t.Run("replay into a stored epoch", TestReplayIntoAStoredEpoch)

	cl := s.Store.(*S3Store).client
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(key string, body []byte, partSize uint64) error {
		opts := minio.PutObjectOptions{PartSize: partSize}
		opts.SetMatchETagExcept("*")
		_, err := cl.PutObject(ctx, "lake", key, bytes.NewReader(body), int64(len(body)), opts)
		return err
	}
	get := func(key string) []byte {
		obj, err := cl.GetObject(ctx, "lake", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key := fmt.Sprintf("conditional/%d", time.Now().UnixNano())
	if err := put(key, []byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	err := put(key, []byte("second"), 0)
	if r := minio.ToErrorResponse(err); r.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("a second create-only PUT answered %v (status %d), want 412: a zombie could replace a file", err, r.StatusCode)
	}
	if got := get(key); string(got) != "first" {
		t.Errorf("object holds %q after a refused create-only PUT, want its first content", got)
	}

	big := make([]byte, 12<<20)
	_, _ = rand.Read(big)
	mkey := key + "-multipart"
	if err := put(mkey, big, 5<<20); err != nil {
		t.Fatalf("multipart upload: %v", err)
	}
	if got := get(mkey); !bytes.Equal(got, big) {
		t.Errorf("multipart object read back %d bytes, differs from the %d uploaded", len(got), len(big))
	}
	// The store never uploads in parts (see maxSinglePut): a create-only
	// multipart upload over an existing object is where servers differ.
	err = put(mkey, big[:6<<20], 5<<20)
	t.Logf("SeaweedFS, create-only multipart upload over an existing object: err %v, object kept its first content: %v",
		err, bytes.Equal(get(mkey), big))
}

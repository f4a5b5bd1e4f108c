package warehouse

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A file is durable before Publish returns (and so before the offset it
// covers is committed): the temporary file is fsynced before it is moved
// into place, then every directory from the file's up to the root. SIGKILL
// keeps the page cache, so a crash test cannot see a missing fsync; the
// store's sync seam can.
func TestLocalStoreFsyncsFileAndDirectoriesBeforePublishReturns(t *testing.T) {
	root := t.TempDir()
	st, err := NewLocalStore(root)
	if err != nil {
		t.Fatal(err)
	}
	key := "topic=t/dt=2026-12-01/hr=10/t-0-000000000042.parquet"
	final := filepath.Join(root, filepath.FromSlash(key))
	var synced []string
	st.sync = func(f *os.File) error {
		if strings.HasSuffix(f.Name(), ".tmp") {
			if _, err := os.Stat(final); err == nil {
				t.Errorf("%s was in place before its data was fsynced", key)
			}
		}
		synced = append(synced, f.Name())
		return f.Sync()
	}
	staged, err := st.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := staged.Write([]byte("PAR1 not really PAR1")); err != nil {
		t.Fatal(err)
	}
	if err := staged.Publish(context.Background(), Stored{Horizon: 42}); err != nil {
		t.Fatal(err)
	}
	if len(synced) == 0 || !strings.HasSuffix(synced[0], ".tmp") {
		t.Fatalf("synced %q; want the temporary file first", synced)
	}
	for dir := filepath.Dir(final); ; dir = filepath.Dir(dir) {
		if !slices.Contains(synced, dir) {
			t.Errorf("directory %s not fsynced after the rename (synced %q)", dir, synced)
		}
		if dir == root {
			break
		}
	}
}

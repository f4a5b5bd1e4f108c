package warehouse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// LocalStore keeps files in a local directory. A file is written under a
// temporary name that starts with a dot and does not end in .parquet
// (engines skip it), fsynced, then moved to its name without replacing
// anything there, and the directories are fsynced.
type LocalStore struct {
	root string
	// sync fsyncs a file or directory: (*os.File).Sync, or a test's
	// counting one (SIGKILL keeps the page cache, so only a seam shows a
	// missing fsync).
	sync func(*os.File) error
}

// NewLocalStore returns a store rooted at dir, which it creates.
func NewLocalStore(dir string) (*LocalStore, error) {
	if dir == "" {
		return nil, errors.New("warehouse: the local store needs a directory (warehouse.dir)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("warehouse: local directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: creating the local directory: %w", err)
	}
	return &LocalStore{root: abs, sync: (*os.File).Sync}, nil
}

// String implements Store.
func (s *LocalStore) String() string { return "file://" + filepath.ToSlash(s.root) }

// Root is the directory files go under.
func (s *LocalStore) Root() string { return s.root }

func (s *LocalStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Stat implements Store.
func (s *LocalStore) Stat(_ context.Context, key string) (Stored, bool, error) {
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Stored{}, false, nil
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("warehouse: opening %s: %w", key, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Stored{}, false, fmt.Errorf("warehouse: %s: %w", key, err)
	}
	st, err := footerStored(f, info.Size())
	if err != nil {
		return Stored{}, true, fmt.Errorf("warehouse: %s: %w", key, err)
	}
	return st, true, nil
}

// List implements Store.
func (s *LocalStore) List(_ context.Context, dir string) ([]string, error) {
	entries, err := os.ReadDir(s.path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("warehouse: listing %s: %w", dir, err)
	}
	var keys []string
	for _, e := range entries {
		// Files being written start with a dot and end otherwise.
		if name := e.Name(); e.Type().IsRegular() && strings.HasSuffix(name, Suffix) && !strings.HasPrefix(name, ".") {
			keys = append(keys, path.Join(dir, name))
		}
	}
	return keys, nil
}

// Create implements Store.
func (s *LocalStore) Create(_ context.Context, key string) (Staged, error) {
	final := s.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: creating directory for %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("warehouse: creating a temporary file for %s: %w", key, err)
	}
	return &localStaged{store: s, final: final, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

type localStaged struct {
	store *LocalStore
	final string
	f     *os.File
	w     *bufio.Writer
	done  bool
}

func (l *localStaged) Write(p []byte) (int, error) { return l.w.Write(p) }

func (l *localStaged) Publish(context.Context, Stored) error {
	tmp := l.f.Name()
	if err := l.w.Flush(); err != nil {
		l.Abort()
		return fmt.Errorf("warehouse: writing %s: %w", tmp, err)
	}
	if err := l.store.sync(l.f); err != nil {
		l.Abort()
		return fmt.Errorf("warehouse: fsync %s: %w", tmp, err)
	}
	if err := l.f.Close(); err != nil {
		l.Abort()
		return fmt.Errorf("warehouse: closing %s: %w", tmp, err)
	}
	l.done = true
	if err := renameNoReplace(tmp, l.final); err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("warehouse: moving %s into place: %w", l.final, err)
	}
	// The rename is durable once the directory is; new dt=/hr= directories
	// must be durable in their parents too.
	for dir := filepath.Dir(l.final); ; dir = filepath.Dir(dir) {
		if err := l.store.syncDir(dir); err != nil {
			return fmt.Errorf("warehouse: fsync directory %s: %w", dir, err)
		}
		if dir == l.store.root || !strings.HasPrefix(dir, l.store.root) {
			break
		}
	}
	return nil
}

func (l *localStaged) Abort() {
	if l.done {
		return
	}
	l.done = true
	_ = l.f.Close()
	_ = os.Remove(l.f.Name())
}

func (s *LocalStore) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return s.sync(d)
}

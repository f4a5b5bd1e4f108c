package devstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file in the data directory that a running dev holds
// locked, with its process id inside.
func LockFile(dataDir string) string { return filepath.Join(dataDir, "dev.pid") }

// Lock claims dataDir for one dev process, before anything else starts, so
// a second dev on the same directory fails at once rather than after its
// consumers have run against another's Kafka. The lock is an flock on
// dev.pid: the kernel drops it when the process ends however it ends, so a
// crash leaves no stale lock. Unlock releases it.
func Lock(dataDir string) (unlock func(), err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dataDir, err)
	}
	path := LockFile(dataDir)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			raw, _ := os.ReadFile(path)
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(raw))); perr == nil {
				holder = "process " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("%s is in use by another hookbridge dev (%s holds %s): stop that one with Ctrl-C in its terminal, or give this one another --data-dir", dataDir, holder, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // only for the message of a second dev
	}
	return func() {
		_ = f.Truncate(0)
		_ = f.Close() // closing drops the lock
	}, nil
}

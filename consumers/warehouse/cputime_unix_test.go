//go:build unix

package warehouse

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the test binary has used, all threads (the
// garbage collector's too). On a shared machine a benchmark's CPU time
// moves less with the other load than its wall-clock time.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

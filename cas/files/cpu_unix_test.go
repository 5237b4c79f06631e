//go:build unix

package files

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used, user and system: on a
// loaded machine, a fairer measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

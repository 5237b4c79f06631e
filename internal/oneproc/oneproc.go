// Package oneproc puts the process on one P (GOMAXPROCS=1) from the start
// of its package inits, until All gives it back the Ps it started with.
//
// A warm launch (`rezup use`, `env`, bare `rezup`) is a few reads, a lock
// and an execve. With two or more Ps, the runtime starts and wakes
// threads to run the few goroutines of such a short process (its own,
// the signal watcher), and the goroutine that runs the inits moves
// between Ps, filling the caches of each: together about a tenth of the
// CPU of `rezup use -- true` (README, "Speed"). Lowering GOMAXPROCS in
// main instead costs more than it saves: the P it removes gives back
// every span it cached by then. So the package does it at its init, the
// earliest a program can, which is also why it is a package of its own:
// it imports nothing of rezup, and only cmd/rezup imports it.
//
// Every command that makes something, and a launch the moment it must
// fetch or build, calls All first.
package oneproc

import (
	"runtime"
	"sync"
)

// start is GOMAXPROCS as the runtime set it (from the GOMAXPROCS
// variable, else from the CPUs the process may use). The package imports
// nothing the runtime does not init first, so that it inits among the
// first.
var start = runtime.GOMAXPROCS(1)

var once sync.Once

// All gives the process back the Ps it started with, once: later calls,
// and later changes of GOMAXPROCS, are left alone. (The runtime then no
// longer follows a change of the CPUs the process may use, as it does
// while GOMAXPROCS is its default: rezup does not run for that long.)
func All() {
	once.Do(func() {
		if start > 1 {
			runtime.GOMAXPROCS(start)
		}
	})
}

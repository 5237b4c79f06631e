package runroots_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/runroots"
	"github.com/rezup/rezup/internal/testkit"
)

// benchProcesses is how many processes the benchmark scans, at least:
// what a busy render node runs.
const benchProcesses = 500

// BenchmarkScan is one scan of the machine's processes and 500 more, and
// the questions gc asks of it (every revision of a root of 100 revisions):
// the 500 are sleeps started for it, one in ten with its cwd in a fake
// venv of the root, one in ten naming it in its arguments (through a
// symlinked program, as a venv's bin/python), the others elsewhere. They
// end with it (killed, or by the kernel if the benchmark dies). Run it
// with `go test -run '^$' -bench Scan ./internal/runroots`: ns/op is one
// scan and its questions, procs how many processes it read, ns/proc the
// cost of each.
func BenchmarkScan(b *testing.B) {
	sleep := sleepBin(b)
	root := b.TempDir()
	const revisions = 100
	var dirs []string
	for i := range revisions {
		d := filepath.Join(root, ".main", "revisions", strconv.Itoa(1700000000+i))
		mkdirs(b, filepath.Join(d, "venv", "bin"))
		if err := os.Symlink(sleep, filepath.Join(d, "venv", "bin", "sleep")); err != nil {
			b.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	n := benchProcesses // and the machine's own
	env := []string{"PATH=/usr/bin:/bin"}
	used := map[string]bool{}
	for i := range n {
		p := testkit.Job{Exe: sleep, Args: []string{"sleep", "3600"}, Dir: "/", Env: env}
		switch d := dirs[i/10%revisions]; i % 10 {
		case 0:
			p.Dir = filepath.Join(d, "venv")
			used[d] = true
		case 1:
			p.Exe = filepath.Join(d, "venv", "bin", "sleep")
			p.Args[0] = p.Exe
			used[d] = true
		}
		p.Start(b)
	}
	var snap *runroots.Snapshot
	found := 0
	cpu0 := cpuTime(b)
	for b.Loop() {
		var err error
		snap, err = runroots.Scan(context.Background(), []string{root})
		if err != nil {
			b.Fatal(err)
		}
		found = 0
		for _, d := range dirs {
			if len(snap.Users(d)) > 0 {
				found++
			}
		}
	}
	if snap.Processes < benchProcesses || found != len(used) {
		b.Fatalf("scanned %d processes, %d revisions in use; want at least %d, and %d", snap.Processes, found, benchProcesses, len(used))
	}
	// On a machine shared with other work, the wall time of ns/op counts
	// the waits for a CPU too; the CPU time is the scan's own (both
	// workers').
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(snap.Processes), "procs")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(snap.Processes), "ns/proc")
}

// cpuTime is the CPU time this process has used (its children, the
// sleeps, not counted).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package launch

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/rezup/rezup/internal/fsx"
)

// helperArg makes the test binary play rezup in a child process, so that
// Exec can replace a process that is not the test runner. It is an
// argument, not an environment marker, so the child's environment is only
// what a test gives it.
const helperArg = "rezup-launch-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		os.Exit(runHelper(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// helper returns a command running the test binary as rezup would run:
// MODE [LOCKFILE|-] [ARGV…].
func helper(mode string, args ...string) *exec.Cmd {
	return exec.Command(os.Args[0], append([]string{helperArg, mode}, args...)...)
}

// runHelper modes:
//
//	exec LOCK ARGV…            take LOCK shared (- for none), Exec ARGV holding it
//	exec-keep LOCK ARGV…       take LOCK shared, Exec ARGV without handing it on
//	start LOCK ARGV…           take LOCK shared (- for none), Start ARGV, print pid=N
//	start-keep LOCK ARGV…      take LOCK shared, Start ARGV without handing it on
//	parentshell                print parentShell's answer
func runHelper(mode string, args []string) int {
	var hold, taken *os.File
	switch mode {
	case "exec", "exec-keep", "start", "start-keep":
		if args[0] != "-" {
			l, err := fsx.TryShared(args[0]) // released when this process ends
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 98
			}
			taken = l.File()
		}
		if mode == "exec" || mode == "start" {
			hold = taken
		}
	}
	switch mode {
	case "exec", "exec-keep":
		err := Exec(args[1:], os.Environ(), hold, nil)
		fmt.Fprintln(os.Stderr, "helper: Exec returned:", err)
		return 99
	case "start", "start-keep":
		pid, err := Start(args[1:], os.Environ(), hold, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 99
		}
		fmt.Printf("pid=%d\n", pid)
		_ = taken // held until exit, as rezup holds it until it returns
		return 0
	case "parentshell":
		p, ok := parentShell(os.Environ())
		fmt.Printf("%s %v\n", p, ok)
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
	return 97
}

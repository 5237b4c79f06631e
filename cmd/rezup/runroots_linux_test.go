package main

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
)

// A mixed fleet is safe (issue 20): jobs that hold no rezup lock, those the
// real Python rezup launches and programs started in a venv by hand, keep
// the revision and the build they use through `rezup gc` and `rezup drop`.

// pyJob is a job the real Python rezup runs: `python -m rezup use --
// sh -c SCRIPT` in session s's HOME and environment. The script says
// "started", waits for a line on its stdin (Go), then runs rez-env from
// its PATH, as the issue's `sleep 45; rez --version` does after its sleep.
type pyJob struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *bytes.Buffer
	sh     int // the pid of the job's shell
}

func startPyJob(t *testing.T, py *testkit.PyRezup, s *testkit.Session) *pyJob {
	t.Helper()
	cmd := exec.Command(py.Python, "-m", "rezup", "use", "--", "sh", "-c", `echo "started $$"; read go; exec rez-env`)
	cmd.Dir = s.Home
	var env []string
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		env = append(env, k+"="+s.Env[k])
	}
	cmd.Env = py.Environ(env)
	// Its own group: the Python rezup does not pass a kill on to the
	// shell it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	j := &pyJob{cmd: cmd, stderr: new(bytes.Buffer)}
	var err error
	if j.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	j.stdout = bufio.NewReader(out)
	cmd.Stderr = j.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // may be gone already; Wait says either way
			_ = cmd.Wait()
		}
	})
	line, err := j.stdout.ReadString('\n')
	pid, ok := strings.CutPrefix(strings.TrimSpace(line), "started ")
	if j.sh, _ = strconv.Atoi(pid); !ok || j.sh == 0 {
		t.Fatalf("the Python rezup's job said %q (%v)\nstderr:\n%s", line, err, j.stderr)
	}
	return j
}

// finish lets the job go on to rez-env and returns what rez-env reported:
// it ran, from the revision the job started in.
func (j *pyJob) finish(t *testing.T) testkit.RezReport {
	t.Helper()
	if _, err := io.WriteString(j.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	j.stdin.Close()
	out, _ := io.ReadAll(j.stdout)
	if err := j.cmd.Wait(); err != nil {
		t.Fatalf("the Python rezup's job failed after gc and drop: %v\nstdout:\n%s\nstderr:\n%s", err, out, j.stderr)
	}
	return rezReport(t, string(out))
}

// inUse checks that rep keeps kind/name as in use by pid.
func inUse(t *testing.T, rep gc.Report, kind gc.Kind, name string, pid int) {
	t.Helper()
	for _, it := range rep.Kept {
		if it.Kind == kind && it.Name == name {
			if it.Reason != gc.ReasonInUse || !strings.Contains(it.Detail, "in use by pid "+strconv.Itoa(pid)+" (") {
				t.Errorf("gc kept %s %s as %s (%s), want in use by pid %d", kind, name, it.Reason, it.Detail, pid)
			}
			return
		}
	}
	t.Errorf("gc did not keep %s %s: kept %+v, removed %+v", kind, name, rep.Kept, rep.Removed)
}

// The first finding: the Python rezup adds a revision and runs a
// job in it; rezup adds three revisions and collects with --keep 1
// --older-than 0s. The job's revision (the Python rezup's venv is in it)
// stays, in use by the job's shell, in the plan and after; drop is refused;
// the job's rez-env then runs from it.
func TestPythonRezupJobKeepsItsRevision(t *testing.T) {
	t.Parallel()
	py := testkit.RealPythonRezup(t)
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	testkit.WritableAtEnd(t, root)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	py.MustRun(s, "add")
	pyRevs := revisions(t, root, ".main")
	if len(pyRevs) != 1 {
		t.Fatalf("the Python rezup's add made revisions %v", pyRevs)
	}
	pyRev := pyRevs[0]

	job := startPyJob(t, py, s)
	for range 3 {
		s.MustRun("add", "-s")
	}
	dry := gcReport(t, s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--dry-run", "--json").Stdout)
	inUse(t, dry, gc.KindRevision, pyRev, job.sh)
	rep := gcReport(t, s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--json").Stdout)
	inUse(t, rep, gc.KindRevision, pyRev, job.sh)
	if len(rep.Removed) != 2 {
		t.Errorf("gc removed %+v, want the two older revisions of rezup", rep.Removed)
	}
	text := s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--dry-run").Stdout
	if !strings.Contains(text, "in use by pid "+strconv.Itoa(job.sh)+" (sh, PATH "+filepath.Join(root, ".main", "revisions", pyRev)) {
		t.Errorf("gc --dry-run does not say which process uses the revision:\n%s", text)
	}
	for _, force := range []bool{false, true} {
		args := []string{"drop", ".main"}
		if force {
			args = append(args, "--force")
		}
		res := s.Run(args...)
		if res.Code == 0 || !strings.Contains(res.Stderr, "revision "+pyRev+" of .main is in use by pid "+strconv.Itoa(job.sh)) {
			t.Errorf("%s while the Python rezup's job runs: exit %d\n%s", strings.Join(args, " "), res.Code, res.Stderr)
		}
	}

	r := job.finish(t)
	if want := filepath.Join(root, ".main", "revisions", pyRev, "venv", "rez", "bin", "rez"); filepath.Dir(r.Script) != want {
		t.Errorf("the job's rez-env ran from %s, want %s", r.Script, want)
	}
	// Once it ended, the revision is nobody's: it goes.
	rep = gcReport(t, s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--json").Stdout)
	if !hasItem(rep.Removed, gc.KindRevision, pyRev, gc.ReasonOld) {
		t.Errorf("gc once the job ended: removed %+v, kept %+v", rep.Removed, rep.Kept)
	}
}

// The same for a build of rezup's that the Python rezup runs a job in
// (through the revision's venv link): rezup adds a fresh build and two
// more revisions of it; the job's revision stays, in use, and so does its
// build, which it keeps; drop is refused, even with --force; the job runs
// rez-env from that build.
func TestPythonRezupJobKeepsOurBuild(t *testing.T) {
	t.Parallel()
	py := testkit.RealPythonRezup(t)
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	testkit.WritableAtEnd(t, root)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "-s")
	rev, build := revisions(t, root, ".main")[0], storeEntries(t, root)[0]

	job := startPyJob(t, py, s)
	s.MustRun("add", "-s", "--fresh")
	s.MustRun("add", "-s")
	s.MustRun("add", "-s")
	rep := gcReport(t, s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--json").Stdout)
	inUse(t, rep, gc.KindRevision, rev, job.sh)
	if !hasItem(rep.Kept, gc.KindEntry, build, gc.ReasonReferenced) {
		t.Errorf("gc did not keep the job's build %s as referenced by its kept revision: %+v", build, rep.Kept)
	}
	for _, force := range []bool{false, true} {
		args := []string{"drop", ".main"}
		if force {
			args = append(args, "--force")
		}
		if res := s.Run(args...); res.Code == 0 || !strings.Contains(res.Stderr, "in use by pid "+strconv.Itoa(job.sh)) {
			t.Errorf("%s while the Python rezup's job runs: exit %d\n%s", strings.Join(args, " "), res.Code, res.Stderr)
		}
	}
	r := job.finish(t)
	if want := filepath.Join(root, ".main", "revisions", rev, "venv", "rez", "bin", "rez"); filepath.Dir(r.Script) != want {
		t.Errorf("the job's rez-env ran from %s, want %s", r.Script, want)
	}
	if !slices.Contains(storeEntries(t, root), build) {
		t.Errorf("the job's build %s went", build)
	}
}

// A program started from a revision's venv by hand (its python, as a user
// or a job that copied the environment would) holds no lock either: its
// revision and build stay through gc, drop is refused, and both go once it
// ends.
func TestProcessInAVenvKeepsItsRevision(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	testkit.WritableAtEnd(t, root)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "-s")
	rev, build := revisions(t, root, ".main")[0], storeEntries(t, root)[0]
	python := filepath.Join(root, ".main", "revisions", rev, "venv", "rez", "bin", "python")
	cmd := exec.Command(python, "-c", "import sys; print('up', flush=True); sys.stdin.read()")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // ended below, unless the test failed first
		_ = cmd.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "up\n" {
		t.Fatalf("the venv's python said %q (%v)", line, err)
	}

	s.MustRun("add", "-s", "--fresh")
	rep := gcReport(t, s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--json").Stdout)
	inUse(t, rep, gc.KindRevision, rev, cmd.Process.Pid)
	if !hasItem(rep.Kept, gc.KindEntry, build, gc.ReasonReferenced) {
		t.Errorf("gc did not keep the build %s of the revision in use: %+v", build, rep.Kept)
	}
	if res := s.Run("drop", ".main", "--force"); res.Code == 0 || !strings.Contains(res.Stderr, "revision "+rev+" of .main is in use by pid "+strconv.Itoa(cmd.Process.Pid)+" (python") {
		t.Errorf("drop --force while a python runs in the venv: exit %d\n%s", res.Code, res.Stderr)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	rep = gcReport(t, s.MustRun("gc", "--keep", "1", "--older-than", "0s", "--json").Stdout)
	if !hasItem(rep.Removed, gc.KindRevision, rev, gc.ReasonOld) || !hasItem(rep.Removed, gc.KindEntry, build, gc.ReasonUnreferenced) {
		t.Errorf("gc once the python ended: removed %+v, kept %+v", rep.Removed, rep.Kept)
	}
}

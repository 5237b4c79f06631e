package runroots_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/runroots"
	"github.com/rezup/rezup/internal/testkit"
)

func sleepBin(t testing.TB) string {
	t.Helper()
	return testkit.RequireTool(t, "sleep")
}

func mkdirs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// Every way a process shows a directory is found, as the kernel shows it
// (symlinks resolved: exe, cwd, fd, maps) or as it was named (cmdline,
// PATH, PWD), in one scan; the scanning process is never a user.
func TestScanFindsWhatProcessesUse(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	venv := filepath.Join(real, "venv")
	link := filepath.Join(root, "link") // link -> real, as a revision's venv link
	linked := filepath.Join(link, "venv")
	mkdirs(t, filepath.Join(venv, "bin"), filepath.Join(venv, "lib"), filepath.Join(root, "other"))
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	sleep := sleepBin(t)
	// A venv's bin/python is a symlink to the base interpreter: so is this
	// sleep, whose exe is then sleep's own.
	if err := os.Symlink(sleep, filepath.Join(venv, "bin", "sleep")); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(venv, "lib", "data.bin")
	if err := os.WriteFile(data, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin"}
	f, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	python := testkit.Python(t)

	want := map[string]struct {
		pid  int
		via  runroots.Via
		dir  string // the form the process shows
		path string
	}{}
	add := func(name string, via runroots.Via, dir, path string, p testkit.Job) {
		want[name] = struct {
			pid  int
			via  runroots.Via
			dir  string
			path string
		}{p.Start(t), via, dir, path}
	}
	add("cwd", runroots.ViaCwd, venv, venv, testkit.Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: linked, Env: env})
	add("argv", runroots.ViaCmdline, linked, filepath.Join(linked, "bin", "sleep"),
		testkit.Job{Exe: filepath.Join(linked, "bin", "sleep"), Args: []string{filepath.Join(linked, "bin", "sleep"), "600"}, Dir: "/", Env: env})
	add("script", runroots.ViaCmdline, venv, filepath.Join(venv, "bin", "x"),
		testkit.Job{Exe: "/bin/sh", Args: []string{"sh", "-c", "echo ready; sleep 600; : '" + venv + "/bin/x'"}, Dir: "/", Env: env, Ready: "ready"})
	add("PATH", runroots.ViaPATH, linked, filepath.Join(linked, "bin"),
		testkit.Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: "/", Env: []string{"PATH=/usr/bin:" + filepath.Join(linked, "bin") + ":/bin"}})
	add("PWD", runroots.ViaPWD, linked, linked, testkit.Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: "/", Env: append(env, "PWD="+linked)})
	add("fd", runroots.ViaFD, venv, data, testkit.Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: "/", Env: env, Stdin: f})
	add("maps", runroots.ViaMaps, venv, data, testkit.Job{Exe: python, Args: []string{"python3", "-c", `
import mmap, os, sys
f = open(os.environ["DATA"], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
f.close()
print("mapped", flush=True)
sys.stdin.read()
`}, Dir: "/", Env: append(env, "DATA="+data), Ready: "mapped"})
	// A python started as a venv's bin/python: its exe is the base
	// interpreter, its cmdline the venv.
	pyVenv := filepath.Join(real, "pyvenv")
	if out, err := exec.Command(python, "-m", "venv", "--without-pip", pyVenv).CombinedOutput(); err != nil {
		t.Fatalf("python -m venv: %v\n%s", err, out)
	}
	venvPython := filepath.Join(pyVenv, "bin", "python")
	add("venv python", runroots.ViaCmdline, pyVenv, venvPython,
		testkit.Job{Exe: venvPython, Args: []string{venvPython, "-c", "import sys; print('up', flush=True); sys.stdin.read()"}, Dir: "/", Env: env, Ready: "up"})
	stranger := testkit.Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: filepath.Join(root, "other"), Env: env}.Start(t)

	// The test process itself has data open: it is not a user.
	snap, err := runroots.Scan(context.Background(), []string{root, real})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Processes < len(want) || snap.Unsupported != "" {
		t.Fatalf("scan: %+v", snap)
	}
	for name, w := range want {
		found := false
		for _, u := range snap.Users(w.dir) {
			if u.PID == os.Getpid() {
				t.Errorf("%s: the scanning process is a user: %v", name, u)
			}
			if u.PID == w.pid {
				found = true
				if u.Via != w.via || u.Path != w.path {
					t.Errorf("%s: found %v, want %s %s", name, u, w.via, w.path)
				}
			}
		}
		if !found {
			t.Errorf("%s: pid %d not found among the users of %s: %v", name, w.pid, w.dir, snap.Users(w.dir))
		}
	}
	for _, u := range snap.Users(filepath.Join(real, "pyvenv")) {
		if u.Via == runroots.ViaExe {
			t.Errorf("a venv's python shows its venv as exe: %v (it is a symlink to the base interpreter)", u)
		}
	}
	for _, u := range snap.Users(real) {
		if strings.HasPrefix(u.Path, filepath.Join(root, "other")) {
			t.Errorf("a process elsewhere is a user: %v", u)
		}
	}
	if us := snap.Users(filepath.Join(root, "other")); len(us) != 1 || us[0].PID != stranger {
		t.Errorf("users of other: %v, want the one sleeping there", us)
	}
}

// needRoot ends a test that starts processes as another account unless it
// runs as root, as CI does.
func needRoot(t *testing.T) {
	t.Helper()
	testkit.NeedsRoot(t, "it starts processes as another account (setpriv), whose /proc the kernel guards")
}

// canTraceOthers reports whether this process may read other accounts'
// processes whole: CAP_SYS_PTRACE in its effective set (root has it,
// except in containers that drop it).
func canTraceOthers(t *testing.T) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			const capSysPtrace = 19
			return caps&(1<<capSysPtrace) != 0
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}

// Another account reads every process's cmdline, and of root's processes
// nothing more: its scan finds root's job by its arguments, not by its
// cwd, and counts root's processes as not read fully. Root reads another
// account's process whole.
func TestScanCountsWhatItCannotRead(t *testing.T) {
	sleep := sleepBin(t)
	if arg, ok := testkit.Child(t); ok {
		dir, pid, _ := strings.Cut(arg, "|")
		rootJob, _ := strconv.Atoi(pid)
		own := testkit.Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: filepath.Join(dir, "own"), Env: []string{"PATH=/usr/bin:/bin"}}.Start(t)
		snap, err := runroots.Scan(context.Background(), []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		if us := snap.Users(filepath.Join(dir, "own")); len(us) != 1 || us[0].PID != own || us[0].Via != runroots.ViaCwd {
			t.Errorf("users of own: %v, want this account's sleep by its cwd", us)
		}
		if us := snap.Users(filepath.Join(dir, "cmd")); len(us) != 1 || us[0].PID != rootJob || us[0].Via != runroots.ViaCmdline {
			t.Errorf("users of cmd: %v, want root's job (pid %d) by its cmdline", us, rootJob)
		}
		if us := snap.Users(filepath.Join(dir, "cwd")); len(us) != 0 {
			t.Errorf("users of cwd: %v: root's cwd read by another account", us)
		}
		if snap.Unread < 1 || snap.Unread >= snap.Processes || snap.Complete() {
			t.Errorf("%d of %d processes not read fully, want root's (at least its job) and not this account's", snap.Unread, snap.Processes)
		}
		return
	}
	needRoot(t)
	dir := testkit.SharedDir(t)
	mkdirs(t, filepath.Join(dir, "own"), filepath.Join(dir, "cmd", "bin"), filepath.Join(dir, "cwd"))
	if err := os.Symlink(sleep, filepath.Join(dir, "cmd", "bin", "sleep")); err != nil {
		t.Fatal(err)
	}
	viaCmd := filepath.Join(dir, "cmd", "bin", "sleep")
	rootJob := testkit.Job{Exe: viaCmd, Args: []string{viaCmd, "600"}, Dir: filepath.Join(dir, "cwd"), Env: []string{"PATH=/usr/bin:/bin"}}.Start(t)
	testkit.Nobody.RunAs(t, dir+"|"+strconv.Itoa(rootJob))

	argv := testkit.Nobody.Command("/bin/sh", "-c", "echo ready; exec sleep 600")
	setpriv, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	theirs := testkit.Job{Exe: setpriv, Args: argv, Dir: filepath.Join(dir, "own"), Env: []string{"PATH=/usr/bin:/bin"}, Ready: "ready"}.Start(t)
	snap, err := runroots.Scan(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	us := snap.Users(filepath.Join(dir, "own"))
	if canTraceOthers(t) {
		if len(us) != 1 || us[0].PID != theirs || us[0].Via != runroots.ViaCwd {
			t.Errorf("root's scan: users of own %v, want nobody's job (pid %d) by its cwd", us, theirs)
		}
	} else if len(us) != 0 || snap.Unread == 0 {
		t.Errorf("root without CAP_SYS_PTRACE: users of own %v, %d not read fully", us, snap.Unread)
	}
}

// A scan whose context ends returns what it read, the rest counted as not
// read, and says why.
func TestScanStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	snap, err := runroots.Scan(ctx, []string{t.TempDir()})
	if err == nil {
		t.Logf("the workers were done before the scan looked at ctx: %+v", snap)
		return
	}
	if !errors.Is(err, context.Canceled) || snap == nil || snap.Unread == 0 || snap.Complete() {
		t.Fatalf("cancelled scan: %+v, %v", snap, err)
	}
}

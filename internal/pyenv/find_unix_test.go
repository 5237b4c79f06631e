//go:build unix

package pyenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/pyid"
)

// fakeExe writes an executable shell script.
func fakeExe(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	d1, d2 := filepath.Join(root, "d1"), filepath.Join(root, "d2")
	// d1/python3 is not executable: Find must pass it over.
	if err := os.MkdirAll(d1, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d1, "python3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fakeExe(t, filepath.Join(d1, "python3.11"), "")
	fakeExe(t, filepath.Join(d2, "python3"), "")
	fakeExe(t, filepath.Join(d2, "python3.11"), "")
	fakeExe(t, filepath.Join(d2, "python2.7"), "")
	fakeExe(t, filepath.Join(d2, "pypy3"), "")
	fakeExe(t, filepath.Join(home, "py", "bin", "python"), "")
	if err := os.Mkdir(filepath.Join(root, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := strings.Join([]string{"", "relative", d1, d2}, string(os.PathListSeparator))

	tests := []struct {
		spec, want, wantErr string
	}{
		{"", filepath.Join(d2, "python3"), ""},
		{"3", filepath.Join(d2, "python3"), ""},
		{"3.11", filepath.Join(d1, "python3.11"), ""},
		{"3.11.7", filepath.Join(d1, "python3.11"), ""},
		{"2.7", filepath.Join(d2, "python2.7"), ""},
		{"pypy3", filepath.Join(d2, "pypy3"), ""},
		{"~/py/bin/python", filepath.Join(home, "py", "bin", "python"), ""},
		{filepath.Join(d2, "python3"), filepath.Join(d2, "python3"), ""},
		{"3.12", "", "python3.12 not found on PATH"},
		{"python9", "", "python9 not found on PATH"},
		{"~/nope/python", "", filepath.Join(home, "nope", "python") + " not found"},
		{filepath.Join(d1, "python3"), "", "is not an executable file"},
		{filepath.Join(root, "adir"), "", "is not an executable file"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Find(tt.spec, home, path)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNoPython) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrNoPython and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestProbeRejectsGarbage(t *testing.T) {
	exe := fakeExe(t, filepath.Join(t.TempDir(), "python"), "echo not json")
	if _, err := Probe(context.Background(), exe, nil); err == nil || !strings.Contains(err.Error(), "not json") {
		t.Fatalf("err = %v", err)
	}
	exe = fakeExe(t, filepath.Join(t.TempDir(), "python"), "echo boom >&2; exit 3")
	if _, err := Probe(context.Background(), exe, nil); err == nil || !strings.Contains(err.Error(), "exit 3") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
}

func TestCreateExplainsMissingVenv(t *testing.T) {
	// What Debian's python3 prints without python3-venv.
	exe := fakeExe(t, filepath.Join(t.TempDir(), "python3"),
		`echo "The virtual environment was not created successfully because ensurepip is not"; echo "available.  On Debian/Ubuntu systems, you need to install the python3-venv"; exit 1`)
	// Without pip, Create looks for the bundled wheel first, finds none
	// (the same failing interpreter), and falls back to ensurepip.
	for _, opt := range []CreateOptions{{}, {WithoutPip: true, PipCache: t.TempDir()}} {
		var log strings.Builder
		_, err := Create(context.Background(), Interpreter{Executable: exe, ID: pyid.ID{Version: "3.11.2"}}, filepath.Join(t.TempDir(), "v"), nil, &log, opt)
		if !errors.Is(err, ErrNoVenvModule) || !strings.Contains(err.Error(), "python3.11-venv") {
			t.Fatalf("%+v: err = %v", opt, err)
		}
		if !strings.Contains(log.String(), "ensurepip") {
			t.Fatalf("%+v: output not logged: %q", opt, log.String())
		}
		if opt.WithoutPip && !strings.Contains(log.String(), "with ensurepip: bundled pip of "+exe) {
			t.Fatalf("why the fallback is not logged: %q", log.String())
		}
	}
	_, err := Create(context.Background(), Interpreter{Executable: exe, ID: pyid.ID{Version: "2.7.18"}}, t.TempDir(), nil, nil, CreateOptions{})
	if !errors.Is(err, ErrNoVenvModule) {
		t.Fatalf("python 2: err = %v", err)
	}
}

func TestCheckBase(t *testing.T) {
	home := t.TempDir()
	// CheckBase asks for the version alone, with site skipped (-S).
	fakeExe(t, filepath.Join(home, "python3.11"), `case " $* " in *" -S "*) printf 3.11.7;; *) echo "not a version probe: $*" >&2; exit 1;; esac`)
	// A directory on PATH whose python3.11 links to home's: the same file.
	linked := t.TempDir()
	if err := os.Symlink(filepath.Join(home, "python3.11"), filepath.Join(linked, "python3.11")); err != nil {
		t.Fatal(err)
	}
	// pyenv's layout: a shim on PATH that knows the real interpreter.
	real := t.TempDir()
	fakeExe(t, filepath.Join(real, "python3.11"), `printf 3.11.7`)
	shims := t.TempDir()
	fakeExe(t, filepath.Join(shims, "python3.11"), `printf '{"executable": "`+filepath.Join(real, "python3.11")+`", "implementation": "cpython", "version": "3.11.7", "platform": "linux-x86_64"}'`)
	// An interpreter the archive chose: running it leaves a marker.
	attacker := t.TempDir()
	marker := filepath.Join(t.TempDir(), "ran")
	fakeExe(t, filepath.Join(attacker, "python3.11"), "touch "+marker+"; printf 3.11.7")
	// A version that names a path below PATH's directories: the archive
	// holds it as its base, and a file below a directory on PATH (which a
	// cache writer might reach) has that name; running it leaves the marker.
	pathHome, belowPath := t.TempDir(), t.TempDir()
	fakeExe(t, filepath.Join(pathHome, "python3", "sub.11"), "touch "+marker+"; printf 3.11.7")
	fakeExe(t, filepath.Join(belowPath, "python3", "sub.11"), "touch "+marker+"; printf 3.11.7")
	other := t.TempDir()
	fakeExe(t, filepath.Join(other, "python3.11"), `printf '{"executable": "`+filepath.Join(other, "python3.11")+`", "implementation": "cpython", "version": "3.11.7", "platform": "linux-x86_64"}'`)

	write := func(cfg string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pyvenv.cfg"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	onPath := Trust{PathEnv: strings.Join([]string{"", "relative", home}, string(os.PathListSeparator))}
	ctx := context.Background()
	tests := []struct {
		name, cfg string
		trust     Trust
		wantErr   string
		noPython  bool
	}{
		{"ok", "home = " + home + "\ninclude-system-site-packages = false\nversion = 3.11.7\n", onPath, "", false},
		{"virtualenv", "home = " + home + "\nversion_info = 3.11.7.final.0\n", onPath, "", false},
		{"linked on PATH", "home = " + home + "\nversion = 3.11.7\n", Trust{PathEnv: linked}, "", false},
		{"named by the recipe", "home = " + home + "\nversion = 3.11.7\n", Trust{Exes: []string{filepath.Join(home, "python3.11")}}, "", false},
		{"behind a shim", "home = " + real + "\nversion = 3.11.7\n", Trust{PathEnv: shims}, "", false},
		{"other micro", "home = " + home + "\nversion = 3.11.9\n", onPath, "is python 3.11.7, the venv needs python 3.11.9", true},
		{"missing", "home = " + filepath.Join(home, "gone") + "\nversion = 3.12.1\n", onPath,
			"base interpreter " + filepath.Join(home, "gone", "python3.12") + " (python 3.12.1) not found", true},
		{"no home", "version = 3.11.7\n", onPath, "no home entry", false},
		{"relative home", "home = bin\nversion = 3.11.7\n", onPath, "not an absolute path", false},
		{"home not on PATH", "home = " + home + "\nversion = 3.11.7\n", Trust{PathEnv: other},
			"base interpreter " + filepath.Join(home, "python3.11") + " (python 3.11.7) is not an interpreter of this machine", true},
		{"hostile home", "home = " + attacker + "\nversion = 3.11.7\n", Trust{PathEnv: strings.Join([]string{other, home, shims}, string(os.PathListSeparator))},
			"base interpreter " + filepath.Join(attacker, "python3.11") + " (python 3.11.7) is not an interpreter of this machine", true},
		{"hostile home, nothing on PATH", "home = " + attacker + "\nversion = 3.11.7\n", Trust{}, "is not an interpreter of this machine", true},
		{"a path for a version", "home = " + pathHome + "\nversion = 3/sub.11.7\n", Trust{PathEnv: belowPath},
			"base interpreter " + filepath.Join(pathHome, "python") + " (python 3/sub.11.7) not found", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBase(ctx, write(tt.cfg), tt.trust, nil)
			if _, serr := os.Stat(marker); serr == nil {
				t.Fatal("CheckBase ran the interpreter the venv's pyvenv.cfg chose")
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrNoPython) != tt.noPython {
				t.Fatalf("err = %v, want %q (ErrNoPython %v)", err, tt.wantErr, tt.noPython)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

// baseVenv is a venv of python 3.11.7 whose pyvenv.cfg names home as its
// base interpreter's directory (empty: the test writes its fake
// interpreters there), with runs, the file those append a line to each
// time they run, and count, the lines there.
func baseVenv(t *testing.T) (home, venv, runs string, count func() int) {
	t.Helper()
	home, venv = t.TempDir(), t.TempDir()
	runs = filepath.Join(t.TempDir(), "runs")
	if err := os.WriteFile(filepath.Join(venv, "pyvenv.cfg"), []byte("home = "+home+"\nversion = 3.11.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return home, venv, runs, func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run")
	}
}

// CheckBaseCached runs a trusted interpreter once for its version while
// its file is unchanged, and again once it changes (upgraded in place:
// the new version is seen); trust is decided anew each time; an
// interpreter whose sys.executable is another file (a shim, a wrapper)
// is never remembered.
func TestCheckBaseCached(t *testing.T) {
	ctx := context.Background()
	home, venv, runs, count := baseVenv(t)
	exe := filepath.Join(home, "python3.11")
	interp := func(version, self string) {
		t.Helper()
		fakeExe(t, exe, "echo run >> "+runs+"; printf '"+version+"\\n"+self+"'")
	}
	cache, onPath := t.TempDir(), Trust{PathEnv: home}

	interp("3.11.7", exe)
	for i := range 3 {
		if err := CheckBaseCached(ctx, venv, onPath, nil, cache); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if n := count(); n != 1 {
		t.Errorf("the interpreter ran %d times for 3 checks, want 1", n)
	}
	if err := CheckBaseCached(ctx, venv, Trust{}, nil, cache); !errors.Is(err, ErrNoPython) || !strings.Contains(err.Error(), "is not an interpreter of this machine") {
		t.Errorf("remembered, but not trusted now: %v, want a refusal", err)
	}

	// Upgraded in place: the same size, another mtime (set, not waited
	// for: a coarse clock may give two writes one), and another answer.
	interp("3.11.9", exe)
	upgraded := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(exe, upgraded, upgraded); err != nil {
		t.Fatal(err)
	}
	if err := CheckBaseCached(ctx, venv, onPath, nil, cache); err == nil || !strings.Contains(err.Error(), "is python 3.11.9, the venv needs python 3.11.7") {
		t.Errorf("after the upgrade: %v, want the new version refused", err)
	}
	if n := count(); n != 2 {
		t.Errorf("the upgraded interpreter ran %d times in all, want 2", n)
	}

	// Another file runs: not remembered.
	interp("3.11.7", filepath.Join(t.TempDir(), "python3.11"))
	for range 2 {
		if err := CheckBaseCached(ctx, venv, onPath, nil, cache); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 4 {
		t.Errorf("a wrapper's answer was remembered: %d runs in all, want 4", n)
	}
}

// A check that comes while PrefetchBase still runs the interpreter waits
// for that run, and reads what it remembered: python starts once. A
// prefetch without a version, without a cache or with no interpreter of
// the version's names on PATH runs nothing.
func TestPrefetchBase(t *testing.T) {
	ctx := context.Background()
	home, venv, runs, count := baseVenv(t)
	exe := filepath.Join(home, "python3.11")
	// Slow enough that the check below starts while it runs.
	fakeExe(t, exe, "echo run >> "+runs+"; sleep 0.3; printf '3.11.7\\n"+exe+"'")
	cache, onPath := t.TempDir(), Trust{PathEnv: home}

	// A version that is not digits and dots (from a cache writer) names
	// no interpreter, not even one below PATH's directories.
	below := fakeExe(t, filepath.Join(home, "python3", "x.11"), "echo run >> "+runs)
	for _, c := range []struct{ name, version, cache string }{
		{"no version", "", cache},
		{"no cache", "3.11.7", ""},
		{"no interpreter of its names", "2.7.18", cache},
		{"a path for a version", "3/x.11", cache},
	} {
		PrefetchBase(ctx, c.version, onPath, nil, c.cache)
		for _, p := range []string{exe, below} {
			if _, started := prefetches.Load(p); started {
				t.Fatalf("%s: a prefetch of %s started", c.name, p)
			}
		}
	}

	stop := PrefetchBase(ctx, "3.11.7", onPath, nil, cache)
	if err := CheckBaseCached(ctx, venv, onPath, nil, cache); err != nil {
		t.Fatal(err)
	}
	stop()
	if n := count(); n != 1 {
		t.Errorf("the interpreter ran %d times for a prefetch and a check, want 1", n)
	}

	// Stopped while python runs: it is killed, and remembers nothing.
	other := t.TempDir()
	slow := fakeExe(t, filepath.Join(other, "python3.12"), "echo run >> "+runs+"; sleep 5; printf '3.12.1\\n"+filepath.Join(other, "python3.12")+"'")
	stop = PrefetchBase(ctx, "3.12.1", Trust{PathEnv: other}, nil, cache)
	for deadline := time.Now().Add(10 * time.Second); count() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the prefetch never ran the interpreter")
		}
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(4 * time.Second):
		t.Fatal("stop did not end the prefetch's python")
	}
	var v string
	if loadMemo(cache, "version", slow, &v) {
		t.Errorf("a stopped prefetch remembered %q", v)
	}
}

// pyvenv.cfg comes from an archive: it must be a small regular file.
func TestCheckBaseReadsPyvenvCfgSafely(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "pyvenv.cfg")); err != nil {
		t.Fatal(err)
	}
	if err := CheckBase(context.Background(), dir, Trust{}, nil); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("err = %v, want a refused symlink", err)
	}
	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, "pyvenv.cfg"), []byte(strings.Repeat("k = v\n", 20000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckBase(context.Background(), big, Trust{}, nil); err == nil || !strings.Contains(err.Error(), "65536-byte limit") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

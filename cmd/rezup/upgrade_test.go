//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rezup/rezup/internal/selfupdate"
	"github.com/rezup/rezup/internal/testkit"
)

// buildVersion builds cmd/rezup with main.version set, into dir.
func buildVersion(version, out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", out, "github.com/rezup/rezup/cmd/rezup")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return &buildError{version, err, string(b)}
	}
	return nil
}

type buildError struct {
	version string
	err     error
	out     string
}

func (e *buildError) Error() string {
	return "go build " + e.version + ": " + e.err.Error() + "\n" + e.out
}

func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	// --version is "rezup VERSION (build details)": the version is the
	// second word.
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "rezup" {
		t.Fatalf("%s --version printed %q, want rezup VERSION …", bin, out)
	}
	return f[1]
}

// The scenario: an old rezup pointed at a source holding a newer
// one upgrades itself and runs the command with the new binary; with
// REZUP_NO_UPGRADE (or --no-upgrade) it does not.
func TestSelfUpgrade(t *testing.T) {
	// Parallel: the binaries it builds, upgrades and runs are in its own
	// temp dirs. The one it writes here (the broken release) is only run
	// by a later rezup, long after the write is closed, so a fork by
	// another test cannot hold it open for writing then (ETXTBSY).
	t.Parallel()
	testkit.SlowBuild(t) // and two rezup binaries; internal/selfupdate covers the upgrade
	testkit.RequireTool(t, "go")
	testkit.Python(t)
	binDir, source := t.TempDir(), t.TempDir()
	old := filepath.Join(binDir, "rezup")
	newer := filepath.Join(source, selfupdate.ReleaseName("1.1.0", runtime.GOOS, runtime.GOARCH))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ version, out string }{{"1.0.0", old}, {"1.1.0", newer}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = buildVersion(b.version, b.out)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// An older release and a file for another platform are ignored.
	if b, err := os.ReadFile(old); err != nil {
		t.Fatal(err)
	} else {
		for _, n := range []string{selfupdate.ReleaseName("0.9.0", runtime.GOOS, runtime.GOARCH), "rezup-7.0.0-plan9-mips"} {
			if err := os.WriteFile(filepath.Join(source, n), b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}

	s := testkit.NewSession(t, old)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(testkit.WheelHouse(t), ""))
	s.Env["REZUP_UPGRADE_SOURCE"] = source
	stamp := filepath.Join(s.Home, ".rezup", ".upgrade-check")

	t.Run("latest", func(t *testing.T) {
		if res := s.MustRun("-L"); res.Stdout != "1.1.0\n" {
			t.Errorf("-L printed %q, want 1.1.0", res.Stdout)
		}
	})

	t.Run("off", func(t *testing.T) {
		s.Env["REZUP_NO_UPGRADE"] = "1"
		s.MustRun("add", "--skip-use")
		s.MustRun("use", "--", "true")
		delete(s.Env, "REZUP_NO_UPGRADE")
		s.MustRun("--no-upgrade", "use", "--", "true")
		s.MustRun("use", "--no-upgrade", "--", "true")
		if v := versionOf(t, old); v != "1.0.0" {
			t.Errorf("upgraded although it was off: %s", v)
		}
		if _, err := os.Stat(stamp); !os.IsNotExist(err) {
			t.Errorf("a check was recorded although upgrades are off (%v)", err)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		res := s.MustRun("use", "--", "sh", "-c", "echo ran")
		if res.Stdout != "ran\n" {
			t.Errorf("the command ran %d times, want once: %q", strings.Count(res.Stdout, "ran"), res.Stdout)
		}
		if !strings.Contains(res.Stderr, "upgraded "+old+" from 1.0.0 to 1.1.0") {
			t.Errorf("no upgrade message:\n%s", res.Stderr)
		}
		if v := versionOf(t, old); v != "1.1.0" {
			t.Errorf("%s is %s after the upgrade, want rezup 1.1.0", old, v)
		}
		if _, err := os.Stat(stamp); err != nil {
			t.Errorf("the check was not recorded: %v", err)
		}
		ents, _ := os.ReadDir(binDir)
		if len(ents) != 1 {
			t.Errorf("%s holds %d files, want only rezup", binDir, len(ents))
		}
		res = s.MustRun("use", "--", "true")
		if strings.Contains(res.Stderr, "upgrade") {
			t.Errorf("upgraded again:\n%s", res.Stderr)
		}
	})

	t.Run("broken source never stops a launch", func(t *testing.T) {
		// A newer release that does not run, then a source that does not
		// exist: each check warns, the command still runs, and within the
		// pause nothing is checked, so the warning comes once.
		broken := filepath.Join(source, selfupdate.ReleaseName("9.9.9", runtime.GOOS, runtime.GOARCH))
		if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{source, filepath.Join(source, "missing")} {
			s.Env["REZUP_UPGRADE_SOURCE"] = src
			s.Env["REZUP_UPGRADE_PAUSE"] = "0"
			res := s.MustRun("use", "--", "true")
			if !strings.Contains(res.Stderr, "rezup: warning:") || !strings.Contains(res.Stderr, "going on with rezup 1.1.0") {
				t.Errorf("source %s: no warning:\n%s", src, res.Stderr)
			}
			delete(s.Env, "REZUP_UPGRADE_PAUSE")
			if res := s.MustRun("use", "--", "true"); res.Stderr != "" {
				t.Errorf("source %s: checked again within the pause:\n%s", src, res.Stderr)
			}
		}
		if v := versionOf(t, old); v != "1.1.0" {
			t.Errorf("a broken release replaced rezup: %s", v)
		}
	})
}

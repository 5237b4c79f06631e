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

// buildVersion builds cmd/rezup, and cmd/rezup-net when helper is not "",
// with main.version set: rezup to out, rezup-net to helper.
func buildVersion(version, out, helper string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	builds := [][2]string{{out, "github.com/rezup/rezup/cmd/rezup"}}
	if helper != "" {
		builds = append(builds, [2]string{helper, "github.com/rezup/rezup/cmd/rezup-net"})
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", b[0], b[1])
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		if out, err := cmd.CombinedOutput(); err != nil {
			return &buildError{version, err, string(out)}
		}
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
	// --version is "PROGRAM VERSION (build details)": the version is the
	// second word.
	f := strings.Fields(string(out))
	if len(f) < 2 || (f[0] != "rezup" && f[0] != "rezup-net") {
		t.Fatalf("%s --version printed %q, want rezup VERSION …", bin, out)
	}
	return f[1]
}

// The scenario: an old rezup pointed at a source holding a newer
// one upgrades itself, and the rezup-net beside it, and runs the command
// with the new binary; with REZUP_NO_UPGRADE (or --no-upgrade) it does
// not. A release without its rezup-net upgrades rezup alone, and says so.
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
	oldHelper := selfupdate.HelperPath(old)
	release := func(v string) string {
		return filepath.Join(source, selfupdate.ReleaseName(v, runtime.GOOS, runtime.GOARCH))
	}
	// 1.2.0 comes without its helper, and is put in the source later.
	staged120 := filepath.Join(t.TempDir(), "rezup")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, b := range []struct{ version, out, helper string }{
		{"1.0.0", old, oldHelper},
		{"1.1.0", release("1.1.0"), filepath.Join(source, selfupdate.HelperName("1.1.0", runtime.GOOS, runtime.GOARCH))},
		{"1.2.0", staged120, ""},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = buildVersion(b.version, b.out, b.helper)
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
		for _, bin := range []string{old, oldHelper} {
			if v := versionOf(t, bin); v != "1.1.0" {
				t.Errorf("%s is %s after the upgrade, want 1.1.0", bin, v)
			}
		}
		if _, err := os.Stat(stamp); err != nil {
			t.Errorf("the check was not recorded: %v", err)
		}
		ents, _ := os.ReadDir(binDir)
		if len(ents) != 2 {
			t.Errorf("%s holds %d files, want only rezup and rezup-net", binDir, len(ents))
		}
		res = s.MustRun("use", "--", "true")
		if strings.Contains(res.Stderr, "upgrade") {
			t.Errorf("upgraded again:\n%s", res.Stderr)
		}
	})

	t.Run("a release without its helper", func(t *testing.T) {
		b, err := os.ReadFile(staged120)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(release("1.2.0"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		s.Env["REZUP_UPGRADE_PAUSE"] = "0"
		res := s.MustRun("use", "--", "true")
		delete(s.Env, "REZUP_UPGRADE_PAUSE")
		missing := selfupdate.HelperName("1.2.0", runtime.GOOS, runtime.GOARCH)
		if !strings.Contains(res.Stderr, "rezup: warning: the upgrade source has no "+missing) ||
			!strings.Contains(res.Stderr, "upgraded "+old+" from 1.1.0 to 1.2.0") {
			t.Errorf("no upgrade, or no warning about the missing helper:\n%s", res.Stderr)
		}
		if v := versionOf(t, old); v != "1.2.0" {
			t.Errorf("%s is %s, want 1.2.0", old, v)
		}
		if v := versionOf(t, oldHelper); v != "1.1.0" {
			t.Errorf("%s is %s, want 1.1.0, left as it was", oldHelper, v)
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
			if !strings.Contains(res.Stderr, "rezup: warning:") || !strings.Contains(res.Stderr, "going on with rezup 1.2.0") {
				t.Errorf("source %s: no warning:\n%s", src, res.Stderr)
			}
			delete(s.Env, "REZUP_UPGRADE_PAUSE")
			if res := s.MustRun("use", "--", "true"); res.Stderr != "" {
				t.Errorf("source %s: checked again within the pause:\n%s", src, res.Stderr)
			}
		}
		if v := versionOf(t, old); v != "1.2.0" {
			t.Errorf("a broken release replaced rezup: %s", v)
		}
	})
}

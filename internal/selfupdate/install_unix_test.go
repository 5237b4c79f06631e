//go:build unix

package selfupdate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRezup writes a shell script that answers --version like rezup.
func fakeRezup(t *testing.T, path, printed string) {
	t.Helper()
	script := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo " + printed + "; exit 0; fi\necho ran\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func env() []string { return []string{"PATH=" + os.Getenv("PATH")} }

func TestInstall(t *testing.T) {
	bin, src := t.TempDir(), t.TempDir()
	exe := filepath.Join(bin, "rezup")
	fakeRezup(t, exe, "'rezup 1.0.0'")
	rel := Release{Path: filepath.Join(src, "rezup-1.1.0-linux-amd64")}
	rel.Version, _ = ParseVersion("1.1.0")
	// A release prints its build details after the version.
	fakeRezup(t, rel.Path, "'rezup 1.1.0 (commit 6f80f20abcde, go1.26.8, linux/amd64)'")

	if err := Install(context.Background(), rel, exe, env()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(exe)
	if !strings.Contains(string(got), "rezup 1.1.0") {
		t.Errorf("exe not replaced:\n%s", got)
	}
	if fi, err := os.Stat(exe); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("exe is not executable: %v %v", fi.Mode(), err)
	}
	assertOnly(t, bin, "rezup")
}

func TestInstallRefusesBadRelease(t *testing.T) {
	tests := []struct {
		name, script string
		want         string
	}{
		{"wrong version", "#!/bin/sh\necho rezup 1.0.9\n", "printed \"rezup 1.0.9\""},
		{"wrong version with details", "#!/bin/sh\necho 'rezup 1.0.9 (go1.26.8, linux/amd64)'\n", "printed \"rezup 1.0.9 (go1.26.8, linux/amd64)\""},
		{"fails", "#!/bin/sh\necho broken >&2\nexit 3\n", "broken"},
		{"not a program", "\x7fELF garbage", "does not run"},
		{"prints nothing", "#!/bin/sh\n", "printed nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, src := t.TempDir(), t.TempDir()
			exe := filepath.Join(bin, "rezup")
			fakeRezup(t, exe, "'rezup 1.0.0'")
			before, _ := os.ReadFile(exe)
			rel := Release{Path: filepath.Join(src, "rezup-1.1.0-linux-amd64")}
			rel.Version, _ = ParseVersion("1.1.0")
			if err := os.WriteFile(rel.Path, []byte(tt.script), 0o755); err != nil {
				t.Fatal(err)
			}
			err := Install(context.Background(), rel, exe, env())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if after, _ := os.ReadFile(exe); string(after) != string(before) {
				t.Error("a refused release replaced the executable")
			}
			assertOnly(t, bin, "rezup")
		})
	}
}

// A release with a helper replaces both, the helper beside rezup; a helper
// that does not print the release's version refuses the whole upgrade.
func TestInstallWithHelper(t *testing.T) {
	bin, src := t.TempDir(), t.TempDir()
	exe := filepath.Join(bin, "rezup")
	fakeRezup(t, exe, "'rezup 1.0.0'")
	fakeRezup(t, HelperPath(exe), "'rezup-net 1.0.0'")
	rel := Release{Path: filepath.Join(src, "rezup-1.1.0-linux-amd64"), Helper: filepath.Join(src, "rezup-net-1.1.0-linux-amd64")}
	rel.Version, _ = ParseVersion("1.1.0")
	fakeRezup(t, rel.Path, "'rezup 1.1.0 (go1.26.8, linux/amd64)'")
	fakeRezup(t, rel.Helper, "'rezup-net 1.0.9 (go1.26.8, linux/amd64)'")

	err := Install(context.Background(), rel, exe, env())
	if err == nil || !strings.Contains(err.Error(), rel.Helper) || !strings.Contains(err.Error(), "not that version") {
		t.Fatalf("a helper of another version: err = %v, want a refusal naming it", err)
	}
	for path, want := range map[string]string{exe: "rezup 1.0.0", HelperPath(exe): "rezup-net 1.0.0"} {
		if got, _ := os.ReadFile(path); !strings.Contains(string(got), want) {
			t.Errorf("a refused upgrade replaced %s:\n%s", path, got)
		}
	}
	assertOnly(t, bin, "rezup", "rezup-net")

	fakeRezup(t, rel.Helper, "'rezup-net 1.1.0 (go1.26.8, linux/amd64)'")
	if err := Install(context.Background(), rel, exe, env()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{exe: "rezup 1.1.0", HelperPath(exe): "rezup-net 1.1.0"} {
		if got, _ := os.ReadFile(path); !strings.Contains(string(got), want) {
			t.Errorf("%s not replaced:\n%s", path, got)
		}
	}
	assertOnly(t, bin, "rezup", "rezup-net")

	// Where rezup has no helper yet, the upgrade installs it.
	bin2 := t.TempDir()
	exe2 := filepath.Join(bin2, "rezup")
	fakeRezup(t, exe2, "'rezup 1.0.0'")
	if err := Install(context.Background(), rel, exe2, env()); err != nil {
		t.Fatal(err)
	}
	assertOnly(t, bin2, "rezup", "rezup-net")
}

func TestInstallMissingRelease(t *testing.T) {
	bin := t.TempDir()
	exe := filepath.Join(bin, "rezup")
	fakeRezup(t, exe, "'rezup 1.0.0'")
	rel := Release{Path: filepath.Join(t.TempDir(), "gone")}
	rel.Version, _ = ParseVersion("1.1.0")
	if err := Install(context.Background(), rel, exe, env()); err == nil {
		t.Fatal("no error for a missing release")
	}
	assertOnly(t, bin, "rezup")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %v, want %v: a staged copy was left behind", dir, got, names)
	}
}

package selfupdate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func touch(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewest(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{
		"rezup-1.0.0-linux-amd64",
		"rezup-1.10.0-linux-amd64",
		"rezup-1.9.0-linux-amd64",
		"rezup-2.0.0-rc.1-linux-amd64",
		"rezup-3.0.0-linux-arm64",
		"rezup-4.0.0-darwin-amd64",
		"rezup-5.0.0-windows-amd64.exe",
		"rezup-notes-linux-amd64",
		"rezup-net-2.0.0-rc.1-linux-amd64",
		"rezup-net-3.0.0-darwin-amd64",
		"rezup-net-7.0.0-linux-amd64", // a helper alone is not a release
		"README.txt",
	} {
		touch(t, dir, n)
	}
	if err := os.Mkdir(filepath.Join(dir, "rezup-9.0.0-linux-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ goos, goarch, want, helper string }{
		{"linux", "amd64", "rezup-2.0.0-rc.1-linux-amd64", "rezup-net-2.0.0-rc.1-linux-amd64"},
		{"linux", "arm64", "rezup-3.0.0-linux-arm64", ""},
		{"darwin", "amd64", "rezup-4.0.0-darwin-amd64", ""}, // its helper is of another version
		{"windows", "amd64", "rezup-5.0.0-windows-amd64.exe", ""},
	}
	for _, tt := range tests {
		rel, err := Newest(dir, tt.goos, tt.goarch)
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.goos, tt.goarch, err)
		}
		if filepath.Base(rel.Path) != tt.want {
			t.Errorf("%s/%s: newest is %s, want %s", tt.goos, tt.goarch, rel.Path, tt.want)
		}
		if want := filepath.Join(dir, tt.helper); (tt.helper == "" && rel.Helper != "") || (tt.helper != "" && rel.Helper != want) {
			t.Errorf("%s/%s: helper %q, want %q", tt.goos, tt.goarch, rel.Helper, tt.helper)
		}
	}
	if _, err := Newest(dir, "freebsd", "amd64"); !errors.Is(err, ErrNoRelease) {
		t.Errorf("no freebsd release: err = %v, want ErrNoRelease", err)
	}
	if _, err := Newest(filepath.Join(dir, "missing"), "linux", "amd64"); err == nil || errors.Is(err, ErrNoRelease) {
		t.Errorf("missing source: err = %v, want a read error", err)
	}
}

func TestReleaseName(t *testing.T) {
	if got := ReleaseName("1.2.3", "linux", "amd64"); got != "rezup-1.2.3-linux-amd64" {
		t.Error(got)
	}
	if got := ReleaseName("1.2.3", "windows", "arm64"); got != "rezup-1.2.3-windows-arm64.exe" {
		t.Error(got)
	}
	if got := HelperName("1.2.3", "windows", "arm64"); got != "rezup-net-1.2.3-windows-arm64.exe" {
		t.Error(got)
	}
}

func TestStamp(t *testing.T) {
	stamp := filepath.Join(t.TempDir(), "root", ".upgrade-check")
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if !Due(stamp, time.Hour, now) {
		t.Fatal("no stamp yet: not due")
	}
	if err := Record(stamp, now, "newest 1.0.0"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{now, false},
		{now.Add(59 * time.Minute), false},
		{now.Add(time.Hour), true},
		{now.Add(-time.Minute), true}, // the clock went back
	}
	for _, tt := range tests {
		if got := Due(stamp, time.Hour, tt.at); got != tt.want {
			t.Errorf("Due at %v = %v, want %v", tt.at.Sub(now), got, tt.want)
		}
	}
	if !Due(stamp, 0, now) {
		t.Error("a zero pause is always due")
	}
}

func TestPrintedVersion(t *testing.T) {
	tests := []struct {
		out, want string
		ok        bool
	}{
		{"rezup 1.1.0\n", "1.1.0", true},
		{"rezup 1.1.0 (commit 6f80f20abcde, go1.26.8, linux/amd64)\n", "1.1.0", true},
		{"rezup 1.1.0 (go1.26.8, windows/arm64)\r\n", "1.1.0", true},
		{"rezup 1.1.0 (go1.26.8, linux/amd64)\nsomething else 2.0.0\n", "1.1.0", true},
		{"rezup-net 1.1.0 (commit 6f80f20abcde, go1.26.8, linux/amd64)\n", "1.1.0", true},
		{"1.1.0\n", "1.1.0", true},
		{"version 1.1.0\n", "1.1.0", true},
		{"", "", false},
		{"  \n\n", "", false},
	}
	for _, tt := range tests {
		got, ok := PrintedVersion(tt.out)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PrintedVersion(%q) = %q, %v; want %q, %v", tt.out, got, ok, tt.want, tt.ok)
		}
	}
}

package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// cobra/doc (and the Markdown renderer it brings) is only in the build
// scripts/release makes to write the man pages, never in rezup itself.
func TestManPagesStayOutOfRezup(t *testing.T) {
	t.Parallel()
	testkit.RequireTool(t, "go")
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, "github.com/rezup/rezup/cmd/rezup")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return string(out)
	}
	const doc = "github.com/spf13/cobra/doc"
	if strings.Contains(deps(), doc) {
		t.Errorf("rezup links %s; keep it behind the rezup_mangen build tag", doc)
	}
	if !strings.Contains(deps("-tags", "rezup_mangen"), doc) {
		t.Errorf("the rezup_mangen build does not link %s: scripts/release cannot write the man pages", doc)
	}
}

// A bad command line is refused in one line, before anything is built.
func TestReleaseScriptRefusesBadArguments(t *testing.T) {
	t.Parallel()
	testkit.RequireTool(t, "bash")
	script, err := filepath.Abs("../../scripts/release")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "release: error: no version given"},
		{[]string{"1.x"}, `release: error: version "1.x" is not like 1.2.3`},
		{[]string{"1.2"}, `release: error: version "1.2" is not like 1.2.3`},
		{[]string{"1.2.3+meta"}, `release: error: version "1.2.3+meta" is not like 1.2.3`},
		{[]string{"1.2.3", "linux"}, `release: error: target "linux" is not GOOS/GOARCH`},
	}
	for _, tt := range tests {
		cmd := exec.Command("bash", append([]string{script}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if code != 2 || !strings.HasPrefix(lines[0], tt.want) || len(lines) != 2 || !strings.HasPrefix(lines[1], "release: hint: ") {
			t.Errorf("release %v: exit %d, printed\n%s\nwant exit 2, %q… and a hint", tt.args, code, out, tt.want)
		}
	}
}

// scripts/release for this machine and windows/amd64: besides the bare
// binaries, one archive per target (tar.gz, zip for windows) of one
// directory named as the archive, with the programs, LICENSE, README.md,
// the man pages and the completion scripts, each entry dated
// SOURCE_DATE_EPOCH, owned by 0/0, mode 0755 or 0644; SHA256SUMS over
// every file in dist/. A second run with another umask and time zone
// writes the same bytes.
func TestReleaseArchives(t *testing.T) {
	t.Parallel()
	testkit.SkipShort(t, "slow: builds rezup and rezup-net for two targets with scripts/release")
	for _, tool := range []string{"bash", "go", "git", "gzip"} {
		testkit.RequireTool(t, tool)
	}
	script, err := filepath.Abs("../../scripts/release")
	if err != nil {
		t.Fatal(err)
	}
	const version, epoch = "0.0.0-test", 1700000000
	host := runtime.GOOS + "-" + runtime.GOARCH
	release := func(umask, tz string) string {
		dist := t.TempDir()
		cmd := exec.Command("bash", "-c", `umask "$1"; shift; exec "$@"`, "bash", umask, script, version, runtime.GOOS+"/"+runtime.GOARCH, "windows/amd64")
		cmd.Env = append(os.Environ(), "DIST="+dist, "SOURCE_DATE_EPOCH="+strconv.Itoa(epoch), "TZ="+tz)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/release (umask %s, TZ=%s): %v\n%s", umask, tz, err, out)
		}
		return dist
	}
	dist := release("022", "UTC")

	// SHA256SUMS: every file of dist/ once, with its sum.
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || listed[name] != "" {
			t.Fatalf("SHA256SUMS line %q: not SUM  NAME, or a name listed twice", line)
		}
		listed[name] = sum
	}
	err = filepath.WalkDir(dist, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dist, path)
		rel = filepath.ToSlash(rel)
		if rel == "SHA256SUMS" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); listed[rel] != got {
			t.Errorf("SHA256SUMS has %q for %s, want %s", listed[rel], rel, got)
		}
		delete(listed, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) > 0 {
		t.Errorf("SHA256SUMS lists files that are not in dist: %v", listed)
	}

	// The host's programs name the version given and the commit of HEAD.
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	hostBin := filepath.Join(dist, "rezup-"+version+"-"+host+exe)
	head, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	for _, program := range []string{"rezup", "rezup-net"} {
		cmd := exec.Command(filepath.Join(dist, program+"-"+version+"-"+host+exe), "--version")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "REZUP_NO_UPGRADE=1"}
		out, err := cmd.Output()
		if want := program + " " + version + " (commit " + strings.TrimSpace(string(head)); err != nil || !strings.HasPrefix(string(out), want) {
			t.Errorf("the release's %s --version: %v, printed %q; want %q…", program, err, out, want)
		}
	}

	// What each archive must hold, byte for byte.
	common := map[string][]byte{}
	for _, f := range []string{"LICENSE", "README.md"} {
		common[f] = releaseRead(t, filepath.Join("../..", f))
	}
	pages, err := filepath.Glob(filepath.Join(dist, "man", "*.1"))
	if err != nil || len(pages) < 2 {
		t.Fatalf("dist/man has %v (%v), want rezup.1 and a page per command", pages, err)
	}
	for _, p := range pages {
		common["man/"+filepath.Base(p)] = releaseRead(t, p)
	}
	for shell, name := range map[string]string{"bash": "rezup.bash", "zsh": "_rezup", "fish": "rezup.fish", "powershell": "rezup.ps1"} {
		cmd := exec.Command(hostBin, "completion", shell)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "REZUP_NO_UPGRADE=1"}
		out, err := cmd.Output()
		if err != nil || len(out) == 0 {
			t.Fatalf("%s completion %s: %v", hostBin, shell, err)
		}
		common["completions/"+name] = out
	}
	for _, target := range []struct{ goos, goarch, archive, exe string }{
		{runtime.GOOS, runtime.GOARCH, ".tar.gz", ""},
		{"windows", "amd64", ".zip", ".exe"},
	} {
		top := "rezup-" + version + "-" + target.goos + "-" + target.goarch
		want := map[string][]byte{top + "/": nil, top + "/man/": nil, top + "/completions/": nil}
		for name, b := range common {
			want[top+"/"+name] = b
		}
		for _, program := range []string{"rezup", "rezup-net"} {
			want[top+"/"+program+target.exe] = releaseRead(t, filepath.Join(dist, program+"-"+version+"-"+target.goos+"-"+target.goarch+target.exe))
		}
		var got []archiveEntry
		if target.archive == ".zip" {
			got = zipEntries(t, filepath.Join(dist, top+".zip"))
		} else {
			got = tarEntries(t, filepath.Join(dist, top+".tar.gz"))
		}
		seen := map[string]bool{}
		for _, e := range got {
			b, ok := want[e.name]
			switch {
			case !ok || seen[e.name]:
				t.Errorf("%s%s: unexpected entry %s", top, target.archive, e.name)
				continue
			case !bytes.Equal(e.data, b):
				t.Errorf("%s%s: %s differs from what the release built", top, target.archive, e.name)
			}
			seen[e.name] = true
			wantMode := fs.FileMode(0o644)
			if strings.HasSuffix(e.name, "/") || strings.HasSuffix(e.name, "/rezup"+target.exe) || strings.HasSuffix(e.name, "/rezup-net"+target.exe) {
				wantMode = 0o755
			}
			if e.mode != wantMode || e.mtime != epoch || e.owner != "0/0" {
				t.Errorf("%s%s: %s has mode %o, mtime %d, owner %s; want %o, %d (SOURCE_DATE_EPOCH), 0/0", top, target.archive, e.name, e.mode, e.mtime, e.owner, wantMode, epoch)
			}
		}
		for name := range want {
			if !seen[name] {
				t.Errorf("%s%s has no %s", top, target.archive, name)
			}
		}
	}

	// man renders the page the archive ships, as a user reads it once
	// installed, with the sections README's man page section promises.
	{
		cmd := exec.Command(testkit.RequireTool(t, "man"), "-l", filepath.Join(dist, "man", "rezup.1"))
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=100", "LC_ALL=C.UTF-8")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("man -l rezup.1: %v", err)
		}
		for _, want := range []string{"ENVIRONMENT", "EXIT STATUS", "REZUP_CACHE_IDLE"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("man -l of the released rezup.1 shows no %s", want)
			}
		}
	}

	// Reproducible: another umask and time zone, the same bytes.
	again := release("077", "Pacific/Chatham")
	for _, name := range []string{"rezup-" + version + "-" + host + ".tar.gz", "rezup-" + version + "-windows-amd64.zip", "SHA256SUMS"} {
		if !bytes.Equal(releaseRead(t, filepath.Join(dist, name)), releaseRead(t, filepath.Join(again, name))) {
			t.Errorf("%s differs between two runs of scripts/release on one commit", name)
		}
	}
}

type archiveEntry struct {
	name  string // directories end in "/"
	mode  fs.FileMode
	mtime int64
	owner string // uid/gid
	data  []byte
}

func tarEntries(t *testing.T, path string) []archiveEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("%s: the gzip header has a time (%v) or name (%q): not reproducible", path, zr.ModTime, zr.Name)
	}
	tr := tar.NewReader(zr)
	var out []archiveEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		e := archiveEntry{name: h.Name, mode: fs.FileMode(h.Mode) & fs.ModePerm, mtime: h.ModTime.Unix(),
			owner: fmt.Sprintf("%d/%d", h.Uid, h.Gid)}
		if h.Uname != "" || h.Gname != "" {
			e.owner += " (" + h.Uname + "/" + h.Gname + ")"
		}
		if h.Typeflag == tar.TypeReg {
			e.data = data
		} else if h.Typeflag != tar.TypeDir {
			t.Errorf("%s: %s is neither a file nor a directory", path, h.Name)
		}
		out = append(out, e)
	}
}

func zipEntries(t *testing.T, path string) []archiveEntry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer zr.Close()
	var out []archiveEntry
	for _, f := range zr.File {
		// zip has no owner: 0/0 stands for none.
		e := archiveEntry{name: f.Name, mode: f.Mode() & fs.ModePerm, mtime: f.Modified.Unix(), owner: "0/0"}
		if !f.Mode().IsDir() {
			rc, err := f.Open()
			if err != nil {
				t.Fatalf("%s: %s: %v", path, f.Name, err)
			}
			e.data, err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %s: %v", path, f.Name, err)
			}
		}
		out = append(out, e)
	}
	return out
}

func releaseRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

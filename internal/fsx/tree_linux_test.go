//go:build linux

package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// removeChild runs one removal, as the account the parent started it as:
// spec is "RemoveAll|PATH|TRASH" or "DeleteTree|PATH". It says "ok", or
// "not owner: PATH" for a *NotOwnerError, or the error.
func removeChild(spec string) string {
	op, rest, _ := strings.Cut(spec, "|")
	var err error
	switch op {
	case "RemoveAll":
		path, trash, _ := strings.Cut(rest, "|")
		err = RemoveAll(path, trash)
	case "DeleteTree":
		err = DeleteTree(rest)
	case "CheckOwner":
		err = CheckOwner(rest)
	default:
		return "unknown operation " + op
	}
	var no *NotOwnerError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &no) && errors.Is(err, ErrNotOwner):
		return "not owner: " + no.Path + " (" + err.Error() + ")"
	}
	return "error: " + err.Error()
}

// asNobody runs one removal as nobody and returns what the child said.
func asNobody(t *testing.T, exe, spec string) string {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe)
	cmd.Env = append(os.Environ(), removeChildEnv+"="+spec)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err != nil || !strings.HasPrefix(s, "child: ") {
		t.Fatalf("%s as nobody: %v\n%s", spec, err, out)
	}
	return strings.TrimSpace(strings.TrimPrefix(s, "child: "))
}

func needsRootAndSetpriv(t *testing.T) {
	t.Helper()
	NeedsRoot(t, "it runs the removal as nobody (setpriv), whose permissions the kernel checks, as root's it does not")
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("required tool \"setpriv\" not found on PATH (%v): install util-linux", err)
	}
}

// hostileTree writes what a removal meets at its worst, owned by uid: a
// published build's read-only directories and files, a directory nobody
// can enter (0000, as an archive once left one), one that can be written
// but not listed (0300), and a symlink. It returns the tree's root.
func hostileTree(t *testing.T, parent, name string, uid int) string {
	t.Helper()
	root := filepath.Join(parent, name)
	dirs := map[string]fs.FileMode{
		"":              0o555,
		"venv":          0o555,
		"venv/bin":      0o555,
		"closed":        0o000,
		"closed/inner":  0o555,
		"write-only":    0o300,
		"venv/lib/deep": 0o555,
		"venv/lib":      0o500,
	}
	files := map[string]fs.FileMode{
		"venv/bin/rez":            0o555,
		"venv/lib/deep/mod.py":    0o444,
		"closed/inner/secret":     0o000,
		"write-only/hidden":       0o444,
		"venv/pyvenv.cfg":         0o444,
		"closed/inner/executable": 0o111,
	}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/bin/python3", filepath.Join(root, "venv", "bin", "python")); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
	for f, m := range files {
		if err := os.Chmod(filepath.Join(root, f), m); err != nil {
			t.Fatal(err)
		}
	}
	for d, m := range dirs {
		if err := os.Chmod(filepath.Join(root, d), m); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// base is a directory nobody may write in, with the test binary nobody
// can run, and a trash directory of nobody's.
func removalBase(t *testing.T) (base, exe, trash string) {
	base, exe = nobodyCanRun(t)
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(base, 0o755) })
	trash = filepath.Join(base, ".tmp")
	if err := os.Mkdir(trash, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(trash, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return base, exe, trash
}

// What an account owns it removes, however read-only or closed the
// directories are: RemoveAll through the trash, DeleteTree in place.
func TestRemovingWhatTheCallerOwns(t *testing.T) {
	needsRootAndSetpriv(t)
	base, exe, trash := removalBase(t)
	for _, op := range []string{"RemoveAll", "DeleteTree"} {
		t.Run(op, func(t *testing.T) {
			tree := hostileTree(t, base, "tree-"+op, 65534)
			spec := op + "|" + tree
			if op == "RemoveAll" {
				spec += "|" + trash
			}
			if got := asNobody(t, exe, spec); got != "ok" {
				t.Fatalf("%s as the owner: %s", op, got)
			}
			if _, err := os.Lstat(tree); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s is still there: %v", tree, err)
			}
			if ents, _ := os.ReadDir(trash); len(ents) != 0 {
				t.Errorf("trash left behind: %v", ents)
			}
		})
	}
}

// What another account owns, at the top or anywhere under it, stays whole
// and where it was: the error names it, and nothing is moved to the trash
// or changes mode. CheckOwner looks at the top only.
func TestRemovingWhatAnotherAccountOwns(t *testing.T) {
	needsRootAndSetpriv(t)
	base, exe, trash := removalBase(t)
	for _, tc := range []struct {
		name    string
		foreign string // the path root owns, relative to the tree
	}{
		{"top", ""},
		{"deep", "venv/lib/deep/mod.py"},
		{"symlink", "venv/bin/python"},
	} {
		for _, op := range []string{"RemoveAll", "DeleteTree"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				tree := hostileTree(t, base, "tree-"+tc.name+"-"+op, 65534)
				// Only readable directories: a closed one the caller owns
				// is opened to look inside, which is a change.
				for _, d := range []string{"closed", "write-only"} {
					if err := os.Chmod(filepath.Join(tree, d), 0o555); err != nil {
						t.Fatal(err)
					}
				}
				foreign := filepath.Join(tree, tc.foreign)
				if err := os.Lchown(foreign, 0, 0); err != nil {
					t.Fatal(err)
				}
				before := modes(t, tree)
				spec := op + "|" + tree
				if op == "RemoveAll" {
					spec += "|" + trash
				}
				got := asNobody(t, exe, spec)
				if want := "not owner: " + foreign + " (" + foreign + " belongs to another account (root, uid 0))"; got != want {
					t.Errorf("%s of a tree root owns part of: %s\nwant %s", op, got, want)
				}
				if diff := diffModes(before, modes(t, tree)); diff != "" {
					t.Errorf("the tree changed:\n%s", diff)
				}
				if ents, _ := os.ReadDir(trash); len(ents) != 0 {
					t.Errorf("moved to the trash: %v", ents)
				}
				top := "ok"
				if tc.foreign == "" {
					top = "not owner: " + tree + " (" + tree + " belongs to another account (root, uid 0))"
				}
				if got := asNobody(t, exe, "CheckOwner|"+tree); got != top {
					t.Errorf("CheckOwner: %s, want %s", got, top)
				}
			})
		}
	}
}

func modes(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out[p] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffModes(before, after map[string]fs.FileMode) string {
	var b strings.Builder
	for p, m := range before {
		if am, ok := after[p]; !ok {
			fmt.Fprintf(&b, "gone: %s\n", p)
		} else if am != m {
			fmt.Fprintf(&b, "%s: %v -> %v\n", p, m, am)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			fmt.Fprintf(&b, "new: %s\n", p)
		}
	}
	return b.String()
}

// MakeReadOnly takes the write bits off everything under the root, keeps
// the other bits, and leaves the root and symlinks alone; MakeReadOnlyEach
// does the same to the paths it is given, and to nothing else.
func TestMakeReadOnly(t *testing.T) {
	tree := map[string]fs.FileMode{
		"lib":         fs.ModeDir | fs.ModeSetgid | 0o775,
		"lib/deep":    fs.ModeDir | 0o700,
		"lib/mod.py":  0o664,
		"lib/ro.py":   0o444,
		"bin":         fs.ModeDir | 0o755,
		"bin/rez":     0o775,
		"bin/private": 0o700,
	}
	for _, tc := range []struct {
		name string
		// make makes the tree at root read-only; untouched are the
		// entries it must leave writable.
		make      func(root string) error
		untouched []string
	}{
		{"MakeReadOnly", MakeReadOnly, nil},
		{"MakeReadOnlyEach", func(root string) error {
			var paths []string
			for _, rel := range []string{"lib", "lib/deep", "lib/mod.py", "lib/ro.py", "bin", "bin/rez", "link"} {
				paths = append(paths, filepath.Join(root, rel))
			}
			return MakeReadOnlyEach(paths)
		}, []string{"bin/private"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			t.Cleanup(func() {
				filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					os.Chmod(p, 0o755) // so that TempDir can remove it when not root
					return nil
				})
			})
			for rel, m := range tree {
				p := filepath.Join(root, rel)
				var err error
				if m.IsDir() {
					err = os.MkdirAll(p, 0o755)
				} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
					err = os.WriteFile(p, nil, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("lib", filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
			for rel, m := range tree {
				if err := os.Chmod(filepath.Join(root, rel), m&(fs.ModePerm|fs.ModeSetgid)); err != nil {
					t.Fatal(err)
				}
			}
			before := modes(t, root)
			if err := tc.make(root); err != nil {
				t.Fatal(err)
			}
			got := modes(t, root)
			for rel, m := range tree {
				p := filepath.Join(root, rel)
				want := m &^ 0o222
				if slices.Contains(tc.untouched, rel) {
					want = before[p]
				}
				if got[p] != want {
					t.Errorf("%s: %v, want %v", rel, got[p], want)
				}
			}
			if got[root] != before[root] {
				t.Errorf("the root changed: %v, was %v", got[root], before[root])
			}
			if link := filepath.Join(root, "link"); got[link] != before[link] {
				t.Errorf("the symlink changed: %v, was %v", got[link], before[link])
			}
		})
	}
}

// sameFS decides whether SyncTree's one syncfs covers a file: only one on
// root's own filesystem.
func TestSameFS(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !sameFS(dir, f) {
		t.Errorf("sameFS(%s, a file in it) = false", dir)
	}
	if sameFS(dir, "/proc/version") {
		t.Errorf("sameFS(%s, /proc/version) = true: procfs is another filesystem", dir)
	}
	if sameFS(dir, filepath.Join(dir, "missing")) {
		t.Error("sameFS of a missing file = true")
	}
}

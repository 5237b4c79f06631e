package objects

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
)

// Another account's object cannot be hard-linked where
// fs.protected_hardlinks=1 (Debian's default): the kernel refuses (EPERM),
// for real, and Link copies that file instead.
func TestLinkAnotherAccountsObject(t *testing.T) {
	if arg, ok := testkit.Child(t); ok {
		// As nobody: the store and the object are root's.
		storeDir, rest, _ := strings.Cut(arg, "\n")
		hex, tree, _ := strings.Cut(rest, "\n")
		d, err := cas.ParseDigest(hex)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(storeDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Link(s.path(d, false), filepath.Join(tree, "probe")); !errors.Is(err, syscall.EPERM) {
			t.Fatalf("the kernel's own link of root's object = %v, want EPERM (fs.protected_hardlinks)", err)
		}
		dst := filepath.Join(tree, "file")
		how, err := s.Link(d, false, dst, Hardlink)
		if err != nil || how == Hardlinked {
			t.Fatalf("Link of root's object = %v, %v; want a clone or a copy", how, err)
		}
		t.Logf("root's object was %v", how)
		checkMade(t, s, d, false, dst, content(15, 70_000), false)

		// gc as nobody: root's object and temp are not nobody's to remove.
		objs := walkAll(t, s)
		if len(objs) != 1 || objs[0].Owned {
			t.Fatalf("Walk = %+v; want root's object, not owned", objs)
		}
		if err := s.Remove(objs[0]); !errors.Is(err, fsx.ErrNotOwner) {
			t.Errorf("Remove of root's object = %v, want ErrNotOwner", err)
		}
		temps, err := s.Temps()
		if err != nil || len(temps) != 1 || temps[0].Owned {
			t.Fatalf("Temps = %+v, %v; want root's temp, not owned", temps, err)
		}
		if err := s.RemoveTemp(temps[0]); !errors.Is(err, fsx.ErrNotOwner) {
			t.Errorf("RemoveTemp of root's temp = %v, want ErrNotOwner", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		if testkit.Strict() {
			t.Fatal("this test needs root: it links root's object as nobody (setpriv), as CI does")
		}
		t.Skip("skipped: needs root, to link root's object as nobody (setpriv); CI runs it")
	}
	if b, err := os.ReadFile("/proc/sys/fs/protected_hardlinks"); err != nil || strings.TrimSpace(string(b)) != "1" {
		skipOrFail(t, "fs.protected_hardlinks is not 1 here (%q, %v): the kernel would let nobody link root's file", b, err)
	}
	shared := testkit.SharedDir(t)
	s, err := Open(filepath.Join(shared, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	d := put(t, s, content(15, 70_000), false)
	temp := filepath.Join(s.Dir(), "."+d.String()+".1.rezup-tmp") // a crashed Put's
	if err := os.WriteFile(temp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(shared, "tree")
	if err := os.Mkdir(tree, 0o777); err != nil {
		t.Fatal(err)
	}
	testkit.Nobody.Chown(t, tree)
	testkit.Nobody.RunAs(t, s.Dir()+"\n"+d.String()+"\n"+tree)

	fi, err := os.Lstat(filepath.Join(tree, "file"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != uint32(testkit.Nobody.UID) {
		t.Errorf("the copy belongs to uid %d, want nobody's", uid)
	}
	ofi, err := os.Lstat(s.path(d, false))
	if err != nil {
		t.Fatal(err)
	}
	if n := ofi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
		t.Errorf("root's object has %d links, want 1", n)
	}
	if _, err := os.Lstat(temp); err != nil {
		t.Errorf("root's temp: %v", err)
	}
}

// Clone makes a real reflink where the filesystem has them: an XFS image
// (reflink=1) mounted on a loop device. It needs root and mkfs.xfs
// (xfsprogs); without them it says why it did not run.
func TestCloneOnXFS(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: makes and mounts an XFS image")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root, to mount an XFS image on a loop device")
	}
	mkfs, err := exec.LookPath("mkfs.xfs")
	if err != nil {
		t.Skip("skipped: no mkfs.xfs, to make an XFS image with reflinks (apt-get install -y xfsprogs)")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "xfs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o777); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: XFS's smallest filesystem, of which a few MB are written.
	if err := f.Truncate(320 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		skipOrFail(t, "cannot mount an XFS image here (no loop device, or no XFS in the kernel): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	s, err := Open(filepath.Join(mnt, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	data := content(16, 1<<20)
	tree := filepath.Join(mnt, "tree")
	if err := os.Mkdir(tree, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, x := range []bool{false, true} {
		d := put(t, s, data, x)
		suffix := map[bool]string{false: "", true: ".x"}[x]
		dst := filepath.Join(tree, "clone"+suffix)
		how, err := s.Link(d, x, dst, Clone)
		if err != nil || how != Cloned {
			t.Fatalf("Clone on XFS = %v, %v; want Cloned", how, err)
		}
		checkMade(t, s, d, x, dst, data, false)
		if filefrag, err := exec.LookPath("filefrag"); err == nil {
			out, _ := exec.Command(filefrag, "-v", dst).CombinedOutput()
			if !bytes.Contains(out, []byte("shared")) {
				t.Errorf("filefrag says the clone shares no extent:\n%s", out)
			}
		}
		if how, err := s.Link(d, x, filepath.Join(tree, "link"+suffix), Hardlink); err != nil || how != Hardlinked {
			t.Errorf("Hardlink on XFS = %v, %v", how, err)
		}
	}
}

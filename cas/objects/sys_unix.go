//go:build unix

package objects

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rezup/rezup/internal/fsx"
)

// syncInPut: on Unix a Batch syncs its objects at Commit, all at once.
const syncInPut = false

// createsReadOnly: on Unix createTemp gives the temp its object's mode at
// once, and the descriptor it returns still writes.
const createsReadOnly = true

// createTemp creates a new temp for object n in dir, with mode perm
// (less the umask): read-only from its creation, so that Put needs no
// chmod, through a descriptor that writes all the same. The descriptor
// is a bare one (tempFile), never an *os.File: os.OpenFile registers
// every file with Go's poller (four fcntl and an epoll_ctl), os.NewFile
// asks its flags (an fcntl), and a regular file gains nothing from
// either, thousands of times in a fetch.
func createTemp(dir, n string, perm fs.FileMode) (tempFile, error) {
	for try := 0; ; try++ {
		p := filepath.Join(dir, fsx.RandomName("."+n+".")+fsx.TempSuffix)
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
		switch {
		case err == nil:
			return &fdFile{fd: fd, name: p}, nil
		case err == unix.EINTR, err == unix.EEXIST && try < 10:
			continue // a signal; a name taken (48 random bits: never twice)
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
}

// fdFile is a temp open for writing as a bare descriptor.
type fdFile struct {
	fd   int
	name string
}

func (f *fdFile) Name() string { return f.name }

func (f *fdFile) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(f.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &fs.PathError{Op: "write", Path: f.name, Err: err}
		}
		n += m
	}
	return n, nil
}

func (f *fdFile) Sync() error {
	if err := unix.Fsync(f.fd); err != nil {
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	return nil
}

func (f *fdFile) Chmod(mode fs.FileMode) error {
	if err := unix.Fchmod(f.fd, uint32(mode.Perm())); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.name, Err: err}
	}
	return nil
}

// Close closes the descriptor, once: a second Close (Put's deferred one
// after a failed first) is an error that changes nothing.
func (f *fdFile) Close() error {
	if f.fd < 0 {
		return fs.ErrClosed
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// linkFallsBack reports whether a failed link(2) of an object means "not
// here, make a clone or a copy instead", for this one file: dst is on
// another filesystem (EXDEV); the kernel refuses to link another
// account's file (EPERM under fs.protected_hardlinks=1, EACCES on some
// systems); the object has as many links as its filesystem allows
// (EMLINK); or the filesystem has no hard links at all (EPERM on vfat,
// ENOTSUP/EOPNOTSUPP elsewhere). Anything else (dst exists, the object
// is missing, no space) is an error the fallback would only hide or
// repeat.
func linkFallsBack(err error) bool {
	for _, e := range []unix.Errno{unix.EXDEV, unix.EPERM, unix.EACCES, unix.EMLINK, unix.ENOTSUP, unix.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// linkNew gives the complete file tmp the name final, never over a file
// already there (fs.ErrExist then, and tmp stays): one rename that
// refuses to replace (renameat2 RENAME_NOREPLACE, Linux), else link(2)
// and unlink of tmp. Where the filesystem has neither, it renames after
// checking that final is not there: a race that can only replace a file
// with the same verified content (Commit) or one of the caller's own
// staging (Link).
func linkNew(tmp, final string) error {
	// renameNoReplace says errNoRenameNoReplace, and has done nothing,
	// where the system or the filesystem has no such rename.
	if err := renameNoReplace(tmp, final); err != errNoRenameNoReplace {
		return err
	}
	err := os.Link(tmp, final)
	if err == nil {
		// Best effort: the object is in place; a temp left behind is
		// recognised by its name and swept.
		_ = os.Remove(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		if _, lerr := os.Lstat(final); lerr == nil {
			return &os.LinkError{Op: "rename", Old: tmp, New: final, Err: unix.EEXIST}
		}
		return os.Rename(tmp, final)
	}
	return err
}

// openDir opens a directory to read it, without the poller set-up
// os.Open does for every file.
func openDir(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// errNoRenameNoReplace is renameNoReplace's answer where there is no
// rename that refuses to replace.
var errNoRenameNoReplace = errors.New("no rename without replace here")

// fsyncEach fsyncs each file: its data and its inode.
func fsyncEach(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		serr := f.Sync()
		cerr := f.Close()
		if serr != nil {
			return serr
		}
		if cerr != nil {
			return cerr
		}
	}
	return nil
}

// fileInfo is what Walk, Temps and the removals need of a file.
type fileInfo struct {
	regular  bool
	links    uint64
	size     int64
	changed  time.Time // ctime
	modified time.Time // mtime
	uid      int
	owned    bool
	id       fileID
}

type fileID struct{ dev, ino uint64 }

func infoOf(st *unix.Stat_t, euid int) fileInfo {
	return fileInfo{
		regular:  st.Mode&unix.S_IFMT == unix.S_IFREG,
		links:    uint64(st.Nlink),
		size:     st.Size,
		changed:  time.Unix(st.Ctim.Unix()),
		modified: time.Unix(st.Mtim.Unix()),
		uid:      int(st.Uid),
		owned:    euid == 0 || int(st.Uid) == euid,
		id:       fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)},
	}
}

// statIn lstats name in the directory open as dirfd: one fstatat, with
// no path to resolve again for each of thousands of objects. euid is the
// caller's, asked once per walk rather than once per object.
func statIn(dirfd uintptr, _ string, name string, euid int) (fileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dirfd), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fileInfo{}, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return infoOf(&st, euid), nil
}

// statPath lstats path.
func statPath(path string) (fileInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileInfo{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return infoOf(&st, os.Geteuid()), nil
}

// removeFile unlinks an object or a temp: its directory's write bit is
// all it takes, whatever the file's own mode.
func removeFile(path string) error { return os.Remove(path) }

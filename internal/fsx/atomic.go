package fsx

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// TempSuffix marks files that are being written. Readers that list a
// directory skip names containing it.
const TempSuffix = ".rezup-tmp"

// RandomName returns prefix followed by 12 random hex characters.
func RandomName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms; a panic here
		// would be a broken system, not a user error.
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// WriteFile atomically replaces path with data. The file gets perm with
// the umask applied (see Perm): pass 0o666, or 0o777 for an executable.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return WriteFileFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileFunc atomically replaces path with what write produces. The temp
// file lives in path's directory, so the rename never crosses filesystems.
// On any error the temp file is removed and path is untouched. perm is
// masked with the umask, as for WriteFile.
func WriteFileFunc(path string, perm fs.FileMode, write func(io.Writer) error) error {
	return replace(path, perm, write, true)
}

// ReplaceStaged replaces path with data through a temp file and a rename,
// as WriteFile does, but syncs nothing: it is for files inside a staged
// tree that SyncTree syncs as a whole before PublishDir makes it visible,
// where an fsync per file would only multiply the cost of that one pass,
// and for a copy kept as a cache that nothing needs to survive a crash
// (after one it may be missing, or torn, and its readers verify it).
func ReplaceStaged(path string, data []byte, perm fs.FileMode) error {
	return replace(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, false)
}

func replace(path string, perm fs.FileMode, write func(io.Writer) error, sync bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+TempSuffix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()           // already failing; the close error adds nothing
			os.Remove(tmp.Name()) // best effort: a leftover temp name is ignored by readers
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(Perm(perm)); err != nil {
		return err
	}
	if sync {
		if err = tmp.Sync(); err != nil {
			return err
		}
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	return SyncDir(dir)
}

// CreateExclusive writes data to path through a temp file and links it into
// place only if path does not exist yet. It returns fs.ErrExist when
// another writer got there first; the existing file is never replaced.
// perm is masked with the umask, as for WriteFile.
func CreateExclusive(path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+TempSuffix)
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()           // closed twice on success; the second close is a no-op error
		os.Remove(tmp.Name()) // the temp name is always removed: on success the data lives on under path
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(Perm(perm)); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return err
	}
	return SyncDir(dir)
}

// PublishDir renames the fully written directory staging to final and
// fsyncs final's parent. It fails with fs.ErrExist if final already exists,
// leaving both untouched.
func PublishDir(staging, final string) error {
	if err := os.Rename(staging, final); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) && (errors.Is(le.Err, fs.ErrExist) || isNotEmpty(le.Err)) {
			return fmt.Errorf("publish %s: %w", final, fs.ErrExist)
		}
		return fmt.Errorf("publish %s: %w", final, err)
	}
	return SyncDir(filepath.Dir(final))
}

// SyncDir fsyncs a directory so that renames into it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errSyncUnsupported) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// SyncTree makes everything under root durable, and with it each file of
// also and its name in its directory (files written with ReplaceStaged
// outside the tree, that must be on disk before the tree is published):
// the one sync pass before a staged tree is published. On Linux that is
// one syncfs(2) of root's filesystem, which covers the files of also on
// it; elsewhere, and for a file of also on another filesystem, every file
// and directory is fsynced.
func SyncTree(root string, also ...string) error {
	if err := syncTree(root); err != nil {
		return err
	}
	for _, p := range also {
		if sameFS(root, p) {
			continue
		}
		if err := syncPath(p); err != nil {
			return err
		}
		if err := syncPath(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

func syncEach(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return nil
		}
		return syncPath(path)
	})
}

// syncPath fsyncs the file or directory at path; a filesystem that cannot
// fsync a directory is not a failure.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil && !errors.Is(serr, errSyncUnsupported) {
		return fmt.Errorf("sync %s: %w", path, serr)
	}
	return cerr
}

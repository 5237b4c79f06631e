package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rezup/rezup/internal/fsx"
)

// Modes of what DirBackend creates, before the umask: everything takes
// the caller's umask, like any shared directory the admin set up (0755
// and 0644 under 022, group-writable under 002), and the objects
// DirOptions.ReadOnly names (the cache's archives) are read-only besides.
const (
	dirModeFolder   fs.FileMode = 0o777
	dirModeObject   fs.FileMode = 0o666
	dirModeReadOnly fs.FileMode = 0o444
)

// DirBackend is a Backend in a directory: local disk, NFS or SMB. An
// object is the file at its name under the directory.
//
// Put writes a temp file beside the final name (its name contains
// fsx.TempSuffix), fsyncs it, links it into place without replacing, and
// fsyncs the folder. List lists such temp files too, like any file, so
// that what a crashed Put left can be aged and deleted; a reader that
// knows what it looks for never asks for them.
type DirBackend struct {
	dir      string
	readOnly func(name string) bool
}

// DirOptions tune a DirBackend.
type DirOptions struct {
	// ReadOnly, when set, says which objects are stored read-only.
	ReadOnly func(name string) bool
}

// NewDirBackend returns the backend in dir, which need not exist yet: the
// first Put creates it.
func NewDirBackend(dir string, opt DirOptions) *DirBackend {
	return &DirBackend{dir: dir, readOnly: opt.ReadOnly}
}

// String returns the directory.
func (b *DirBackend) String() string { return b.dir }

func (b *DirBackend) path(name string) string {
	return filepath.Join(b.dir, filepath.FromSlash(strings.TrimSuffix(name, "/")))
}

// Stat stats the file at name. A folder is not an object.
func (b *DirBackend) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if err := b.check(ctx, name, false); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", name, err)
	}
	// Lstat: an object is the file itself, never what a symlink planted
	// in a shared cache points to (see Open).
	fi, err := os.Lstat(b.path(name))
	err = notExist(err)
	if err == nil {
		err = objectType(b.path(name), fi.Mode())
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", name, err)
	}
	return ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Open opens the file at name, seeks to offset and reads length bytes
// of it at most (all of the rest when length < 0).
func (b *DirBackend) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, name, false); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	length, err := CheckRange(offset, length)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	// Anyone who may write the cache may plant a FIFO (an open that
	// blocks forever, under the caller's lock), a device (bytes without
	// end) or a symlink (someone else's file): only a regular file is
	// opened, without following a symlink or waiting on a FIFO.
	f, err := fsx.OpenRegular(b.path(name))
	if err != nil {
		if fi, lerr := os.Lstat(b.path(name)); lerr == nil && !fi.Mode().IsRegular() {
			err = objectType(b.path(name), fi.Mode()) // the backend's words for it
		}
		return nil, fmt.Errorf("open %s: %w", name, notExist(err))
	}
	if length == 0 {
		f.Close() // opened read-only, only to say that it is there
		return NoBytes(), nil
	}
	if offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close() // opened read-only: nothing to lose
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return LimitBody(f, length), nil
}

// Put writes src to a temp file in name's folder (creating the folder),
// fsyncs it, links it into place unless name exists, and fsyncs the
// folder. On any error the temp file goes, and the folder too if that
// leaves it empty.
func (b *DirBackend) Put(ctx context.Context, name string, src Source) error {
	if err := b.check(ctx, name, false); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	err := b.put(ctx, name, src)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) {
		err = Permanent(err)
	}
	if err != nil {
		return fmt.Errorf("put %s in %s: %w", name, b, err)
	}
	return nil
}

func (b *DirBackend) put(ctx context.Context, name string, src Source) (err error) {
	final := b.path(name)
	dir := filepath.Dir(final)
	tmp, err := b.createTemp(dir, filepath.Base(final))
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()           // closed already on success; a second close only errors
		os.Remove(tmp.Name()) // on success the bytes live on under the final name
		if err != nil {
			b.pruneEmpty(dir)
		}
	}()
	if err := src.Rewind(); err != nil {
		return err
	}
	n, err := io.CopyBuffer(tmp, ContextReader(ctx, src), make([]byte, 256<<10))
	if err != nil {
		return err
	}
	if n != src.Length() {
		return fmt.Errorf("source gave %d bytes, not the %d it announced", n, src.Length())
	}
	mode := dirModeObject
	if b.readOnly != nil && b.readOnly(name) {
		mode = dirModeReadOnly
	}
	if err := tmp.Chmod(fsx.Perm(mode)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := linkNoReplace(tmp.Name(), final); err != nil {
		return err
	}
	return fsx.SyncDir(dir)
}

// createTemp creates a temp file in dir, creating dir first if needed.
// It tries again when dir vanishes in between: a Delete that emptied it
// may remove it at any time.
func (b *DirBackend) createTemp(dir, base string) (*os.File, error) {
	for range 3 {
		f, err := os.CreateTemp(dir, "."+base+".*"+fsx.TempSuffix)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		if err := os.MkdirAll(dir, dirModeFolder); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("create a temp file in %s: the folder keeps vanishing", dir)
}

// linkNoReplace puts tmp's file at final unless final exists (ErrExist).
// It prefers link(2), which never replaces. On filesystems without hard
// links (some SMB mounts) it falls back to a rename after checking final
// is absent; a writer that wins that narrow race is replaced.
func linkNoReplace(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return ErrExist
	}
	if _, serr := os.Lstat(final); serr == nil {
		return ErrExist
	}
	if rerr := os.Rename(tmp, final); rerr != nil {
		return fmt.Errorf("link %s: %v; rename: %w", final, err, rerr)
	}
	return nil
}

// Delete removes the file at name (or the empty folder a marker names),
// fsyncs its folder so that the removal is durable before whatever the
// caller removes next, and then removes the folders it left empty.
func (b *DirBackend) Delete(ctx context.Context, name string) error {
	if err := b.check(ctx, name, true); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	p := b.path(name)
	fi, err := os.Lstat(p)
	err = notExist(err)
	if err == nil && fi.IsDir() != strings.HasSuffix(name, "/") {
		err = fmt.Errorf("%s is not what %q names: %w", p, name, fs.ErrNotExist)
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err == nil {
		err = fsx.SyncDir(filepath.Dir(p))
	}
	if err != nil {
		return fmt.Errorf("delete %s from %s: %w", name, b, err)
	}
	b.pruneEmpty(filepath.Dir(p))
	return nil
}

// pruneEmpty removes dir and its parents up to the backend's directory
// while they are empty. It is best effort: a folder left behind is
// listed as a marker and goes with a later Delete.
func (b *DirBackend) pruneEmpty(dir string) {
	for dir != b.dir && strings.HasPrefix(dir, b.dir+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return // not empty, or gone: either way nothing more to prune
		}
		// The removal is already done; syncing it is only for durability.
		_ = fsx.SyncDir(filepath.Dir(dir))
		dir = filepath.Dir(dir)
	}
}

// List walks the folders that can hold names starting with prefix.
func (b *DirBackend) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
		if err := CheckName(start, false); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
	}
	err := b.walk(ctx, start, prefix, fn)
	if err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, b, err)
	}
	return nil
}

func (b *DirBackend) walk(ctx context.Context, rel, prefix string, fn func(ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(b.path(rel))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // not there (yet), removed since its parent was read, or a file
	}
	if err != nil {
		return err
	}
	if rel != "" && len(ents) == 0 && strings.HasPrefix(rel+"/", prefix) {
		if fi, err := os.Stat(b.path(rel)); err == nil {
			if err := fn(ObjectInfo{Name: rel + "/", ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	for _, de := range ents {
		child := path.Join(rel, de.Name())
		switch {
		case de.IsDir():
			if strings.HasPrefix(child+"/", prefix) || strings.HasPrefix(prefix, child+"/") {
				if err := b.walk(ctx, child, prefix, fn); err != nil {
					return err
				}
			}
		case de.Type().IsRegular() && strings.HasPrefix(child, prefix):
			fi, err := de.Info()
			if err != nil {
				continue // removed since the folder was read
			}
			if err := fn(ObjectInfo{Name: child, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// objectType returns nil for a regular file. A folder is not an object
// (fs.ErrNotExist, as for a missing name); anything else (a symlink, a
// FIFO, a device) is refused for good with ErrNotRegular.
func objectType(p string, mode fs.FileMode) error {
	switch {
	case mode.IsRegular():
		return nil
	case mode.IsDir():
		return fmt.Errorf("%s is a folder, not a file: %w", p, fs.ErrNotExist)
	}
	return Permanent(fmt.Errorf("%s: %w (a symlink, FIFO or device): remove it", p, ErrNotRegular))
}

// notExist makes "a parent is a file" the not-exist error it means for
// an object name.
func notExist(err error) error {
	if errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	return err
}

func (b *DirBackend) check(ctx context.Context, name string, marker bool) error {
	if err := CheckName(name, marker); err != nil {
		return err
	}
	return ctx.Err()
}

// Package archive is the archive format of rezup's shared cache: a build's
// tree as tar (PAX) compressed with zstd, named by the BLAKE3 digest of
// its own bytes (cas.Digest). PackFile turns a built tree into a local
// archive file, hashing it on the way; Unpack brings one back.
//
// Guarantees:
//
//   - Pack is reproducible: entries in walk order, no owners, the mtime
//     the caller gives, and canonical modes (directories 0755, files 0755
//     or 0644: CanonicalMode), so two packs of one tree have one digest
//     whatever its write bits and the packer's umask: a published build,
//     read-only, packs as it did before it was made read-only.
//
//   - Unpack verifies the digest while streaming and refuses hostile input
//     (absolute paths, "..", writes through symlinks, hard links, devices,
//     setuid/setgid/sticky bits, size and count limits). Modes are not
//     taken from the archive as they are: each entry gets its canonical
//     mode, so a directory the archive says is 0000 or 0555 never stops
//     the unpack, the caller's work on the tree, or its removal. It only writes
//     into the empty staging directory it is given, which the caller
//     publishes after Unpack succeeds, so nothing unverified is visible.
//     Small files are created by a few writer goroutines while the stream
//     is decompressed; a caller may rewrite them on the way through
//     (UnpackOptions.Rewrite: materialize relocates there, reading nothing
//     twice) and see each once it is written (Written: materialize hashes
//     it there for its object store).
//
// archive knows nothing of caches, keys or stores; it never prints and never
// reads the environment.
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

var (
	// ErrCorrupt means an archive's bytes are not what was published: the
	// digest does not match, or the stream is truncated or does not
	// decompress or parse. Fetching it again may help; using it never does.
	ErrCorrupt = errors.New("archive is corrupt")

	// ErrUnsafe means an archive holds an entry rezup refuses to extract
	// (or a tree holds one it refuses to pack): an absolute path, "..", a
	// write through a symlink, a hard link, a device, a setuid, setgid or
	// sticky bit, or more than the Limits allow.
	ErrUnsafe = errors.New("unsafe archive entry")
)

// Ext is the file name extension of an archive: tar (PAX) compressed with zstd.
const Ext = ".tar.zst"

// maxNameLen bounds entry names and symlink targets (PATH_MAX on Linux).
const maxNameLen = 4096

// maxWindow bounds the zstd window a hostile archive can make Unpack
// allocate. zstd's own levels use at most 8 MiB (128 MiB with --long=27).
const maxWindow = 128 << 20

// maxTrailing bounds how much decompressed data may follow the tar end
// marker. Tar writers pad to a record (GNU tar: 10 KiB); more is not an
// archive rezup wrote.
const maxTrailing = 1 << 20

// progressEvery is how often, at most, a progress callback runs.
const progressEvery = 100 * time.Millisecond

// copyBufSize is the buffer Pack and Unpack copy file contents through.
const copyBufSize = 256 << 10

// Limits bounds what Unpack accepts. A zero field means the DefaultLimits
// value for that field.
type Limits struct {
	// MaxBytes bounds the total size of regular-file contents, counted
	// while copying (headers are not trusted).
	MaxBytes int64
	// MaxFiles bounds the number of entries of any kind (files,
	// directories, symlinks).
	MaxFiles int64
}

// DefaultLimits is far above any Rez environment (a few hundred MB and
// tens of thousands of files) and far below what fills a disk.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 4 << 30, MaxFiles: 1_000_000}
}

// Progress is what Pack and Unpack have done so far: entries of any kind,
// and regular-file bytes.
type Progress struct {
	Bytes int64
	Files int64
}

// PackOptions tunes Pack. The zero value is the default.
type PackOptions struct {
	// Level is a zstd level as the zstd command line counts them (1-22);
	// 0 means the default (3).
	Level int
	// Progress, when set, is called at most every 100ms and once at the
	// end.
	Progress func(Progress)
	// ModTime, when set, is the modification time of every entry instead
	// of its own: two trees with the same contents then pack to the same
	// bytes, however long apart they were made.
	ModTime time.Time
	// Override gives, by archive name ("dir/file"), the contents to pack
	// for regular files instead of what is on disk: metadata files whose
	// on-disk version records things the archive must not hold (when and
	// how this tree was made).
	Override map[string][]byte
}

// PackStats is what Pack wrote: Files counts entries of any kind (the
// number Limits.MaxFiles bounds), Bytes the regular-file contents.
type PackStats struct {
	Files int64
	Bytes int64
}

// UnpackOptions tune Unpack. The zero value extracts as it is, within
// DefaultLimits.
type UnpackOptions struct {
	Limits Limits
	// Progress, when set, is called at most every 100ms and once at the
	// end.
	Progress func(Progress)
	// Rewrite, when set, may replace the contents of each regular file of
	// at most RewriteMax bytes before it is written: it gets the path the
	// file is extracted to and its bytes, and returns new bytes, or nil to
	// keep them. It runs on several goroutines at once. Larger files are
	// streamed to disk without it and listed in UnpackStats.Unseen. The
	// bytes it is given are Unpack's, used again once the file is
	// written: it keeps no reference to them.
	Rewrite func(path string, data []byte) []byte
	// Relink, when set, may replace the target of each symlink: it gets
	// the target and returns a new one, or "" to keep it.
	Relink func(target string) string
	// Written, when set, is called on a writer goroutine for each regular
	// file of at most RewriteMax bytes once it is on disk, whole and
	// closed: its path, the bytes it holds (Rewrite's, when Rewrite
	// replaced them; the caller's only during the call) and its mode. A
	// caller hashes a file there from the bytes it was written from,
	// instead of reading it back. It runs on several goroutines at once,
	// before the archive's digest is checked: Unpack may still fail.
	// Larger files are listed in UnpackStats.Unseen, as with Rewrite:
	// between them, every regular file Unpack writes.
	Written func(path string, data []byte, perm fs.FileMode)
	// ReadOnly creates regular files without write bits (their canonical
	// mode less the umask and 0222), for a caller that makes the tree
	// read-only anyway: one chmod fewer per file. Directories are left
	// writable.
	ReadOnly bool
}

// RewriteMax is the size up to which Unpack reads a file into memory and
// hands it to a writer goroutine (and to UnpackOptions.Rewrite). A venv is
// mostly small files, whose cost is creating them; the few larger ones,
// compiled libraries mostly, are streamed on the reading goroutine through
// one buffer.
const RewriteMax = 256 << 10

// UnpackStats is what Unpack extracted, counted as PackStats counts.
// ArchiveBytes is the size of the compressed archive it read.
type UnpackStats struct {
	Files        int64
	Bytes        int64
	ArchiveBytes int64
	// Unseen lists, when UnpackOptions.Rewrite or Written is set, the
	// paths of the regular files they did not see because they are larger
	// than RewriteMax.
	Unseen []string
	// Dirs are the directories Unpack made (dest aside), by path, with
	// the mode it left each with.
	Dirs map[string]fs.FileMode
}

// Pack writes the tree under root to w as a tar (PAX) stream compressed
// with zstd, streaming: the archive is never held in memory. Entries come
// in sorted order, named relative to root with forward slashes; root
// itself is not an entry.
//
// It keeps regular files, directories, symlinks (targets as they are) and
// modification times to the nanosecond. It records canonical modes
// (CanonicalMode), not the tree's: write bits, group bits and the umask
// say who may change a tree where it was built, not what was built. It
// drops owners (uid, gid and names are zero), so the same tree packs to
// the same entries for every user. Hard-linked files are packed as
// separate copies. Setgid and sticky bits on directories are dropped: they
// come from where a tree was built, not from what was built.
//
// It refuses, with an error wrapping ErrUnsafe and naming the path,
// whatever Unpack would refuse: devices, sockets, fifos, setuid, setgid or
// sticky files, names and symlink targets over 4096 bytes.
func Pack(w io.Writer, root string, opt PackOptions) (PackStats, error) {
	st, err := pack(w, root, opt)
	if err != nil {
		return st, fmt.Errorf("pack %s: %w", root, err)
	}
	return st, nil
}

// Archive is a packed tree in a local file, with what Cache.Publish
// records of it. PackFile makes one.
type Archive struct {
	Path   string
	Digest cas.Digest // BLAKE3-256 of the file's bytes
	Size   int64      // the file's bytes
	PackStats
}

// PackFile packs the tree under root, as Pack does, into a new file in dir
// (which must exist), hashing and counting the bytes as they are written.
// Put dir on the filesystem the file is read back from, and remove
// a.Path when done with it. On error, no file is left.
func PackFile(dir, root string, opt PackOptions) (a Archive, err error) {
	f, err := os.CreateTemp(dir, "archive-*"+Ext)
	if err != nil {
		return Archive{}, fmt.Errorf("pack %s: %w", root, err)
	}
	defer func() {
		if err != nil {
			f.Close()           // already failing; the close error adds nothing
			os.Remove(f.Name()) // a partial archive is of no use
		}
	}()
	h := blake3.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	a.PackStats, err = Pack(cw, root, opt)
	if err != nil {
		return Archive{}, err
	}
	if err := f.Close(); err != nil {
		return Archive{}, fmt.Errorf("pack %s: %w", root, err)
	}
	a.Path, a.Digest, a.Size = f.Name(), sumDigest(h), cw.n
	return a, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pack streams the walk of root through tar and zstd into w.
func pack(w io.Writer, root string, opt PackOptions) (PackStats, error) {
	fi, err := os.Lstat(root)
	if err != nil {
		return PackStats{}, err
	}
	if !fi.IsDir() {
		return PackStats{}, errors.New("not a directory")
	}
	level := zstd.SpeedDefault
	if opt.Level != 0 {
		level = zstd.EncoderLevelFromZstd(opt.Level)
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(level))
	if err != nil {
		return PackStats{}, err
	}
	p := &packer{root: root, opt: opt, tw: tar.NewWriter(zw), tick: progressTicker{fn: opt.Progress}, buf: make([]byte, copyBufSize)}
	err = filepath.WalkDir(root, p.visit)
	if err == nil {
		err = p.tw.Close()
	}
	if err != nil {
		// The stream is already broken; closing only stops the encoder's
		// goroutines, and its error adds nothing.
		_ = zw.Close()
		return p.st, err
	}
	if err := zw.Close(); err != nil {
		return p.st, err
	}
	p.tick.done(Progress{Bytes: p.st.Bytes, Files: p.st.Files})
	return p.st, nil
}

// packer is the state of one pack: the tar stream and what went into it.
type packer struct {
	root string
	opt  PackOptions
	tw   *tar.Writer
	tick progressTicker
	buf  []byte
	st   PackStats
}

// visit writes one entry of the walk: its header, then a file's bytes.
func (p *packer) visit(file string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if file == p.root {
		return nil
	}
	hdr, err := packHeader(p.root, file, d)
	if err != nil {
		return err
	}
	if !p.opt.ModTime.IsZero() {
		hdr.ModTime = p.opt.ModTime
	}
	data, override := p.opt.Override[hdr.Name]
	if override && hdr.Typeflag == tar.TypeReg {
		hdr.Size = int64(len(data))
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	p.st.Files++
	if hdr.Typeflag == tar.TypeReg && override {
		n, err := p.tw.Write(data)
		p.st.Bytes += int64(n)
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	} else if hdr.Typeflag == tar.TypeReg {
		n, err := copyFile(p.tw, file, hdr.Size, p.buf)
		p.st.Bytes += n
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	p.tick.maybe(Progress{Bytes: p.st.Bytes, Files: p.st.Files})
	return nil
}

// packHeader is the tar header of file, or the ErrUnsafe error that
// refuses it.
func packHeader(root, file string, d fs.DirEntry) (*tar.Header, error) {
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return nil, err
	}
	name := filepath.ToSlash(rel)
	if len(name) > maxNameLen {
		return nil, fmt.Errorf("%w: %s: name longer than %d bytes", ErrUnsafe, name, maxNameLen)
	}
	info, err := d.Info()
	if err != nil {
		return nil, err
	}
	mode := info.Mode()
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(CanonicalMode(mode)),
		ModTime: info.ModTime(),
		Format:  tar.FormatPAX,
	}
	switch {
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case mode.IsRegular():
		if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			return nil, fmt.Errorf("%w: %s: setuid, setgid or sticky bit (mode %s)", ErrUnsafe, name, mode)
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = info.Size()
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(file)
		if err != nil {
			return nil, err
		}
		if len(target) > maxNameLen || target == "" {
			return nil, fmt.Errorf("%w: %s: symlink target is empty or longer than %d bytes", ErrUnsafe, name, maxNameLen)
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
	default:
		return nil, fmt.Errorf("%w: %s: cannot pack %s (only files, directories and symlinks)", ErrUnsafe, name, fsx.FileKind(mode))
	}
	return hdr, nil
}

// CanonicalMode is the permission bits an archive records for an entry
// of mode m, and what Unpack gives it (less the umask): 0755 for a
// directory, 0755 for a file with any execute bit, 0644 for any other
// file; a symlink's bits are kept as they are (Linux: 0777).
func CanonicalMode(m fs.FileMode) fs.FileMode {
	switch {
	case m&fs.ModeSymlink != 0:
		return m.Perm()
	case m.IsDir(), m&0o111 != 0:
		return 0o755
	}
	return 0o644
}

// dirPerm is what Unpack gives every directory: 0755 less the umask, and
// the owner's rwx always, so that the caller can fill, relocate and
// remove the tree.
func dirPerm() fs.FileMode { return fsx.Perm(0o755) | 0o700 }

// copyFile copies exactly size bytes of the file at p into w. A file that
// grows or shrinks while it is packed is an error: the archive would not
// match the tree.
func copyFile(w io.Writer, p string, size int64, buf []byte) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close() // read-only: a close error cannot lose data
	n, err := io.CopyBuffer(w, io.LimitReader(f, size), buf)
	if err != nil {
		return n, err
	}
	if n != size {
		return n, fmt.Errorf("file changed while packing (read %d of %d bytes)", n, size)
	}
	var one [1]byte
	if m, _ := f.Read(one[:]); m != 0 {
		return n, fmt.Errorf("file changed while packing (grew past %d bytes)", size)
	}
	return n, nil
}

// Unpack reads an archive written by Pack from r and extracts it into
// dest, which must be an existing, empty directory that nobody else sees
// yet (a staging directory the caller publishes once Unpack succeeds).
//
// It hashes the compressed bytes while they stream, and after the tar end
// it reads r to EOF, so the digest covers every byte: a mismatch with want
// returns an error wrapping ErrCorrupt that names both digests. A
// truncated stream, or one that does not decompress or parse, wraps
// ErrCorrupt too. An error reading r is returned as it is.
//
// It refuses, with an error wrapping ErrUnsafe and naming the entry:
// absolute paths, ".." components, entries whose parent is a symlink or a
// file, duplicate entries (other than directories), hard links, devices,
// fifos and unknown entry types, setuid, setgid and sticky bits, names and
// symlink targets over 4096 bytes, and archives over lim. Symlink targets
// may point anywhere (a venv links to its base interpreter), but
// extraction never follows a symlink.
//
// Files get the canonical mode of the archive's (CanonicalMode: 0755 when
// it has any execute bit, else 0644) less the umask, as tar does for a
// non-root user, and directories 0755 less the umask, with the owner's
// rwx whatever the umask: an archive's 0000 or 0555 directory is never
// one the caller cannot enter, fill, relocate or remove. Old archives,
// which recorded the modes of their tree, unpack the same way. Files and
// symlinks get their mtimes as they are extracted, directories in a final
// pass, after their contents. Making the tree read-only once it is
// complete is the caller's (see fsx.MakeReadOnly). On error, dest holds a
// partial tree with writable directories: remove it.
func Unpack(r io.Reader, dest string, want cas.Digest, opt UnpackOptions) (UnpackStats, error) {
	st, err := unpack(r, dest, want, opt)
	if err != nil {
		return st, fmt.Errorf("unpack %s: %w", want, err)
	}
	return st, nil
}

func unpack(r io.Reader, dest string, want cas.Digest, opt UnpackOptions) (UnpackStats, error) {
	lim := opt.Limits.orDefault()
	if err := checkEmptyDir(dest); err != nil {
		return UnpackStats{}, err
	}

	src := &hashingReader{r: r, h: blake3.New()}
	// Every read of r goes through src on the one goroutine that
	// decompresses, ahead of this one, which parses the tar stream and
	// makes directories: the hash sees each byte once and in order. src
	// is this goroutine's again once the decompressor has stopped.
	zr, err := zstdReader(src)
	if err != nil {
		return UnpackStats{}, err
	}
	defer zr.Close()
	ahead := decompressAhead(zr)
	defer ahead.stop() // before zr.Close, and nothing reads r once Unpack returns

	x := &extractor{
		dest:       dest,
		lim:        lim,
		dirs:       make(map[string]*dirMeta),
		leaves:     make(map[string]fs.FileMode),
		buf:        make([]byte, copyBufSize),
		tick:       progressTicker{fn: opt.Progress},
		w:          startWriters(opt.Rewrite, opt.Written),
		relink:     opt.Relink,
		listUnseen: opt.Rewrite != nil || opt.Written != nil,
		readOnly:   opt.ReadOnly,
	}
	// Every return waits for the writers: nothing may write into dest
	// once Unpack has returned, least of all while the caller removes it.
	defer x.w.wait()
	// stats reads src: the decompressor is stopped first.
	stats := func() UnpackStats {
		ahead.stop()
		return x.stats(src)
	}
	// corrupt classifies a failure of the compressed stream: an error
	// reading r is r's, anything else is the archive's.
	corrupt := func(what string, err error) error {
		ahead.stop()
		if src.err != nil {
			return fmt.Errorf("read archive: %w", src.err)
		}
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}

	tr := tar.NewReader(ahead)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return stats(), corrupt("read tar header", err)
		}
		if err := x.w.err(); err != nil {
			return stats(), err
		}
		if err := x.entry(hdr, tr); err != nil {
			if errors.Is(err, errArchiveRead) {
				return stats(), corrupt(hdr.Name, err)
			}
			return stats(), err
		}
	}

	if err := checkEnd(ahead, src, want, corrupt); err != nil {
		return stats(), err
	}
	if err := x.w.wait(); err != nil {
		return stats(), err
	}
	if err := x.finishDirs(); err != nil {
		return stats(), err
	}
	x.tick.done(Progress{Bytes: x.bytes, Files: x.files})
	st := stats()
	st.Dirs = make(map[string]fs.FileMode, len(x.dirs))
	for n, d := range x.dirs {
		st.Dirs[x.path(n)] = d.perm
	}
	return st, nil
}

// orDefault fills in DefaultLimits for the limits not set.
func (l Limits) orDefault() Limits {
	def := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = def.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = def.MaxFiles
	}
	return l
}

// checkEnd reads what follows the tar end marker, which is not the end of
// the archive: the rest (padding, the zstd checksum, anything appended)
// must be read so that the digest covers every byte. Then it checks the
// digest.
func checkEnd(zr *ahead, src *hashingReader, want cas.Digest, corrupt func(string, error) error) error {
	n, err := io.Copy(io.Discard, io.LimitReader(zr, maxTrailing+1))
	if err != nil {
		return corrupt("after tar end", err)
	}
	if n > maxTrailing {
		return corrupt("after tar end", fmt.Errorf("more than %d bytes of trailing data", maxTrailing))
	}
	zr.stop() // done: it met the end of the zstd stream
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("read archive: %w", err)
	}
	if got := sumDigest(src.h); got != want {
		return fmt.Errorf("%w: digest is %s, want %s", ErrCorrupt, got, want)
	}
	return nil
}

// checkEmptyDir makes sure nothing but Unpack's own entries can be in
// dest: the extractor relies on knowing every name it meets.
func checkEmptyDir(dest string) error {
	f, err := os.Open(dest)
	if err != nil {
		return err
	}
	defer f.Close() // read-only directory handle
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dest)
	}
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("%s: destination is not empty", dest)
	}
	return nil
}

// hashingReader hashes and counts everything read through it, and keeps
// the first real read error so that it is not mistaken for corruption.
type hashingReader struct {
	r   io.Reader
	h   *blake3.Hasher
	n   int64
	err error
}

func (s *hashingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.h.Write(p[:n]) // blake3 writes never fail
	s.n += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// errArchiveRead marks a failure reading entry data from the tar stream,
// as opposed to writing it to disk.
var errArchiveRead = errors.New("read entry data")

type dirMeta struct {
	perm     fs.FileMode
	mtime    time.Time
	explicit bool // false for a parent the archive never listed
}

type extractor struct {
	dest string
	lim  Limits
	dirs map[string]*dirMeta // every directory created, by clean name
	// leaves are the files and symlinks extracted so far, by clean name:
	// a file may still be waiting for its writer, so the disk cannot tell.
	leaves map[string]fs.FileMode
	buf    []byte
	files  int64
	bytes  int64
	tick   progressTicker
	w      *writers
	relink func(string) string
	// listUnseen: files the writers' rewrite cannot see are listed in
	// unseen.
	listUnseen bool
	unseen     []string
	readOnly   bool // UnpackOptions.ReadOnly
}

func (x *extractor) stats(src *hashingReader) UnpackStats {
	return UnpackStats{Files: x.files, Bytes: x.bytes, ArchiveBytes: src.n, Unseen: x.unseen}
}

func refuse(name, format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrUnsafe, name, fmt.Sprintf(format, args...))
}

func (x *extractor) entry(hdr *tar.Header, data io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX global headers carry defaults for readers; rezup needs none
	}
	x.files++
	if x.files > x.lim.MaxFiles {
		return refuse(truncName(hdr.Name), "more than %d entries", x.lim.MaxFiles)
	}
	if len(hdr.Name) > maxNameLen {
		return refuse(truncName(hdr.Name), "name longer than %d bytes", maxNameLen)
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return refuse(hdr.Name, "%v", err)
	}
	if hdr.Mode&0o7000 != 0 {
		return refuse(hdr.Name, "setuid, setgid or sticky bit (mode %#o)", hdr.Mode)
	}
	// The archive's mode made canonical, with this user's umask applied,
	// as tar does for a non-root user: a build shared by the admin is
	// readable by all under 022 and 002, private under 077. What the
	// archive says beyond executable or not (0000, a read-only directory)
	// is not the archive's to decide.
	perm := fsx.Perm(CanonicalMode(fs.FileMode(hdr.Mode & 0o777)))
	if x.readOnly {
		perm &^= 0o222
	}
	if hdr.Typeflag == tar.TypeDir {
		perm = dirPerm()
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if name == "" {
			return nil // the root itself ("./"): dest belongs to the caller
		}
		if d, ok := x.dirs[name]; ok {
			*d = dirMeta{perm: perm, mtime: hdr.ModTime, explicit: true}
			return nil
		}
		if err := x.ensureParent(name, hdr.Name); err != nil {
			return err
		}
		return x.mkdir(name, hdr.Name, &dirMeta{perm: perm, mtime: hdr.ModTime, explicit: true})

	case tar.TypeReg:
		if name == "" {
			return refuse(hdr.Name, "a file cannot replace the destination")
		}
		if err := x.ensureParent(name, hdr.Name); err != nil {
			return err
		}
		if err := x.claim(name, hdr.Name, 0); err != nil {
			return err
		}
		return x.writeFile(name, hdr, perm, data)

	case tar.TypeSymlink:
		if name == "" {
			return refuse(hdr.Name, "a symlink cannot replace the destination")
		}
		if hdr.Linkname == "" || len(hdr.Linkname) > maxNameLen || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return refuse(hdr.Name, "symlink target is empty, longer than %d bytes or holds NUL", maxNameLen)
		}
		if err := x.ensureParent(name, hdr.Name); err != nil {
			return err
		}
		if err := x.claim(name, hdr.Name, fs.ModeSymlink); err != nil {
			return err
		}
		return x.symlink(name, hdr)

	case tar.TypeLink:
		return refuse(hdr.Name, "hard link (to %q) refused", truncName(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock:
		return refuse(hdr.Name, "device file refused")
	case tar.TypeFifo:
		return refuse(hdr.Name, "fifo refused")
	default:
		return refuse(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
	}
}

// symlink creates the symlink hdr describes at name, relinked if the
// caller asked, with its mtime.
func (x *extractor) symlink(name string, hdr *tar.Header) error {
	p := x.path(name)
	target := hdr.Linkname
	if x.relink != nil {
		if t := x.relink(target); t != "" {
			target = t
		}
	}
	if err := os.Symlink(target, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return refuse(hdr.Name, "duplicate entry")
		}
		return err
	}
	if err := fsx.Lchtimes(p, hdr.ModTime); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	x.tick.maybe(Progress{Bytes: x.bytes, Files: x.files})
	return nil
}

// claim records name as a file or symlink, refusing a name already used.
func (x *extractor) claim(name, orig string, kind fs.FileMode) error {
	if _, ok := x.dirs[name]; ok {
		return refuse(orig, "duplicate entry")
	}
	if _, ok := x.leaves[name]; ok {
		return refuse(orig, "duplicate entry")
	}
	x.leaves[name] = kind
	return nil
}

func (x *extractor) path(name string) string {
	return filepath.Join(x.dest, filepath.FromSlash(name))
}

// ensureParent makes sure every parent of name is a directory this
// extraction created (or verified), creating missing ones. Because dest
// started empty and nothing is ever replaced, a parent that is not in
// x.dirs and already exists is a file or a symlink: writing through it is
// refused.
func (x *extractor) ensureParent(name, orig string) error {
	parent := path.Dir(name)
	if parent == "." {
		return nil
	}
	if _, ok := x.dirs[parent]; ok {
		return nil
	}
	if err := x.ensureParent(parent, orig); err != nil {
		return err
	}
	return x.mkdir(parent, orig, &dirMeta{perm: dirPerm()})
}

// mkdir creates the directory name (0700 until the final pass gives it
// its mode and mtime). If something is there
// already, it is accepted only when it is a real directory, which happens
// when the filesystem folds case or normalizes Unicode.
func (x *extractor) mkdir(name, orig string, meta *dirMeta) error {
	if kind, ok := x.leaves[name]; ok {
		if kind == fs.ModeSymlink {
			return refuse(orig, "%q is a symlink: writing through it is refused", name)
		}
		return refuse(orig, "%q is not a directory", name)
	}
	p := x.path(name)
	if err := os.Mkdir(p, 0o700); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, lerr := os.Lstat(p)
		switch {
		case lerr != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return refuse(orig, "%q is a symlink: writing through it is refused", name)
		case !fi.IsDir():
			return refuse(orig, "%q is not a directory", name)
		}
	}
	x.dirs[name] = meta
	return nil
}

func (x *extractor) writeFile(name string, hdr *tar.Header, perm fs.FileMode, data io.Reader) (err error) {
	remaining := x.lim.MaxBytes - x.bytes
	if hdr.Size > remaining {
		return refuse(hdr.Name, "%d bytes would take the archive over its limit of %d bytes of file data", hdr.Size, x.lim.MaxBytes)
	}
	p := x.path(name)
	if hdr.Size <= RewriteMax {
		// Read here, on the goroutine that hashes the stream; create and
		// write on a writer, so that file creation overlaps decompression.
		// hdr.Size is the tar reader's bound on data, so a short read is a
		// truncated archive.
		buf := getBuf(hdr.Size)
		b := (*buf)[:hdr.Size]
		if _, err := io.ReadFull(data, b); err != nil {
			putBuf(buf)
			return fmt.Errorf("%w: %w", errArchiveRead, err)
		}
		x.bytes += hdr.Size
		x.tick.maybe(Progress{Bytes: x.bytes, Files: x.files})
		x.w.submit(fileJob{path: p, name: hdr.Name, data: b, buf: buf, perm: perm, mtime: hdr.ModTime})
		return nil
	}
	if x.listUnseen {
		x.unseen = append(x.unseen, p)
	}
	f, err := createNew(p, hdr.Name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close() // already failing; the partial file is the caller's to remove
		}
	}()
	for {
		n, rerr := data.Read(x.buf)
		if n > 0 {
			if int64(n) > remaining {
				return refuse(hdr.Name, "archive holds more than its limit of %d bytes of file data", x.lim.MaxBytes)
			}
			if _, err := f.Write(x.buf[:n]); err != nil {
				return err
			}
			remaining -= int64(n)
			x.bytes += int64(n)
			x.tick.maybe(Progress{Bytes: x.bytes, Files: x.files})
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", errArchiveRead, rerr)
		}
	}
	return finishFile(f, p, perm, hdr.ModTime)
}

// createNew creates the file p, which must not exist. O_EXCL: never open
// an existing name, so never follow a symlink.
func createNew(p, orig string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, refuse(orig, "duplicate entry")
	}
	return f, err
}

// finishFile gives a written file its mode and mtime, and closes it.
func finishFile(f *os.File, p string, perm fs.FileMode, mtime time.Time) error {
	if err := f.Chmod(perm); err != nil {
		f.Close() // already failing; the partial file is the caller's to remove
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fsx.Lchtimes(p, mtime)
}

// fileJob is one small file for a writer to create.
type fileJob struct {
	path, name string
	data       []byte
	buf        *[]byte // what data was read into: back to its pool once written
	perm       fs.FileMode
	mtime      time.Time
}

// Small files are read into buffers used again once written: a build's
// worth of allocations (and the page faults of fresh memory) would
// otherwise be the garbage of every unpack. Two sizes: most files of a
// venv fit the small one.
const smallBuf = 16 << 10

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, RewriteMax); return &b }}
)

// getBuf returns a buffer of at least n (at most RewriteMax) bytes.
func getBuf(n int64) *[]byte {
	if n <= smallBuf {
		return smallBufs.Get().(*[]byte)
	}
	return largeBufs.Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if cap(*b) == smallBuf {
		smallBufs.Put(b)
	} else {
		largeBufs.Put(b)
	}
}

// writers create small files in parallel. Only the reading goroutine
// creates directories and symlinks, and every job's parent is a directory
// it made, before the job was submitted; a job never replaces anything
// (O_EXCL), so the order in which writers run cannot change what is
// refused, only which of two clashing entries is named.
type writers struct {
	rewrite func(path string, data []byte) []byte
	written func(path string, data []byte, perm fs.FileMode)
	jobs    chan fileJob
	wg      sync.WaitGroup
	mu      sync.Mutex
	first   error
	done    bool
}

// unpackWriters is how many goroutines create files: more than the cores,
// since each spends most of its time in the kernel.
const unpackWriters = 4

func startWriters(rewrite func(string, []byte) []byte, written func(string, []byte, fs.FileMode)) *writers {
	w := &writers{rewrite: rewrite, written: written, jobs: make(chan fileJob, 4*unpackWriters)}
	for range unpackWriters {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				w.do(j)
				putBuf(j.buf)
			}
		}()
	}
	return w
}

// write creates the job's file with its mode and mtime: no chmod, and
// none of os.File's set-up, for each of thousands of small files.
func (j fileJob) write() error {
	err := fsx.WriteNew(j.path, j.data, j.perm, j.mtime)
	if errors.Is(err, fs.ErrExist) {
		return refuse(j.name, "duplicate entry")
	}
	return err
}

// do writes the job's file, unless the unpack has failed already.
func (w *writers) do(j fileJob) {
	if w.err() != nil {
		return // drain: the unpack has failed
	}
	if w.rewrite != nil {
		if b := w.rewrite(j.path, j.data); b != nil {
			j.data = b
		}
	}
	if err := j.write(); err != nil {
		w.fail(err)
		return
	}
	if w.written != nil {
		w.written(j.path, j.data, j.perm)
	}
}

func (w *writers) submit(j fileJob) { w.jobs <- j }

func (w *writers) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first == nil {
		w.first = err
	}
}

// err is the first error a writer met, if any.
func (w *writers) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first
}

// wait ends the writers once every submitted file is written, and returns
// their first error. Only the reading goroutine calls it; later calls
// return at once.
func (w *writers) wait() error {
	if !w.done {
		w.done = true
		close(w.jobs)
		w.wg.Wait()
	}
	return w.err()
}

// finishDirs sets directory modes and mtimes, children before parents:
// creating an entry changes its parent's mtime, and a read-only parent
// would refuse the child's changes.
func (x *extractor) finishDirs() error {
	names := make([]string, 0, len(x.dirs))
	for n := range x.dirs {
		names = append(names, n)
	}
	// A parent is a proper prefix of its children, so it sorts before
	// them; reverse order visits children first.
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		d := x.dirs[n]
		p := x.path(n)
		if err := os.Chmod(p, d.perm); err != nil {
			return err
		}
		if d.explicit {
			if err := fsx.Lchtimes(p, d.mtime); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanName turns a tar name into a clean slash-separated relative path
// ("" for the root), refusing anything that could leave the destination.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("name holds NUL")
	}
	if name[0] == '/' {
		return "", errors.New("absolute path")
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", errors.New(`".." component`)
		}
		out = append(out, p)
	}
	clean := strings.Join(out, "/")
	// On Windows this also refuses drive letters, backslashes and
	// reserved names; on Unix the checks above are the whole story.
	if clean != "" && !filepath.IsLocal(filepath.FromSlash(clean)) {
		return "", errors.New("not a relative path")
	}
	return clean, nil
}

// truncName keeps error messages readable when a hostile name is huge.
func truncName(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// progressTicker rate-limits a progress callback. time.Now is cheap
// (vDSO), so checking it per entry costs nothing next to a file create.
type progressTicker struct {
	fn   func(Progress)
	last time.Time
}

func (t *progressTicker) maybe(p Progress) {
	if t.fn == nil {
		return
	}
	if now := time.Now(); now.Sub(t.last) >= progressEvery {
		t.last = now
		t.fn(p)
	}
}

func (t *progressTicker) done(p Progress) {
	if t.fn != nil {
		t.fn(p)
	}
}

// ahead decompresses on its own goroutine, a few chunks ahead of its
// reader (the tar parser), as `zstd -dc | tar -x` does with two
// processes: the decompression runs on one core while the tar stream is
// parsed on another. It reads its source on that one goroutine, in order.
type ahead struct {
	full chan []byte // decompressed chunks, in order
	free chan []byte // chunks read, to fill again
	quit chan struct{}
	done chan struct{}
	once sync.Once
	err  error  // what ended the stream (io.EOF at its end); set before full is closed
	buf  []byte // the chunk being read
	off  int
}

const (
	aheadChunks    = 4
	aheadChunkSize = 128 << 10
)

// errStopped is what an ahead reader returns once stopped.
var errStopped = errors.New("decompression stopped")

func decompressAhead(r io.Reader) *ahead {
	a := &ahead{
		full: make(chan []byte, aheadChunks),
		free: make(chan []byte, aheadChunks),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range aheadChunks {
		a.free <- make([]byte, aheadChunkSize)
	}
	go func() {
		defer close(a.done)
		defer close(a.full)
		for {
			var buf []byte
			select {
			case buf = <-a.free:
			case <-a.quit:
				a.err = errStopped
				return
			}
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				select {
				case a.full <- buf[:n]:
				case <-a.quit:
					a.err = errStopped
					return
				}
			}
			switch {
			case err == io.ErrUnexpectedEOF:
				a.err = io.EOF
				return
			case err != nil:
				a.err = err
				return
			}
		}
	}()
	return a
}

func (a *ahead) Read(p []byte) (int, error) {
	if a.off == len(a.buf) {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)] // never blocks: there are aheadChunks chunks
			a.buf, a.off = nil, 0
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.buf = buf
	}
	n := copy(p, a.buf[a.off:])
	a.off += n
	return n, nil
}

// stop ends the decompression, and returns once its goroutine is done
// (it may be reading the source: stop waits for that read to return).
// The source is the caller's again. It is safe to call more than once.
func (a *ahead) stop() {
	a.once.Do(func() { close(a.quit) })
	<-a.done
}

// zstdReader is the decoder Unpack uses: synchronous, so that every read
// of r happens on the goroutine that reads it (ahead's), and with a
// bounded window.
func zstdReader(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow))
}

// sumDigest finishes a streaming hash.
func sumDigest(h *blake3.Hasher) cas.Digest {
	var d cas.Digest
	h.Sum(d[:0])
	return d
}

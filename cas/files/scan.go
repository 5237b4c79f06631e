package files

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/internal/fsx"
)

// ScanOptions tunes Scan. The zero value is the default.
type ScanOptions struct {
	// Override gives, by path ("dir/file"), the contents to record for
	// regular files instead of what is on disk, as archive.PackOptions
	// does: give Pack the same map.
	Override map[string][]byte
}

// readBufSize is the buffer Scan and Pack read files through.
const readBufSize = 256 << 10

// Scan describes the tree under root, built at prefix: every entry in
// walk order with its canonical mode, and every regular file's size and
// BLAKE3 digest, read on a few goroutines at once; Relocate is set on the
// files whose bytes hold prefix. Contents lists each distinct content
// once, in the order files first have it, with no location yet (Pack
// gives them one). Hard-linked files are read as separate files, which
// share their content.
//
// It refuses, with an error wrapping archive.ErrUnsafe and naming the
// path, what archive.Pack refuses and what Parse would: devices, sockets,
// fifos, setuid, setgid or sticky files, names and symlink targets over
// 4096 bytes, empty symlink targets, and names Parse refuses (a
// backslash, say). A file that changes size while it is read is an error.
func Scan(root, prefix string, opt ScanOptions) (*Index, error) {
	ix, err := scan(root, prefix, opt)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	return ix, nil
}

func scan(root, prefix string, opt ScanOptions) (*Index, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("prefix %q: %v", prefix, err)
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, errors.New("not a directory")
	}
	ix := &Index{Format: Format, Prefix: prefix}
	err = filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if file == root {
			return nil
		}
		e, err := scanEntry(root, file, d)
		if err != nil {
			return err
		}
		ix.Entries = append(ix.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := hashFiles(root, ix, []byte(prefix), opt.Override); err != nil {
		return nil, err
	}
	seen := make(map[cas.Digest]bool)
	for _, e := range ix.Entries {
		if e.Type == File && !seen[e.Content] {
			seen[e.Content] = true
			ix.Contents = append(ix.Contents, Content{Digest: e.Content, Size: e.Size})
		}
	}
	return ix, nil
}

// scanEntry is the entry of file, without a file's digest yet, or the
// archive.ErrUnsafe error that refuses it.
func scanEntry(root, file string, d fs.DirEntry) (Entry, error) {
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return Entry{}, err
	}
	name := filepath.ToSlash(rel)
	if err := checkPath(name); err != nil {
		return Entry{}, fmt.Errorf("%w: %q: %v", archive.ErrUnsafe, truncName(name), err)
	}
	info, err := d.Info()
	if err != nil {
		return Entry{}, err
	}
	mode := info.Mode()
	e := Entry{Path: name}
	switch {
	case mode.IsDir():
		// Setgid and sticky bits on directories come from where a tree
		// was built, not from what was built: dropped, as archive does.
		e.Type, e.Mode = Dir, archive.CanonicalMode(mode)
	case mode.IsRegular():
		if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			return Entry{}, fmt.Errorf("%w: %s: setuid, setgid or sticky bit (mode %s)", archive.ErrUnsafe, name, mode)
		}
		e.Type, e.Mode, e.Size = File, archive.CanonicalMode(mode), info.Size()
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(file)
		if err != nil {
			return Entry{}, err
		}
		if target == "" || len(target) > maxNameLen || strings.IndexByte(target, 0) >= 0 {
			return Entry{}, fmt.Errorf("%w: %s: symlink target is empty or longer than %d bytes", archive.ErrUnsafe, name, maxNameLen)
		}
		e.Type, e.Target = Symlink, target
	default:
		return Entry{}, fmt.Errorf("%w: %s: cannot scan %s (only files, directories and symlinks)", archive.ErrUnsafe, name, fsx.FileKind(mode))
	}
	return e, nil
}

// hashFiles fills in every file's digest and Relocate, reading files on
// a few goroutines: a build is mostly small files, whose cost is opening
// them, so the reads overlap even on one core.
func hashFiles(root string, ix *Index, prefix []byte, override map[string][]byte) error {
	jobs := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newScanner(prefix)
			for i := range jobs {
				e := &ix.Entries[i]
				var err error
				if data, ok := override[e.Path]; ok {
					e.Size = int64(len(data))
					err = s.read(bytes.NewReader(data), e.Size)
				} else {
					err = s.file(filepath.Join(root, filepath.FromSlash(e.Path)), e.Size)
				}
				if err != nil {
					fail(fmt.Errorf("%s: %w", e.Path, err))
					continue
				}
				e.Content, e.Relocate = s.digest(), s.found
			}
		}()
	}
	for i, e := range ix.Entries {
		if e.Type == File {
			jobs <- i
		}
	}
	close(jobs)
	wg.Wait()
	return first
}

// scanner hashes a file and looks for the prefix in it, reading it once
// through one buffer. The buffer keeps the last len(prefix)-1 bytes of
// the previous read in front of the next one, so a prefix cut by a read
// is found whole.
type scanner struct {
	prefix []byte
	buf    []byte
	h      *blake3.Hasher
	found  bool
}

func newScanner(prefix []byte) *scanner {
	return &scanner{prefix: prefix, buf: make([]byte, len(prefix)+readBufSize), h: blake3.New()}
}

func (s *scanner) file(p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close() // read-only: a close error cannot lose data
	return s.read(f, size)
}

// read reads exactly size bytes of r, then checks r has no more: a file
// that grows or shrinks while it is read would not match its digest.
func (s *scanner) read(r io.Reader, size int64) error {
	s.h.Reset()
	s.found = false
	keep := 0 // bytes of the previous read kept in front of buf
	var total int64
	for {
		n, err := r.Read(s.buf[keep:])
		if n > 0 {
			total += int64(n)
			if total > size {
				return fmt.Errorf("file changed while scanning (grew past %d bytes)", size)
			}
			s.h.Write(s.buf[keep : keep+n]) // blake3 writes never fail
			w := s.buf[:keep+n]
			if !s.found && bytes.Contains(w, s.prefix) {
				s.found = true
			}
			keep = min(len(w), len(s.prefix)-1)
			copy(s.buf, w[len(w)-keep:])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if total != size {
		return fmt.Errorf("file changed while scanning (read %d of %d bytes)", total, size)
	}
	return nil
}

func (s *scanner) digest() cas.Digest {
	var d cas.Digest
	s.h.Sum(d[:0])
	return d
}

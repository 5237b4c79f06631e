package pyenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// Report is what Relocate changed, and what it could not.
type Report struct {
	Rewritten  int // text files whose prefix (or shebang) was rewritten
	Retargeted int // absolute symlinks pointed under the new prefix
	// Binary lists files that hold the old prefix but were not patched,
	// because they are binary (compiled extensions, say). The venv may
	// still work; the caller decides whether to warn or refuse.
	Binary []string
}

// binarySniff is how much of a file decides whether it is text: a NUL
// byte in it means binary, as git and grep decide.
const binarySniff = 8 << 10

// scanChunk is the read size when searching a binary file, which may be
// large (compiled libraries), for the prefix.
const scanChunk = 1 << 20

// Relocate rewrites a venv tree under root that was built at oldPrefix so
// that it works at newPrefix:
//
//   - text files have every occurrence of oldPrefix that ends on a path
//     boundary replaced ("/a/b" matches "/a/b", "/a/b/x" and "'/a/b'", not
//     "/a/bc"); a script whose "#!" interpreter is inside oldPrefix gets a
//     new header from Shebang with the same flags, so it switches between
//     the plain and the /bin/sh form as the new length requires;
//   - absolute symlinks into oldPrefix are retargeted under newPrefix
//     (relative ones need nothing);
//   - .pyc files are skipped: they hold paths only in co_filename, which
//     CPython corrects on import;
//   - other binary files holding oldPrefix are listed in Report.Binary and
//     left alone.
//
// Each rewritten file keeps its mode and mtime (.pyc files are checked
// against their source's mtime) and is replaced through a temp file and a
// rename. Symlink mtimes are not kept. Nothing is synced: root is a staged
// tree, and the caller syncs it once (fsx.SyncTree) before publishing it.
//
// An unpacker that holds each file's bytes anyway relocates them on the
// way through a Relocator instead, and reads nothing twice.
func Relocate(root, oldPrefix, newPrefix string) (Report, error) {
	r, err := NewRelocator(oldPrefix, newPrefix)
	if err != nil {
		return Report{}, err
	}
	if r == nil {
		return Report{}, nil
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return r.symlink(path)
		case t.IsRegular():
			return r.File(path)
		}
		return nil
	})
	if err != nil {
		return r.Report(), fmt.Errorf("relocate %s from %s to %s: %w", root, r.old, r.new, err)
	}
	return r.Report(), nil
}

// A Relocator applies Relocate's rules one file or link at a time, for
// callers that meet the files one by one. Its methods are safe for
// concurrent use.
type Relocator struct {
	old, new   string
	oldB, newB []byte

	mu  sync.Mutex
	rep Report
}

// NewRelocator returns a Relocator from oldPrefix to newPrefix, or nil
// when the two are the same and there is nothing to do.
func NewRelocator(oldPrefix, newPrefix string) (*Relocator, error) {
	if oldPrefix == "" || newPrefix == "" {
		return nil, errors.New("relocate: empty prefix")
	}
	r := &Relocator{old: filepath.Clean(oldPrefix), new: filepath.Clean(newPrefix)}
	if !filepath.IsAbs(r.old) || !filepath.IsAbs(r.new) {
		return nil, fmt.Errorf("relocate %s to %s: prefixes must be absolute", oldPrefix, newPrefix)
	}
	if r.old == filepath.Dir(r.old) {
		return nil, fmt.Errorf("relocate: refusing a filesystem root (%s) as the old prefix", r.old)
	}
	if r.old == r.new {
		return nil, nil
	}
	r.oldB = []byte(r.old)
	r.newB = []byte(r.new)
	return r, nil
}

// Report is what the Relocator has changed so far, and what it could not.
func (r *Relocator) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.Binary = slices.Clone(r.rep.Binary)
	return rep
}

// Content relocates the whole contents of the file at path (which names
// it in the report): it returns the new contents, or nil when the file
// stays as it is.
func (r *Relocator) Content(path string, data []byte) []byte {
	if IsBytecode(path) {
		return nil
	}
	head := data[:min(len(data), binarySniff)]
	if bytes.IndexByte(head, 0) >= 0 {
		if r.next(data, 0, true, true) >= 0 {
			r.binary(path)
		}
		return nil
	}
	if !bytes.Contains(data, r.oldB) {
		return nil
	}
	out := r.rewrite(data)
	if out != nil {
		r.mu.Lock()
		r.rep.Rewritten++
		r.mu.Unlock()
	}
	return out
}

// Target returns where a symlink pointing at target must point instead,
// or "" when it stays as it is.
func (r *Relocator) Target(target string) string {
	if !filepath.IsAbs(target) || !r.inside(target) {
		return ""
	}
	r.mu.Lock()
	r.rep.Retargeted++
	r.mu.Unlock()
	return r.new + target[len(r.old):]
}

// IsBytecode reports a compiled Python file, which relocation leaves
// alone: its paths are only in co_filename, which CPython corrects on
// import. Such a file is the same bytes under any prefix, so builds may
// share it even when it names the prefix it was compiled under.
func IsBytecode(path string) bool {
	ext := filepath.Ext(path)
	return ext == ".pyc" || ext == ".pyo"
}

func (r *Relocator) binary(path string) {
	r.mu.Lock()
	r.rep.Binary = append(r.rep.Binary, path)
	r.mu.Unlock()
}

// inside reports whether the absolute path p is oldPrefix or under it.
func (r *Relocator) inside(p string) bool {
	if !strings.HasPrefix(p, r.old) {
		return false
	}
	if len(p) == len(r.old) {
		return true
	}
	c := p[len(r.old)]
	return c == '/' || c == filepath.Separator
}

func (r *Relocator) symlink(path string) error {
	target, err := os.Readlink(path)
	if err != nil {
		return err
	}
	newTarget := r.Target(target)
	if newTarget == "" {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), fsx.RandomName("."+filepath.Base(path)+".")+fsx.TempSuffix)
	if err := os.Symlink(newTarget, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp) // best effort: readers skip temp names
		return err
	}
	return nil
}

// File relocates one regular file on disk: a text file holding the old
// prefix is rewritten; a binary one is searched in bounded chunks and, if
// it holds the prefix, reported.
func (r *Relocator) File(path string) error {
	if IsBytecode(path) {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close() // read-only; a close error loses nothing
	info, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, binarySniff)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return err
	}
	head = head[:n]
	if bytes.IndexByte(head, 0) >= 0 {
		found, err := r.scan(io.MultiReader(bytes.NewReader(head), f))
		if found {
			r.binary(path)
		}
		return err
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	out := r.Content(path, append(head, rest...))
	if out == nil {
		return nil
	}
	mode := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if err := fsx.ReplaceStaged(path, out, mode); err != nil {
		return err
	}
	// A zero atime leaves it as the rename left it; only mtime matters.
	return os.Chtimes(path, time.Time{}, info.ModTime())
}

// rewrite returns data with the prefix replaced, or nil if nothing
// changed.
func (r *Relocator) rewrite(data []byte) []byte {
	var out []byte
	body := data
	if interp, flags, n, ok := parseShebang(data); ok && r.inside(interp) {
		out = append(out, Shebang(r.new+interp[len(r.old):], flags)...)
		body = data[n:]
	}
	pos := 0
	for {
		i := r.next(body, pos, true, true)
		if i < 0 {
			break
		}
		out = append(out, body[pos:i]...)
		out = append(out, r.newB...)
		pos = i + len(r.oldB)
	}
	out = append(out, body[pos:]...)
	if bytes.Equal(out, data) {
		return nil
	}
	return out
}

// scan reports whether a stream holds the prefix on a path boundary,
// reading it in bounded chunks. A window keeps the previous chunk's last
// len(prefix)+1 bytes, so a match cut by a chunk edge is judged whole in
// the next window.
func (r *Relocator) scan(rd io.Reader) (bool, error) {
	chunk := make([]byte, scanChunk)
	var window []byte
	keep := len(r.oldB) + 1
	for first := true; ; first = false {
		n, err := io.ReadFull(rd, chunk)
		final := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !final {
			return false, err
		}
		window = append(window, chunk[:n]...)
		if r.next(window, 0, first, final) >= 0 {
			return true, nil
		}
		if final {
			return false, nil
		}
		if len(window) > keep {
			window = append(window[:0], window[len(window)-keep:]...)
		}
	}
}

// next returns the index of the first occurrence of the old prefix in
// data at or after from that sits on path boundaries, or -1. The edges of
// data count as boundaries only when startEdge/endEdge say data really
// starts/ends there (and not at a chunk cut).
func (r *Relocator) next(data []byte, from int, startEdge, endEdge bool) int {
	for from <= len(data) {
		j := bytes.Index(data[from:], r.oldB)
		if j < 0 {
			return -1
		}
		i := from + j
		end := i + len(r.oldB)
		okStart := (i == 0 && startEdge) || (i > 0 && !isNameByte(data[i-1]))
		okEnd := (end == len(data) && endEdge) || (end < len(data) && !isNameByte(data[end]))
		if okStart && okEnd {
			return i
		}
		from = i + 1
	}
	return -1
}

// isNameByte reports whether c can continue a file name, so that a prefix
// next to it is part of a longer, different name ("/a/bc", "/a/b.txt",
// "./a/b"). Separators, quotes, blanks, ':', ';', '=' and ',' are
// boundaries.
func isNameByte(c byte) bool {
	switch {
	case c >= 0x80, 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._-+~@%", c) >= 0
}

// ScriptInterpreter is the interpreter a script's header names: a plain
// "#!python flags" line, or the python of the /bin/sh trampoline pip and
// Shebang write when that line would not fit. ok is false for anything
// else (a binary, a script without a header).
func ScriptInterpreter(header []byte) (interp string, ok bool) {
	interp, _, _, ok = parseShebang(header)
	return interp, ok
}

// parseShebang reads the interpreter and flags of a script's header, in
// the plain "#!python flags" form or the /bin/sh form Shebang writes (and
// distlib, whose form lacks the final newline). n is the header's length
// in bytes. ok is false when data has no "#!" header.
func parseShebang(data []byte) (interp string, flags []string, n int, ok bool) {
	if !bytes.HasPrefix(data, []byte("#!")) {
		return "", nil, 0, false
	}
	line1, rest, nl := bytes.Cut(data, []byte("\n"))
	n = len(line1)
	if nl {
		n++
	}
	if string(bytes.TrimRight(line1, "\r \t")) == "#!/bin/sh" {
		line2, rest2, nl2 := bytes.Cut(rest, []byte("\n"))
		const pre, post = "'''exec' ", ` "$0" "$@"`
		s := strings.TrimRight(string(line2), "\r")
		if nl2 && strings.HasPrefix(s, pre) && strings.HasSuffix(s, post) && bytes.HasPrefix(rest2, []byte("' '''")) {
			word, more, wok := shWord(s[len(pre) : len(s)-len(post)])
			if wok && word != "" {
				n += len(line2) + 1 + len("' '''")
				if bytes.HasPrefix(rest2[len("' '''"):], []byte("\n")) {
					n++
				}
				return word, strings.Fields(more), n, true
			}
		}
	}
	fields := strings.Fields(string(line1[2:]))
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	return fields[0], fields[1:], n, true
}

// shWord splits the first sh word off s: a double-quoted string (as
// shQuote writes it) or a run of non-blank bytes.
func shWord(s string) (word, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		word, rest, _ = strings.Cut(s, " ")
		return word, rest, true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
				i++
				b.WriteByte(s[i])
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

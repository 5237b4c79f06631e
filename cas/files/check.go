package files

import (
	"cmp"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rezup/rezup/cas"
)

// maxNameLen bounds paths, prefixes and symlink targets (PATH_MAX on
// Linux), as an archive bounds its names.
const maxNameLen = 4096

// minFrameLen is the shortest a zstd frame can be: magic number, frame
// header descriptor, window descriptor and one empty block's header.
const minFrameLen = 9

// emptyDigest is the digest of no bytes (cas.DigestOf(nil)): the content
// of every empty file. It is written out so that no process hashes at
// init; TestEmptyDigest checks it.
var emptyDigest = cas.Digest{
	0xaf, 0x13, 0x49, 0xb9, 0xf5, 0xf9, 0xa1, 0xa6,
	0xa0, 0x40, 0x4d, 0xea, 0x36, 0xdc, 0xc9, 0x49,
	0x9b, 0xcb, 0x25, 0xc9, 0xad, 0xc1, 0x12, 0xb7,
	0xcc, 0x9a, 0x93, 0xca, 0xe4, 0x1f, 0x32, 0x62,
}

// corrupt is the error of an index that breaks a rule.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// check enforces Parse's rules on ix.
func check(ix *Index, lim Limits) error {
	if ix.Format != Format {
		return corrupt("format %q, want %q", truncName(ix.Format), Format)
	}
	if err := checkPrefix(ix.Prefix); err != nil {
		return corrupt("prefix %q: %v", truncName(ix.Prefix), err)
	}
	if int64(len(ix.Entries)) > lim.MaxFiles {
		return corrupt("%d entries, over the limit of %d", len(ix.Entries), lim.MaxFiles)
	}
	contents := make(map[cas.Digest]int, len(ix.Contents))
	for i, c := range ix.Contents {
		if _, dup := contents[c.Digest]; dup {
			return corrupt("content %s listed twice", c.Digest)
		}
		contents[c.Digest] = i
	}
	used := make([]bool, len(ix.Contents))
	dirs := make(map[string]bool)
	var bytes int64
	for i, e := range ix.Entries {
		if err := checkPath(e.Path); err != nil {
			return corrupt("entry %q: %v", truncName(e.Path), err)
		}
		if i > 0 && walkCompare(ix.Entries[i-1].Path, e.Path) >= 0 {
			return corrupt("entry %q: after %q: out of walk order or duplicated", e.Path, ix.Entries[i-1].Path)
		}
		if parent := path.Dir(e.Path); parent != "." && !dirs[parent] {
			return corrupt("entry %q: its parent is not a directory listed before it", e.Path)
		}
		if err := checkEntry(e); err != nil {
			return corrupt("entry %q: %v", e.Path, err)
		}
		switch e.Type {
		case Dir:
			dirs[e.Path] = true
		case File:
			ci, ok := contents[e.Content]
			if !ok {
				return corrupt("entry %q: content %s is not listed", e.Path, e.Content)
			}
			if c := ix.Contents[ci]; c.Size != e.Size {
				return corrupt("entry %q: %d bytes, its content %s has %d", e.Path, e.Size, e.Content, c.Size)
			}
			used[ci] = true
			if e.Size > lim.MaxBytes-bytes {
				return corrupt("entry %q: %d bytes would take the index over its limit of %d bytes of file data", e.Path, e.Size, lim.MaxBytes)
			}
			bytes += e.Size
		}
	}
	for i, u := range used {
		if !u {
			return corrupt("content %s: no file has it", ix.Contents[i].Digest)
		}
	}
	return checkLocations(ix, lim)
}

// checkPrefix accepts a clean absolute path that is not a filesystem
// root: the path a tree was built at.
func checkPrefix(p string) error {
	switch {
	case p == "", len(p) > maxNameLen, strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("empty, longer than %d bytes or holds NUL", maxNameLen)
	case !filepath.IsAbs(p) || filepath.Clean(p) != p:
		return fmt.Errorf("not a clean absolute path")
	case filepath.Dir(p) == p:
		return fmt.Errorf("a filesystem root")
	}
	return nil
}

// checkPath accepts a relative, slash-separated path whose every segment
// names something inside the tree, on every OS.
func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case len(p) > maxNameLen:
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("holds NUL")
	case strings.IndexByte(p, '\\') >= 0:
		return fmt.Errorf("holds a backslash")
	case p[0] == '/':
		return fmt.Errorf("absolute path")
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
			return fmt.Errorf("empty or %q segment", ".")
		case "..":
			return fmt.Errorf("%q segment", "..")
		}
	}
	// On Windows this also refuses drive letters and reserved names; on
	// Unix the checks above are the whole story.
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return fmt.Errorf("not a local path")
	}
	return nil
}

// checkEntry checks what an entry of its type may hold.
func checkEntry(e Entry) error {
	var zero cas.Digest
	switch e.Type {
	case Dir:
		if e.Mode != 0o755 {
			return fmt.Errorf("directory mode %#o, want 0755", uint32(e.Mode))
		}
		if e.Size != 0 || e.Content != zero || e.Target != "" || e.Relocate {
			return fmt.Errorf("a directory has no size, content, target or relocation")
		}
	case File:
		if e.Mode != 0o644 && e.Mode != 0o755 {
			return fmt.Errorf("file mode %#o, want 0644 or 0755", uint32(e.Mode))
		}
		if e.Size < 0 {
			return fmt.Errorf("negative size")
		}
		if e.Target != "" {
			return fmt.Errorf("a file has no target")
		}
	case Symlink:
		if e.Mode != 0 {
			return fmt.Errorf("symlink mode %#o, want none", uint32(e.Mode))
		}
		if e.Size != 0 || e.Content != zero || e.Relocate {
			return fmt.Errorf("a symlink has no size, content or relocation")
		}
		if e.Target == "" || len(e.Target) > maxNameLen || strings.IndexByte(e.Target, 0) >= 0 {
			return fmt.Errorf("symlink target is empty, longer than %d bytes or holds NUL", maxNameLen)
		}
	default:
		return fmt.Errorf("type %q (want dir, file or symlink)", truncName(string(e.Type)))
	}
	return nil
}

// walkCompare orders paths as a lexical walk visits them: a directory's
// whole subtree comes before its next sibling. That is byte order with
// "/" sorting before every other byte.
func walkCompare(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}

// frameKey names a frame: its pack and offset.
type frameKey struct {
	pack   int
	offset int64
}

// checkLocations checks where the contents are: inside their packs, in
// frames that do not overlap, without overlapping one another.
func checkLocations(ix *Index, lim Limits) error {
	packs := make(map[cas.Digest]bool, len(ix.Packs))
	for _, p := range ix.Packs {
		if packs[p.Digest] {
			return corrupt("pack %s listed twice", p.Digest)
		}
		packs[p.Digest] = true
		if p.Size <= 0 {
			return corrupt("pack %s: size %d", p.Digest, p.Size)
		}
	}
	packUsed := make([]bool, len(ix.Packs))
	frames := make(map[frameKey][]Content)
	for _, c := range ix.Contents {
		if c.Size < 0 || c.Size == 0 && c.Digest != emptyDigest {
			return corrupt("content %s: size %d", c.Digest, c.Size)
		}
		if c.Pack < 0 || c.Pack >= len(ix.Packs) {
			return corrupt("content %s: pack %d of %d", c.Digest, c.Pack, len(ix.Packs))
		}
		p := ix.Packs[c.Pack]
		if c.Offset < 0 || c.Length < minFrameLen || c.Length > p.Size || c.Offset > p.Size-c.Length {
			return corrupt("content %s: frame of %d bytes at %d is not inside pack %s of %d bytes", c.Digest, c.Length, c.Offset, p.Digest, p.Size)
		}
		if c.Skip < 0 || c.Skip > 0 && (c.Skip > MaxFrameSize || c.Size > MaxFrameSize-c.Skip) {
			return corrupt("content %s: %d bytes at %d in its frame, past %d", c.Digest, c.Size, c.Skip, MaxFrameSize)
		}
		packUsed[c.Pack] = true
		k := frameKey{c.Pack, c.Offset}
		frames[k] = append(frames[k], c)
	}
	for i, u := range packUsed {
		if !u {
			return corrupt("pack %s: no content is in it", ix.Packs[i].Digest)
		}
	}
	keys := make([]frameKey, 0, len(frames))
	for k := range frames {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b frameKey) int {
		return cmp.Or(cmp.Compare(a.pack, b.pack), cmp.Compare(a.offset, b.offset))
	})
	var extents int64
	for i, k := range keys {
		cs := frames[k]
		length := cs[0].Length
		if i > 0 && keys[i-1].pack == k.pack && k.offset < keys[i-1].offset+frames[keys[i-1]][0].Length {
			return corrupt("pack %s: frames at %d and %d overlap", ix.Packs[k.pack].Digest, keys[i-1].offset, k.offset)
		}
		slices.SortFunc(cs, func(a, b Content) int { return cmp.Compare(a.Skip, b.Skip) })
		var end int64
		for j, c := range cs {
			if c.Length != length {
				return corrupt("pack %s: frame at %d is %d bytes long for content %s, %d for %s", ix.Packs[k.pack].Digest, k.offset, length, cs[0].Digest, c.Length, c.Digest)
			}
			if j > 0 && c.Skip < end {
				return corrupt("pack %s: contents %s and %s overlap in the frame at %d", ix.Packs[k.pack].Digest, cs[j-1].Digest, c.Digest, k.offset)
			}
			end = c.Skip + c.Size
		}
		// end is at most MaxFrameSize for a frame of several contents, at
		// most a file's size (within MaxBytes) for a frame of one.
		if end > lim.MaxBytes-extents {
			return corrupt("frames decompress to more than the limit of %d bytes", lim.MaxBytes)
		}
		extents += end
	}
	return nil
}

// truncName keeps error messages readable when a hostile name is huge.
func truncName(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

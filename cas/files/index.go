package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/internal/fsx"
)

// Format is the format name an index records; Parse refuses any other.
const Format = "rezup-index/1"

// ErrCorrupt means an index or a pack is not what was published, or not
// what rezup writes: the digest does not match, the bytes do not
// decompress or decode, the index breaks a rule Parse enforces, or a
// content read from a pack does not hash to its digest. It wraps
// archive.ErrCorrupt, so a caller that refuses a bad archive refuses
// these the same way. Fetching again may help; using it never does.
var ErrCorrupt = fsx.Sentinel("file index or pack", archive.ErrCorrupt)

// Type is the kind of an entry.
type Type string

// The three kinds of entry an index holds; Parse refuses any other.
const (
	Dir     Type = "dir"
	File    Type = "file"
	Symlink Type = "symlink"
)

// Index describes a build's tree: every entry, every distinct content
// once, and the packs that hold them.
type Index struct {
	Format string `json:"format"`
	// Prefix is the absolute path the tree was built at: a node that
	// materializes it elsewhere relocates from it.
	Prefix   string    `json:"prefix"`
	Entries  []Entry   `json:"entries,omitempty"`
	Contents []Content `json:"contents,omitempty"`
	Packs    []PackRef `json:"packs,omitempty"`
}

// Entry is one directory, regular file or symlink of the tree. Entries
// come in the order a lexical walk of the tree visits them (the order of
// an archive), the root itself excluded.
type Entry struct {
	// Path is relative to the tree, slash-separated.
	Path string `json:"path"`
	Type Type   `json:"type"`
	// Mode is archive.CanonicalMode's: 0755 for a directory, 0755 or
	// 0644 for a file; a symlink has none (0).
	Mode fs.FileMode `json:"mode"`
	// Size and Content are a file's: its length and the BLAKE3-256 of
	// its bytes, which Contents lists.
	Size    int64      `json:"size,omitempty"`
	Content cas.Digest `json:"content,omitzero"`
	// Target is a symlink's, as it is on disk.
	Target string `json:"target,omitempty"`
	// Relocate says a file's bytes hold Prefix: a node that materializes
	// the tree elsewhere writes a relocated copy of it, never a link.
	Relocate bool `json:"relocate,omitempty"`
}

// Content is a distinct file content and where it is stored: the zstd
// frame at Offset in pack Packs[Pack], Length bytes long, which holds the
// content Skip bytes into what it decompresses to. Frames are
// self-contained: one ranged read of a frame is enough to decompress it.
type Content struct {
	Digest cas.Digest `json:"digest"`
	Size   int64      `json:"size"`
	Pack   int        `json:"pack"`
	Offset int64      `json:"offset"`
	Length int64      `json:"length"`
	Skip   int64      `json:"skip"`
}

// PackRef names a pack: the BLAKE3-256 of its bytes, and their number.
type PackRef struct {
	Digest cas.Digest `json:"digest"`
	Size   int64      `json:"size"`
}

// Limits bounds what Parse accepts. A zero field means the DefaultLimits
// value for that field.
type Limits struct {
	// MaxFiles bounds the number of entries of any kind, as
	// archive.Limits does.
	MaxFiles int64
	// MaxBytes bounds the file bytes the index describes (every file
	// counted, as an archive holds them), and, separately, the bytes its
	// frames decompress to, counted up to the end of the last content
	// each one holds.
	MaxBytes int64
	// MaxIndexSize bounds the index, compressed and decompressed.
	MaxIndexSize int64
}

// DefaultLimits is archive.DefaultLimits for files and bytes, and 256
// MiB for the index (a million entries of about 250 bytes of JSON each).
func DefaultLimits() Limits {
	a := archive.DefaultLimits()
	return Limits{MaxFiles: a.MaxFiles, MaxBytes: a.MaxBytes, MaxIndexSize: 256 << 20}
}

func (l Limits) orDefault() Limits {
	def := DefaultLimits()
	if l.MaxFiles <= 0 {
		l.MaxFiles = def.MaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = def.MaxBytes
	}
	if l.MaxIndexSize <= 0 {
		l.MaxIndexSize = def.MaxIndexSize
	}
	return l
}

// Marshal encodes ix as rezup stores it: canonical JSON (encoding/json
// of these types: fields in a fixed order, no spaces) compressed with
// zstd, and returns the bytes with their digest, which a pin or a
// signature covers. The same index always encodes to the same bytes. It
// refuses, wrapping ErrCorrupt, an index Parse would refuse within
// DefaultLimits, so that nothing is published that a node refuses.
func Marshal(ix *Index) ([]byte, cas.Digest, error) {
	if err := check(ix, DefaultLimits()); err != nil {
		return nil, cas.Digest{}, fmt.Errorf("marshal index: %w", err)
	}
	js, err := json.Marshal(ix)
	if err != nil {
		return nil, cas.Digest{}, fmt.Errorf("marshal index: %w", err)
	}
	data := indexEncoder().EncodeAll(js, nil)
	return data, cas.DigestOf(data), nil
}

// indexEncoder compresses indexes: EncodeAll is deterministic and safe
// for concurrent use. Made on first use: every rezup start links this
// package, and only a publish encodes an index.
var indexEncoder = sync.OnceValue(func() *zstd.Encoder {
	return mustEncoder(zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
})

func mustEncoder(opts ...zstd.EOption) *zstd.Encoder {
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		panic(err) // the options are constants
	}
	return e
}

// Parse decodes an index Marshal wrote. It checks that data hashes to want
// before it decodes anything, then decompresses within lim (a window of
// at most 8 MiB, at most lim.MaxIndexSize bytes) and decodes strictly
// (no unknown fields, nothing after the index). Then it refuses, as
// Unpack refuses a hostile archive, whatever a node must not trust:
//
//   - a format other than Format; a prefix that is not a clean absolute
//     path other than a filesystem root;
//   - paths that are empty, absolute, longer than 4096 bytes, or hold
//     NUL, a backslash, or an empty, "." or ".." segment; entries out of
//     walk order or duplicated; an entry whose parent is not a directory
//     entry listed before it (so nothing goes through a symlink or a
//     file);
//   - types other than Dir, File and Symlink; modes other than the
//     canonical ones (no setuid, setgid or sticky bit); a size, content
//     or target on an entry of a type that has none; Relocate on
//     anything but a file; symlink targets that are empty, longer than
//     4096 bytes or hold NUL (they may point anywhere, as an archive's);
//   - a file whose content Contents does not list with its size; a
//     content listed twice or that no file has; an empty content whose
//     digest is not that of nothing;
//   - a location outside its pack, a frame shorter than a zstd frame
//     can be, two frames that overlap or disagree on a frame's length,
//     two contents that overlap in a frame, a content after the start of
//     a frame that ends past MaxFrameSize; a pack listed twice, empty, or
//     that no content is in;
//   - more entries than lim.MaxFiles, more file bytes or more
//     decompressed frame bytes than lim.MaxBytes.
//
// Every error wraps ErrCorrupt.
func Parse(data []byte, want cas.Digest, lim Limits) (*Index, error) {
	lim = lim.orDefault()
	if got := cas.DigestOf(data); got != want {
		return nil, fmt.Errorf("%w: index digest is %s, want %s", ErrCorrupt, got, want)
	}
	if int64(len(data)) > lim.MaxIndexSize {
		return nil, fmt.Errorf("%w: index %s: %d bytes, over the limit of %d", ErrCorrupt, want, len(data), lim.MaxIndexSize)
	}
	ix, err := decode(data, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: index %s: %v", ErrCorrupt, want, err)
	}
	if err := check(ix, lim); err != nil {
		return nil, fmt.Errorf("index %s: %w", want, err)
	}
	return ix, nil
}

// decode decompresses and decodes an index, bounded by lim.
func decode(data []byte, lim Limits) (*Index, error) {
	zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(maxWindow))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	// Marshal's frame states its size: the buffer is made that size
	// once (within the limit, which the read enforces whatever the
	// header says), not grown and copied to it.
	var js bytes.Buffer
	var h zstd.Header
	if h.Decode(data) == nil && h.HasFCS && h.FrameContentSize < uint64(lim.MaxIndexSize) {
		js.Grow(int(h.FrameContentSize) + bytes.MinRead)
	}
	if _, err := js.ReadFrom(io.LimitReader(zr, lim.MaxIndexSize+1)); err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if int64(js.Len()) > lim.MaxIndexSize {
		return nil, fmt.Errorf("decompresses to more than %d bytes", lim.MaxIndexSize)
	}
	if ix, ok := decodeCanonical(js.Bytes()); ok {
		return ix, nil
	}
	dec := json.NewDecoder(&js)
	dec.DisallowUnknownFields()
	var ix Index
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode: data after the index")
	}
	return &ix, nil
}

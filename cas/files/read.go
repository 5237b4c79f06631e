package files

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/rezup/rezup/cas"
)

// Range is one ranged read of a pack: Length bytes at Offset, which hold
// Frames, in order.
type Range struct {
	Pack   PackRef
	Offset int64
	Length int64
	Frames []Frame
}

// Frame is a frame a Range reads, with the contents needed from it, in
// the order they come out of it (by Skip).
type Frame struct {
	Offset   int64
	Length   int64
	Contents []Content
}

// Plan returns the ranged reads that fetch the contents of ix that need
// says are needed: per pack, in the order ix.Packs lists them, the frames
// that hold a needed content, by offset, and frames no more than gap bytes
// apart merged into one Range (their gap is read and dropped), so that a
// node's requests grow with the packs it touches, not with the files it
// lacks. A gap of about what one request costs in bytes (a few hundred
// KiB) trades them well. A content no index lists more than once is
// planned once; an index with nothing needed plans nothing.
func Plan(ix *Index, need func(Content) bool, gap int64) []Range {
	frames := make(map[frameKey]*Frame)
	var keys []frameKey
	for _, c := range ix.Contents {
		if !need(c) {
			continue
		}
		k := frameKey{c.Pack, c.Offset}
		f, ok := frames[k]
		if !ok {
			f = &Frame{Offset: c.Offset, Length: c.Length}
			frames[k] = f
			keys = append(keys, k)
		}
		f.Contents = append(f.Contents, c)
	}
	slices.SortFunc(keys, func(a, b frameKey) int {
		return cmp.Or(cmp.Compare(a.pack, b.pack), cmp.Compare(a.offset, b.offset))
	})
	var out []Range
	for i, k := range keys {
		f := frames[k]
		slices.SortFunc(f.Contents, func(a, b Content) int { return cmp.Compare(a.Skip, b.Skip) })
		if i > 0 && keys[i-1].pack == k.pack {
			last := &out[len(out)-1]
			if end := last.Offset + last.Length; f.Offset-end <= gap {
				last.Length = f.Offset + f.Length - last.Offset
				last.Frames = append(last.Frames, *f)
				continue
			}
		}
		out = append(out, Range{Pack: ix.Packs[k.pack], Offset: f.Offset, Length: f.Length, Frames: []Frame{*f}})
	}
	return out
}

// ReadRange reads one Range Plan made from r, which holds the pack's bytes
// from rg.Offset on (the body of a ranged read), and calls fn with each
// content the range holds, in order, and a reader of its bytes. It reads
// exactly rg.Length bytes of r: the gaps between frames and the rest of a
// frame after its last needed content are read and dropped, never
// decompressed.
//
// Nothing a pack says is trusted beyond what the index says: frames are
// decompressed with a window of at most 8 MiB, and only up to the end of
// the last needed content in each (a frame that would decompress to more
// costs no more); each content's bytes are hashed as fn reads them. The
// reader fn gets ends with io.EOF only once the content's Size bytes hash
// to its digest: otherwise its last read returns no bytes and an error
// wrapping ErrCorrupt that names the content, and so does ReadRange. fn
// must not trust what it read before its reader returned io.EOF. What fn
// leaves unread is read and checked after it returns.
//
// A range that ends early, or frames that do not decompress, wrap
// ErrCorrupt; an error reading r is returned as it is; fn's error is
// returned as it is (wrapped with the pack and content it was called
// for).
func ReadRange(r io.Reader, rg Range, fn func(c Content, r io.Reader) error) error {
	if err := readRange(r, rg, fn); err != nil {
		return fmt.Errorf("read pack %s at %d: %w", rg.Pack.Digest, rg.Offset, err)
	}
	return nil
}

func readRange(r io.Reader, rg Range, fn func(Content, io.Reader) error) error {
	if err := rg.check(); err != nil {
		return err
	}
	src := &rangeReader{r: r}
	// Concurrency 1: every read of r happens on this goroutine, in
	// order, and nothing is decompressed ahead of what is asked for.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(maxWindow))
	if err != nil {
		return err
	}
	defer dec.Close()
	// fail classifies a failure: an error reading r is r's, an early end
	// of r is a truncated range, anything else is the pack's.
	fail := func(what string, err error) error {
		switch {
		case src.err != nil:
			return src.err
		case src.eof:
			return fmt.Errorf("%w: %s: the range ends after %d of %d bytes", ErrCorrupt, what, src.n, rg.Length)
		}
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}
	pos := rg.Offset
	for _, f := range rg.Frames {
		if _, err := io.CopyN(io.Discard, src, f.Offset-pos); err != nil {
			return fail(fmt.Sprintf("gap before the frame at %d", f.Offset), err)
		}
		frame := &io.LimitedReader{R: src, N: f.Length}
		if err := dec.Reset(frame); err != nil {
			return fail(f.name(), err)
		}
		var out int64 // decompressed bytes read from the frame so far
		for _, c := range f.Contents {
			if _, err := io.CopyN(io.Discard, dec, c.Skip-out); err != nil {
				return fail(fmt.Sprintf("frame at %d, before content %s", f.Offset, c.Digest), err)
			}
			cr := &verifier{r: dec, c: c, left: c.Size, h: blake3.New(), fail: fail, frame: f.Offset}
			ferr := fn(c, cr)
			if cr.err == nil && ferr == nil {
				_, ferr = io.Copy(io.Discard, cr)
			}
			if cr.err != nil {
				return cr.err
			}
			if ferr != nil {
				return fmt.Errorf("content %s: %w", c.Digest, ferr)
			}
			out = c.Skip + c.Size
		}
		// The rest of the frame is not decompressed: the frame's bytes
		// are read past.
		if _, err := io.Copy(io.Discard, frame); err != nil {
			return fail(f.name(), err)
		}
		if frame.N > 0 {
			return fail(f.name(), io.ErrUnexpectedEOF)
		}
		pos = f.Offset + f.Length
	}
	if _, err := io.CopyN(io.Discard, src, rg.Offset+rg.Length-pos); err != nil {
		return fail("after the last frame", err)
	}
	return nil
}

// name names a frame in errors, by the contents needed from it: what
// the caller knows.
func (f Frame) name() string {
	switch len(f.Contents) {
	case 0:
		return fmt.Sprintf("frame at %d", f.Offset)
	case 1:
		return fmt.Sprintf("frame at %d (content %s)", f.Offset, f.Contents[0].Digest)
	}
	return fmt.Sprintf("frame at %d (contents %s and %d more)", f.Offset, f.Contents[0].Digest, len(f.Contents)-1)
}

// check makes sure a range is one ReadRange can read in one pass: frames
// inside it, in order, apart; contents in each in order, apart.
func (rg Range) check() error {
	if rg.Offset < 0 || rg.Length < 0 {
		return fmt.Errorf("bad range: %d bytes at %d", rg.Length, rg.Offset)
	}
	pos := rg.Offset
	for _, f := range rg.Frames {
		if f.Offset < pos || f.Length < 0 || f.Length > rg.Offset+rg.Length-f.Offset {
			return fmt.Errorf("bad range: frame of %d bytes at %d is not after %d inside %d bytes at %d", f.Length, f.Offset, pos, rg.Length, rg.Offset)
		}
		pos = f.Offset + f.Length
		var out int64
		for _, c := range f.Contents {
			if c.Skip < out || c.Size < 0 {
				return fmt.Errorf("bad range: content %s at %d in the frame at %d overlaps the one before", c.Digest, c.Skip, f.Offset)
			}
			out = c.Skip + c.Size
		}
	}
	return nil
}

// rangeReader counts what is read of r, notes whether r ended, and keeps
// r's first error, so that neither is mistaken for a bad pack.
type rangeReader struct {
	r   io.Reader
	n   int64
	eof bool
	err error
}

func (s *rangeReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil && s.err == nil:
		s.err = err
	}
	return n, err
}

// verifier is the reader fn gets: exactly c.Size bytes of the frame,
// hashed as they go; the last read returns its bytes only if they hash
// to c.Digest.
type verifier struct {
	r     io.Reader
	c     Content
	left  int64
	h     *blake3.Hasher
	fail  func(string, error) error
	frame int64
	// checked: the digest was compared (err says how it went).
	checked bool
	err     error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.left == 0 {
		if !v.checked {
			v.checked = true
			if err := v.check(); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n]) // blake3 writes never fail
	v.left -= int64(n)
	if v.left == 0 {
		v.checked = true
		if err := v.check(); err != nil {
			return 0, err
		}
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		v.err = v.fail(fmt.Sprintf("content %s in the frame at %d: %d of its %d bytes missing", v.c.Digest, v.frame, v.left, v.c.Size), err)
		return 0, v.err
	}
	return n, nil
}

// check compares the hash of the whole content with its digest.
func (v *verifier) check() error {
	var d cas.Digest
	v.h.Sum(d[:0])
	if d != v.c.Digest {
		v.err = fmt.Errorf("%w: content %s in the frame at %d: its %d bytes hash to %s", ErrCorrupt, v.c.Digest, v.frame, v.c.Size, d)
	}
	return v.err
}

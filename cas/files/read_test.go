package files

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
)

func TestPlan(t *testing.T) {
	p0 := PackRef{Digest: cas.DigestOf([]byte("p0")), Size: 10000}
	p1 := PackRef{Digest: cas.DigestOf([]byte("p1")), Size: 5000}
	p2 := PackRef{Digest: cas.DigestOf([]byte("p2")), Size: 3000}
	c := func(name string, pack int, off, length, skip int64) Content {
		return Content{Digest: cas.DigestOf([]byte(name)), Size: 5, Pack: pack, Offset: off, Length: length, Skip: skip}
	}
	c1, c2 := c("c1", 0, 0, 100, 0), c("c2", 0, 0, 100, 10)
	c3 := c("c3", 0, 100, 100, 0)
	c4 := c("c4", 0, 250, 50, 0)
	c5 := c("c5", 0, 1000, 100, 0)
	c6 := c("c6", 1, 0, 100, 0)
	c7 := c("c7", 2, 0, 50, 0)
	// Contents in an order Plan must not follow: a later pack first, a
	// later frame first, a later content of a frame first.
	ix := &Index{Packs: []PackRef{p0, p1, p2}, Contents: []Content{c7, c5, c6, c2, c4, c3, c1}}
	only := func(cs ...Content) func(Content) bool {
		return func(x Content) bool {
			for _, c := range cs {
				if c.Digest == x.Digest {
					return true
				}
			}
			return false
		}
	}
	f := func(off, length int64, cs ...Content) Frame { return Frame{Offset: off, Length: length, Contents: cs} }
	tests := []struct {
		name string
		need func(Content) bool
		gap  int64
		want []Range
	}{
		{"all, adjacent frames merged", all, 0, []Range{
			{p0, 0, 200, []Frame{f(0, 100, c1, c2), f(100, 100, c3)}},
			{p0, 250, 50, []Frame{f(250, 50, c4)}},
			{p0, 1000, 100, []Frame{f(1000, 100, c5)}},
			{p1, 0, 100, []Frame{f(0, 100, c6)}},
			{p2, 0, 50, []Frame{f(0, 50, c7)}},
		}},
		{"all, a gap just too far", all, 49, []Range{
			{p0, 0, 200, []Frame{f(0, 100, c1, c2), f(100, 100, c3)}},
			{p0, 250, 50, []Frame{f(250, 50, c4)}},
			{p0, 1000, 100, []Frame{f(1000, 100, c5)}},
			{p1, 0, 100, []Frame{f(0, 100, c6)}},
			{p2, 0, 50, []Frame{f(0, 50, c7)}},
		}},
		{"all, a gap just near enough", all, 50, []Range{
			{p0, 0, 300, []Frame{f(0, 100, c1, c2), f(100, 100, c3), f(250, 50, c4)}},
			{p0, 1000, 100, []Frame{f(1000, 100, c5)}},
			{p1, 0, 100, []Frame{f(0, 100, c6)}},
			{p2, 0, 50, []Frame{f(0, 50, c7)}},
		}},
		{"all, far frames merged", all, 700, []Range{
			{p0, 0, 1100, []Frame{f(0, 100, c1, c2), f(100, 100, c3), f(250, 50, c4), f(1000, 100, c5)}},
			{p1, 0, 100, []Frame{f(0, 100, c6)}},
			{p2, 0, 50, []Frame{f(0, 50, c7)}},
		}},
		{"never across packs", all, 1 << 40, []Range{
			{p0, 0, 1100, []Frame{f(0, 100, c1, c2), f(100, 100, c3), f(250, 50, c4), f(1000, 100, c5)}},
			{p1, 0, 100, []Frame{f(0, 100, c6)}},
			{p2, 0, 50, []Frame{f(0, 50, c7)}},
		}},
		{"one content of a frame", only(c2), 0, []Range{
			{p0, 0, 100, []Frame{f(0, 100, c2)}},
		}},
		{"only the packs needed", only(c7, c1), 1 << 20, []Range{
			{p0, 0, 100, []Frame{f(0, 100, c1)}},
			{p2, 0, 50, []Frame{f(0, 50, c7)}},
		}},
		{"frames apart", only(c1, c5), 899, []Range{
			{p0, 0, 100, []Frame{f(0, 100, c1)}},
			{p0, 1000, 100, []Frame{f(1000, 100, c5)}},
		}},
		{"frames apart, merged", only(c1, c5), 900, []Range{
			{p0, 0, 1100, []Frame{f(0, 100, c1), f(1000, 100, c5)}},
		}},
		{"nothing", only(), 1 << 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(ix, tt.need, tt.gap)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan:\n%s\nwant\n%s", describe(got), describe(tt.want))
			}
		})
	}
}

func describe(rs []Range) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  " + r.Pack.Digest.String()[:6] + " " + itoa64(r.Offset) + "+" + itoa64(r.Length) + ":")
		for _, f := range r.Frames {
			b.WriteString(" [" + itoa64(f.Offset) + "+" + itoa64(f.Length))
			for _, c := range f.Contents {
				b.WriteString(" " + c.Digest.String()[:6] + "@" + itoa64(c.Skip))
			}
			b.WriteString("]")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

// randomTree is smallTree with a content that does not compress (zstd
// stores it raw, so that a flipped byte of the pack is a flipped byte of
// the content) in a frame of its own.
func randomTree(t testing.TB) (string, []byte) {
	root := smallTree(t)
	noise := make([]byte, 3000)
	rand.Read(noise)
	if err := os.WriteFile(root+"/noise", noise, 0o644); err != nil {
		t.Fatal(err)
	}
	return root, noise
}

// readPack reads rg out of the pack bytes, as the body of a ranged read.
func readPack(pack []byte, rg Range, fn func(Content, io.Reader) error) error {
	return ReadRange(bytes.NewReader(pack[rg.Offset:rg.Offset+rg.Length]), rg, fn)
}

// TestReadRangeRefusesAFlippedByte: a byte flipped in a content's bytes
// is ErrCorrupt naming the content, from the reader fn reads (no bytes
// with it: io.ReadFull does not see a full content) and from ReadRange;
// a byte flipped anywhere in the pack is ErrCorrupt or changes nothing.
func TestReadRangeRefusesAFlippedByte(t *testing.T) {
	root, noise := randomTree(t)
	b := packTree(t, root, nil, smallOpt)
	pack, err := os.ReadFile(b.packs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	c := *content(t, b.ix, "noise")
	i := bytes.Index(pack, noise[1000:1100])
	if i < 0 || c.Skip != 0 {
		t.Fatalf("the noise is not stored raw in a frame of its own (%+v)", c)
	}
	bad := bytes.Clone(pack)
	bad[i+50] ^= 0x20
	rgs := Plan(b.ix, func(x Content) bool { return x.Digest == c.Digest }, 0)
	var fnErr error
	var fnRead int
	err = readPack(bad, rgs[0], func(_ Content, r io.Reader) error {
		buf := make([]byte, c.Size)
		fnRead, fnErr = io.ReadFull(r, buf)
		return nil // fn ignores the error: ReadRange must not
	})
	if !errors.Is(fnErr, ErrCorrupt) || !strings.Contains(fnErr.Error(), c.Digest.String()) || fnRead == len(noise) {
		t.Errorf("fn's reader: %d bytes, %v; want less than the content and ErrCorrupt naming %s", fnRead, fnErr, c.Digest)
	}
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, archive.ErrCorrupt) || !strings.Contains(err.Error(), c.Digest.String()) {
		t.Errorf("ReadRange: %v, want ErrCorrupt naming %s", err, c.Digest)
	}
	// fn that reads nothing: ReadRange reads and checks the rest.
	err = readPack(bad, rgs[0], func(Content, io.Reader) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadRange with fn reading nothing: %v, want ErrCorrupt", err)
	}

	// Everywhere in the pack: refused, or what the index says.
	for pos := range pack {
		bad := bytes.Clone(pack)
		bad[pos] ^= 0x01
		for _, rg := range Plan(b.ix, all, 0) {
			err := readPack(bad, rg, func(c Content, r io.Reader) error {
				data, err := io.ReadAll(r)
				if err == nil && cas.DigestOf(data) != c.Digest {
					t.Fatalf("byte %d flipped: content %s read without error, and it is not its digest", pos, c.Digest)
				}
				return err
			})
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d flipped: %v, want ErrCorrupt", pos, err)
			}
		}
	}
}

// TestReadRangeTruncated: a body that ends early, in a gap, in a frame or
// in a content, is ErrCorrupt.
func TestReadRangeTruncated(t *testing.T) {
	b := packTree(t, smallTree(t), nil, smallOpt)
	pack, _ := os.ReadFile(b.packs[0].Path)
	// lib/a.py and lib/d.py: a range over the last two frames, with a
	// gap between them (c.py is not needed, but it is in d.py's frame).
	need := func(c Content) bool {
		return c.Digest == content(t, b.ix, "lib/a.py").Digest || c.Digest == content(t, b.ix, "lib/d.py").Digest
	}
	rgs := Plan(b.ix, need, 1<<20)
	if len(rgs) != 1 || len(rgs[0].Frames) != 2 {
		t.Fatalf("plan %s", describe(rgs))
	}
	rg := rgs[0]
	for cut := int64(0); cut < rg.Length; cut++ {
		body := pack[rg.Offset : rg.Offset+cut]
		err := ReadRange(bytes.NewReader(body), rg, func(c Content, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: %v, want ErrCorrupt", cut, rg.Length, err)
		}
	}
	// The whole body, and more after it: exactly Length bytes are read.
	body := bytes.NewReader(append(bytes.Clone(pack[rg.Offset:rg.Offset+rg.Length]), "more"...))
	var got []string
	err := ReadRange(body, rg, func(c Content, r io.Reader) error {
		data, err := io.ReadAll(r)
		got = append(got, string(data))
		return err
	})
	if err != nil || body.Len() != 4 {
		t.Fatalf("ReadRange: %v, %d bytes left unread, want 4", err, body.Len())
	}
	if want := []string{strings.Repeat("a = 1\n", 7), "d = 4\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// TestReadRangeErrors: an error reading the body is the body's, not
// corruption; fn's error is fn's.
func TestReadRangeErrors(t *testing.T) {
	b := packTree(t, smallTree(t), nil, smallOpt)
	pack, _ := os.ReadFile(b.packs[0].Path)
	rg := Plan(b.ix, all, 0)[0]
	boom := errors.New("connection reset")
	for cut := int64(0); cut < rg.Length; cut += 7 {
		r := io.MultiReader(bytes.NewReader(pack[:cut]), errReader{boom})
		err := ReadRange(r, rg, func(c Content, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		})
		if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v, want the read error and not ErrCorrupt", cut, err)
		}
	}
	mine := errors.New("disk full")
	calls := 0
	err := ReadRange(bytes.NewReader(pack), rg, func(c Content, r io.Reader) error {
		calls++
		if calls == 2 {
			return mine
		}
		return nil
	})
	if !errors.Is(err, mine) || errors.Is(err, ErrCorrupt) || calls != 2 {
		t.Errorf("fn failing: %v after %d calls, want fn's error after 2", err, calls)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestReadRangeBadRanges: a range ReadRange cannot read in one pass is
// refused before anything is read.
func TestReadRangeBadRanges(t *testing.T) {
	c := func(skip, size int64) Content { return Content{Skip: skip, Size: size} }
	tests := []struct {
		name string
		rg   Range
	}{
		{"negative offset", Range{Offset: -1, Length: 10}},
		{"negative length", Range{Offset: 0, Length: -1}},
		{"frame before the range", Range{Offset: 100, Length: 100, Frames: []Frame{{Offset: 99, Length: 10}}}},
		{"frame past the range", Range{Offset: 100, Length: 100, Frames: []Frame{{Offset: 150, Length: 51}}}},
		{"negative frame", Range{Offset: 100, Length: 100, Frames: []Frame{{Offset: 150, Length: -1}}}},
		{"frames overlap", Range{Offset: 0, Length: 100, Frames: []Frame{{Offset: 0, Length: 50}, {Offset: 49, Length: 10}}}},
		{"contents overlap", Range{Offset: 0, Length: 100, Frames: []Frame{{Offset: 0, Length: 50, Contents: []Content{c(0, 10), c(9, 1)}}}}},
		{"contents out of order", Range{Offset: 0, Length: 100, Frames: []Frame{{Offset: 0, Length: 50, Contents: []Content{c(10, 1), c(0, 1)}}}}},
		{"negative size", Range{Offset: 0, Length: 100, Frames: []Frame{{Offset: 0, Length: 50, Contents: []Content{c(0, -1)}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(make([]byte, 1000))
			err := ReadRange(r, tt.rg, func(Content, io.Reader) error { t.Fatal("fn called"); return nil })
			if err == nil || !strings.Contains(err.Error(), "bad range") || r.Len() != 1000 {
				t.Errorf("err = %v, %d bytes read; want a bad range, nothing read", err, 1000-r.Len())
			}
		})
	}
	// The edges are fine: a frame that ends the range, contents that
	// touch.
	ok := Range{Offset: 0, Length: 100, Frames: []Frame{{Offset: 50, Length: 50, Contents: []Content{c(0, 10), c(10, 0), c(10, 1)}}}}
	if err := ok.check(); err != nil {
		t.Errorf("check: %v", err)
	}
}

// rleFrame is a hand-made zstd frame, as a hostile pack would hold: a
// window of 1<<windowLog bytes, then blocks RLE blocks of blockSize bytes
// of b each.
func rleFrame(windowLog, blocks, blockSize int, b byte) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte((windowLog - 10) << 3)}
	for i := range blocks {
		h := uint32(blockSize)<<3 | 1<<1 // RLE
		if i == blocks-1 {
			h |= 1 // last
		}
		out = append(out, byte(h), byte(h>>8), byte(h>>16), b)
	}
	return out
}

// TestReadRangeBoundsDecompression: a frame that decompresses to a GiB
// costs no more than the contents the index says it holds; a frame that
// asks for a window larger than 8 MiB is refused; a frame that holds less
// than the index says is corrupt.
func TestReadRangeBoundsDecompression(t *testing.T) {
	bomb := rleFrame(23, 8192, 128<<10, 0) // 1 GiB of zeros, 32 KiB
	zeros := func(n int) Content { return Content{Digest: cas.DigestOf(make([]byte, n)), Size: int64(n)} }
	frame := func(data []byte, cs ...Content) Range {
		return Range{Pack: PackRef{Digest: cas.DigestOf(data), Size: int64(len(data))}, Length: int64(len(data)),
			Frames: []Frame{{Length: int64(len(data)), Contents: cs}}}
	}
	read := func(data []byte, rg Range) ([]int, error) {
		var sizes []int
		err := ReadRange(bytes.NewReader(data), rg, func(c Content, r io.Reader) error {
			b, err := io.ReadAll(r)
			sizes = append(sizes, len(b))
			return err
		})
		return sizes, err
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := zeros(10)
	far := zeros(100)
	far.Skip = MaxFrameSize - 100
	sizes, err := read(bomb, frame(bomb, c, far))
	runtime.ReadMemStats(&after)
	if err != nil || !reflect.DeepEqual(sizes, []int{10, 100}) {
		t.Fatalf("bomb: %v, read %v", err, sizes)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("reading 110 bytes of a bomb allocated %d MiB", alloc>>20)
	}

	huge := rleFrame(31, 1, 100, 0) // a 2 GiB window
	if _, err := read(huge, frame(huge, zeros(10))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a 2 GiB window: %v, want ErrCorrupt", err)
	}
	short := rleFrame(20, 1, 5, 0)
	if _, err := read(short, frame(short, zeros(10))); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "5 of its 10 bytes missing") {
		t.Errorf("a frame shorter than its content: %v, want ErrCorrupt", err)
	}
	if _, err := read(short, frame(short, Content{Digest: c.Digest, Size: 1, Skip: 10})); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a frame shorter than a skip: %v, want ErrCorrupt", err)
	}
	if _, err := read(append([]byte("not zstd"), short...), frame(append([]byte("not zstd"), short...), zeros(1))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("not a frame: %v, want ErrCorrupt", err)
	}
	empty := Content{Digest: cas.DigestOf([]byte("not empty")), Size: 0}
	if _, err := read(short, frame(short, empty)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an empty content whose digest is another's: %v, want ErrCorrupt", err)
	}
}

// TestReadRangeReaderEnds: fn's reader ends with io.EOF after exactly the
// content, however it is read.
func TestReadRangeReaderEnds(t *testing.T) {
	b := packTree(t, smallTree(t), nil, smallOpt)
	pack, _ := os.ReadFile(b.packs[0].Path)
	want := map[cas.Digest]string{}
	root := smallTree(t)
	for _, e := range b.ix.Entries {
		if e.Type == File {
			data, _ := os.ReadFile(root + "/" + e.Path)
			want[e.Content] = string(data)
		}
	}
	for _, size := range []int{1, 3, 64, 1 << 16} {
		for _, rg := range Plan(b.ix, all, 0) {
			err := readPack(pack, rg, func(c Content, r io.Reader) error {
				var got []byte
				buf := make([]byte, size)
				for {
					n, err := r.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
				}
				if string(got) != want[c.Digest] {
					t.Errorf("reading by %d: %q, want %q", size, got, want[c.Digest])
				}
				if n, err := r.Read(buf); n != 0 || err != io.EOF {
					t.Errorf("a read after the end: %d, %v", n, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

package files

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/rezup/rezup/cas"
)

const (
	// DefaultFrameSize is how many bytes of small contents Pack groups
	// into one frame by default: large enough that compression stays
	// close to a solid archive's, small enough that a node fetching one
	// file reads little else.
	DefaultFrameSize = 1 << 20
	// MaxFrameSize bounds PackOptions.FrameSize, and so how far into a
	// frame of several contents Parse lets a content end: a node never
	// decompresses more than this to reach a content it needs.
	MaxFrameSize = 8 << 20
	// DefaultPackSize is the compressed size at which Pack closes a pack
	// by default: a build of a few hundred MB is a handful of packs.
	DefaultPackSize = 64 << 20
	// Ext is the file name extension of a pack Pack writes.
	Ext = ".pack"
)

// maxWindow bounds the zstd window of a frame: what a frame of at most
// MaxFrameSize bytes needs, and what zstd's levels use for a stream (at
// most 8 MiB). A hostile frame asking for more is refused before the
// decoder allocates it.
const maxWindow = 8 << 20

// PackOptions tunes Pack. Dir is required; the zero value of the rest is
// the default.
type PackOptions struct {
	// Dir is where new packs are written (a temp name, then a rename to
	// the pack's digest and Ext). It must exist.
	Dir string
	// Have, when set, says where a content is already stored in the
	// cache: its location, in the pack it names. Pack reuses that
	// location instead of packing the content again. Known makes one from
	// the indexes of earlier builds.
	Have func(cas.Digest) (Content, PackRef, bool)
	// FrameSize is how many bytes of contents a frame groups (default
	// DefaultFrameSize, at most MaxFrameSize); a larger content gets a
	// frame of its own.
	FrameSize int64
	// PackSize is the compressed size at which a pack is closed (default
	// DefaultPackSize).
	PackSize int64
	// Level is a zstd level as the zstd command line counts them (1-22);
	// 0 means the default (3).
	Level int
	// Override is ScanOptions.Override: the contents Scan recorded for
	// these paths instead of what is on disk.
	Override map[string][]byte
}

// PackFile is a pack Pack wrote: a local file, and its name in the index.
type PackFile struct {
	Path string
	PackRef
}

// Known returns a PackOptions.Have that finds contents in the given
// indexes (the first one that has a content wins).
func Known(bases ...*Index) func(cas.Digest) (Content, PackRef, bool) {
	type stored struct {
		c Content
		p PackRef
	}
	m := make(map[cas.Digest]stored)
	for _, ix := range bases {
		for _, c := range ix.Contents {
			if _, ok := m[c.Digest]; !ok && c.Pack >= 0 && c.Pack < len(ix.Packs) {
				m[c.Digest] = stored{c, ix.Packs[c.Pack]}
			}
		}
	}
	return func(d cas.Digest) (Content, PackRef, bool) {
		s, ok := m[d]
		return s.c, s.p, ok
	}
}

// Pack stores the contents of ix, as Scan described the tree under root,
// and gives each a location: a content opt.Have knows keeps the location
// it has in the cache; the others are read from root again (each checked
// against its size and digest: a tree that changed since Scan is an
// error) and written into new packs in opt.Dir, in index order. Small
// contents are grouped into frames of about opt.FrameSize bytes,
// compressed on a few goroutines at once; a larger content is a frame of
// its own, streamed. A pack is closed once it reaches opt.PackSize.
//
// Pack returns the new packs, in order, and sets ix.Packs to every pack
// the index names (reused and new, in the order contents first name
// them). The same index, tree and opt.Have give the same packs, byte for
// byte. On error, ix is unchanged and no new pack is left.
func Pack(ix *Index, root string, opt PackOptions) ([]PackFile, error) {
	out, err := pack(ix, root, opt)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", root, err)
	}
	return out, nil
}

// errStopped is a job's error when it was not done because the writer
// had already failed: never returned.
var errStopped = errors.New("stopped: packing failed")

// where is a content's location while Pack runs: in a pack opt.Have
// named, or in the new pack of that number.
type where struct {
	c      Content
	reused PackRef
	fresh  int // -1 when reused
}

// frameJob is one frame to write: several small contents, compressed by
// a worker into out, or one large content (stream), compressed by a
// worker into the temp file spill.
type frameJob struct {
	contents []int // indexes into ix.Contents
	stream   bool
	out      []byte
	spill    string
	err      error
	done     chan struct{}
}

func pack(ix *Index, root string, opt PackOptions) (packs []PackFile, err error) {
	if opt.Dir == "" {
		return nil, errors.New("no directory to write packs to")
	}
	frameSize, packSize := opt.FrameSize, opt.PackSize
	if frameSize == 0 {
		frameSize = DefaultFrameSize
	}
	if packSize == 0 {
		packSize = DefaultPackSize
	}
	if frameSize < 0 || frameSize > MaxFrameSize || packSize < 0 {
		return nil, fmt.Errorf("frame size %d (at most %d) or pack size %d out of range", frameSize, MaxFrameSize, packSize)
	}
	level := zstd.SpeedDefault
	if opt.Level != 0 {
		level = zstd.EncoderLevelFromZstd(opt.Level)
	}

	// Where each content's bytes are in the tree: the first file with it.
	source := make(map[cas.Digest]string, len(ix.Contents))
	for _, e := range ix.Entries {
		if _, ok := source[e.Content]; e.Type == File && !ok {
			source[e.Content] = e.Path
		}
	}
	locs := make([]where, len(ix.Contents))
	var jobs []*frameJob
	var group *frameJob
	var groupSize int64
	for i, c := range ix.Contents {
		if _, ok := source[c.Digest]; !ok {
			return nil, fmt.Errorf("content %s: no file of the index has it", c.Digest)
		}
		if opt.Have != nil {
			if got, p, ok := opt.Have(c.Digest); ok && got.Digest == c.Digest && got.Size == c.Size {
				locs[i] = where{c: got, reused: p, fresh: -1}
				continue
			}
		}
		if c.Size > frameSize {
			jobs = append(jobs, &frameJob{contents: []int{i}, stream: true})
			continue
		}
		if group == nil || groupSize+c.Size > frameSize {
			group = &frameJob{}
			jobs = append(jobs, group)
			groupSize = 0
		}
		group.contents = append(group.contents, i)
		groupSize += c.Size
	}

	w := &packWriter{dir: opt.Dir, size: packSize}
	defer func() {
		if err != nil {
			w.abandon()
			packs = nil
		}
	}()
	rd := &contentReader{root: root, override: opt.Override, source: source}
	if err := w.write(ix, jobs, locs, rd, level); err != nil {
		return nil, err
	}
	if err := w.close(); err != nil {
		return nil, err
	}

	// Number the packs in the order contents first name them.
	var refs []PackRef
	index := make(map[cas.Digest]int)
	contents := make([]Content, len(ix.Contents))
	for i, l := range locs {
		p := l.reused
		if l.fresh >= 0 {
			p = w.done[l.fresh].PackRef
		}
		n, ok := index[p.Digest]
		if !ok {
			n = len(refs)
			index[p.Digest] = n
			refs = append(refs, p)
		}
		contents[i] = l.c
		contents[i].Pack = n
	}
	ix.Contents, ix.Packs = contents, refs
	return w.done, nil
}

// write runs the frames through compression into packs. Workers compress
// frames ahead of the writer (at most a few frames ahead): a group of
// small contents in memory, a large content streamed into a temp file
// beside the packs (a spill), so that it is never whole in memory and
// several compress at once. The writer, on this goroutine, appends the
// frames to the current pack in order, and removes each spill once it is
// in the pack. So Pack's memory is bounded by the number of workers and
// the frame size, whatever the size of the files, and its disk beyond
// the packs by a few compressed large contents.
func (w *packWriter) write(ix *Index, jobs []*frameJob, locs []where, rd *contentReader, level zstd.EncoderLevel) (err error) {
	workers := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(false),
		zstd.WithZeroFrames(true), zstd.WithEncoderConcurrency(workers))
	if err != nil {
		return err
	}
	defer enc.Close()

	quit := make(chan struct{})
	work := make(chan *frameJob)
	ahead := make(chan *frameJob, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []byte
			var stream *zstd.Encoder // made at its first use, one per worker
			for j := range work {
				select {
				case <-quit:
					// The writer failed: no use compressing the rest.
					j.err = errStopped
					close(j.done)
					continue
				default:
				}
				if j.stream {
					if stream == nil {
						stream, j.err = zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
					}
					if j.err == nil {
						j.err = rd.spill(stream, w.dir, ix.Contents[j.contents[0]], j, quit)
					}
					close(j.done)
					continue
				}
				raw = raw[:0]
				for _, i := range j.contents {
					if raw, j.err = rd.appendTo(raw, ix.Contents[i]); j.err != nil {
						break
					}
				}
				if j.err == nil {
					j.out = enc.EncodeAll(raw, nil)
				}
				close(j.done)
			}
			if stream != nil {
				stream.Close() // its frames are all closed: nothing is lost
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(ahead)
		for _, j := range jobs {
			j.done = make(chan struct{})
			select {
			case ahead <- j:
			case <-quit:
				return
			}
			select {
			case work <- j:
			case <-quit:
				close(j.done) // never started: the writer is gone
				return
			}
		}
	}()
	defer func() {
		close(quit)
		wg.Wait()
		// Frames spilled ahead of a failure.
		for _, j := range jobs {
			if j.spill != "" {
				os.Remove(j.spill) // best effort: the caller's staging dir goes too
			}
		}
	}()

	for j := range ahead {
		<-j.done
		if j.err != nil {
			return j.err
		}
		if err := w.open(); err != nil {
			return err
		}
		start := w.n
		if j.stream {
			err = w.copyFrom(j.spill)
			if rerr := os.Remove(j.spill); err == nil {
				err = rerr // a spill left behind would fill the disk
			}
			j.spill = ""
		} else {
			_, err = w.Write(j.out)
		}
		if err != nil {
			return err
		}
		length := w.n - start
		var skip int64
		for _, i := range j.contents {
			c := ix.Contents[i]
			locs[i] = where{c: Content{Digest: c.Digest, Size: c.Size, Offset: start, Length: length, Skip: skip}, fresh: len(w.done)}
			skip += c.Size
		}
		j.out = nil
		if w.n >= w.size {
			if err := w.close(); err != nil {
				return err
			}
		}
	}
	return nil
}

// packWriter writes frames into packs, one at a time: a temp file in dir,
// hashed and counted as it is written, renamed to its digest when closed.
type packWriter struct {
	dir  string
	size int64
	f    *os.File
	bw   *bufio.Writer
	h    *blake3.Hasher
	n    int64
	done []PackFile
}

// open starts a new pack unless one is open.
func (w *packWriter) open() error {
	if w.f != nil {
		return nil
	}
	f, err := os.CreateTemp(w.dir, "pack-*.tmp")
	if err != nil {
		return err
	}
	w.f, w.n, w.h = f, 0, blake3.New()
	w.bw = bufio.NewWriterSize(io.MultiWriter(f, w.h), readBufSize)
	return nil
}

func (w *packWriter) Write(p []byte) (int, error) {
	n, err := w.bw.Write(p)
	w.n += int64(n)
	return n, err
}

// close finishes the open pack, if any, under its digest.
func (w *packWriter) close() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	err := w.bw.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		os.Remove(f.Name()) // a partial pack is of no use
		return err
	}
	var d cas.Digest
	w.h.Sum(d[:0])
	p := filepath.Join(w.dir, d.String()+Ext)
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name()) // a partial pack is of no use
		return err
	}
	w.done = append(w.done, PackFile{Path: p, PackRef: PackRef{Digest: d, Size: w.n}})
	return nil
}

// copyFrom appends the file at p, a spilled frame, to the open pack.
func (w *packWriter) copyFrom(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close() // read-only: a close error cannot lose data
	_, err = io.CopyBuffer(w, f, make([]byte, readBufSize))
	return err
}

// abandon removes every pack this writer made: Pack failed.
func (w *packWriter) abandon() {
	if w.f != nil {
		w.f.Close()           // already failing; the close error adds nothing
		os.Remove(w.f.Name()) // a partial pack is of no use
		w.f = nil
	}
	for _, p := range w.done {
		os.Remove(p.Path) // best effort: the caller's staging dir goes too
	}
	w.done = nil
}

// contentReader reads contents from the tree again, checking each
// against what Scan recorded.
type contentReader struct {
	root     string
	override map[string][]byte
	source   map[cas.Digest]string
}

// open opens the file a content comes from.
func (rd *contentReader) open(c Content) (io.ReadCloser, error) {
	name := rd.source[c.Digest]
	if data, ok := rd.override[name]; ok {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	return os.Open(filepath.Join(rd.root, filepath.FromSlash(name)))
}

// appendTo appends content c's bytes to buf.
func (rd *contentReader) appendTo(buf []byte, c Content) ([]byte, error) {
	f, err := rd.open(c)
	if err != nil {
		return buf, err
	}
	defer f.Close() // read-only: a close error cannot lose data
	start := len(buf)
	buf = slices.Grow(buf, int(c.Size))[:start+int(c.Size)]
	if _, err := io.ReadFull(f, buf[start:]); err != nil {
		return buf, rd.changed(c, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n != 0 || cas.DigestOf(buf[start:]) != c.Digest {
		return buf, rd.changed(c, nil)
	}
	return buf, nil
}

// spill compresses content c as a frame of its own, streaming, into a
// new temp file in dir, which it names in j.spill.
func (rd *contentReader) spill(enc *zstd.Encoder, dir string, c Content, j *frameJob, quit <-chan struct{}) error {
	out, err := os.CreateTemp(dir, "frame-*.tmp")
	if err != nil {
		return err
	}
	j.spill = out.Name()
	bw := bufio.NewWriterSize(out, readBufSize)
	err = rd.stream(enc, bw, c, quit)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// stream compresses content c into w as a frame of its own, and stops
// early once quit is closed.
func (rd *contentReader) stream(enc *zstd.Encoder, w io.Writer, c Content, quit <-chan struct{}) error {
	f, err := rd.open(c)
	if err != nil {
		return err
	}
	defer f.Close() // read-only: a close error cannot lose data
	h := blake3.New()
	enc.ResetContentSize(w, c.Size)
	src := io.TeeReader(io.LimitReader(stopReader{f, quit}, c.Size+1), h)
	n, err := io.CopyBuffer(enc, src, make([]byte, readBufSize))
	if err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return rd.changed(c, err)
	}
	var d cas.Digest
	h.Sum(d[:0])
	if n != c.Size || d != c.Digest {
		return rd.changed(c, nil)
	}
	return nil
}

func (rd *contentReader) changed(c Content, err error) error {
	if err != nil {
		return fmt.Errorf("%s: changed since it was scanned: %w", rd.source[c.Digest], err)
	}
	return fmt.Errorf("%s: changed since it was scanned", rd.source[c.Digest])
}

// stopReader reads r until stop is closed.
type stopReader struct {
	r    io.Reader
	stop <-chan struct{}
}

func (s stopReader) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
		return s.r.Read(p)
	}
}

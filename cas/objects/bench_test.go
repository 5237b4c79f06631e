package objects

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rezup/rezup/cas"
)

// treeFiles is the size of the benchmark tree: a venv of a few thousand
// files.
const treeFiles = 3000

// benchTree is the contents of a venv-like tree: mostly small files (a
// few KB: sources, metadata, bytecode), some of a few hundred KB, a few
// compiled libraries of 1-2 MB. About 100 MB in all.
func benchTree() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	files := make([][]byte, treeFiles)
	for i := range files {
		var n int
		switch p := r.IntN(100); {
		case p < 90:
			n = 512 + r.IntN(16<<10)
		case p < 99:
			n = 16<<10 + r.IntN(240<<10)
		default:
			n = 1<<20 + r.IntN(1<<20)
		}
		files[i] = content(uint64(i), n)
	}
	return files
}

func treeBytes(files [][]byte) int64 {
	var n int64
	for _, f := range files {
		n += int64(len(f))
	}
	return n
}

// BenchmarkLinkTree makes a build's tree of 3,000 files from the store,
// by hard links and by copies: what a warm node pays per build.
func BenchmarkLinkTree(b *testing.B) {
	s := newStore(b)
	files := benchTree()
	digests := make([]cas.Digest, len(files))
	batch := s.NewBatch()
	for i, f := range files {
		digests[i] = cas.DigestOf(f)
		if err := batch.Put(digests[i], i%10 == 0, bytes.NewReader(f)); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []LinkMode{Hardlink, Copy} {
		b.Run(mode.String(), func(b *testing.B) {
			b.SetBytes(treeBytes(files))
			root := b.TempDir()
			n := 0
			for b.Loop() {
				b.StopTimer()
				tree := filepath.Join(root, strconv.Itoa(n))
				n++
				// A venv's shape: a few dozen directories.
				for dir := range 30 {
					if err := os.MkdirAll(filepath.Join(tree, strconv.Itoa(dir)), 0o777); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for i, d := range digests {
					dst := filepath.Join(tree, strconv.Itoa(i%30), strconv.Itoa(i))
					if _, err := s.Link(d, i%10 == 0, dst, mode); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if err := os.RemoveAll(tree); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPutTree stores the 3,000 files of a tree into an empty store:
// in one batch (one sync), and one Put each (an fsync each): what a cold
// node pays per build, and what the Batch saves.
func BenchmarkPutTree(b *testing.B) {
	files := benchTree()
	digests := make([]cas.Digest, len(files))
	for i, f := range files {
		digests[i] = cas.DigestOf(f)
	}
	for _, each := range []bool{false, true} {
		b.Run(map[bool]string{false: "batch", true: "put-each"}[each], func(b *testing.B) {
			b.SetBytes(treeBytes(files))
			for b.Loop() {
				b.StopTimer()
				s := newStore(b)
				b.StartTimer()
				batch := s.NewBatch()
				for i, f := range files {
					var err error
					if each {
						err = s.Put(digests[i], false, bytes.NewReader(f))
					} else {
						err = batch.Put(digests[i], false, bytes.NewReader(f))
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := batch.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPut is the throughput of one Put of a 4 MiB object: hash,
// write, fsync, link.
func BenchmarkPut(b *testing.B) {
	s := newStore(b)
	data := content(1, 4<<20)
	b.SetBytes(int64(len(data)))
	n := uint64(0)
	for b.Loop() {
		b.StopTimer()
		n++
		binary.LittleEndian.PutUint64(data, n) // a new object each time
		d := cas.DigestOf(data)
		b.StartTimer()
		if err := s.Put(d, false, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalk walks a store of 100,000 objects: what gc's plan pays.
func BenchmarkWalk(b *testing.B) {
	s := newStore(b)
	const objects = 100_000
	// The layout, written directly: a Put each would take minutes and
	// test nothing Walk reads.
	for i := range objects {
		d := cas.DigestOf([]byte(fmt.Sprint(i)))
		p := s.path(d, i%10 == 0)
		if err := os.WriteFile(p, nil, 0o444); err != nil {
			// The shard's first object.
			if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o444); err != nil {
				b.Fatal(err)
			}
		}
	}
	for b.Loop() {
		n := 0
		if err := s.Walk(func(Object) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != objects {
			b.Fatalf("walked %d objects, want %d", n, objects)
		}
	}
}

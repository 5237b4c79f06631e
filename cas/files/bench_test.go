package files

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
)

var benchTreeFlag = flag.String("tree", "", "benchmark on this tree (say /usr/lib/python3.11) instead of a generated venv")

var (
	benchOnce  sync.Once
	benchDir   string // the generated venv, removed by TestMain
	benchBytes int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir) // best effort: it is in the temp dir
	}
	os.Exit(code)
}

// benchTree is the tree the benchmarks pack: -tree, or a venv of about
// 3,000 files and 50 MB (writeVenv), written once per run.
func benchTree(b *testing.B) string {
	b.Helper()
	if *benchTreeFlag != "" {
		return *benchTreeFlag
	}
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rezup-files-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		benchBytes = writeVenv(b, dir, venvPkgs(1))
	})
	if benchDir == "" {
		b.Fatal("no bench tree")
	}
	return benchDir
}

// reportCPU reports the CPU time per op since start.
func reportCPU(b *testing.B, start time.Duration) {
	if start >= 0 {
		b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

// treeBytes is the file bytes under root.
func treeBytes(b *testing.B, root string) int64 {
	var n int64
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			n += info.Size()
		}
		return nil
	})
	return n
}

// BenchmarkPack measures Scan, Pack and Marshal of the bench tree, and
// reports what a cold node fetches (packs and index) against the archive
// of the same tree (x-archive: the target is at most 1.1).
func BenchmarkPack(b *testing.B) {
	root := benchTree(b)
	total := treeBytes(b, root)
	a, err := archive.PackFile(b.TempDir(), root, archive.PackOptions{})
	if err != nil {
		b.Fatal(err)
	}
	os.Remove(a.Path)
	var cold int64
	b.SetBytes(total)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		dir := b.TempDir()
		ix, err := Scan(root, "/opt/rezup/.store/0123456789abcdef0123456789abcdef", ScanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		packs, err := Pack(ix, root, PackOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		data, _, err := Marshal(ix)
		if err != nil {
			b.Fatal(err)
		}
		cold = packBytes(packs) + int64(len(data))
		b.ReportMetric(float64(len(packs)), "packs")
		b.ReportMetric(float64(len(data)), "index-bytes")
	}
	b.ReportMetric(float64(cold), "fetch-bytes")
	b.ReportMetric(float64(a.Size), "archive-bytes")
	b.ReportMetric(float64(cold)/float64(a.Size), "x-archive")
}

// BenchmarkScan measures Scan alone: walking and hashing the tree.
func BenchmarkScan(b *testing.B) {
	root := benchTree(b)
	b.SetBytes(treeBytes(b, root))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := Scan(root, "/opt/rezup/.store/0123456789abcdef0123456789abcdef", ScanOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArchivePack is BenchmarkPack's comparator: the archive of the
// same tree.
func BenchmarkArchivePack(b *testing.B) {
	root := benchTree(b)
	b.SetBytes(treeBytes(b, root))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		a, err := archive.PackFile(b.TempDir(), root, archive.PackOptions{})
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(a.Path)
	}
}

// packedBench is the bench tree packed once, for the read benchmarks.
func packedBench(b *testing.B) *build {
	root := benchTree(b)
	ix, err := Scan(root, testPrefix, ScanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	packs, err := Pack(ix, root, PackOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	out := &build{ix: ix, packs: packs, files: map[cas.Digest]string{}}
	for _, p := range packs {
		out.files[p.Digest] = p.Path
	}
	return out
}

// BenchmarkReadAll measures a cold node's read of every content: Plan,
// then ReadRange of each range from the pack files, each content hashed
// and dropped. MB/s counts the file bytes of the tree.
func BenchmarkReadAll(b *testing.B) {
	benchRead(b, func(dir string) func(Content, io.Reader) error {
		return func(c Content, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}
	})
}

// BenchmarkReadAllToFiles is BenchmarkReadAll writing each content to a
// file of its own (as an object store would), to compare with
// BenchmarkArchiveUnpack, which writes the tree.
func BenchmarkReadAllToFiles(b *testing.B) {
	benchRead(b, func(dir string) func(Content, io.Reader) error {
		return func(c Content, r io.Reader) error {
			f, err := os.Create(filepath.Join(dir, c.Digest.String()))
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, r); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	})
}

func benchRead(b *testing.B, fnFor func(dir string) func(Content, io.Reader) error) {
	pb := packedBench(b)
	b.SetBytes(treeBytes(b, benchTree(b)))
	work := b.TempDir()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(work, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		fn := fnFor(dir)
		for _, rg := range Plan(pb.ix, all, 256<<10) {
			if err := readPackRange(pb.files[rg.Pack.Digest], rg, fn); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkArchiveUnpack is the read benchmarks' comparator: Unpack of the
// same tree's archive, from a file.
func BenchmarkArchiveUnpack(b *testing.B) {
	root := benchTree(b)
	b.SetBytes(treeBytes(b, root))
	a, err := archive.PackFile(b.TempDir(), root, archive.PackOptions{})
	if err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		dest := filepath.Join(work, fmt.Sprint(i))
		if err := os.Mkdir(dest, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(a.Path)
		if err != nil {
			b.Fatal(err)
		}
		_, err = archive.Unpack(f, dest, a.Digest, archive.UnpackOptions{})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dest)
		b.StartTimer()
	}
}

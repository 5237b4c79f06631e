package archive

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
)

// benchTree writes a venv-sized tree: 2000 files in 40 directories, about
// 20 MB, half text-like (compressible) and half random (not).
func benchTree(b *testing.B) (string, int64) {
	b.Helper()
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var total int64
	for d := range 40 {
		dir := filepath.Join(root, fmt.Sprintf("site-packages/pkg%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 50 {
			size := 2<<10 + rng.IntN(16<<10)
			buf := make([]byte, size)
			if f%2 == 0 {
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
			} else {
				line := []byte(fmt.Sprintf("def f%d(x):\n    return x * %d  # generated\n", f, d))
				for i := range buf {
					buf[i] = line[i%len(line)]
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("mod%02d.py", f)), buf, 0o644); err != nil {
				b.Fatal(err)
			}
			total += int64(size)
		}
	}
	return root, total
}

// BenchmarkUnpack measures verify+decompress+extract; MB/s counts the
// unpacked file bytes.
func BenchmarkUnpack(b *testing.B) {
	src, total := benchTree(b)
	var buf bytes.Buffer
	if _, err := Pack(&buf, src, PackOptions{}); err != nil {
		b.Fatal(err)
	}
	archive, digest := buf.Bytes(), cas.DigestOf(buf.Bytes())
	b.ReportMetric(float64(len(archive))/float64(total), "ratio")
	work := b.TempDir()
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dest := filepath.Join(work, fmt.Sprint(i))
		if err := os.Mkdir(dest, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := Unpack(bytes.NewReader(archive), dest, digest, UnpackOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dest); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkPack measures walk+tar+compress into memory.
func BenchmarkPack(b *testing.B) {
	src, total := benchTree(b)
	var buf bytes.Buffer
	b.SetBytes(total)
	for b.Loop() {
		buf.Reset()
		if _, err := Pack(&buf, src, PackOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

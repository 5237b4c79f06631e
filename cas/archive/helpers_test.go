package archive

import (
	"archive/tar"
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/internal/treetest"
)

// packTree packs root into memory and returns the archive and its digest.
func packTree(t testing.TB, root string, opt PackOptions) ([]byte, cas.Digest, PackStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Pack(&buf, root, opt)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), cas.DigestOf(buf.Bytes()), st
}

// rawEntry is one entry of a hand-written (possibly hostile) tar.
type rawEntry struct {
	hdr  tar.Header
	data string
	// noData writes the header only, leaving the stream truncated where
	// the data should be (a header that lies about its size).
	noData bool
}

// handTar writes entries with archive/tar and compresses them with zstd,
// with none of Pack's checks: the way an attacker would.
func handTar(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	truncated := false
	for _, e := range entries {
		h := e.hdr
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if h.ModTime.IsZero() && h.Typeflag != tar.TypeXGlobalHeader {
			h.ModTime = treetest.At(0)
		}
		if h.Typeflag == tar.TypeReg && h.Size == 0 && !e.noData {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %q: %v", h.Name, err)
		}
		if e.noData {
			truncated = true
			break
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatalf("write %q: %v", h.Name, err)
		}
	}
	if !truncated {
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := tw.Flush(); err == nil {
		t.Fatal("flush of a truncated tar succeeded")
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, data string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, data: data}
}

func dir(name string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/internal/treetest"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the FuzzUnpack seed corpus in testdata")

// escapeDir is where the hostile seeds aim their absolute paths and
// symlinks. FuzzUnpack checks it never appears.
const escapeDir = "/tmp/rezup-cas-fuzz-escape"

const corpusDir = "testdata/fuzz/FuzzUnpack"

// fuzzSeeds are the seed corpus: hostile archives Unpack must refuse, and
// a valid one for the fuzzer to mutate. A name starting with "valid-"
// must unpack; every other seed must be refused as unsafe.
func fuzzSeeds(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"valid-tree": handTar(t,
			dir("bin/"),
			rawEntry{hdr: tar.Header{Name: "bin/rez", Typeflag: tar.TypeReg, Mode: 0o755}, data: "#!/bin/sh\necho rez\n"},
			symlink("bin/python", "/usr/bin/python3.11"),
			symlink("lib64", "lib"),
			dir("lib/"),
			file("lib/site.py", "import os\n"),
			dir("empty/"),
		),
		// Modes an archive may claim and Unpack does not obey: it must
		// unpack, with directories its owner can still enter and remove.
		"valid-hostile-modes": handTar(t,
			rawEntry{hdr: tar.Header{Name: "closed/", Typeflag: tar.TypeDir, Mode: 0o000}},
			rawEntry{hdr: tar.Header{Name: "closed/secret", Typeflag: tar.TypeReg, Mode: 0o000}, data: "x"},
			rawEntry{hdr: tar.Header{Name: "ro/", Typeflag: tar.TypeDir, Mode: 0o555}},
			rawEntry{hdr: tar.Header{Name: "ro/sub/", Typeflag: tar.TypeDir, Mode: 0o000}},
			rawEntry{hdr: tar.Header{Name: "ro/sub/f", Typeflag: tar.TypeReg, Mode: 0o444}, data: "y"},
		),
		"absolute-path":                  handTar(t, file(escapeDir+"/abs", "pwned")),
		"dotdot":                         handTar(t, file("../escape", "pwned")),
		"dotdot-inside":                  handTar(t, dir("a/"), file("a/../../escape", "pwned")),
		"symlink-write-through":          handTar(t, symlink("l", escapeDir), file("l/pwned", "pwned")),
		"relative-symlink-write-through": handTar(t, symlink("l", ".."), file("l/escape", "pwned")),
		"symlink-then-file":              handTar(t, symlink("l", escapeDir+"/target"), file("l", "pwned")),
		"hard-link":                      handTar(t, rawEntry{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}}),
		"char-device":                    handTar(t, rawEntry{hdr: tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}}),
		"block-device":                   handTar(t, rawEntry{hdr: tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8}}),
		"fifo":                           handTar(t, rawEntry{hdr: tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644}}),
		"setuid":                         handTar(t, rawEntry{hdr: tar.Header{Name: "su", Typeflag: tar.TypeReg, Mode: 0o4755}, data: "x"}),
		"huge-header-size":               handTar(t, rawEntry{hdr: tar.Header{Name: "huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}, noData: true}),
	}
}

func corpusFile(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

func parseCorpusFile(b []byte) ([]byte, error) {
	s, ok := strings.CutPrefix(string(b), "go test fuzz v1\n")
	if !ok {
		return nil, errors.New("no fuzz corpus header")
	}
	s = strings.TrimSpace(s)
	s, ok = strings.CutPrefix(s, "[]byte(")
	if !ok || !strings.HasSuffix(s, ")") {
		return nil, errors.New("not a []byte value")
	}
	v, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
	return []byte(v), err
}

// The committed seeds are what fuzzSeeds says, and each is refused (or,
// for valid-*, unpacked). go test -run TestFuzzCorpus -write-corpus
// rewrites them.
func TestFuzzCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	if *writeCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			if err := os.WriteFile(filepath.Join(corpusDir, name), corpusFile(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range seeds {
		b, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Fatalf("seed %s: %v (run with -write-corpus)", name, err)
		}
		data, err := parseCorpusFile(b)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		dest := filepath.Join(t.TempDir(), "dest")
		os.Mkdir(dest, 0o755)
		_, err = Unpack(bytes.NewReader(data), dest, cas.DigestOf(data), UnpackOptions{})
		treetest.MakeRemovable(dest)
		if strings.HasPrefix(name, "valid-") {
			if err != nil {
				t.Errorf("seed %s: %v", name, err)
			}
		} else if !errors.Is(err, ErrUnsafe) {
			t.Errorf("seed %s: err = %v, want ErrUnsafe", name, err)
		}
	}
}

// FuzzUnpack feeds arbitrary bytes to Unpack as an archive whose digest
// matches, so that the zstd and tar readers and the extraction rules are
// what is exercised. It must never panic and never write outside dest.
func FuzzUnpack(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	lim := Limits{MaxBytes: 1 << 20, MaxFiles: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		defer treetest.MakeRemovable(dest)
		_, err := Unpack(bytes.NewReader(data), dest, cas.DigestOf(data), UnpackOptions{Limits: lim})
		if err != nil && strings.Contains(err.Error(), "read archive") {
			// A bytes.Reader never fails: this is corruption misfiled.
			t.Fatalf("archive damage reported as a read error: %v", err)
		}
		ents, rerr := os.ReadDir(parent)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(ents) != 1 || ents[0].Name() != "dest" {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("wrote beside dest: %v (err %v)", names, err)
		}
		if _, serr := os.Lstat(escapeDir); serr == nil {
			t.Fatalf("%s exists: an absolute path or symlink escaped (err %v)", escapeDir, err)
		}
	})
}

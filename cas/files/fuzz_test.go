package files

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the FuzzParse seed corpus in testdata")

const corpusDir = "testdata/fuzz/FuzzParse"

// fuzzSeeds are the seed corpus, as the JSON of an index: smallIndex's
// (named "valid-…", which Parse must accept) and each hostile index of
// TestParseRefuses that breaks a rule within the default limits.
func fuzzSeeds(t testing.TB) map[string][]byte {
	b := smallIndex(t)
	seeds := map[string][]byte{}
	add := func(name string, ix *Index) {
		js, err := json.Marshal(ix)
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = js
	}
	add("valid-small", b.ix)
	add("valid-empty", &Index{Format: Format, Prefix: testPrefix})
	for _, h := range hostileIndexes(b) {
		if h.lim != (Limits{}) {
			continue
		}
		ix := clone(b.ix)
		h.mangle(t, ix)
		add(strings.NewReplacer(" ", "-", "'", "").Replace(h.name), ix)
	}
	return seeds
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
// for valid-*, parsed). go test -run TestFuzzCorpus -write-corpus
// rewrites them.
func TestFuzzCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	if *writeCorpus {
		os.RemoveAll(corpusDir)
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			if err := os.WriteFile(filepath.Join(corpusDir, name), corpusFile(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := os.ReadDir(corpusDir)
	if err != nil || len(files) != len(seeds) {
		t.Fatalf("%d seeds in %s, want %d (%v): run with -write-corpus", len(files), corpusDir, len(seeds), err)
	}
	for name, want := range seeds {
		b, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Fatalf("seed %s: %v (run with -write-corpus)", name, err)
		}
		js, err := parseCorpusFile(b)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		if string(js) != string(want) {
			t.Errorf("seed %s is not what fuzzSeeds makes: run with -write-corpus", name)
		}
		data := indexEncoder().EncodeAll(js, nil)
		_, err = Parse(data, cas.DigestOf(data), Limits{})
		if strings.HasPrefix(name, "valid-") != (err == nil) {
			t.Errorf("seed %s: Parse: %v", name, err)
		}
	}
}

// FuzzParse feeds arbitrary JSON to Parse as an index whose digest
// matches, so that the rules are what is exercised. It must never panic;
// an index it accepts must marshal back to the same index, and plan into
// ranges ReadRange accepts.
func FuzzParse(f *testing.F) {
	for _, js := range fuzzSeeds(f) {
		f.Add(js)
	}
	lim := Limits{MaxFiles: 1000, MaxBytes: 1 << 30, MaxIndexSize: 1 << 20}
	f.Fuzz(func(t *testing.T, js []byte) {
		data := indexEncoder().EncodeAll(js, nil)
		ix, err := Parse(data, cas.DigestOf(data), lim)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Parse: %v, not ErrCorrupt", err)
			}
			return
		}
		again, d, err := Marshal(ix)
		if err != nil {
			t.Fatalf("Parse accepted what Marshal refuses: %v", err)
		}
		back, err := Parse(again, d, lim)
		if err != nil || !equalIndex(back, ix) {
			t.Fatalf("Marshal's index does not parse back: %v", err)
		}
		for _, rg := range Plan(ix, all, 1<<20) {
			if err := rg.check(); err != nil {
				t.Fatalf("Plan of a parsed index: %v", err)
			}
			if rg.Offset+rg.Length > rg.Pack.Size {
				t.Fatalf("Plan reads %d bytes at %d of a pack of %d", rg.Length, rg.Offset, rg.Pack.Size)
			}
		}
	})
}

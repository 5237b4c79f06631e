package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

// strictDecode is the decoding Parse falls back to: encoding/json, no
// unknown fields, nothing after the index.
func strictDecode(js []byte) (*Index, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var ix Index
	if err := dec.Decode(&ix); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the index")
	}
	return &ix, nil
}

// What Marshal writes takes the fast way, and decodes to what
// encoding/json reads of it, field for field, whichever fields are there;
// what needs an escape, or is spelled otherwise, takes the strict way,
// and Parse reads the same index either way.
func TestDecodeCanonical(t *testing.T) {
	b := smallIndex(t)
	tests := []struct {
		name   string
		mangle func(ix *Index)
		fast   bool
	}{
		{"as packed (dirs, files, symlinks, an empty content)", func(ix *Index) {}, true},
		{"relocate, an executable", func(ix *Index) {
			entry(t, ix, "bin/rez").Relocate = true
			entry(t, ix, "lib/a.py").Mode = 0o755
		}, true},
		{"no entries", func(ix *Index) { ix.Entries, ix.Contents, ix.Packs = nil, nil, nil }, true},
		{"non-ASCII names", func(ix *Index) {
			entry(t, ix, "lib/d.py").Path = "lib/dé.py"
			entry(t, ix, "lib64").Target = "lib✓"
		}, true},
		{"a name Marshal escapes (<)", func(ix *Index) { entry(t, ix, "lib/d.py").Path = "lib/d<.py" }, false},
		{"a quote in a target", func(ix *Index) { entry(t, ix, "lib64").Target = `li"b` }, false},
		{"a newline in a name", func(ix *Index) { entry(t, ix, "lib/d.py").Path = "lib/d\n.py" }, false},
		{"a negative size (refused later)", func(ix *Index) { content(t, ix, "lib/d.py").Size = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := clone(b.ix)
			tt.mangle(ix)
			js, err := json.Marshal(ix)
			if err != nil {
				t.Fatal(err)
			}
			want, err := strictDecode(js)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := decodeCanonical(js)
			if ok != tt.fast {
				t.Fatalf("decodeCanonical took it: %v, want %v", ok, tt.fast)
			}
			if ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeCanonical: %+v\nencoding/json: %+v", got, want)
			}
			if parsed, err := decode(indexEncoder().EncodeAll(js, nil), DefaultLimits()); err != nil || !reflect.DeepEqual(parsed, want) {
				t.Errorf("decode: %+v, %v\nwant %+v", parsed, err, want)
			}
		})
	}
	// Spelled otherwise than Marshal spells it: the strict way.
	js, _ := json.Marshal(b.ix)
	for _, other := range [][]byte{
		append(js, ' '),
		bytes.Replace(js, []byte(`{"format"`), []byte(`{ "format"`), 1),
		bytes.Replace(js, []byte(`"type":"dir"`), []byte(`"Type":"dir"`), 1),
		bytes.Replace(js, []byte(`"mode":493`), []byte(`"mode":4.93e2`), 1),
		bytes.Replace(js, []byte(`"mode":493`), []byte(`"mode":0493`), 1),
		bytes.Replace(js, []byte(`,"packs":`), []byte(`,"extra":1,"packs":`), 1),
	} {
		if bytes.Equal(other, js) {
			t.Fatalf("the test's replacement did not apply to %s", js)
		}
		if _, ok := decodeCanonical(other); ok {
			t.Errorf("decodeCanonical took %s", other)
		}
	}
}

// FuzzDecodeCanonical: whatever the fast way takes, encoding/json reads
// too, to the same index.
func FuzzDecodeCanonical(f *testing.F) {
	for _, js := range fuzzSeeds(f) {
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		got, ok := decodeCanonical(js)
		if !ok {
			return
		}
		want, err := strictDecode(js)
		if err != nil {
			t.Fatalf("decodeCanonical took what encoding/json refuses (%v): %s", err, js)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeCanonical: %+v\nencoding/json: %+v", got, want)
		}
	})
}

package materialize

import (
	"bytes"
	"maps"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
)

// An object list is written compressed and read back as it was; a list
// written as text, as before, still reads; a damaged compressed list is
// an error, never a shorter list.
func TestObjectListFormats(t *testing.T) {
	t.Parallel()
	l := ObjectList{}
	for i := range 300 {
		var d cas.Digest
		d[0], d[1], d[31] = byte(i), byte(i>>8), 7
		l[ObjectRef{Digest: d, Exec: i%3 == 0}] = ObjectUse{Size: int64(i * 1000), Links: i % 4}
	}
	data := l.marshal()
	if !bytes.HasPrefix(data, zstdMagic) {
		t.Fatalf("the list is not written compressed: %q", data[:min(20, len(data))])
	}
	got, err := parseObjectList(data)
	if err != nil || !maps.Equal(got, l) {
		t.Fatalf("read back %d of %d objects: %v", len(got), len(l), err)
	}
	text, err := objectListCodec().dec.DecodeAll(data, nil)
	if err != nil || !strings.HasPrefix(string(text), objectListHeader+"\n") || len(data) > len(text)*2/3 {
		t.Fatalf("%d bytes compressed of %d, %v", len(data), len(text), err)
	}
	if got, err := parseObjectList(text); err != nil || !maps.Equal(got, l) {
		t.Fatalf("a list written as text: %d of %d objects: %v", len(got), len(l), err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	if got, err := parseObjectList(bad); err == nil {
		t.Fatalf("a damaged list read as %d objects", len(got))
	}
}

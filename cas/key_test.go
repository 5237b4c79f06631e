package cas

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Keys name every build ever published: changing these values is a
// breaking change.
func TestKeyGolden(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"rezup-key/1", "3914fc91a5794bec9098806c3d1b6279"},
		{`{"schema":"rezup-key/1"}`, "a4b28053237d43eb63283d99da5bed0b"},
		{"", "af1349b9f5f9a1a6a0404dea36dcc949"}, // BLAKE3("") starts af1349b9f5f9a1a6: the reference test vector
	}
	for _, tt := range tests {
		if got := KeyOf([]byte(tt.in)).String(); got != tt.want {
			t.Errorf("KeyOf(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDigestGolden(t *testing.T) {
	const want = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" // BLAKE3("")
	if got := DigestOf(nil).String(); got != want {
		t.Fatalf("DigestOf(nil) = %s, want %s", got, want)
	}
}

func TestParseKey(t *testing.T) {
	good := "3914fc91a5794bec9098806c3d1b6279"
	tests := []struct {
		in string
		ok bool
	}{
		{good, true},
		{"00000000000000000000000000000000", true},
		{strings.ToUpper(good), false},
		{good[:31], false},
		{good + "0", false},
		{good[:30] + "g9", false},
		{" " + good[1:], false},
		{"", false},
		{good + good, false}, // a digest is not a key
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseKey(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) err = %v, want ErrBadKey", tt.in, err)
		}
		if tt.ok && k.String() != tt.in {
			t.Errorf("round trip %q -> %q", tt.in, k)
		}
	}
}

func TestParseDigest(t *testing.T) {
	good := DigestOf([]byte("x")).String()
	for _, in := range []string{good[:63], strings.ToUpper(good), good[:32], ""} {
		if _, err := ParseDigest(in); !errors.Is(err, ErrBadDigest) {
			t.Errorf("ParseDigest(%q) err = %v, want ErrBadDigest", in, err)
		}
	}
	d, err := ParseDigest(good)
	if err != nil || d.String() != good {
		t.Fatalf("ParseDigest(%q) = %s, %v", good, d, err)
	}
}

func TestKeyDigestJSON(t *testing.T) {
	type doc struct {
		K Key           `json:"k"`
		D Digest        `json:"d"`
		M map[Key]int64 `json:"m"` // keys work as map keys via TextMarshaler
	}
	in := doc{K: KeyOf([]byte("rezup-key/1")), D: DigestOf(nil), M: map[Key]int64{KeyOf(nil): 1}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"k":"3914fc91a5794bec9098806c3d1b6279","d":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","m":{"af1349b9f5f9a1a6a0404dea36dcc949":1}}`
	if string(b) != want {
		t.Fatalf("json %s\nwant %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.K != in.K || out.D != in.D || out.M[KeyOf(nil)] != 1 {
		t.Fatalf("round trip %+v", out)
	}
	if err := json.Unmarshal([]byte(`{"k":"nothex"}`), &out); !errors.Is(err, ErrBadKey) {
		t.Fatalf("bad key in json: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"d":"nothex"}`), &out); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("bad digest in json: %v", err)
	}
}

// A zero key is what a JSON field without a key decodes to; omitzero
// leaves it out, and only it.
func TestKeyIsZero(t *testing.T) {
	type doc struct {
		K Key `json:"k,omitzero"`
	}
	for _, tt := range []struct {
		k    Key
		want string
	}{
		{Key{}, `{}`},
		{KeyOf(nil), `{"k":"af1349b9f5f9a1a6a0404dea36dcc949"}`},
		{Key{15: 1}, `{"k":"00000000000000000000000000000001"}`},
	} {
		if got := tt.k.IsZero(); got != (tt.want == `{}`) {
			t.Errorf("%s.IsZero() = %v", tt.k, got)
		}
		b, err := json.Marshal(doc{tt.k})
		if err != nil || string(b) != tt.want {
			t.Errorf("marshal %s: %s, %v; want %s", tt.k, b, err, tt.want)
		}
	}
}

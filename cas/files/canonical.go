package files

import (
	"bytes"
	"io/fs"
	"math"
	"unicode/utf8"

	"github.com/rezup/rezup/cas"
)

// decodeCanonical decodes js when it is spelled exactly as Marshal
// spells an index (encoding/json of these types: the fields in their
// order, no spaces, empty ones left out, numbers as plain digits, strings
// without escapes) and says ok; anything else, another spelling of an
// index or no index at all, is ok false, left to encoding/json to decode
// strictly. The two decode what both read to the same Index
// (FuzzDecodeCanonical): this is only the fast way, without reflection,
// through the indexes rezup writes, whose paths need no escape (a path
// with '"', '\', '<', '>', '&' or a control character takes the strict
// way). Nothing it returns is checked yet: Parse checks either.
func decodeCanonical(js []byte) (ix *Index, ok bool) {
	d := canonical{b: js}
	ix = &Index{}
	if !d.lit(`{"format":`) || !d.str(&ix.Format) || !d.lit(`,"prefix":`) || !d.str(&ix.Prefix) {
		return nil, false
	}
	if d.lit(`,"entries":[`) {
		ix.Entries = make([]Entry, 0, bytes.Count(d.b, []byte(`{"path":`)))
		for {
			var e Entry
			var mode uint64
			if !d.lit(`{"path":`) || !d.str(&e.Path) || !d.lit(`,"type":`) || !d.str((*string)(&e.Type)) ||
				!d.lit(`,"mode":`) || !d.uint(&mode, math.MaxUint32) {
				return nil, false
			}
			e.Mode = fs.FileMode(mode)
			if d.lit(`,"size":`) && (!d.int64(&e.Size) || e.Size == 0) {
				return nil, false // Marshal leaves a zero size out
			}
			if d.lit(`,"content":`) && (!d.digest(&e.Content) || e.Content == (cas.Digest{})) {
				return nil, false // and a zero digest
			}
			if d.lit(`,"target":`) && (!d.str(&e.Target) || e.Target == "") {
				return nil, false // and an empty target
			}
			e.Relocate = d.lit(`,"relocate":true`)
			if !d.lit(`}`) {
				return nil, false
			}
			ix.Entries = append(ix.Entries, e)
			if d.lit(`]`) {
				break
			}
			if !d.lit(`,`) {
				return nil, false
			}
		}
	}
	if d.lit(`,"contents":[`) {
		ix.Contents = make([]Content, 0, bytes.Count(d.b, []byte(`{"digest":`)))
		for {
			var c Content
			var pack uint64
			if !d.lit(`{"digest":`) || !d.digest(&c.Digest) || !d.lit(`,"size":`) || !d.int64(&c.Size) ||
				!d.lit(`,"pack":`) || !d.uint(&pack, math.MaxInt) || !d.lit(`,"offset":`) || !d.int64(&c.Offset) ||
				!d.lit(`,"length":`) || !d.int64(&c.Length) || !d.lit(`,"skip":`) || !d.int64(&c.Skip) || !d.lit(`}`) {
				return nil, false
			}
			c.Pack = int(pack)
			ix.Contents = append(ix.Contents, c)
			if d.lit(`]`) {
				break
			}
			if !d.lit(`,`) {
				return nil, false
			}
		}
	}
	if d.lit(`,"packs":[`) {
		for {
			var p PackRef
			if !d.lit(`{"digest":`) || !d.digest(&p.Digest) || !d.lit(`,"size":`) || !d.int64(&p.Size) || !d.lit(`}`) {
				return nil, false
			}
			ix.Packs = append(ix.Packs, p)
			if d.lit(`]`) {
				break
			}
			if !d.lit(`,`) {
				return nil, false
			}
		}
	}
	if !d.lit(`}`) || len(d.b) != 0 {
		return nil, false
	}
	return ix, true
}

// canonical reads the canonical JSON of an index: each method takes
// what it reads off the front of b and says whether it was there.
type canonical struct{ b []byte }

// lit takes s, when b starts with it.
func (d *canonical) lit(s string) bool {
	if len(d.b) < len(s) || string(d.b[:len(s)]) != s {
		return false
	}
	d.b = d.b[len(s):]
	return true
}

// str takes a string without escapes, of valid UTF-8: what
// encoding/json would read of it is then its bytes.
func (d *canonical) str(s *string) bool {
	if len(d.b) == 0 || d.b[0] != '"' {
		return false
	}
	ascii := true
	for i := 1; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			v := d.b[1:i]
			if !ascii && !utf8.Valid(v) {
				return false
			}
			*s = string(v)
			d.b = d.b[i+1:]
			return true
		case c == '\\' || c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

// uint takes digits, without a sign or a leading zero, of a number at
// most max.
func (d *canonical) uint(v *uint64, max uint64) bool {
	n := 0
	var x uint64
	for n < len(d.b) && '0' <= d.b[n] && d.b[n] <= '9' {
		if n == 18 { // past any value here: encoding/json's to refuse
			return false
		}
		x = x*10 + uint64(d.b[n]-'0')
		n++
	}
	if n == 0 || n > 1 && d.b[0] == '0' || x > max {
		return false
	}
	*v = x
	d.b = d.b[n:]
	return true
}

// int64 takes a number as uint does; a negative one is encoding/json's
// to read (and check's to refuse).
func (d *canonical) int64(v *int64) bool {
	var x uint64
	if !d.uint(&x, math.MaxInt64) {
		return false
	}
	*v = int64(x)
	return true
}

// digest takes a quoted digest, as cas.Digest's UnmarshalText reads it.
func (d *canonical) digest(v *cas.Digest) bool {
	const n = 2 + 2*len(cas.Digest{})
	if len(d.b) < n || d.b[0] != '"' || d.b[n-1] != '"' {
		return false
	}
	p, err := cas.ParseDigest(string(d.b[1 : n-1]))
	if err != nil {
		return false
	}
	*v = p
	d.b = d.b[n:]
	return true
}

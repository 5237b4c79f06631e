package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/internal/treetest"
)

// A pin names its archive whatever entry.json says: another publisher's
// entry for the key changes nothing, and a pinned archive that is gone or
// of another size is a miss, never another digest.
func TestPinnedIgnoresTheEntry(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("pinned"))

	ours := t.TempDir()
	treetest.WriteTree(t, ours, treetest.SampleTree())
	pin, err := c.Publish(ctx, testEntry(key), packArchive(t, ours, archive.PackOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	// Another tree published over the key: entry.json now names it.
	theirs := t.TempDir()
	treetest.WriteTree(t, theirs, append(treetest.SampleTree(), treetest.Node{Name: "trojan", Kind: 'f', Perm: 0o644, Data: "x", MTime: treetest.At(20)}))
	if err := c.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(c.String(), key.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	other, err := c.Publish(ctx, testEntry(key), packArchive(t, theirs, archive.PackOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	// Our archive again, beside theirs (Remove took it).
	if _, err := c.Publish(ctx, testEntry(key), packArchive(t, ours, archive.PackOptions{})); err != nil {
		t.Fatal(err)
	}
	if looked, err := c.Lookup(ctx, key); err != nil || looked.Digest != other.Digest {
		t.Fatalf("entry.json should name their archive: %+v, %v", looked, err)
	}

	got, err := c.Pinned(ctx, pin)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != pin.Digest || got.Signatures != nil {
		t.Fatalf("Pinned returned %+v, want the pin's digest %s", got, pin.Digest)
	}

	tests := []struct {
		name string
		pin  func(Entry) Entry
		want MissReason
	}{
		{"no digest", func(e Entry) Entry { e.Digest = cas.Digest{}; return e }, MissBadEntry},
		{"no size", func(e Entry) Entry { e.Size = 0; return e }, MissBadEntry},
		{"another size", func(e Entry) Entry { e.Size++; return e }, MissNoArchive},
		{"missing archive", func(e Entry) Entry { e.Digest[0] ^= 0xff; return e }, MissNoArchive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Pinned(ctx, tt.pin(pin))
			var miss *MissError
			if !errors.As(err, &miss) || miss.Reason != tt.want || !errors.Is(err, ErrNotFound) {
				t.Fatalf("got %v, want a miss: %s", err, tt.want)
			}
		})
	}
}

// A cache that cannot tell which keys it trusts finds nothing by key, and
// still fetches a pinned archive.
func TestPinsOnly(t *testing.T) {
	c := newTestCache(t)
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	a := packArchive(t, src, archive.PackOptions{})
	key := cas.KeyOf([]byte("pins only"))
	e, err := c.Publish(context.Background(), testEntry(key), a)
	if err != nil {
		t.Fatal(err)
	}
	pins := c.PinsOnly().WithTrustedKeys() // the other settings keep it
	var miss *MissError
	if _, err := pins.Lookup(context.Background(), key); !errors.As(err, &miss) || miss.Reason != MissUntrusted {
		t.Fatalf("lookup by key with pins only: %v, want a MissUntrusted miss", err)
	}
	got, err := pins.Pinned(context.Background(), e)
	if err != nil || got.Digest != e.Digest {
		t.Fatalf("pinned archive with pins only: %+v, %v", got, err)
	}
	if _, err := c.Lookup(context.Background(), key); err != nil {
		t.Errorf("PinsOnly changed the cache it came from: %v", err)
	}
}

package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/internal/fsx"
)

// Two publishers of one key leave two archives: Archives lists both and
// tells the named one; RemoveArchive removes the loser and refuses the
// named one.
func TestArchivesAndRemoveArchive(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("raced"))
	winner := archiveOf(t, []byte("first archive bytes"), 1, 1)
	loser := archiveOf(t, []byte("second archive bytes"), 1, 1)
	if _, err := c.Publish(ctx, testEntry(key), winner); err != nil {
		t.Fatal(err)
	}
	got, err := c.Publish(ctx, testEntry(key), loser)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != winner.Digest {
		t.Fatalf("second publish committed %s, want the first's %s", got.Digest, winner.Digest)
	}
	// A temp file of a publish in flight is not an archive, nor is a
	// name that is not a digest.
	for _, name := range []string{loser.Digest.String() + fsx.TempSuffix + "1" + archive.Ext, "notadigest" + archive.Ext} {
		if err := os.WriteFile(filepath.Join(c.String(), key.String(), name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	list, err := c.Archives(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	named := map[cas.Digest]bool{}
	for _, a := range list {
		named[a.Digest] = a.Named
		if a.Modified.IsZero() || a.Size <= 0 {
			t.Errorf("archive %s: no mtime or size: %+v", a.Digest, a)
		}
	}
	if len(list) != 2 || !named[winner.Digest] || named[loser.Digest] {
		t.Fatalf("Archives = %+v, want the winner named and the loser not", list)
	}

	if err := c.RemoveArchive(ctx, key, winner.Digest); !errors.Is(err, ErrNamed) {
		t.Fatalf("remove the named archive: %v, want ErrNamed", err)
	}
	if err := c.RemoveArchive(ctx, key, loser.Digest); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveArchive(ctx, key, loser.Digest); err != nil {
		t.Fatalf("removing it again: %v", err)
	}
	if list, err = c.Archives(ctx, key); err != nil || len(list) != 1 || list[0].Digest != winner.Digest {
		t.Fatalf("after removal: %+v, %v", list, err)
	}
	if _, err := c.Lookup(ctx, key); err != nil {
		t.Fatalf("the entry no longer resolves: %v", err)
	}
}

// An entry no trusted key signed still names its archive: gc must not
// take it for an unnamed one.
func TestArchivesNamedWithoutTrust(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("unsigned"))
	a := archiveOf(t, []byte("archive"), 1, 1)
	if _, err := c.Publish(ctx, testEntry(key), a); err != nil {
		t.Fatal(err)
	}
	_, pub, err := GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	strict := c.WithTrustedKeys(pub)
	list, err := strict.Archives(ctx, key)
	if err != nil || len(list) != 1 || !list[0].Named {
		t.Fatalf("Archives with trusted keys = %+v, %v; want the archive named", list, err)
	}
	if err := strict.RemoveArchive(ctx, key, a.Digest); !errors.Is(err, ErrNamed) {
		t.Fatalf("RemoveArchive: %v, want ErrNamed", err)
	}
}

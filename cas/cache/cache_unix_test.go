//go:build unix

package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
)

// Whoever may write the cache may plant anything under an entry's name.
// Lookup must come back at once with a bad-entry miss, never block on a
// FIFO (it runs under the key's exclusive lock), read a device without
// end, or follow a symlink to a file the planter chose; and a publish
// must be able to replace what was planted.
func TestLookupHostileFiles(t *testing.T) {
	key := cas.KeyOf([]byte("hostile"))
	tests := []struct {
		name   string
		plant  func(t *testing.T, c *Cache, e Entry)
		reason MissReason
		why    string
	}{
		{"entry.json is a FIFO", func(t *testing.T, c *Cache, e Entry) {
			p := filepath.Join(c.String(), key.String(), entryFile)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, MissBadEntry, "not a regular file"},
		{"entry.json is /dev/zero", func(t *testing.T, c *Cache, e Entry) {
			p := filepath.Join(c.String(), key.String(), entryFile)
			os.Remove(p)
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
		}, MissBadEntry, "not a regular file"},
		{"entry.json links to a valid entry elsewhere", func(t *testing.T, c *Cache, e Entry) {
			p := filepath.Join(c.String(), key.String(), entryFile)
			elsewhere := filepath.Join(t.TempDir(), entryFile)
			if err := os.Rename(p, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, p); err != nil {
				t.Fatal(err)
			}
		}, MissBadEntry, "not a regular file"},
		{"entry.json over the limit", func(t *testing.T, c *Cache, e Entry) {
			p := filepath.Join(c.String(), key.String(), entryFile)
			if err := os.Truncate(p, maxEntrySize+1); err != nil {
				t.Fatal(err)
			}
		}, MissBadEntry, "limit"},
		{"archive is a symlink", func(t *testing.T, c *Cache, e Entry) {
			p := filepath.Join(c.String(), key.String(), e.Digest.String()+archive.Ext)
			elsewhere := filepath.Join(t.TempDir(), "a"+archive.Ext)
			if err := os.Rename(p, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, p); err != nil {
				t.Fatal(err)
			}
		}, MissNoArchive, "not a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			e, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("archive bytes"), 1, 1))
			if err != nil {
				t.Fatal(err)
			}
			tt.plant(t, c, e)
			done := make(chan error, 1)
			go func() {
				_, err := c.Lookup(context.Background(), key)
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Lookup still blocked after 10s")
			}
			var miss *MissError
			if !errors.As(err, &miss) || miss.Reason != tt.reason || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("err = %v, want a %q miss saying %q", err, tt.reason, tt.why)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if _, err := c.Open(context.Background(), e); tt.reason == MissNoArchive && err == nil {
				t.Fatal("Open read an archive that is a symlink")
			}
			if tt.reason != MissBadEntry {
				return
			}
			// What was planted is replaced by the next publish.
			want, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("fresh archive"), 1, 1))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.Lookup(context.Background(), key); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("after republishing: %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// The directory backend opens only regular files; a folder stays a
// missing object, as before.
func TestDirBackendOpenRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	b := backend.NewDirBackend(dir, backend.DirOptions{})
	if err := os.MkdirAll(filepath.Join(dir, "k", "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "k", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "k", "zero")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, notExist := range map[string]bool{"k/folder": true, "k/fifo": false, "k/zero": false} {
		_, oerr := b.Open(ctx, name, 0, -1)
		_, serr := b.Stat(ctx, name)
		for _, err := range []error{oerr, serr} {
			if err == nil || backend.IsNotExist(err) != notExist || errors.Is(err, backend.ErrNotRegular) == notExist || !backend.IsPermanent(err) {
				t.Errorf("%s: err = %v; want not-exist %v, not-regular %v, permanent", name, err, notExist, !notExist)
			}
		}
	}
}

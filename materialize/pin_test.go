//go:build unix

package materialize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
)

// A pinned fetch takes the pinned archive and nothing else: an entry.json
// that names another archive of the key (planted first) is ignored, a
// pinned archive that is gone is a miss (never the key's entry), and the
// origin of what was fetched is recorded. Fetching by key, the same cache
// gives the planted archive: the test can tell them apart.
func TestPinnedFetchIgnoresTheKeysEntry(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k := cas.KeyOf([]byte("pin test"))

	attacker := newStore(t, filepath.Join(t.TempDir(), "attacker"), sc, nil)
	fakeEntry(t, attacker, k)
	plantArchive(t, attacker, k, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "venv", "rez", "trojan"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k)
	pin, err := admin.Publish(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	planted, err := sc.Lookup(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if planted.Digest == pin.Digest {
		t.Fatal("Publish did not store its own archive: the pin is the planted digest")
	}

	trojan := func(s *Store) bool {
		_, err := os.Stat(filepath.Join(s.opt.Root.EntryDir(k), "venv", "rez", "trojan"))
		return err == nil
	}
	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
	m, err := node.made(ctx, Request{Key: k, Plan: nil, Pin: &pin})
	if err != nil {
		t.Fatal(err)
	}
	if trojan(node) {
		t.Fatal("a pinned fetch unpacked the archive entry.json names")
	}
	if o := m.Origin; o == nil || o.How != OriginFetched || !o.Pinned || o.Digest != pin.Digest || !o.Trusted(nil) {
		t.Errorf("origin %+v, want fetched, pinned, digest %s", m.Origin, pin.Digest)
	}

	byKey := newStore(t, filepath.Join(t.TempDir(), "bykey"), sc, nil)
	m, err = byKey.made(ctx, Request{Key: k, Plan: nil})
	if err != nil {
		t.Fatal(err)
	}
	if !trojan(byKey) {
		t.Fatal("fetching by key did not give the planted archive: the test tells nothing")
	}
	if m.Origin.Trusted(nil) {
		t.Errorf("an unsigned entry fetched by key is trusted: %+v", m.Origin)
	}

	gone := pin
	gone.Digest[0] ^= 0xff
	lost := newStore(t, filepath.Join(t.TempDir(), "lost"), sc, nil)
	if _, err := lost.made(ctx, Request{Key: k, Plan: nil, Pin: &gone}); !errors.Is(err, ErrNotCached) || lost.ready(k) {
		t.Fatalf("a missing pinned archive: %v, want ErrNotCached and nothing fetched", err)
	}

	// A pin of a format only a newer rezup knows is no silent miss: a
	// failure of the cache (the launcher warns and builds from the
	// recipe) that names the version to upgrade to.
	newer := pin
	newer.Format, newer.RezupVersion = "files9", "9.0.0"
	old := newStore(t, filepath.Join(t.TempDir(), "old"), sc, nil)
	_, err = old.made(ctx, Request{Key: k, Plan: nil, Pin: &newer})
	if !isCacheError(err) || !strings.Contains(err.Error(), `the format "files9"`) || !strings.Contains(err.Error(), "upgrade rezup to 9.0.0 or newer") || old.ready(k) {
		t.Fatalf("a pin of a newer format: %v, want a cache error naming the format and the version to upgrade to, and nothing fetched", err)
	}

	pub := New(Options{Root: Root{Dir: filepath.Join(t.TempDir(), "pub")}, Environ: os.Environ(), Cache: sc, PipCache: testkit.PipCache(t)})
	if _, err := pub.made(ctx, Request{Key: k, ForPublish: true}); !errors.Is(err, ErrNotCached) || pub.ready(k) {
		t.Fatalf("a publisher without trusted keys fetched an unsigned entry by key: %v", err)
	}
}

func TestOriginTrusted(t *testing.T) {
	_, pk, err := cache.GenerateKey("studio-1")
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := cache.GenerateKey("studio-1") // same name, another key
	tests := []struct {
		name    string
		o       *Origin
		trusted []cache.PublicKey
		want    bool
	}{
		{"unknown", nil, []cache.PublicKey{pk}, false},
		{"built", &Origin{How: OriginBuilt}, nil, true},
		{"pinned", &Origin{How: OriginFetched, Pinned: true}, nil, true},
		{"unsigned", &Origin{How: OriginFetched}, []cache.PublicKey{pk}, false},
		{"signed, trusted", &Origin{How: OriginFetched, Signer: pk.String()}, []cache.PublicKey{pk}, true},
		{"signed, no longer trusted", &Origin{How: OriginFetched, Signer: pk.String()}, nil, false},
		{"signed by a namesake", &Origin{How: OriginFetched, Signer: other.String()}, []cache.PublicKey{pk}, false},
		{"another how", &Origin{How: "copied", Pinned: true}, nil, false},
	}
	for _, tt := range tests {
		if got := tt.o.Trusted(tt.trusted); got != tt.want {
			t.Errorf("%s: Trusted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A revision.json whose pin is not an archive of its own key is
// unreadable (the revision is skipped); a good pin reads back.
func TestRevisionPinRead(t *testing.T) {
	k := cas.KeyOf([]byte("meta pin"))
	other := cas.KeyOf([]byte("another"))
	digest := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		json string
		ok   bool
	}{
		{"no pin", `{"key": "` + k.String() + `", "venvs": ["rez"]}`, true},
		{"good pin", `{"key": "` + k.String() + `", "venvs": ["rez"], "archive": {"key": "` + k.String() + `", "digest": "` + digest + `", "size": 10}}`, true},
		{"pin of another key", `{"key": "` + k.String() + `", "archive": {"key": "` + other.String() + `", "digest": "` + digest + `", "size": 10}}`, false},
		{"pin without a key", `{"archive": {"key": "` + k.String() + `", "digest": "` + digest + `", "size": 10}}`, false},
		{"pin without a size", `{"key": "` + k.String() + `", "archive": {"key": "` + k.String() + `", "digest": "` + digest + `"}}`, false},
		{"pin without a digest", `{"key": "` + k.String() + `", "archive": {"key": "` + k.String() + `", "size": 10}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "revision.json"), []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := readMeta(dir)
			if (err == nil) != tt.ok {
				t.Fatalf("readMeta: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && strings.Contains(tt.json, "archive") {
				rev := &Revision{Meta: m}
				if pin := rev.Pin(); pin == nil || pin.Key != k || pin.Digest.String() != digest {
					t.Fatalf("Pin() = %+v", pin)
				}
			}
		})
	}
}

package materialize

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
)

// RefusedTTL is how long a store remembers that it refused a cache
// archive (its digest did not match, it was over the unpack limits, its
// manifest was bad): for that long, an entry naming that archive is a
// miss at once, and a node that can build does so without downloading
// (and maybe writing gigabytes of) the same bad bytes at every launch.
// Long enough to spare a farm that, short enough that an archive repaired
// in the cache, or a download that was damaged on the way, is tried again
// the same day.
const RefusedTTL = time.Hour

// refusedName is the folder of refusal marks in .tmp: refused/<digest>,
// a small file holding why, its mtime when. Marks older than RefusedTTL
// are ignored, removed by the next check of that digest, and by gc
// (LeftoverRefused).
const refusedName = "refused"

// refusedDir is <root>/.tmp/refused.
func (r Root) refusedDir() string { return filepath.Join(r.TmpDir(), refusedName) }

// refusedMark is the mark of a refused archive digest.
func (r Root) refusedMark(d cas.Digest) string { return filepath.Join(r.refusedDir(), d.String()) }

// RefusedError means the shared cache has an entry for Key, but the
// archive it names (Digest) was refused by this store: now (Err says
// why), or within RefusedTTL (Remembered, Since). It wraps ErrNotCached:
// a caller with the recipe builds instead, and nothing is published over
// that entry (it is another publisher's commit; whoever administers the
// cache removes it).
type RefusedError struct {
	Key        cas.Key
	Digest     cas.Digest
	Cache      string
	Err        error
	Remembered bool
	Since      time.Time // when it was refused, when Remembered
	// Index says Digest is the entry's index (fetched file by file,
	// delta.go), not an archive.
	Index bool
}

func (e *RefusedError) Error() string {
	what := "archive"
	if e.Index {
		what = "index"
	}
	if e.Remembered {
		return fmt.Sprintf("the cache entry of %s names %s %s, refused here at %s (%v)", e.Key, what, e.Digest, e.Since.Format(time.RFC3339), e.Err)
	}
	return fmt.Sprintf("the cache entry of %s names %s %s, refused: %v", e.Key, what, e.Digest, e.Err)
}

// Unwrap returns ErrNotCached and why the archive was refused.
func (e *RefusedError) Unwrap() []error { return []error{ErrNotCached, e.Err} }

// refusal is why and when a digest was refused by this process.
type refusal struct {
	why  string
	when time.Time
}

// refusedSet remembers refusals in memory too, shared by the copies of a
// Store (WithCache): a root that cannot be written still refuses a digest
// only once per process.
type refusedSet struct{ m sync.Map } // cas.Digest -> refusal

// refusable reports whether err from unpacking an archive says the archive
// itself is bad (corrupt, over the limits, unsafe, a bad manifest), as
// opposed to this machine (a missing base interpreter, a full disk) or
// the transfer (a stalled or cancelled read): only the former is
// remembered and falls back to building.
func refusable(err error) bool {
	return errors.Is(err, archive.ErrCorrupt) || errors.Is(err, archive.ErrUnsafe)
}

// refuse remembers that d was refused because of err: in memory, and as
// a mark in .tmp when the root can be written (when not, a debug line
// says so; the next process tries the archive again).
func (s *Store) refuse(e cache.Entry, err error) *RefusedError {
	why := strings.ReplaceAll(err.Error(), "\n", " ")
	s.refused.m.Store(e.Digest, refusal{why: why, when: s.opt.Now()})
	werr := os.MkdirAll(s.opt.Root.refusedDir(), 0o777)
	if werr == nil {
		werr = fsx.WriteFile(s.opt.Root.refusedMark(e.Digest), []byte(why+"\n"), 0o666)
	}
	if werr != nil {
		s.opt.Reporter.Debugf("cannot remember that archive %s was refused: %v", e.Digest, werr)
	}
	return &RefusedError{Key: e.Key, Digest: e.Digest, Cache: s.opt.Cache.String(), Err: err, Index: isIndexRefusal(e)}
}

// refusedBefore returns the refusal of e's archive this store remembers
// (nil: none, or an expired one, whose mark it removes).
func (s *Store) refusedBefore(e cache.Entry) *RefusedError {
	now := s.opt.Now()
	remembered := func(why string, when time.Time) *RefusedError {
		return &RefusedError{Key: e.Key, Digest: e.Digest, Cache: s.opt.Cache.String(), Err: errors.New(why), Remembered: true, Since: when, Index: isIndexRefusal(e)}
	}
	if v, ok := s.refused.m.Load(e.Digest); ok {
		if r := v.(refusal); now.Sub(r.when) < RefusedTTL {
			return remembered(r.why, r.when)
		}
	}
	mark := s.opt.Root.refusedMark(e.Digest)
	fi, err := os.Lstat(mark)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // no mark (or not one rezup wrote): not refused
	}
	if now.Sub(fi.ModTime()) >= RefusedTTL {
		// Expired: try the archive again. Best effort: a mark left here is
		// ignored by its age, and removed by gc.
		_ = os.Remove(mark)
		return nil
	}
	why := "no reason recorded"
	if b, err := fsx.ReadMeta(mark, 4<<10); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		why = strings.TrimSpace(string(b))
	}
	return remembered(why, fi.ModTime())
}

// noteRefused reports a refused cache entry that a build from the recipe
// replaces: a warning the first time, a debug line when it was
// remembered from an earlier attempt. err of any other kind is ignored.
func (s *Store) noteRefused(err error) {
	var re *RefusedError
	if !errors.As(err, &re) {
		return
	}
	if re.Remembered {
		s.opt.Reporter.Debugf("%v: a miss until %s", re, re.Since.Add(RefusedTTL).Format(time.RFC3339))
		return
	}
	s.opt.Reporter.Warnf("%v; building from the recipe (the cache keeps that entry: remove it there to publish a good one)", re)
}

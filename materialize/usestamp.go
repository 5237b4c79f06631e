package materialize

import (
	"os"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// UseStampEvery is how stale an entry's use-stamp must be before a launch
// refreshes it. Once an hour keeps the hot path to one fstat per launch (a
// write only on the first launch of the hour), at the price of last-use
// times that are up to an hour early.
const UseStampEvery = time.Hour

// The use-stamp of a store entry is the mtime of its lock file,
// .store/<key>.lock. A launch already holds that file open (LOCK_SH), so
// reading the stamp costs an fstat; a builder writes its holder line into
// it, so a new entry's stamp is the time its build started.

// stampUse refreshes the use-stamp of k through lock, the lock file a
// launch holds open, when it is older than UseStampEvery.
func (s *Store) stampUse(lock *os.File, k cas.Key) {
	fi, err := lock.Stat()
	if err != nil {
		return // no stamp this time; the next launch tries again
	}
	now := s.opt.Now()
	if now.Sub(fi.ModTime()) < UseStampEvery {
		return
	}
	// Harmless when it fails: a user who may use a root but not write its
	// lock files (someone else's root, a read-only mount) leaves the stamp
	// to others, and gc then sees an older last use, never a newer one.
	_ = fsx.Touch(s.opt.Root.LockPath(k), now)
}

// LastUse is when entry k was last launched or built, to within
// UseStampEvery: its use-stamp; without a lock file, when its manifest says
// it was created; without a manifest, its directory's mtime. It wraps
// fs.ErrNotExist when there is no such entry.
func (s *Store) LastUse(k cas.Key) (time.Time, error) {
	if fi, err := os.Stat(s.opt.Root.LockPath(k)); err == nil {
		return fi.ModTime(), nil
	}
	if m, err := s.ReadManifest(k); err == nil && !m.Created.IsZero() {
		return m.Created, nil
	}
	fi, err := os.Stat(s.opt.Root.EntryDir(k))
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

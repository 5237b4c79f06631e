// Package materialize owns the local root: containers, revisions, the
// content-addressed store and its locks. It turns a recipe into a ready
// store entry: reuse it when it is already there, otherwise build it with
// python and pip under an exclusive lock, and publish it with one rename.
//
// Which API to use:
//   - Store.Add is `rezup add` as one call: resolve the recipe with pip
//     into a resolution (lock.json; or take the latest revision's with
//     Frozen), compute the key that covers it, reuse, fetch or build that
//     build, and record a revision (in a remote root: published to the
//     shared cache and pinned first). The salt rule of --fresh, the
//     publisher's trust rule and the undo of a failed first add are in it.
//   - Store.Materialize(ctx, Request) is the one way to make a build ready:
//     held at once when it is there (the hot path), else fetched from the
//     shared cache (a pinned archive, or by key) or built from the
//     request's Plan, under the build's exclusive lock. It returns a Hold:
//     the build in use, its open lock file handed on to the launched
//     process, released by Close.
//   - Launcher.Pick is the launch policy of use, env, resolve and pull:
//     which revision a launch runs in (remote first, pulled into the local
//     root), its build made ready and held; a container with no revision
//     gets Launcher.First added, or ErrNoRevision.
//   - Root reads containers and revisions.
//   - Drop, and the removals gc drives (RemoveEntry, RemoveRevision,
//     RemoveLeftover, RemoveOrphanLock, with InUse, LastUse, EntryBytes and
//     their revision forms to plan them), take the exclusive lock without
//     waiting; an entry's lock file goes with it. FindRuntimeRoots looks at
//     the running processes once, for who uses a revision or build without
//     its lock (the Python rezup's jobs, a program started from a venv);
//     Drop, Repair, RemoveEntry and RemoveRevision refuse what it shows in
//     use (a *UsedError).
//   - Inspect tells a damaged build (files deleted from a ready entry)
//     after a launch failed; Repair moves it aside to be made again.
//
// Words: a resolution (pyresolve.Resolution) is what pip resolved, saved as
// lock.json and called "the lock" by users; a lock in this package is a
// file lock (.store/<key>.lock); a Hold is a build held in use; the farm
// build lease is the shared cache's (cache.BuildLease).
//
// Guarantees:
//   - Safe across processes on one local filesystem: a store entry is
//     built once however many processes ask for it at the same time
//     (.store/<key>.lock, LOCK_EX), and a process using an entry holds
//     LOCK_SH on the same lock for as long as it runs.
//   - Nothing half-made is ever visible: store entries are staged in .tmp
//     and renamed into .store; revisions are staged and renamed into
//     <container>/revisions; revision.json is the commit point.
//   - The hot path (Launcher.Pick: Latest, then a Hold on a ready entry)
//     reads one directory, one small JSON file and the frozen recipe, and
//     takes one lock: no python, no hashing, no tree walks. It needs no
//     write access: a root another account owns, or a read-only mount,
//     launches its complete builds (the lock is opened read-only, the
//     use-stamp is left alone).
//   - What it publishes takes the caller's umask, as mkdir and cp would
//     (staging dirs are private only while they are built), and a build is
//     read-only once published, built or fetched: no write bit on anything
//     in it, as in Go's module cache and the Nix store. Nothing writes
//     into a published build. Where it must write and may not, the error
//     is a *NotWritableError naming the directory.
//   - In a group-shared root (its directory or store group-writable),
//     .store, .tmp and each container's revisions get the sticky bit, so
//     that no member renames aside or removes another member's build or
//     revision. Removals (Drop, Repair, and those gc drives) remove only
//     what the caller owns, root excepted, whatever modes they meet: what
//     another account owns stays whole, with an error wrapping
//     fsx.ErrNotOwner (Drop keeps such builds in DropResult.Others).
//   - A revision the Python rezup built (Revision.PythonBuilt: no key, its
//     venv a real directory) is launched from its own venv, never rebuilt;
//     its in-use lock is in the revision, and removing it takes that lock
//     LOCK_EX|LOCK_NB, as removing an entry does. The exception is its
//     mirror of a remote revision that pins its build (Revision.Pinned):
//     launches run the pinned build, and leave the mirror alone.
//   - A cache archive found bad (corrupt, unsafe, over the unpack limits,
//     a bad manifest) is refused, and the refusal remembered for
//     RefusedTTL (.tmp/refused/<digest>): Materialize with a plan warns
//     once and builds instead, without publishing over the cache's entry;
//     without one, the error is a *RefusedError (ErrNotCached) naming key
//     and digest. A read of the cache that stalls, or whose context ends,
//     gives the entry's lock back (backend.Idle bounds the reads).
//   - A remote revision pins the archive its publisher stored
//     (Meta.Archive): pulling it fetches exactly that digest
//     (Request.Pin), never what the cache's entry.json names, and builds
//     from the frozen recipe when it is gone. Each entry's manifest records
//     its Origin; a publisher's request (Request.ForPublish, add --remote)
//     fetches by key only entries a trusted key signed, and Publish always
//     stores its own archive and returns the pin.
//   - One build per key across the farm: a miss with a recipe, a writable
//     cache and no pin is built under the cache's build lease
//     (cache.Cache.AcquireBuild), taken while holding the entry's local
//     lock. Other nodes wait, then fetch what was published; the builder
//     looks the key up again before publishing, so a key is published
//     once. A read-only or unreachable cache builds without it.
//   - Builds share their files (objects.go): a complete build's files that
//     do not hold its prefix become links of .store/objects (Options.LinkMode:
//     hard link, else clone, else copy, per file), and its object list
//     (.store/<key>.objects, ObjectList) says which, for gc. A failure of the
//     object store is one warning and plain files, never a failed build; an
//     object found corrupt is never linked.
//   - Builds are reproducible: two builds of one key with the same
//     interpreters at the same prefix give byte-identical trees and
//     archives of one digest (hash pycs compiled after relocation, RECORD
//     rehashed, a fixed mtime and no creation time in the archive), and
//     an entry fetched and published again packs to its archive's digest.
//   - An edit-mode build (Manifest.Editable, EditTools) points into a
//     source tree: it is never published (no build lease, no pack;
//     Publish refuses it with ErrEditMode).
//   - A revision.json that cannot be read makes its revision not ready:
//     Latest passes over it and returns it in Revision.Skipped, for the
//     caller to warn about.
//     A "key" in it that is empty or not a key is not such a problem: the
//     revision is read as one without a key (Revision.Key reports none).
//
// It never prints (progress goes through Reporter), never reads the
// environment (callers pass Options), and never decides which root or recipe
// applies: cmd/rezup resolves those.
package materialize

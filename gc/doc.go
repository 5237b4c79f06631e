// Package gc decides what of the local store, old revisions and the shared
// cache nothing uses any more, and removes it without ever removing what a
// running process uses.
//
// Use Plan to decide (it returns a *Sweep: what goes and what stays, each
// with a Reason) and Sweep.Execute to remove, holding Lock meanwhile. A dry
// run is a plan that is never executed.
//
// The rules:
//   - The latest ready revision of every container stays, and so do the
//     PlanInput.Keep newest; older ones go unless used within OlderThan. A
//     revision goes even while its entry is in use: a process rezup
//     launched holds the entry, not the revision, and new launches pick the
//     latest. A revision the Python rezup built holds its own venv, so it
//     stays while a process holds its in-use lock, as an entry would.
//   - What a running process uses stays too, lock or not: the Python
//     rezup's jobs (their PATH names the revision's venv), a program
//     started from a venv. Plan looks at every process once
//     (materialize.Store.FindRuntimeRoots: cmdline, exe, cwd, maps, fds,
//     PATH and PWD); a revision or build one shows stays as ReasonInUse,
//     its Detail naming the process, and a kept revision keeps its build.
//     Execute looks again right before it removes (again whenever its last
//     look is over a second old). What could not be read (other accounts'
//     processes, hidepid, no /proc on macOS and Windows) is one warning,
//     with the count, when the plan removes a revision or build.
//   - A revision whose revision.json cannot be read stays, with a warning.
//   - A store entry stays while a kept revision (local, or kept in the
//     remote root) uses it, or while a process holds its lock (LOCK_SH while
//     it runs in it, LOCK_EX while it is built); otherwise it goes: taken
//     LOCK_EX|LOCK_NB, renamed into .tmp, deleted. An entry left in use goes
//     on a later run, once unused.
//   - Not-ready revisions and revision staging dirs older than Grace,
//     build staging dirs whose key's lock is free, and trash go.
//   - With a Cache, a key that no revision of the remote root (nor a kept
//     local one) names goes once it is older than CacheGrace; the cache
//     removes entry.json before the archives, so a reader gets the archive
//     or a clean miss. Of a key that stays, an archive its entry.json does
//     not name (the loser of two concurrent publishes) goes once older
//     than CacheGrace, unless PlanInput.Pinned pins its digest. The
//     file-level format (indexes, and the packs every key shares) goes
//     under the same rules; packs.go says how.
//   - An entry's lock file goes with the entry (unlinked under LOCK_EX; a
//     process waiting on it locks a new file, see fsx). The lock file of a
//     build not in the store (a failed first build) goes when nobody holds
//     it and it is older than Grace. On Windows lock files stay.
//   - An object of .store/objects goes when no kept build's object list
//     names it, nothing but the store links it (less the links of the
//     builds the sweep removes), and it was not linked for Grace; temps of
//     crashed puts go once older than Grace. They are one item each
//     (KindObjects "objects" and "temps", with a Count). Execute removes
//     them under the object store's lock, taken exclusively with a bound
//     (a build holds it shared from its first Put until it is published):
//     held longer, they stay for the next run (ReasonInUse).
//   - Only what the caller owns goes (root: anything), whatever its modes
//     (a published build is read-only): what another account owns stays
//     (ReasonOtherAccount, in the plan or, found deeper, as skipped), and
//     so does what is where the caller cannot write (ReasonNotWritable: a
//     read-only mount). Neither is an error: gc fails only when something
//     it may remove could not be removed.
//
// Guarantees: Plan changes nothing, not even an mtime (it probes locks with
// LOCK_EX|LOCK_NB only on lock files that exist, and never creates one).
// Execute checks every item again just before removing it, so what changed
// since the plan is skipped, never broken.
// Time comes from PlanInput.Now, so the age rules are testable.
//
// gc asks materialize for every path, lock and removal; it never composes
// a store path by hand, never prints and never reads the environment.
package gc
